// RMSNorm, SwiGLU and rotary position embedding through the fused CPU kernels
// (kernels/cpu/ElementwiseKernels.h), each one autograd node instead of a chain of LibTorch ops
// that each make a pass over memory and save a tensor. Forward gives the bits of the op
// sequences in RmsNorm.cpp, LlamaMlp and RotaryEmbedding::apply (see the kernel header for the
// one place where LibTorch's own bits depend on its thread count: silu's tail elements).
// Backward computes in fp32 and rounds once. The kernels' tasks run on LibTorch's threads
// (core/ParallelTasks), so its thread count (tb::configureThreads) applies; results do not
// depend on it.
//
// Anything the kernels do not cover takes the plain op sequence, with LibTorch's autograd:
// CUDA tensors, dtypes other than bf16 and fp32, operands of different dtypes, rows that are
// not a uniform grid with contiguous last dimension, cos/sin that require grad.
#pragma once

#include <ATen/ATen.h>

namespace tb {

// weight * (x.float() * rsqrt(mean(x.float()^2, -1) + eps)).to(x.dtype) with weight [D] of x's
// dtype (bf16 in LoRA training, fp32 in full fine-tuning). Saves x, weight (the parameter itself)
// and rstd, fp32 [rows]; dweight only when weight.requires_grad(), reduced in a fixed order.
at::Tensor fusedRmsNorm(const at::Tensor& x, const at::Tensor& weight, double eps);

// silu(gate) * up, same shapes; gate and up may be views (a fused gate/up projection's halves).
// Saves gate and up; backward recomputes silu.
at::Tensor fusedSwiGlu(const at::Tensor& gate, const at::Tensor& up);

// x * cos + rotate_half(x) * sin for x [B, T, H, D] (any strides, D contiguous) and cos, sin
// [T, D] in x's dtype (row t is position t). Saves only cos and sin. Returns [B, T, H, D]
// contiguous.
at::Tensor fusedRotary(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);

// The fp32 lane count of LibTorch's cascade sum that fusedRmsNorm reproduces (8 or 16), found
// once by comparing with LibTorch; 0 when neither matches, and then fusedRmsNorm always takes
// the op sequence.
int fusedRmsNormSumLanes();

} // namespace tb
