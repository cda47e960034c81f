// A frozen projection with a trainable low-rank update (LoRA, Hu et al. 2021, arXiv 2106.09685),
// defined exactly as PEFT's lora.Linear (src/peft/tuners/lora/layer.py):
//   y = base(x) + scaling * B(A(dropout(x))),  A: [r, in], B: [out, r]
//   scaling = alpha / r, or alpha / sqrt(r) with rsLoRA (Kalajdzievski 2023)
//   A ~ kaiming_uniform(a = sqrt(5)) (bound 1/sqrt(in)), B = 0, so training starts at the base.
// The base projection is kept as it is (its parameters keep their checkpoint names,
// "...q_proj.weight"); A and B are submodules "lora_A" / "lora_B" so their parameters are
// "...q_proj.lora_A.weight" — PEFT's saved key without the "base_model.model." prefix.
// A and B are fp32 master weights (what the optimizer updates and checkpoints store); the
// low-rank product runs in the activations' dtype (bf16 on a bf16 base), as PEFT does under
// bf16 autocast.
// The training path is one autograd node when the base is a frozen dense Linear and there is no
// dropout (LoraProjectionFunction in the .cpp): y = x W^T + b, then y += scaling * (x A^T) B^T
// accumulated into y by the GEMM itself (beta = 1), and in backward grad_x = g W, then
// grad_x += (scaling * g B) A likewise. The plain path's separate passes over [tokens, out]
// (the scaling, the sum with the base) and over [tokens, in] (autograd's sum of the two
// grad_x) are gone. Same products in the same dtype, summed in a different order: equal in
// fp32 to rounding, in bf16 within bf16 noise (tst_lora). setFused(false) keeps the plain
// composition of LibTorch operators, for comparison (`bench --lora plain`).
// An adapter can be switched off without removing it (setEnabled(false), like PEFT's
// disable_adapter()): forward is then base(x) exactly, and switching it on again restores the
// adapter's output. The flag is a plain bool: change it only between forwards, on the thread
// that runs the model.
#pragma once

#include "model/Linear.h"

#include <memory>

namespace tb {

class LoraFactor : public torch::nn::Module {
public:
    LoraFactor(int64_t out, int64_t in);
    at::Tensor weight; // [out, in], fp32, trainable
};

class LoraLinear : public Projection {
public:
    LoraLinear(std::shared_ptr<Projection> base, int64_t rank, double alpha, double dropout, bool rslora);

    at::Tensor forward(const at::Tensor& x) override;
    int64_t inFeatures() const override { return m_base->inFeatures(); }
    int64_t outFeatures() const override { return m_base->outFeatures(); }

    // Kaiming-uniform A, zero B, from a seeded generator (deterministic runs).
    void resetParameters(at::Generator& generator);
    // W + scaling * B A, in the base weight's dtype: what merging writes to the checkpoint.
    at::Tensor mergedWeight() const;
    at::Tensor denseWeight() const override { return mergedWeight(); }
    std::shared_ptr<Projection> wrapped() const override { return m_base; }

    Projection& base() { return *m_base; }
    std::shared_ptr<Projection> baseShared() const { return m_base; }
    int64_t rank() const { return m_rank; }
    double scaling() const { return m_scaling; }
    bool enabled() const { return m_enabled; }
    void setEnabled(bool enabled) { m_enabled = enabled; }
    bool fused() const { return m_fused; }
    void setFused(bool fused) { m_fused = fused; }

    std::shared_ptr<LoraFactor> lora_A; // [r, in]
    std::shared_ptr<LoraFactor> lora_B; // [out, r]

private:
    std::shared_ptr<Projection> m_base;
    int64_t m_rank;
    double m_scaling;
    double m_dropout;
    bool m_enabled = true; // false: forward returns base(x) only
    bool m_fused = true;   // one node where the base allows it (see above)
};

} // namespace tb
