// Causal attention through the fused CPU kernel (kernels/cpu/CausalAttention.h) as one autograd
// node: softmax(scale * q k^T + mask) v without the T x Tk scores ever existing as a tensor.
// Forward keeps q, k, v, the output and the fp32 log-sum-exp per query [B, H, T] for backward,
// which runs the kernel's two passes (dK/dV over key tiles, dQ over query tiles). The kernel's
// tasks run on LibTorch's intra-op threads (core/ParallelTasks), so its thread count
// (tb::configureThreads) applies.
#pragma once

#include <ATen/ATen.h>

namespace tb {

// True where the kernel applies: CPU tensors in bf16 or fp32. Everything else (fp64, CUDA, fp16)
// keeps compat::attention.
bool fusedAttentionSupports(const at::Tensor& q);

// q: [B, T, H, D]; k, v: [B, Tk, KV, D] with Tk >= T (queries are the last T positions) and
// H % KV == 0 (grouped-query attention without repeating k/v). Any strides with D contiguous:
// projections' views and KvCache's buffers are read in place. keyValid: uint8 [B|1, Tk]
// contiguous, 1 = real token, or undefined. window: sliding window in tokens, 0 = none.
// Returns o: [B, T, H, D] contiguous, 0 on rows that see no key (see AttentionMask.h).
at::Tensor fusedCausalAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                const at::Tensor& keyValid, int64_t window, double scale);

} // namespace tb
