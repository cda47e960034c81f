// Fused elementwise kernels of the training step, forward and backward, on the CPU: RMSNorm,
// SwiGLU and rotary position embedding. Each replaces a chain of LibTorch ops (one pass over
// memory and one saved tensor each) with one pass per direction.
//
// Bits. The forward passes give exactly the bits of LibTorch 1.13's CPU op sequences that the
// engine used before (engine/model/RmsNorm.cpp, LlamaMlp, RotaryEmbedding::apply), in bf16 and
// fp32; every variant gives the same bits as the scalar one (compiled with -ffp-contract=off).
// What that takes, per kernel, is stated below. Backward passes compute in fp32 and round each
// output once; they are compared with autograd of the op sequence with a tolerance
// (tests/kernels/tst_elementwisekernels.cpp).
//
// dtype: bf16 (uint16 bits, round to nearest even as c10::BFloat16) or fp32, one per call for
// every activation and weight tensor; fp32 side outputs (rstd, dweight partials) are fp32 always.
// Layout: rows of contiguous elements, each tensor with its own row stride in elements (views
// such as a narrowed fused gate/up projection are read in place).
//
// Threading: the kernels start no threads. Each pass is a list of tasks, [0, tasks), each a
// fixed range of rows that depends only on the shape (elementwiseTaskRows), never on how the
// caller splits them; the caller runs them in any split over any threads (at::parallel_for).
// Every output element is written by exactly one task, so the bits do not depend on the split.
//
// Variants (ElementwiseIsa), bit-identical:
//   Scalar - ElementwiseKernelsScalar.cpp: one element at a time; the portable reference.
//   Avx512 - ElementwiseKernelsAvx512.cpp (AVX-512F/BW/VL + FMA): 16 fp32 lanes; bf16 widened
//            and rounded with integer ops (not vcvtneps2bf16, which flushes subnormals).
// Auto picks the best the CPU offers (cpuFeatures()).
#pragma once

#include <cstdint>

#include "cpu/KernelStatus.h"

