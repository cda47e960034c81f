// Builds a LlamaForCausalLM from a Hugging Face model folder (config.json + safetensors) by a
// name-to-name copy of the checkpoint's tensors into the module tree, converting to the
// requested dtype and device. Every fault names the folder or file and the tensor.
#pragma once

#include "formats/ModelConfig.h"
#include "model/LlamaForCausalLM.h"

#include <memory>
#include <string>
#include <vector>

namespace tb {

struct LoadOptions {
    // bf16 by default: on this CPU oneDNN runs bf16 matmuls on AMX ~3-4x faster than fp32.
    at::ScalarType dtype = at::kBFloat16;
    std::string device = "cpu"; // "cpu", "cuda", "cuda:N"
};

struct LoadedModel {
    std::string dir;
    ModelConfig config;
    std::shared_ptr<LlamaForCausalLM> model;
    // config.json's warnings (keys its config class does not have), then checkpoint tensors
    // outside the model's module tree (ignored, as transformers ignores them). A tensor that
    // would be a parameter under another config (an o_proj.bias while attention_bias is false,
    // a layer past num_hidden_layers) is an error instead.
    std::vector<std::string> warnings;
    uint64_t checkpointBytes = 0;      // size of the safetensors files
};

// Parses "cpu" / "cuda" / "cuda:N"; throws std::invalid_argument for anything else or for a
// CUDA device this LibTorch build or machine does not have.
at::Device parseDevice(const std::string& device);

LoadedModel loadModel(const std::string& dir, const LoadOptions& options = {});

// config.json + model.safetensors for `model` in `dtype` (tied lm_head not written, as
// transformers does). Tokenizer files are the caller's.
void saveModelFolder(LlamaForCausalLM& model, const std::string& dir, at::ScalarType dtype);

} // namespace tb
