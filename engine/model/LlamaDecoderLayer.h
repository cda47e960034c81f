// One decoder block of the Llama family, with transformers' module names:
//   input_layernorm -> self_attn (q/k/v/o_proj, Qwen3: q_norm/k_norm) -> residual
//   (biases as ModelConfig says: qkvBias on q/k/v_proj, outputBias on o_proj)
//   post_attention_layernorm -> mlp (gate/up/down_proj, SwiGLU) -> residual
#pragma once

#include "formats/ModelConfig.h"
#include "model/Linear.h"
#include "model/RmsNorm.h"

#include <memory>
#include <string>
#include <vector>

namespace tb {

class KvCache;

class LlamaAttention : public torch::nn::Module {
public:
    LlamaAttention(const ModelConfig& config, const at::TensorOptions& options);

    // x: [B, T, hidden]; cos/sin: [T, head_dim]; mask: additive [B|1, 1, T, Tk] or undefined
    // (this layer's own: causal, or causal and sliding-window).
    at::Tensor forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                       const at::Tensor& mask, KvCache* cache, size_t layerIndex);

    std::shared_ptr<Projection> q_proj, k_proj, v_proj, o_proj;
    std::shared_ptr<RmsNorm> q_norm, k_norm; // Qwen3 only

private:
    int64_t m_numHeads, m_numKvHeads, m_headDim;
};

class LlamaMlp : public torch::nn::Module {
public:
    LlamaMlp(const ModelConfig& config, const at::TensorOptions& options);
    at::Tensor forward(const at::Tensor& x); // down(silu(gate(x)) * up(x))

    std::shared_ptr<Projection> gate_proj, up_proj, down_proj;
};

class LlamaDecoderLayer : public torch::nn::Module {
public:
    LlamaDecoderLayer(const ModelConfig& config, const at::TensorOptions& options);
    at::Tensor forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                       const at::Tensor& mask, KvCache* cache, size_t layerIndex);

    // The seven projections by their checkpoint names ("q_proj" ... "down_proj"), so adapters
    // can be swapped in: replaceProjection re-registers the module under the same name.
    std::shared_ptr<Projection> projection(const std::string& name) const;
    void replaceProjection(const std::string& name, std::shared_ptr<Projection> replacement);
    static const std::vector<std::string>& projectionNames();

    std::shared_ptr<RmsNorm> input_layernorm, post_attention_layernorm;
    std::shared_ptr<LlamaAttention> self_attn;
    std::shared_ptr<LlamaMlp> mlp;
};

} // namespace tb
