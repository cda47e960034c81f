// A Llama-family causal language model as a tree of named LibTorch modules whose parameter
// names are exactly the checkpoint's: "model.embed_tokens.weight",
// "model.layers.N.self_attn.q_proj.weight", "model.norm.weight", "lm_head.weight" (absent when
// embeddings are tied). Loading is then a name-to-name copy, and adapters address
// "model.layers.N.self_attn.q_proj" the way PEFT does.
#pragma once

#include "formats/ModelConfig.h"
#include "model/Embedding.h"
#include "model/LlamaDecoderLayer.h"
#include "model/RotaryEmbedding.h"

#include <torch/nn/modules/container/modulelist.h>

#include <vector>

namespace tb {

class KvCache;

class LlamaBody : public torch::nn::Module {
public:
    LlamaBody(const ModelConfig& config, const at::TensorOptions& options);

    std::shared_ptr<Embedding> embed_tokens;
    std::vector<std::shared_ptr<LlamaDecoderLayer>> layers;
    std::shared_ptr<RmsNorm> norm;

private:
    torch::nn::ModuleList m_layerList;
};

class LlamaForCausalLM : public torch::nn::Module {
public:
    // Parameters are allocated uninitialised; load weights with ModelLoader or
    // initializeRandom(). Throws std::invalid_argument for a config whose slidingLayers does
    // not have one entry per layer.
    LlamaForCausalLM(const ModelConfig& config, const at::TensorOptions& options);

    // inputIds: [B, T] int64. With a cache, positions continue after cache->length() and the
    // new keys/values are appended (every position is kept: a sliding layer's mask hides those
    // behind its window, so cached and full forwards agree). keyPadding: [B, past + T] bool,
    // true = real token (may be undefined). Returns the final hidden states [B, T, hidden].
    at::Tensor hiddenStates(const at::Tensor& inputIds, KvCache* cache = nullptr, const at::Tensor& keyPadding = {});
    // Logits [B, T, vocab] in the model's dtype.
    at::Tensor logits(const at::Tensor& hidden);
    at::Tensor forward(const at::Tensor& inputIds, KvCache* cache = nullptr, const at::Tensor& keyPadding = {});

    // Transformers' init: normal(0, 0.02) for linear and embedding weights, ones for norms,
    // zeros for biases. Deterministic for a given seed (CPU generator).
    void initializeRandom(uint64_t seed, double stddev = 0.02);

    // Recompute each decoder layer in backward instead of keeping its activations
    // (training only; see LayerCheckpoint.h).
    void setGradientCheckpointing(bool enabled) { m_checkpointing = enabled; }
    bool gradientCheckpointing() const { return m_checkpointing; }

    // Which attention every layer runs (LlamaAttention::forward): Fused (the default) takes the
    // CPU kernel where it applies (bf16 / fp32 on the CPU), Unfused always takes
    // compat::attention. For tests and benchmarks; both give the same values up to rounding.
    void setAttentionKernel(AttentionKernel kernel);
    AttentionKernel attentionKernel() const { return m_attentionKernel; }

    const ModelConfig& config() const { return m_config; }
    at::Tensor lmHeadWeight() const; // lm_head.weight, or the embedding when tied

    std::shared_ptr<LlamaBody> model;
    std::shared_ptr<Linear> lm_head; // nullptr when tie_word_embeddings

private:
    ModelConfig m_config;
    RotaryEmbedding m_rotary;
    bool m_checkpointing = false;
    AttentionKernel m_attentionKernel = AttentionKernel::Fused;
};

} // namespace tb
