// What one forward pass's queries may attend to, described rather than materialised: causal,
// optionally a sliding window, optionally key padding. The fused CPU kernel (FusedAttention)
// reads the description as it is; the unfused path (compat::attention: matmul, additive mask,
// softmax, matmul; SDPA on CUDA) asks for the additive [1|B, 1, T, Tk] tensor, built on first
// request and then shared by every layer that attends over the same span. A training step on
// the fused path therefore never allocates the T x Tk mask.
//
// Queries are the last T of Tk = past + T positions (past > 0 with a KvCache). Key j is visible
// to the query at absolute position i when j <= i, and i - window < j when window > 0, and
// keyPadding[b][j] is true when keyPadding is given.
//
// Rows with no visible key (left padding): the additive mask uses the lowest finite value, so
// the unfused path gives a uniform softmax over all keys there (as transformers does); the
// fused kernel gives an output of 0. Such rows carry no loss and are not seen by any other row
// (their keys are padding too), so the two paths agree on every real position and gradient.
#pragma once

#include <ATen/ATen.h>

namespace tb {

enum class AttentionKernel {
    Fused,   // the tiled CPU kernel where it applies (CPU, bf16 or fp32), else Unfused
    Unfused, // compat::attention with an additive mask
};

class AttentionMask {
public:
    // keyPadding: [B, past + T] bool, true = real token, or undefined. window: the layer's
    // sliding window in tokens, 0 = none. dtype, device: the activations' (the additive mask's
    // dtype follows them, see additive()).
    AttentionMask(int64_t past, int64_t queryLen, at::Tensor keyPadding, int64_t window, at::ScalarType dtype,
                  at::Device device);

    int64_t past() const { return m_past; }
    int64_t queryLen() const { return m_queryLen; }
    int64_t keyLen() const { return m_past + m_queryLen; }
    int64_t window() const { return m_window; }
    at::ScalarType dtype() const { return m_dtype; }
    at::Device device() const { return m_device; }
    const at::Tensor& keyPadding() const { return m_keyPadding; }

    // keyPadding as the kernel reads it: uint8 [B|1, Tk], contiguous (1 = real token);
    // undefined without padding. Made on first call.
    const at::Tensor& keyValidBytes() const;

    // The additive mask [1|B, 1, T, Tk] (0 or the lowest finite value): fp32 (fp64 for fp64
    // activations), or on CUDA in bf16/fp16 activations' own dtype with that dtype's lowest
    // value. Undefined when nothing is masked (one new token, no padding, window out of reach).
    // Built on first call; later calls return the same tensor.
    const at::Tensor& additive() const;
    // The additive mask if some call built it, else undefined (nothing is built).
    const at::Tensor& additiveIfBuilt() const { return m_additive; }
    // Hands over a mask built earlier for the same description (activation checkpointing keeps
    // the forward's tensor for the recomputation instead of building another).
    void adoptAdditive(at::Tensor additive);

private:
    int64_t m_past, m_queryLen, m_window;
    at::Tensor m_keyPadding;
    at::ScalarType m_dtype;
    at::Device m_device;
    mutable bool m_additiveBuilt = false;
    mutable at::Tensor m_additive;
    mutable at::Tensor m_keyValidBytes;
};

} // namespace tb
