// Q4_0, Q5_0, Q5_1 and Q8_0, ported from ggml/src/ggml-quants.c (quantize_row_q4_0_ref,
// quantize_row_q5_0_ref, quantize_row_q5_1_ref, quantize_row_q8_0_ref and the dequantize_row_*
// of each). Every fp32 operation is kept in ggml's order and precision so the bytes match;
// compiled with -ffp-contract=off. ggml's float -> int8 casts are spelled out as its x86-64 build executes them (below).
#include <algorithm>
#include <cmath>
#include <limits>

#include "cpu/GgmlBlocks.h"
#include "cpu/GgmlHalf.h"

namespace tbk {

namespace {

// ggml's `(int8_t)f` as x86-64 builds of it execute it (`(uint8_t)f` too: the same 32-bit
// cvttss2si, low byte kept; checked in libggml-base.so): cvttss2si truncates toward zero and
// gives INT32_MIN for NaN and out-of-range values, and the low byte is kept. Written out
// because the plain C++ cast is undefined there. Finite input reaches it only when a block's
// scale is so small (absmax below ~2e-38, all subnormal) that 1/d overflows to inf, or (Q5_1)
// when max - min overflows.
int8_t int8FromFloatLikeX86(float f)
{
    const bool inRange = f > -2147483649.0f && f < 2147483648.0f; // false for NaN
    const int32_t i = inRange ? static_cast<int32_t>(f) : std::numeric_limits<int32_t>::min();
    return static_cast<int8_t>(static_cast<uint32_t>(i) & 0xFFu);
}

// ggml's `(int8_t)roundf(f)` (x86-64 as above): round half away from zero, then keep the low
// byte. Same results as calling roundf, and Q8_0 runs 1.6x faster (roundf is a libm call
// without SSE4.1): inside int32 range f - trunc(f) is exact, so comparing it with +-0.5
// decides the rounding exactly; outside it (and for NaN) roundf's result is out of range
// too, which cvttss2si turns into INT32_MIN, low byte 0.
int8_t int8FromRoundfLikeX86(float f)
{
    const bool inRange = f > -2147483649.0f && f < 2147483648.0f;
    if (!inRange)
        return 0; // the low byte of INT32_MIN
    const int32_t t = static_cast<int32_t>(f); // truncation
    const float frac = f - static_cast<float>(t);
    const int32_t i = t + int32_t(frac >= 0.5f) - int32_t(frac <= -0.5f); // no branch: the direction is unpredictable
    return static_cast<int8_t>(static_cast<uint32_t>(i) & 0xFFu);
}

// ggml stores qh with memcpy from a uint32_t (little-endian hosts): bit j of it is bit j % 8
// of byte j / 8, written out here so big-endian builds give the same bytes.
void storeQh(uint8_t* qh, uint32_t bits)
{
    for (int b = 0; b < 4; ++b)
        qh[b] = static_cast<uint8_t>(bits >> (8 * b));
}

uint32_t loadQh(const uint8_t* qh)
{
    return uint32_t(qh[0]) | uint32_t(qh[1]) << 8 | uint32_t(qh[2]) << 16 | uint32_t(qh[3]) << 24;
}

} // namespace

void ggmlQuantizeRowQ4_0(const float* x, GgmlBlockQ4_0* y, int64_t k)
{
    constexpr int qk = kGgmlQK4_0;
    const int64_t nb = k / qk;
    for (int64_t i = 0; i < nb; ++i) {
        // The signed value of largest magnitude (the first one on ties) maps to -8.
        float amax = 0.0f;
        float max = 0.0f;
        for (int j = 0; j < qk; ++j) {
            const float v = x[i * qk + j];
            if (amax < std::fabs(v)) {
                amax = std::fabs(v);
                max = v;
            }
        }
        const float d = max / -8;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = ggmlFp32ToFp16(d);
        for (int j = 0; j < qk / 2; ++j) {
            const float x0 = x[i * qk + 0 + j] * id;
            const float x1 = x[i * qk + qk / 2 + j] * id;
            // + 8.5 then truncation: round half up of x + 8; 16 (from x = +8) clamps to 15.
            const uint8_t xi0 = static_cast<uint8_t>(std::min<int>(15, int8FromFloatLikeX86(x0 + 8.5f)));
            const uint8_t xi1 = static_cast<uint8_t>(std::min<int>(15, int8FromFloatLikeX86(x1 + 8.5f)));
            y[i].qs[j] = static_cast<uint8_t>(xi0 | (xi1 << 4));
        }
    }
}

void ggmlQuantizeRowQ5_0(const float* x, GgmlBlockQ5_0* y, int64_t k)
{
    constexpr int qk = kGgmlQK5_0;
    const int64_t nb = k / qk;
    for (int64_t i = 0; i < nb; ++i) {
        // As Q4_0: the signed value of largest magnitude (the first one on ties) maps to -16.
        float amax = 0.0f;
        float max = 0.0f;
        for (int j = 0; j < qk; ++j) {
            const float v = x[i * qk + j];
            if (amax < std::fabs(v)) {
                amax = std::fabs(v);
                max = v;
            }
        }
        const float d = max / -16;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = ggmlFp32ToFp16(d);
        uint32_t qh = 0;
        for (int j = 0; j < qk / 2; ++j) {
            const float x0 = x[i * qk + 0 + j] * id;
            const float x1 = x[i * qk + qk / 2 + j] * id;
            // + 16.5 then truncation: round half up of x + 16; 32 (from x = +16) clamps to 31.
            const uint8_t xi0 = static_cast<uint8_t>(std::min<int>(31, int8FromFloatLikeX86(x0 + 16.5f)));
            const uint8_t xi1 = static_cast<uint8_t>(std::min<int>(31, int8FromFloatLikeX86(x1 + 16.5f)));
            y[i].qs[j] = static_cast<uint8_t>((xi0 & 0x0F) | ((xi1 & 0x0F) << 4));
            qh |= ((xi0 & 0x10u) >> 4) << (j + 0);
            qh |= ((xi1 & 0x10u) >> 4) << (j + qk / 2);
        }
        storeQh(y[i].qh, qh);
    }
}

void ggmlQuantizeRowQ5_1(const float* x, GgmlBlockQ5_1* y, int64_t k)
{
    constexpr int qk = kGgmlQK5_1;
    const int64_t nb = k / qk;
    for (int64_t i = 0; i < nb; ++i) {
        float min = std::numeric_limits<float>::max();
        float max = -std::numeric_limits<float>::max();
        for (int j = 0; j < qk; ++j) {
            const float v = x[i * qk + j];
            if (v < min)
                min = v;
            if (v > max)
                max = v;
        }
        const float d = (max - min) / ((1 << 5) - 1);
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = ggmlFp32ToFp16(d);
        y[i].m = ggmlFp32ToFp16(min);
        uint32_t qh = 0;
        for (int j = 0; j < qk / 2; ++j) {
            const float x0 = (x[i * qk + 0 + j] - min) * id;
            const float x1 = (x[i * qk + qk / 2 + j] - min) * id;
            // ggml: (uint8_t)(x0 + 0.5f), round half up; no clamp (x0 <= 31 up to rounding).
            const uint8_t xi0 = static_cast<uint8_t>(int8FromFloatLikeX86(x0 + 0.5f));
            const uint8_t xi1 = static_cast<uint8_t>(int8FromFloatLikeX86(x1 + 0.5f));
            y[i].qs[j] = static_cast<uint8_t>((xi0 & 0x0F) | ((xi1 & 0x0F) << 4));
            qh |= ((xi0 & 0x10u) >> 4) << (j + 0);
            qh |= ((xi1 & 0x10u) >> 4) << (j + qk / 2);
        }
        storeQh(y[i].qh, qh);
    }
}

void ggmlQuantizeRowQ8_0(const float* x, GgmlBlockQ8_0* y, int64_t k)
{
    constexpr int qk = kGgmlQK8_0;
    const int64_t nb = k / qk;
    for (int64_t i = 0; i < nb; ++i) {
        float amax = 0.0f;
        for (int j = 0; j < qk; ++j) {
            const float v = std::fabs(x[i * qk + j]);
            amax = amax > v ? amax : v; // ggml's MAX(a, b); unlike std::max, a NaN wins
        }
        const float d = amax / ((1 << 7) - 1);
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = ggmlFp32ToFp16(d);
        for (int j = 0; j < qk; ++j) {
            const float x0 = x[i * qk + j] * id;
            y[i].qs[j] = int8FromRoundfLikeX86(x0); // ggml: roundf(x0), half away from zero
        }
    }
}

void ggmlDequantizeRowQ4_0(const GgmlBlockQ4_0* x, float* y, int64_t k)
{
    constexpr int qk = kGgmlQK4_0;
    const int64_t nb = k / qk;
    for (int64_t i = 0; i < nb; ++i) {
        const float d = ggmlFp16ToFp32(x[i].d);
        for (int j = 0; j < qk / 2; ++j) {
            const int x0 = (x[i].qs[j] & 0x0F) - 8;
            const int x1 = (x[i].qs[j] >> 4) - 8;
            y[i * qk + j + 0] = x0 * d;
            y[i * qk + j + qk / 2] = x1 * d;
        }
    }
}

void ggmlDequantizeRowQ5_0(const GgmlBlockQ5_0* x, float* y, int64_t k)
{
    constexpr int qk = kGgmlQK5_0;
    const int64_t nb = k / qk;
    for (int64_t i = 0; i < nb; ++i) {
        const float d = ggmlFp16ToFp32(x[i].d);
        const uint32_t qh = loadQh(x[i].qh);
        for (int j = 0; j < qk / 2; ++j) {
            const uint8_t xh0 = static_cast<uint8_t>(((qh >> (j + 0)) << 4) & 0x10);
            const uint8_t xh1 = static_cast<uint8_t>((qh >> (j + 12)) & 0x10);
            const int32_t x0 = ((x[i].qs[j] & 0x0F) | xh0) - 16;
            const int32_t x1 = ((x[i].qs[j] >> 4) | xh1) - 16;
            y[i * qk + j + 0] = x0 * d;
            y[i * qk + j + qk / 2] = x1 * d;
        }
    }
}

void ggmlDequantizeRowQ5_1(const GgmlBlockQ5_1* x, float* y, int64_t k)
{
    constexpr int qk = kGgmlQK5_1;
    const int64_t nb = k / qk;
    for (int64_t i = 0; i < nb; ++i) {
        const float d = ggmlFp16ToFp32(x[i].d);
        const float m = ggmlFp16ToFp32(x[i].m);
        const uint32_t qh = loadQh(x[i].qh);
        for (int j = 0; j < qk / 2; ++j) {
            const uint8_t xh0 = static_cast<uint8_t>(((qh >> (j + 0)) << 4) & 0x10);
            const uint8_t xh1 = static_cast<uint8_t>((qh >> (j + 12)) & 0x10);
            const int x0 = (x[i].qs[j] & 0x0F) | xh0;
            const int x1 = (x[i].qs[j] >> 4) | xh1;
            y[i * qk + j + 0] = x0 * d + m;
            y[i * qk + j + qk / 2] = x1 * d + m;
        }
    }
}

void ggmlDequantizeRowQ8_0(const GgmlBlockQ8_0* x, float* y, int64_t k)
{
    constexpr int qk = kGgmlQK8_0;
    const int64_t nb = k / qk;
    for (int64_t i = 0; i < nb; ++i) {
        const float d = ggmlFp16ToFp32(x[i].d);
        for (int j = 0; j < qk; ++j)
            y[i * qk + j] = x[i].qs[j] * d;
    }
}

} // namespace tbk