namespace tbk {

enum class ElementwiseIsa { Auto, Scalar, Avx512 };
enum class ElementwiseDtype { F32, Bf16 };
enum class ElementwisePass { Forward, Backward };

const char* elementwiseIsaName(ElementwiseIsa isa);
// Compiled in and offered by this CPU (Scalar and Auto always are).
bool elementwiseIsaSupported(ElementwiseIsa isa);
// The variant Auto resolves to here.
ElementwiseIsa elementwiseBestIsa();

// Rows per task for rows of `rowElements` elements: about 32K elements per task (>= 1 row), so a
// task's rows stay in L2 and there are enough tasks to balance; a function of the shape only.
int64_t elementwiseTaskRows(int64_t rowElements);
int64_t elementwiseTasks(int64_t rows, int64_t rowElements);

// ---- RMSNorm (transformers' LlamaRMSNorm) --------------------------------------------------
// Forward, per row of `dim` elements, exactly LibTorch's
//     xf = x.to(float); rstd = rsqrt(xf.pow(2).mean(-1) + eps); y = weight * (xf * rstd).to(dtype)
// sum of squares in fp32 in the order of ATen's cascade sum (SumKernel.cpp: `sumLanes` fp32
// lanes, 4 interleaved accumulators, 4 cascade levels, then the scalar tail and the lanes),
// mean = sum / dim, eps rounded to fp32, rstd = 1 / sqrt(mean + eps); in bf16 the normalised
// value is rounded to bf16 before the product with the weight, which rounds once.
// sumLanes is the fp32 vector width of LibTorch's reduction kernel: 8 where ATen dispatches its
// AVX2 (or default) kernels, Debian's 1.13 on this machine even with AVX-512; 16 for its AVX512
// kernels. The engine finds it by comparing with LibTorch once (FusedElementwise.cpp).
// Backward (fp32 math, g = dy * weight, n = x * rstd):
//     dx = rstd * (g - x * rstd^2 * mean(g * x))
//     dweight partial of task t = sum over its rows of dy * n, n rounded to dtype as in forward
// Partials are fp32 [tasks, dim], one row per task; rmsNormReduceWeightGrad sums them in task
// order (deterministic), the caller rounds to the weight's dtype.
struct RmsNormArgs {
    int64_t rows = 0;
    int64_t dim = 0;
    ElementwiseDtype dtype = ElementwiseDtype::Bf16; // x, weight, y, dy, dx
    ElementwiseIsa isa = ElementwiseIsa::Auto;
    float eps = 1e-6f;
    int sumLanes = 8; // 8 or 16, see above
    const void* x = nullptr;
    int64_t xRowStride = 0;
    const void* weight = nullptr; // [dim], contiguous
    void* y = nullptr;            // forward output
    int64_t yRowStride = 0;
    float* rstd = nullptr; // [rows] fp32: forward output, backward input
    const void* dy = nullptr;
    int64_t dyRowStride = 0;
    void* dx = nullptr; // backward output
    int64_t dxRowStride = 0;
    float* weightGradPartials = nullptr; // [tasks, dim] fp32, backward output; null = no dweight
};

// Sizes >= 0, sumLanes 8 or 16, the pointers the pass needs, the ISA: BadSize, NullPointer or
// IsaUnavailable. The task functions assume arguments that passed.
KernelStatus rmsNormCheck(const RmsNormArgs& args, ElementwisePass pass);
int64_t rmsNormTasks(const RmsNormArgs& args);
void rmsNormForward(const RmsNormArgs& args, int64_t taskBegin, int64_t taskEnd);
void rmsNormBackward(const RmsNormArgs& args, int64_t taskBegin, int64_t taskEnd);
// out[c] = sum over t in [0, tasks) in that order of partials[t * dim + c], for c in
// [colBegin, colEnd): callers may split the columns over threads.
void rmsNormReduceWeightGrad(const float* partials, int64_t tasks, int64_t dim, float* out, int64_t colBegin,
                             int64_t colEnd);

// ---- SwiGLU: h = silu(gate) * up ------------------------------------------------------------
// Forward, exactly LibTorch 1.13's at::silu(gate) * up on its vectorised path:
//     fp32: s = g / (1 + exp(-g));                          h = s * u
//     bf16: s = bf16(g / bf16(1 + bf16(exp(-g))))  (ATen's Vectorized<BFloat16> rounds after
//           every op);                                      h = bf16(s * u)
// with exp SLEEF's expf_u10 (ATen's Vectorized<float>::exp), reproduced operation for operation
// (FMAs included). ATen computes the last (n mod 2 * vector width) elements of each contiguous
// chunk its parallel_for hands a thread with glibc's expf instead, which differs from SLEEF in
// the last bit for a few inputs: there, and only there, LibTorch's own bits depend on the
// thread count and the kernel can differ from it.
// Backward, sigma = 1 / (1 + exp(-g)) in fp32: dgate = dh * up * sigma * (1 + g * (1 - sigma)),
// dup = dh * s with s the forward's (rounded) silu; each rounded once.
struct SwiGluArgs {
    int64_t rows = 0;
    int64_t cols = 0;
    ElementwiseDtype dtype = ElementwiseDtype::Bf16;
    ElementwiseIsa isa = ElementwiseIsa::Auto;
    const void* gate = nullptr;
    int64_t gateRowStride = 0;
    const void* up = nullptr;
    int64_t upRowStride = 0;
    void* h = nullptr; // forward output
    int64_t hRowStride = 0;
    const void* dh = nullptr;
    int64_t dhRowStride = 0;
    void* dGate = nullptr; // backward outputs
    int64_t dGateRowStride = 0;
    void* dUp = nullptr;
    int64_t dUpRowStride = 0;
};

KernelStatus swiGluCheck(const SwiGluArgs& args, ElementwisePass pass);
int64_t swiGluTasks(const SwiGluArgs& args);
void swiGluForward(const SwiGluArgs& args, int64_t taskBegin, int64_t taskEnd);
void swiGluBackward(const SwiGluArgs& args, int64_t taskBegin, int64_t taskEnd);

// ---- Rotary position embedding, rotate_half layout -------------------------------------------
// x is [B, T, heads, D] with element strides for batch, time and head (D contiguous, even);
// cos and sin are [T, D] (row t is position t of the sequence; rows contiguous, their own row
// stride). Dimension i < D/2 pairs with i + D/2. With x = (x1, x2), c = (c1, c2), s = (s1, s2):
//     forward   y1 = x1 c1 - x2 s1           y2 = x2 c2 + x1 s2
//     backward dx1 = dy1 c1 + dy2 s2        dx2 = dy2 c2 - dy1 s1     (the transposed rotation)
// each product rounded to the dtype, then the sum, exactly as LibTorch computes
// x * cos + cat(-x2, x1) * sin (and its autograd, whose accumulation adds the same two terms).
// Both passes read `in` (x, or dy) and write `out` (y, or dx); in == out with equal strides
// (in place) is allowed: each pair of elements is read before it is written.
struct RotaryStrides {
    int64_t batch = 0;
    int64_t time = 0;
    int64_t head = 0;
};

struct RotaryArgs {
    int64_t batch = 1;
    int64_t seq = 0; // T
    int64_t heads = 1;
    int64_t headDim = 0; // D, even
    ElementwiseDtype dtype = ElementwiseDtype::Bf16;
    ElementwiseIsa isa = ElementwiseIsa::Auto;
    const void* in = nullptr;
    RotaryStrides inStride;
    void* out = nullptr;
    RotaryStrides outStride;
    const void* cos = nullptr;
    int64_t cosRowStride = 0;
    const void* sin = nullptr;
    int64_t sinRowStride = 0;
};

// Tasks over rows (b, t), each row all heads.
KernelStatus rotaryCheck(const RotaryArgs& args);
int64_t rotaryTasks(const RotaryArgs& args);
void rotaryForward(const RotaryArgs& args, int64_t taskBegin, int64_t taskEnd);
void rotaryBackward(const RotaryArgs& args, int64_t taskBegin, int64_t taskEnd);

} // namespace tbk
