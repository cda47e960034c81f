// The projections of a decoder layer (q/k/v/o_proj, gate/up/down_proj).
//
// Linear is a plain y = x W^T + b with W [out, in] as checkpoints store it. Projection is the
// seam adapters use: a LoRA or quantized layer derives from Projection and replaces the module
// registered under the same name, so parameter names stay the checkpoint's
// ("model.layers.3.self_attn.q_proj.weight") and the base weight itself is never modified.
#pragma once

#include <torch/nn/module.h>

namespace tb {

class Projection : public torch::nn::Module {
public:
    virtual at::Tensor forward(const at::Tensor& x) = 0;
    virtual int64_t inFeatures() const = 0;
    virtual int64_t outFeatures() const = 0;
    // The weight as a dense [out, in] tensor in its stored dtype (a quantized one dequantized,
    // an adapter merged in): what merging and export write.
    virtual at::Tensor denseWeight() const = 0;
    // The projection this one wraps (an adapter's base), nullptr for a plain one: how a
    // quantizer finds its layers under adapters without knowing what adapters are.
    virtual std::shared_ptr<Projection> wrapped() const { return nullptr; }
};

class Linear : public Projection {
public:
    Linear(int64_t in, int64_t out, bool bias, const at::TensorOptions& options);

    at::Tensor forward(const at::Tensor& x) override;
    int64_t inFeatures() const override { return weight.size(1); }
    int64_t outFeatures() const override { return weight.size(0); }
    at::Tensor denseWeight() const override { return weight; }

    at::Tensor weight; // [out, in]
    at::Tensor bias;   // [out] or undefined
};

} // namespace tb
