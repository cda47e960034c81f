// Internal: the per-ISA row loops behind ElementwiseKernels.h, and the scalar pieces every
// variant shares so they give the same bits: SLEEF's expf_u10 and the end of ATen's cascade sum.
// Included only by kernels/cpu/ElementwiseKernels*.cpp, all compiled with -ffp-contract=off: no
// a * b + c below is fused unless written as std::fma / _mm512_fmadd_ps.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "cpu/Bf16.h"
#include "cpu/ElementwiseKernels.h"

namespace tbk::detail {

// Rows [r0, r1) of one task. partial: the task's fp32 dweight row [dim], or null.
void rmsNormForwardScalar(const RmsNormArgs& a, int64_t r0, int64_t r1);
void rmsNormBackwardScalar(const RmsNormArgs& a, int64_t r0, int64_t r1, float* partial);
void swiGluForwardScalar(const SwiGluArgs& a, int64_t r0, int64_t r1);
void swiGluBackwardScalar(const SwiGluArgs& a, int64_t r0, int64_t r1);
void rotaryScalar(const RotaryArgs& a, int64_t r0, int64_t r1, bool backward);

// ElementwiseKernelsAvx512.cpp; elementwiseAvx512Compiled() says whether it was built with its
// -m flags (elsewhere the loops are stubs, never selected).
bool elementwiseAvx512Compiled();
void rmsNormForwardAvx512(const RmsNormArgs& a, int64_t r0, int64_t r1);
void rmsNormBackwardAvx512(const RmsNormArgs& a, int64_t r0, int64_t r1, float* partial);
void swiGluForwardAvx512(const SwiGluArgs& a, int64_t r0, int64_t r1);
void swiGluBackwardAvx512(const SwiGluArgs& a, int64_t r0, int64_t r1);
void rotaryAvx512(const RotaryArgs& a, int64_t r0, int64_t r1, bool backward);

// Lanes of the backward passes' fp32 dot products (RMSNorm's sum of g * x): element k adds into
// lane k % 16, the lanes are then summed 0..15 in order, in every variant.
constexpr int kDotLanes = 16;

inline float toF32(float v) { return v; }
inline float toF32(uint16_t v) { return bf16ToFloat(v); }
// Rounds to the element type (bf16: nearest even); for float a no-op.
template <typename E>
inline E fromF32(float v);
template <>
inline float fromF32<float>(float v) { return v; }
template <>
inline uint16_t fromF32<uint16_t>(float v) { return floatToBf16(v); }
// v rounded to E and widened back: what a tensor of dtype E holds.
template <typename E>
inline float roundTo(float v) { return toF32(fromF32<E>(v)); }

// ---- SLEEF expf_u10 ---------------------------------------------------------------------------
// Sleef_expf16_u10 / Sleef_expf8_u10 (sleefsimdsp.c xexpf, FMA builds: every vmla is an FMA),
// which ATen's Vectorized<float>::exp calls: q = rint(d / ln 2), s = d - q ln 2 in two FMA
// steps (Cody-Waite), a degree-6 polynomial, 2^q applied as two power-of-two products, 0 below
// -104, +inf above 100.
constexpr float kSleefRLn2 = 1.442695040888963407359924681001892137426645954152985934135449406931f;
constexpr float kSleefL2U = 0.693145751953125f;
constexpr float kSleefL2L = 1.428606765330187045e-06f;
constexpr float kSleefExpC0 = 0.000198527617612853646278381f;
constexpr float kSleefExpC1 = 0.00139304355252534151077271f;
constexpr float kSleefExpC2 = 0.00833336077630519866943359f;
constexpr float kSleefExpC3 = 0.0416664853692054748535156f;
constexpr float kSleefExpC4 = 0.166666671633720397949219f;
constexpr float kSleefExpC5 = 0.5f;

inline float pow2i(int32_t e)
{
    const uint32_t bits = static_cast<uint32_t>(e + 0x7F) << 23;
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

inline float sleefExpf(float d)
{
    // vrint_vi2_vf is cvtps2dq: nearest even, out of range (and NaN) -> INT32_MIN.
    const float qr = std::nearbyint(d * kSleefRLn2);
    const int32_t q = std::fabs(qr) < 2147483648.0f ? static_cast<int32_t>(qr) : INT32_MIN;
    const float qf = static_cast<float>(q);
    float s = std::fma(qf, -kSleefL2U, d);
    s = std::fma(qf, -kSleefL2L, s);
    float u = kSleefExpC0;
    u = std::fma(u, s, kSleefExpC1);
    u = std::fma(u, s, kSleefExpC2);
    u = std::fma(u, s, kSleefExpC3);
    u = std::fma(u, s, kSleefExpC4);
    u = std::fma(u, s, kSleefExpC5);
    u = 1.0f + std::fma(s * s, u, s);
    const int32_t qh = q >> 1; // arithmetic shift, as vsra
    u = (u * pow2i(qh)) * pow2i(static_cast<int32_t>(static_cast<uint32_t>(q) - static_cast<uint32_t>(qh)));
    if (d < -104.0f)
        u = 0.0f;
    if (100.0f < d)
        u = INFINITY;
    return u;
}

// silu as ATen 1.13 computes it on its vectorised path (see SwiGLU in ElementwiseKernels.h),
// from e = exp(-g): fp32 g / (1 + e); bf16 every step rounded to bf16.
template <typename E>
inline float siluFromExp(float g, float e);
template <>
inline float siluFromExp<float>(float g, float e) { return g / (1.0f + e); }
template <>
inline float siluFromExp<uint16_t>(float g, float e)
{
    return roundTo<uint16_t>(g / roundTo<uint16_t>(1.0f + roundTo<uint16_t>(e)));
}

// ---- ATen's cascade sum (aten/src/ATen/native/cpu/SumKernel.cpp, 1.13) ------------------------
// A row of n fp32 values is read as `units` of U values (U = the vector width, or 1 on ATen's
// scalar path for n < width), four units at a time into 4 interleaved accumulators (ILP),
// through 4 cascade levels: after every 2^p groups level 0 is added into level 1 and cleared,
// level 1 into level 2 every 2^2p groups, and so on (p = max(4, ceil(log2(groups)) / 4)).
// Here the values are squares x * x in fp32, the terms of RMSNorm's mean.
inline int64_t atenCeilLog2(int64_t x)
{
    if (x <= 2)
        return 1;
    int64_t bits = 0;
    for (uint64_t v = static_cast<uint64_t>(x - 1); v; v >>= 1)
        ++bits;
    return bits;
}

inline int64_t cascadeLevelPower(int64_t groups)
{
    const int64_t p = atenCeilLog2(groups) / 4;
    return p > 4 ? p : 4;
}

template <typename E>
inline float squareOf(const E* x, int64_t i)
{
    const float v = toF32(x[i]);
    return v * v;
}

// The levels' loop in scalar code: acc0 [4 * U] gets level 0 after all levels were merged into it.
template <typename E>
void cascadeGroupsScalar(const E* x, int64_t units, int U, float* acc0)
{
    const int64_t groups = units / 4, width = 4 * int64_t(U);
    const int64_t power = cascadeLevelPower(groups), step = int64_t(1) << power, mask = step - 1;
    float acc[4][64] = {};
    int64_t i = 0;
    while (i + step <= groups) {
        for (int64_t j = 0; j < step; ++j, ++i)
            for (int64_t e = 0; e < width; ++e)
                acc[0][e] += squareOf(x, i * width + e);
        for (int lv = 1; lv < 4; ++lv) {
            for (int64_t e = 0; e < width; ++e) {
                acc[lv][e] += acc[lv - 1][e];
                acc[lv - 1][e] = 0.0f;
            }
            if ((i & (mask << (lv * power))) != 0)
                break;
        }
    }
    for (; i < groups; ++i)
        for (int64_t e = 0; e < width; ++e)
            acc[0][e] += squareOf(x, i * width + e);
    for (int lv = 1; lv < 4; ++lv)
        for (int64_t e = 0; e < width; ++e)
            acc[0][e] += acc[lv][e];
    std::memcpy(acc0, acc[0], sizeof(float) * size_t(width));
}

// After the levels: the leftover units into accumulator 0, accumulators 1..3 into 0, and for
// U > 1 the leftover elements then the U lanes into one fp32 (ATen's vectorized_inner_sum).
template <typename E>
float cascadeFinish(const E* x, int64_t n, int U, float* acc0)
{
    const int64_t units = n / U;
    for (int64_t t = units / 4 * 4; t < units; ++t)
        for (int l = 0; l < U; ++l)
            acc0[l] += squareOf(x, t * U + l);
    for (int k = 1; k < 4; ++k)
        for (int l = 0; l < U; ++l)
            acc0[l] += acc0[k * U + l];
    if (U == 1)
        return acc0[0];
    float sum = 0.0f;
    for (int64_t k = units * U; k < n; ++k)
        sum += squareOf(x, k);
    for (int l = 0; l < U; ++l)
        sum += acc0[l];
    return sum;
}

// rstd from the sum of squares: mean = sum / dim (ATen: sum then div_), + eps, then rsqrt
// (Vectorized::rsqrt is 1 / sqrt).
inline float rstdFromSum(float sum, int64_t dim, float eps)
{
    const float mean = sum / static_cast<float>(dim);
    return 1.0f / std::sqrt(mean + eps);
}

} // namespace tbk::detail
