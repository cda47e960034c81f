// Fused causal attention on the CPU, forward and backward: tiled, with the online softmax of
// FlashAttention-2 (Dao 2023, arXiv:2307.08691, Algorithms 1 and 2), so the Tq x Tk score matrix
// is never stored; each tile of scores lives in a 16 KiB scratch buffer.
//
// Layout: q is [B, Tq, H, D], k and v are [B, Tk, KV, D], o (and dO, dQ; dK and dV like k) the
// same: the natural output of the q/k/v projections, so the engine transposes nothing. Each
// tensor has its own element strides for batch, time and head; D is contiguous (stride 1).
// Grouped-query attention: query head h reads key/value head h / (H / KV); k and v are never
// copied per query head. dK and dV are summed over the H / KV query heads of their group.
// dtype: bf16 (uint16 bits; outputs rounded to nearest even, as torch) or fp32, the same for
// every tensor of a call. Products and softmax accumulate in fp32.
//
// Masks. Query i sits at absolute position pos_i = qOffset + i with qOffset = Tk - Tq (a
// KV-cache decode step is Tq = 1). Key j is visible to query i when
//     j <= pos_i                              (causal)
//     and pos_i - window < j, if window > 0   (sliding window, as transformers' Qwen2/Mistral:
//                                              blocked when j <= pos_i - window)
//     and keyValid[b * Tk + j] != 0, if keyValid is given (key padding, 1 = real token).
// A query row with no visible key (left padding does that) gets o = 0 and lse = -inf, and in
// backward dQ = 0 for it and it adds nothing (exactly +0) to dK and dV.
//
// lse is fp32 [B, H, Tq], contiguous: log sum_j exp(s_ij) of the scaled, masked scores
// s_ij = scale * q_i . k_j, written by the forward pass and read by the backward passes, which
// recompute P = exp(s - lse) tile by tile and use Delta_i = sum_d dO_id * O_id (fp32).
//
// Threading: the kernel starts no threads. Each pass is a list of independent tasks; the caller
// runs [0, tasks) in any split over any number of threads (at::parallel_for). Every output
// element is written by exactly one task, accumulated in a fixed order, so the bits do not
// depend on the split, the thread count or the scheduling. Tasks are balanced for the causal
// triangle: a task takes query (or key) tile p together with tile n-1-p. Grouped-query
// attention: a Forward / BackwardQ task takes up to 4 query heads of one KV group (as many as
// leave 4 tasks per hardware thread), so the tiled variants pack each K/V tile once for all of
// them; a head's bits are the same either way. BackwardKv tasks take a KV head's whole group.
// Backward is two passes that may run one after the other in any order: BackwardKv (dK, dV;
// tasks over key tiles) and BackwardQ (dQ; tasks over query tiles); both only read lse, o, dO.
// Scratch is per thread (thread_local, grown once), no state is shared between tasks.
//
// Variants (AttentionIsa):
//   Scalar     - CausalAttentionScalar.cpp: one query (key) row at a time, std::exp, fp32 sums;
//                the portable reference and the specification of the masks.
//   Avx512     - CausalAttentionAvx512.cpp (AVX-512F/BW/VL): 64 x 64 tiles, register-blocked
//                6 x 64 micro-kernels, Cephes-style exp (~1e-7 relative); bf16 pairs are
//                multiplied as fp32 (two FMAs per pair of the reduction).
//   Avx512Bf16 - the same code built with AVX512_BF16: vdpbf16ps for bf16 tile products.
// Auto picks the best the CPU offers (cpuFeatures()). In the tiled variants the bf16 path rounds
// P and dS to bf16 before their products (as FlashAttention does on GPUs); variants are not
// bit-identical to each other. Against an fp64 reference (tests/kernels/tst_causalattention.cpp),
// max error over the largest |value| of each output: fp32 1e-5 (o) and 2e-5 (dQ, dK, dV), bf16
// 2e-2 (measured: fp32 ~1e-6, bf16 ~5e-3). The two backward passes recompute S and dP in both,
// 7 tile products per visible tile pair against FA2's 5: the price of having no atomics.
#pragma once

