// config.json of a Hugging Face Llama-family causal LM, reduced to what the engine builds from.
// Supported architectures: LlamaForCausalLM (Llama 2/3.x, TinyLlama, SmolLM), MistralForCausalLM,
// Qwen2ForCausalLM (q/k/v projections carry a bias), Qwen3ForCausalLM (RMSNorm on q and k per
// head before RoPE). Anything else is refused with a FormatError naming config.json and the key.
// Every key is classified in formats/ConfigKeys: a key that changes what the model computes is
// implemented as transformers implements it or refused by name; a key the architecture's config
// class does not have becomes a named warning (docs/model-config.md).
#pragma once

#include <cstdint>
#include <optional>
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
    bool qkvBias = false;    // bias on q_proj, k_proj, v_proj: Qwen2 always; Llama and Qwen3 "attention_bias"
    bool outputBias = false; // bias on o_proj: Llama and Qwen3 "attention_bias"; never Qwen2 or Mistral
    bool qkNorm = false;     // Qwen3
    std::string hiddenAct = "silu";
    std::string torchDtype = "float32"; // dtype the checkpoint was saved in
    int64_t bosTokenId = -1;
    int64_t eosTokenId = -1;    // the first one when config.json gives a list
    std::vector<int64_t> eosTokenIds;
    // pad_token_id as written (nn.Embedding's padding_idx: negative counts from the end); its
    // embedding row gets no gradient, as in transformers. Within [-vocabSize, vocabSize).
    std::optional<int64_t> padTokenId;

    // Sliding-window attention: in a sliding layer the query at position i attends the keys j
    // with i - slidingWindow < j <= i (itself and slidingWindow - 1 before it), as transformers'
    // sliding_window_overlay and older _prepare_4d_causal_attention_mask mask them; the other
    // layers attend the whole causal past. slidingWindow 0: no layer slides, and slidingLayers
    // is empty; otherwise slidingLayers has one entry per layer (true = "sliding_attention"),
    // all true for Mistral, and at least one is true.
    int64_t slidingWindow = 0;
    std::vector<bool> slidingLayers;

    // Named warnings from parsing: keys the architecture's config class does not have, keys
    // that name custom code. Not part of the configuration (toJsonText does not write them).
    std::vector<std::string> warnings;

    // Parses and validates; `path` is used in error messages.
    static ModelConfig fromFile(const std::string& path);
    static ModelConfig fromJsonText(const std::string& json, const std::string& path);
    std::string toJsonText() const; // config.json as transformers writes it (for demo/merged models)

    // Parameter count implied by the config (embeddings, layers, norms, lm_head unless tied).
    int64_t parameterCount() const;

    // Positions layer `layer` attends back over, the query itself included: slidingWindow for
    // a sliding layer, 0 (the whole causal past) for the others.
    int64_t attentionWindow(int64_t layer) const;
    // The embedding row pad_token_id names, in [0, vocabSize); -1 when there is none.
    int64_t embeddingPaddingIndex() const;
};

} // namespace tb
