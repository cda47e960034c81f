#include "model/LlamaDecoderLayer.h"

#include "core/TorchCompat.h"
#include "model/FusedAttention.h"
#include "model/FusedElementwise.h"
#include "model/KvCache.h"
#include "model/RotaryEmbedding.h"

#include <cmath>

namespace tb {

namespace {

// [B, KV, T, D] -> [B, KV * repeats, T, D], each key/value head serving `repeats` query heads
// (grouped-query attention, Ainslie et al. 2023), in transformers' repeat_kv order.
at::Tensor repeatKv(const at::Tensor& x, int64_t repeats)
{
    if (repeats == 1)
        return x;
    const auto b = x.size(0), kv = x.size(1), t = x.size(2), d = x.size(3);
    return x.unsqueeze(2).expand({b, kv, repeats, t, d}).reshape({b, kv * repeats, t, d});
}

} // namespace

LlamaAttention::LlamaAttention(const ModelConfig& c, const at::TensorOptions& options)
    : m_numHeads(c.numHeads), m_numKvHeads(c.numKeyValueHeads), m_headDim(c.headDim)
{
    q_proj = register_module("q_proj", std::make_shared<Linear>(c.hiddenSize, c.numHeads * c.headDim, c.qkvBias, options));
    k_proj = register_module("k_proj", std::make_shared<Linear>(c.hiddenSize, c.numKeyValueHeads * c.headDim, c.qkvBias, options));
    v_proj = register_module("v_proj", std::make_shared<Linear>(c.hiddenSize, c.numKeyValueHeads * c.headDim, c.qkvBias, options));
    o_proj = register_module("o_proj", std::make_shared<Linear>(c.numHeads * c.headDim, c.hiddenSize, c.outputBias, options));
    if (c.qkNorm) {
        q_norm = register_module("q_norm", std::make_shared<RmsNorm>(c.headDim, c.rmsNormEps, options));
        k_norm = register_module("k_norm", std::make_shared<RmsNorm>(c.headDim, c.rmsNormEps, options));
    }
}

at::Tensor LlamaAttention::forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                                   const AttentionMask& mask, KvCache* cache, size_t layerIndex)
{
    const int64_t b = x.size(0), t = x.size(1);
    // Projections give [B, T, heads * D], viewed as [B, T, heads, D].
    at::Tensor q = q_proj->forward(x).view({b, t, m_numHeads, m_headDim});
    at::Tensor k = k_proj->forward(x).view({b, t, m_numKvHeads, m_headDim});
    const at::Tensor v = v_proj->forward(x).view({b, t, m_numKvHeads, m_headDim});
    if (q_norm) { // Qwen3 normalises each head before the rotation.
        q = q_norm->forward(q);
        k = k_norm->forward(k);
    }
    const at::Tensor out = m_kernel == AttentionKernel::Fused && fusedAttentionSupports(q)
        ? fusedForward(q, k, v, cos, sin, mask, cache, layerIndex)
        : unfusedForward(q, k, v, cos, sin, mask, cache, layerIndex);
    return o_proj->forward(out.reshape({b, t, m_numHeads * m_headDim}));
}

// q: [B, T, H, D], k, v: [B, T, KV, D]. Returns [B, T, H, D] contiguous (the view above is free).
at::Tensor LlamaAttention::fusedForward(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                        const at::Tensor& cos, const at::Tensor& sin, const AttentionMask& mask,
                                        KvCache* cache, size_t layerIndex)
{
    // One pass each, the same bits as RotaryEmbedding::apply (FusedElementwise.h).
    const at::Tensor qr = fusedRotary(q, cos, sin);
    at::Tensor kr = fusedRotary(k, cos, sin);
    at::Tensor vr = v;
    if (cache) { // the cache stores [B, KV, T, D]; its views transposed back are read in place
        auto [keys, values] = cache->append(layerIndex, kr.transpose(1, 2), vr.transpose(1, 2));
        kr = keys.transpose(1, 2);
        vr = values.transpose(1, 2);
    }
    return fusedCausalAttention(qr, kr, vr, mask.keyValidBytes(), mask.window(),
                                1.0 / std::sqrt(static_cast<double>(m_headDim)));
}

