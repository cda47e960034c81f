// One decoder block of the Llama family, with transformers' module names:
//   input_layernorm -> self_attn (q/k/v/o_proj, Qwen3: q_norm/k_norm) -> residual
//   (biases as ModelConfig says: qkvBias on q/k/v_proj, outputBias on o_proj)
//   post_attention_layernorm -> mlp (gate/up/down_proj, SwiGLU) -> residual
#pragma once

#include "formats/ModelConfig.h"
#include "model/AttentionMask.h"
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

    // x: [B, T, hidden]; cos/sin: [T, head_dim]; mask: this layer's span (causal, or causal
    // and sliding-window; key padding).
    //
    // Two paths with equal values up to rounding (tests/model/tst_fusedattention):
    //  - fused (the default where fusedAttentionSupports: CPU, bf16 or fp32): q, k, v stay in
    //    the projections' [B, T, heads, D] layout, RoPE is applied there, and FusedAttention
    //    reads k/v per key/value head (no repeat) and the mask description (no additive
    //    tensor). With a KvCache too: the cache's [B, KV, Tk, D] buffers are read in place.
    //  - unfused (fp64, CUDA, or AttentionKernel::Unfused): heads in front of time,
    //    repeat_kv, compat::attention with mask.additive() (SDPA on CUDA with LibTorch >= 2).
    // Rows that see no key differ: 0 when fused, a uniform softmax when unfused (AttentionMask.h).
    at::Tensor forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                       const AttentionMask& mask, KvCache* cache, size_t layerIndex);

    void setKernel(AttentionKernel kernel) { m_kernel = kernel; }
    AttentionKernel kernel() const { return m_kernel; }

    std::shared_ptr<Projection> q_proj, k_proj, v_proj, o_proj;
    std::shared_ptr<RmsNorm> q_norm, k_norm; // Qwen3 only

private:
    at::Tensor fusedForward(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& cos,
                            const at::Tensor& sin, const AttentionMask& mask, KvCache* cache, size_t layerIndex);
    at::Tensor unfusedForward(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& cos,
                              const at::Tensor& sin, const AttentionMask& mask, KvCache* cache, size_t layerIndex);

    int64_t m_numHeads, m_numKvHeads, m_headDim;
    AttentionKernel m_kernel = AttentionKernel::Fused;
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
                       const AttentionMask& mask, KvCache* cache, size_t layerIndex);

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
