// Small in-memory model configurations for engine tests, one per supported architecture
// feature (grouped-query attention, tied embeddings, attention biases, Qwen3 q/k norms, Llama 3
// and linear RoPE scaling, sliding windows on every or some layers), so each test runs in well
// under a second.
#pragma once

#include "formats/ModelConfig.h"

#include <string>

namespace tbtest {

inline tb::ModelConfig tinyConfig(const std::string& flavour)
{
    tb::ModelConfig c;
    c.architecture = "LlamaForCausalLM";
    c.modelType = "llama";
    c.vocabSize = 97;
    c.hiddenSize = 32;
    c.intermediateSize = 48;
    c.numLayers = 2;
    c.numHeads = 4;
    c.numKeyValueHeads = 2;
    c.headDim = 8;
    c.maxPositionEmbeddings = 128;
    c.rmsNormEps = 1e-5;
    c.ropeTheta = 10000.0;
    c.bosTokenId = 1;
    c.eosTokenId = 2;
    c.eosTokenIds = {2};
    if (flavour == "llama-tied") {
        c.tieWordEmbeddings = true;
    } else if (flavour == "llama3-scaled") {
        c.ropeTheta = 500000.0;
        c.ropeScaling.type = tb::RopeScalingType::Llama3;
        c.ropeScaling.factor = 8.0;
        c.ropeScaling.lowFreqFactor = 1.0;
        c.ropeScaling.highFreqFactor = 4.0;
        c.ropeScaling.originalMaxPositionEmbeddings = 16; // small, so the blend band matters here
    } else if (flavour == "llama-linear") { // rope_scaling {"rope_type": "linear"}: every frequency / factor
        c.ropeScaling.type = tb::RopeScalingType::Linear;
        c.ropeScaling.factor = 4.0;
    } else if (flavour == "llama-bias") { // attention_bias: q/k/v and o_proj biases
        c.qkvBias = true;
        c.outputBias = true;
    } else if (flavour == "qwen2" || flavour == "qwen2-window") {
        c.architecture = "Qwen2ForCausalLM";
        c.modelType = "qwen2";
        c.qkvBias = true;
        c.tieWordEmbeddings = true;
        if (flavour == "qwen2-window") { // use_sliding_window, max_window_layers 1: layer 1 slides
            c.slidingWindow = 3;
            c.slidingLayers = {false, true};
        }
    } else if (flavour == "qwen3" || flavour == "qwen3-bias") {
        c.architecture = "Qwen3ForCausalLM";
        c.modelType = "qwen3";
        c.qkNorm = true;
        c.headDim = 16; // Qwen3 sets head_dim independently of hidden_size / heads
        c.qkvBias = c.outputBias = flavour == "qwen3-bias";
    } else if (flavour == "mistral-window") {
        c.architecture = "MistralForCausalLM";
        c.modelType = "mistral";
        c.slidingWindow = 5;
        c.slidingLayers = {true, true};
        c.numKeyValueHeads = 1;
    }
    return c;
}

inline const char* const kTinyFlavours[] = {"llama",        "llama-tied", "llama3-scaled", "llama-linear",  "llama-bias",
                                            "qwen2",        "qwen2-window", "qwen3",       "qwen3-bias",    "mistral-window"};

} // namespace tbtest