// The reference path: [B, H, T, D], k/v repeated per query head, the additive mask.
at::Tensor LlamaAttention::unfusedForward(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                          const at::Tensor& cos, const at::Tensor& sin, const AttentionMask& mask,
                                          KvCache* cache, size_t layerIndex)
{
    const at::Tensor qh = RotaryEmbedding::apply(q.transpose(1, 2), cos, sin);
    at::Tensor kh = RotaryEmbedding::apply(k.transpose(1, 2), cos, sin);
    at::Tensor vh = v.transpose(1, 2);
    if (cache)
        std::tie(kh, vh) = cache->append(layerIndex, kh, vh);
    const int64_t repeats = m_numHeads / m_numKvHeads;
    return compat::attention(qh, repeatKv(kh, repeats), repeatKv(vh, repeats), mask.additive()).transpose(1, 2);
}

LlamaMlp::LlamaMlp(const ModelConfig& c, const at::TensorOptions& options)
{
    gate_proj = register_module("gate_proj", std::make_shared<Linear>(c.hiddenSize, c.intermediateSize, false, options));
    up_proj = register_module("up_proj", std::make_shared<Linear>(c.hiddenSize, c.intermediateSize, false, options));
    down_proj = register_module("down_proj", std::make_shared<Linear>(c.intermediateSize, c.hiddenSize, false, options));
}

at::Tensor LlamaMlp::forward(const at::Tensor& x)
{
    return down_proj->forward(fusedSwiGlu(gate_proj->forward(x), up_proj->forward(x)));
}

LlamaDecoderLayer::LlamaDecoderLayer(const ModelConfig& c, const at::TensorOptions& options)
{
    input_layernorm = register_module("input_layernorm", std::make_shared<RmsNorm>(c.hiddenSize, c.rmsNormEps, options));
    self_attn = register_module("self_attn", std::make_shared<LlamaAttention>(c, options));
    post_attention_layernorm =
        register_module("post_attention_layernorm", std::make_shared<RmsNorm>(c.hiddenSize, c.rmsNormEps, options));
    mlp = register_module("mlp", std::make_shared<LlamaMlp>(c, options));
}

at::Tensor LlamaDecoderLayer::forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                                      const AttentionMask& mask, KvCache* cache, size_t layerIndex)
{
    const at::Tensor h = x + self_attn->forward(input_layernorm->forward(x), cos, sin, mask, cache, layerIndex);
    return h + mlp->forward(post_attention_layernorm->forward(h));
}

} // namespace tb

namespace tb {

namespace {

// The module that owns a projection and the member that holds it.
std::pair<torch::nn::Module*, std::shared_ptr<Projection>*> slotOf(const LlamaDecoderLayer& layer, const std::string& name)
{
    LlamaAttention& a = *layer.self_attn;
    LlamaMlp& m = *layer.mlp;
    if (name == "q_proj") return {&a, &a.q_proj};
    if (name == "k_proj") return {&a, &a.k_proj};
    if (name == "v_proj") return {&a, &a.v_proj};
    if (name == "o_proj") return {&a, &a.o_proj};
    if (name == "gate_proj") return {&m, &m.gate_proj};
    if (name == "up_proj") return {&m, &m.up_proj};
    if (name == "down_proj") return {&m, &m.down_proj};
    throw std::invalid_argument("unknown projection \"" + name + "\" (expected one of q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj)");
}

} // namespace

const std::vector<std::string>& LlamaDecoderLayer::projectionNames()
{
    static const std::vector<std::string> names = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
    return names;
}

std::shared_ptr<Projection> LlamaDecoderLayer::projection(const std::string& name) const
{
    return *slotOf(*this, name).second;
}

void LlamaDecoderLayer::replaceProjection(const std::string& name, std::shared_ptr<Projection> replacement)
{
    auto [owner, slot] = slotOf(*this, name);
    owner->replace_module(name, replacement);
    *slot = std::move(replacement);
}

} // namespace tb
