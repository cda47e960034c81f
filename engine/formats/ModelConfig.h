// config.json of a Hugging Face Llama-family causal LM, reduced to what the engine builds from.
// Supported architectures: LlamaForCausalLM (Llama 2/3.x, TinyLlama, SmolLM), MistralForCausalLM,
// Qwen2ForCausalLM (q/k/v projections carry a bias), Qwen3ForCausalLM (RMSNorm on q and k per
// head before RoPE). Anything else is refused with a FormatError naming config.json and the key.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tb {

enum class RopeScalingType { None, Linear, Llama3 };

struct RopeScaling {
    RopeScalingType type = RopeScalingType::None;
    double factor = 1.0;
    // Llama 3.x only (rope_scaling: {"rope_type": "llama3", ...}).
    double lowFreqFactor = 1.0;
    double highFreqFactor = 4.0;
    int64_t originalMaxPositionEmbeddings = 8192;
};

struct ModelConfig {
    std::string architecture;  // "LlamaForCausalLM", ...
    std::string modelType;     // "llama", "mistral", "qwen2", "qwen3"
    int64_t vocabSize = 0;
    int64_t hiddenSize = 0;
    int64_t intermediateSize = 0;
    int64_t numLayers = 0;
    int64_t numHeads = 0;
    int64_t numKeyValueHeads = 0; // grouped-query attention: numHeads % numKeyValueHeads == 0
    int64_t headDim = 0;          // explicit "head_dim", else hidden_size / num_attention_heads
    int64_t maxPositionEmbeddings = 2048;
    double rmsNormEps = 1e-6;
    double ropeTheta = 10000.0;
    RopeScaling ropeScaling;
    bool tieWordEmbeddings = false;
    bool attentionBias = false; // bias on q/k/v (Qwen2 always; Llama's "attention_bias")
    bool qkNorm = false;        // Qwen3
    std::string hiddenAct = "silu";
    std::string torchDtype = "float32"; // dtype the checkpoint was saved in
    int64_t bosTokenId = -1;
    int64_t eosTokenId = -1;    // the first one when config.json gives a list
    std::vector<int64_t> eosTokenIds;
    int64_t slidingWindow = 0;  // Mistral; 0 = none (generation here stays within it or warns)

    // Parses and validates; `path` is used in error messages.
    static ModelConfig fromFile(const std::string& path);
    static ModelConfig fromJsonText(const std::string& json, const std::string& path);
    std::string toJsonText() const; // config.json as transformers writes it (for demo/merged models)

    // Parameter count implied by the config (embeddings, layers, norms, lm_head unless tied).
    int64_t parameterCount() const;
};

} // namespace tb
