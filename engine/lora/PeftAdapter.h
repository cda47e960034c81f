// LoRA adapters as Hugging Face PEFT stores them, so PEFT, transformers and vLLM load ours and
// we load theirs:
//   adapter_config.json        peft_type "LORA", task_type "CAUSAL_LM", r, lora_alpha,
//                              lora_dropout, target_modules, use_rslora, bias "none", ...
//   adapter_model.safetensors  "base_model.model.<module>.lora_A.weight" [r, in] and
//                              "...lora_B.weight" [out, r], fp32
// Files PEFT wrote may also carry the adapter name (".lora_A.default.weight"); both load.
#pragma once

#include "lora/LoraSettings.h"

#include <string>

namespace tb {

class LlamaForCausalLM;

struct PeftAdapterInfo {
    LoraSettings settings;
    std::string baseModel; // base_model_name_or_path
};

// Reads and validates adapter_config.json. Throws FormatError naming the file and key; a
// non-LoRA peft_type, DoRA, bias other than "none", rank_pattern/alpha_pattern and
// layers_to_transform are refused with the reason.
PeftAdapterInfo readPeftAdapterConfig(const std::string& dir);

// Writes adapter_config.json and adapter_model.safetensors for the model's LoRA layers
// (atomically, file by file). Throws std::invalid_argument when the model has no adapters.
void savePeftAdapter(LlamaForCausalLM& model, const LoraSettings& settings, const std::string& baseModel,
                     const std::string& dir);

// Wraps the model's target projections as adapter_config.json says and loads the weights.
// Every adapter tensor must match a wrapped layer with the right shape, and every wrapped layer
// must get both its tensors: otherwise a FormatError naming the file, tensor and shapes.
PeftAdapterInfo loadPeftAdapter(LlamaForCausalLM& model, const std::string& dir);

} // namespace tb