#include <cstdint>

#include "cpu/KernelStatus.h"

namespace tbk {

enum class AttentionIsa { Auto, Scalar, Avx512, Avx512Bf16 };
enum class AttentionDtype { F32, Bf16 };

const char* attentionIsaName(AttentionIsa isa);
// Compiled in and offered by this CPU (Scalar and Auto always are).
bool attentionIsaSupported(AttentionIsa isa);
// The variant Auto resolves to here.
AttentionIsa attentionBestIsa();

struct AttentionShape {
    int64_t batch = 1;
    int64_t queryLen = 0; // Tq
    int64_t keyLen = 0;   // Tk >= Tq; queries are the last Tq positions
    int64_t heads = 1;    // H
    int64_t kvHeads = 1;  // KV, H % KV == 0
    int64_t headDim = 0;  // D, any >= 1; fastest for multiples of 32
    int64_t window = 0;   // sliding window in tokens, 0 = none
};

// Element strides of a [B, T, heads, D] tensor (D has stride 1).
struct AttentionStrides {
    int64_t batch = 0;
    int64_t time = 0;
    int64_t head = 0;
};

inline AttentionStrides contiguousAttentionStrides(int64_t time, int64_t heads, int64_t headDim)
{
    return {time * heads * headDim, heads * headDim, headDim};
}

// Element pointers are uint16 bf16 bits or float, per dtype. Forward reads q, k, v, keyValid and
// writes o, lse; the backward passes read q, k, v, o, lse, dO, keyValid and write dQ (BackwardQ)
// or dK, dV (BackwardKv). Pointers a pass does not use may be null.
struct AttentionArgs {
    AttentionShape shape;
    AttentionDtype dtype = AttentionDtype::Bf16;
    AttentionIsa isa = AttentionIsa::Auto;
    float scale = 0.0f;                // normally 1 / sqrt(D)
    const uint8_t* keyValid = nullptr; // [B, Tk], 1 = real token; null = all valid
    const void* q = nullptr;
    AttentionStrides qStride;
    const void* k = nullptr;
    AttentionStrides kStride;
    const void* v = nullptr;
    AttentionStrides vStride;
    void* o = nullptr; // forward output, backward input
    AttentionStrides oStride;
    float* lse = nullptr; // [B, H, Tq] fp32: forward output, backward input
    const void* dO = nullptr;
    AttentionStrides dOStride;
    void* dQ = nullptr;
    AttentionStrides dQStride;
    void* dK = nullptr;
    AttentionStrides dKStride;
    void* dV = nullptr;
    AttentionStrides dVStride;
};

enum class AttentionPass { Forward, BackwardKv, BackwardQ };

// Checks the shape (sizes >= 0, H % KV == 0, Tq <= Tk, window >= 0), the pointers the pass needs
// and the ISA, once before the tasks run: BadSize, NullPointer or IsaUnavailable. The task
// functions below assume arguments that passed.
KernelStatus causalAttentionCheck(const AttentionArgs& args, AttentionPass pass);

// Forward: tasks over (batch, block of query heads of one KV group, pair of query tiles).
int64_t causalAttentionForwardTasks(const AttentionShape& shape);
void causalAttentionForward(const AttentionArgs& args, int64_t taskBegin, int64_t taskEnd);

// Backward, dK and dV: tasks over (batch, kv head, pair of key tiles).
int64_t causalAttentionBackwardKvTasks(const AttentionShape& shape);
void causalAttentionBackwardKv(const AttentionArgs& args, int64_t taskBegin, int64_t taskEnd);

// Backward, dQ: tasks as Forward's.
int64_t causalAttentionBackwardQTasks(const AttentionShape& shape);
void causalAttentionBackwardQ(const AttentionArgs& args, int64_t taskBegin, int64_t taskEnd);

// Useful FLOPs of the forward pass, counting only the visible (causal, windowed) scores: 4 * D
// per visible (query, key, head). Padding is ignored. Backward is 2.5x this (FA2 convention).
double causalAttentionForwardFlops(const AttentionShape& shape);

} // namespace tbk
