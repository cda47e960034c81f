// Q4_K, Q5_K and Q6_K ("k-quants", super-blocks of 256), ported from ggml/src/ggml-quants.c:
// quantize_row_q4_K_ref / q5_K_ref (sub-block scale and min from make_qkx2_quants),
// quantize_row_q6_K_ref (make_qx_quants, rmse_type 1) and the dequantize_row_* of each.
// These are the reference quantizers ggml_quantize_chunk runs when no importance matrix is
// given. Byte identity with ggml rests on doing the same fp32 operations in the same order:
// loops, casts and the nearest_int bit trick are kept as ggml writes them (only names and
// layout follow this project). Compiled with -ffp-contract=off.
//
// Nearly all the time goes into the per-sub-block scale search (makeQkx2Quants tries 21 / 16
// scales per 32 values, makeQxQuants 19 per 16). The rows are therefore quantized a chunk of
// super-blocks at a time: first the search for every sub-block of the chunk (a "fit": the
// scalar one here, or GgmlKQuantsAvx2/Avx512.cpp's, which run one sub-block per SIMD lane and
// return the same values; GgmlKQuantsKernels.h), then per super-block the rest of ggml's
// quantizer: the 6- or 8-bit sub-block scales here, the final codes through the same variant
// (element-wise), the packing here.
#include <cmath>
#include <cstring>

#include "cpu/CpuFeatures.h"
#include "cpu/GgmlBlocks.h"
#include "cpu/GgmlHalf.h"
#include "cpu/GgmlKQuantsKernels.h"

namespace tbk {

namespace {

constexpr float kGroupMaxEps = 1e-15f; // ggml-quants.c GROUP_MAX_EPS: below it a group is zero

// ggml's MIN/MAX macros (the first argument wins ties), on ints.
inline int minInt(int a, int b) { return a < b ? a : b; }
inline int maxInt(int a, int b) { return a > b ? a : b; }

// Round to nearest, ties to even, for |f| <= 4194303 (2^22 - 1): adding 1.5 * 2^23 leaves the
// integer in the low 22 mantissa bits. ggml asserts the range only in debug builds; outside
// it the result wraps, and that wrapped value is what ggml writes, so it is kept unchecked.
inline int nearestInt(float f)
{
    const float val = f + 12582912.f;
    int32_t i;
    std::memcpy(&i, &val, sizeof(i));
    return (i & 0x007fffff) - 0x00400000;
}

// ggml make_qx_quants(n, nmax, x, L, rmse_type = 1, qw = NULL): symmetric quantization of n
// values to L[i] in 0..2*nmax-1 (x ~ scale * (L - nmax)), weights x^2, searching 18 scales
// around -nmax/max for the one with the least weighted squared error. Returns the scale.
float makeQxQuants(int n, int nmax, const float* x, int8_t* L)
{
    float max = 0;
    float amax = 0;
    for (int i = 0; i < n; ++i) {
        const float ax = std::fabs(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < kGroupMaxEps) { // all zero
        for (int i = 0; i < n; ++i)
            L[i] = 0;
        return 0.f;
    }
    float iscale = -nmax / max;
    float sumlx = 0;
    float suml2 = 0;
    for (int i = 0; i < n; ++i) {
        int l = nearestInt(iscale * x[i]);
        l = maxInt(-nmax, minInt(nmax - 1, l));
        L[i] = static_cast<int8_t>(l + nmax);
        const float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; ++is) {
        if (is == 0)
            continue;
        iscale = -(nmax + 0.1f * is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; ++i) {
            int l = nearestInt(iscale * x[i]);
            l = maxInt(-nmax, minInt(nmax - 1, l));
            const float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; ++i) {
                const int l = nearestInt(iscale * x[i]);
                L[i] = static_cast<int8_t>(nmax + maxInt(-nmax, minInt(nmax - 1, l)));
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

// ggml make_qkx2_quants(n, nmax, x, weights, L, &the_min, Laux, rmin, rdelta, nstep,
// use_mad = false): asymmetric quantization x ~ scale * L - theMin, L in 0..nmax, min <= 0.
// Tries iscale = (rmin + rdelta*is + nmax) / (max - min) for is = 0..nstep, each followed by
// a weighted least-squares fit of scale and min, and keeps the least weighted squared error.
// Laux[n] is scratch. Returns the scale; *theMin receives -min (>= 0).
float makeQkx2Quants(int n, int nmax, const float* x, const float* weights, uint8_t* L, float* theMin,
                     uint8_t* Laux, float rmin, float rdelta, int nstep)
{
    float min = x[0];
    float max = x[0];
    float sumW = weights[0];
    float sumX = sumW * x[0];
    for (int i = 1; i < n; ++i) {
        if (x[i] < min)
            min = x[i];
        if (x[i] > max)
            max = x[i];
        const float w = weights[i];
        sumW += w;
        sumX += w * x[i];
    }
    if (min > 0)
        min = 0;
    if (max == min) {
        for (int i = 0; i < n; ++i)
            L[i] = 0;
        *theMin = -min;
        return 0.f;
    }
    float iscale = nmax / (max - min);
    float scale = 1 / iscale;
    float bestError = 0;
    for (int i = 0; i < n; ++i) {
        const int l = nearestInt(iscale * (x[i] - min));
        L[i] = static_cast<uint8_t>(maxInt(0, minInt(nmax, l)));
        float diff = scale * L[i] + min - x[i];
        diff = diff * diff;
        const float w = weights[i];
        bestError += w * diff;
    }
    if (nstep < 1) {
        *theMin = -min;
        return scale;
    }
    for (int is = 0; is <= nstep; ++is) {
        iscale = (rmin + rdelta * is + nmax) / (max - min);
        float sumL = 0, sumL2 = 0, sumXL = 0;
        for (int i = 0; i < n; ++i) {
            int l = nearestInt(iscale * (x[i] - min));
            l = maxInt(0, minInt(nmax, l));
            Laux[i] = static_cast<uint8_t>(l);
            const float w = weights[i];
            sumL += w * l;
            sumL2 += w * l * l;
            sumXL += w * l * x[i];
        }
        const float D = sumW * sumL2 - sumL * sumL;
        if (D > 0) {
            float thisScale = (sumW * sumXL - sumX * sumL) / D;
            float thisMin = (sumL2 * sumX - sumL * sumXL) / D;
            if (thisMin > 0) {
                thisMin = 0;
                thisScale = sumXL / sumL2;
            }
            float curError = 0;
            for (int i = 0; i < n; ++i) {
                float diff = thisScale * Laux[i] + thisMin - x[i];
                diff = diff * diff;
                const float w = weights[i];
                curError += w * diff;
            }
            if (curError < bestError) {
                for (int i = 0; i < n; ++i)
                    L[i] = Laux[i];
                bestError = curError;
                scale = thisScale;
                min = thisMin;
            }
        }
    }
    *theMin = -min;
    return scale;
}

// Sub-block j's 6-bit scale and min from the 12 packed bytes of Q4_K/Q5_K (ggml
// get_scale_min_k4): j < 4 in the low 6 bits of q[j] and q[j+4]; j >= 4 in the nibbles of
// q[j+4] plus the top 2 bits of q[j-4] (scale) and q[j] (min).
inline void scaleMinK4(int j, const uint8_t* q, uint8_t* d, uint8_t* m)
{
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = static_cast<uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4));
    }
}

// The packing of a super-block's 256 codes, as ggml's quantizers end. __restrict (the codes
// are a separate buffer) lets the compiler vectorize these byte loops.
// Q4_K: qs[32 p + l] = L[64 p + l] | L[64 p + 32 + l] << 4.
void packQ4_K(const uint8_t* __restrict L, uint8_t* __restrict q)
{
    for (int j = 0; j < kGgmlQK_K; j += 64) {
        for (int l = 0; l < 32; ++l)
            q[l] = static_cast<uint8_t>(L[j + l] | (L[j + l + 32] << 4));
        q += 32;
    }
}

// Q5_K: the low 4 bits as Q4_K, bit 4 of L[64 p + l] in bit 2p of qh[l], of L[64 p + 32 + l]
// in bit 2p + 1.
void packQ5_K(const uint8_t* __restrict L, uint8_t* __restrict qh, uint8_t* __restrict ql)
{
    std::memset(qh, 0, kGgmlQK_K / 8);
    uint8_t m1 = 1, m2 = 2;
    for (int n = 0; n < kGgmlQK_K; n += 64) {
        // ggml: if (l > 15) { l -= 16; qh[j] |= m; } -- for l in 0..31 that is bit 4 of l,
        // moved to qh without a branch (an unpredictable one: half the codes are > 15).
        for (int j = 0; j < 32; ++j) {
            const int l1 = L[n + j];
            const int l2 = L[n + j + 32];
            qh[j] = static_cast<uint8_t>(qh[j] | (m1 * (l1 >> 4)) | (m2 * (l2 >> 4)));
            ql[j] = static_cast<uint8_t>((l1 & 15) | ((l2 & 15) << 4));
        }
        m1 = static_cast<uint8_t>(m1 << 2);
        m2 = static_cast<uint8_t>(m2 << 2);
        ql += 32;
    }
}

// Q6_K: per 128 codes, ql holds the low 4 bits (elements l and l + 64 in byte l, l + 32 and
// l + 96 in byte l + 32), qh the top 2 bits of l, l + 32, l + 64, l + 96 in byte l.
void packQ6_K(const int8_t* __restrict L, uint8_t* __restrict ql, uint8_t* __restrict qh)
{
    for (int j = 0; j < kGgmlQK_K; j += 128) {
        for (int l = 0; l < 32; ++l) {
            const uint8_t q1 = L[j + l + 0] & 0xF;
            const uint8_t q2 = L[j + l + 32] & 0xF;
            const uint8_t q3 = L[j + l + 64] & 0xF;
            const uint8_t q4 = L[j + l + 96] & 0xF;
            ql[l + 0] = static_cast<uint8_t>(q1 | (q3 << 4));
            ql[l + 32] = static_cast<uint8_t>(q2 | (q4 << 4));
            qh[l] = static_cast<uint8_t>((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) |
                                         ((L[j + l + 64] >> 4) << 4) | ((L[j + l + 96] >> 4) << 6));
        }
        ql += 64;
        qh += 32;
    }
}

// The rest of quantize_row_q4_K_ref / q5_K_ref for one super-block of 256 at x, given the
// fit of its 8 sub-blocks (scales, mins as make_qkx2_quants returns them, L[256] its codes):
// the 6-bit quantization of the 8 scales and 8 mins against their maxima, the fp16 d / dmin,
// and the final L[256] in 0..nmax against the quantized scales.
template <typename Block>
void finishScalesAndMinsK(const float* x, const float* scales, const float* mins, int nmax, detail::GgmlCodesK codes,
                          Block& y, uint8_t* L)
{
    constexpr int subBlocks = kGgmlQK_K / 32;
    float maxScale = 0; // as the min is subtracted, scales are never negative
    float maxMin = 0;
    for (int j = 0; j < subBlocks; ++j) {
        const float scale = scales[j];
        if (scale > maxScale)
            maxScale = scale;
        const float min = mins[j];
        if (min > maxMin)
            maxMin = min;
    }

    const float invScale = maxScale > 0 ? 63.f / maxScale : 0.f;
    const float invMin = maxMin > 0 ? 63.f / maxMin : 0.f;
    for (int j = 0; j < subBlocks; ++j) {
        // ggml narrows to uint8_t before clamping to 63.
        uint8_t ls = static_cast<uint8_t>(nearestInt(invScale * scales[j]));
        uint8_t lm = static_cast<uint8_t>(nearestInt(invMin * mins[j]));
        ls = static_cast<uint8_t>(minInt(63, ls));
        lm = static_cast<uint8_t>(minInt(63, lm));
        if (j < 4) {
            y.scales[j] = ls;
            y.scales[j + 4] = lm;
        } else { // j - 4 and j were written as j < 4; their top 2 bits are free
            y.scales[j + 4] = static_cast<uint8_t>((ls & 0xF) | ((lm & 0xF) << 4));
            y.scales[j - 4] |= static_cast<uint8_t>((ls >> 4) << 6);
            y.scales[j - 0] |= static_cast<uint8_t>((lm >> 4) << 6);
        }
    }
    y.d = ggmlFp32ToFp16(maxScale / 63.f);
    y.dmin = ggmlFp32ToFp16(maxMin / 63.f);

    // Sub-block j's codes against d = d * sc[j], dm = dmin * m[j]; where d is 0, L keeps what
    // makeQkx2Quants chose (codes() skips it).
    float d[subBlocks];
    float dm[subBlocks];
    uint8_t sc, m;
    for (int j = 0; j < subBlocks; ++j) {
        scaleMinK4(j, y.scales, &sc, &m);
        d[j] = ggmlFp16ToFp32(y.d) * sc;
        dm[j] = ggmlFp16ToFp32(y.dmin) * m;
    }
    codes(x, d, dm, nmax, L);
}

// Super-blocks per fit call: stack buffers of a few KiB, and whole lane groups (32 or 16
// sub-blocks: AVX-512 or AVX2 registers in pairs) but for the last chunk of a row range.
constexpr int64_t kChunkSuperBlocks = 4;

const detail::GgmlKQuantKernels& kernelsFor(GgmlIsa isa)
{
    static const detail::GgmlKQuantKernels scalar = detail::ggmlKQuantKernelsScalar();
    static const detail::GgmlKQuantKernels avx2 = detail::ggmlKQuantKernelsAvx2();
    static const detail::GgmlKQuantKernels avx512 = detail::ggmlKQuantKernelsAvx512();
    // A variant this CPU lacks (only reachable through the row functions) runs the best one:
    // the bytes are the same, and its instructions might not exist here.
    switch (isa == GgmlIsa::Auto || !ggmlIsaSupported(isa) ? ggmlBestIsa() : isa) {
    case GgmlIsa::Avx512: return avx512;
    case GgmlIsa::Avx2: return avx2;
    default: return scalar;
    }
}

// Q4_K and Q5_K: fit a chunk, then finish and pack each super-block with pack(L, block).
template <typename Block, typename Pack>
void quantizeRowK(const float* x, Block* y, int64_t k, const detail::GgmlQkx2Params& p, GgmlIsa isa, Pack pack)
{
    constexpr int subBlocks = kGgmlQK_K / 32;
    const detail::GgmlKQuantKernels& kernels = kernelsFor(isa);
    const int64_t nb = k / kGgmlQK_K;
    uint8_t L[kChunkSuperBlocks * kGgmlQK_K];
    float scales[kChunkSuperBlocks * subBlocks];
    float mins[kChunkSuperBlocks * subBlocks];
    for (int64_t i0 = 0; i0 < nb; i0 += kChunkSuperBlocks) {
        const int64_t count = nb - i0 < kChunkSuperBlocks ? nb - i0 : kChunkSuperBlocks;
        const float* xc = x + i0 * kGgmlQK_K;
        kernels.fitQkx2(xc, count * subBlocks, p, scales, mins, L);
        for (int64_t s = 0; s < count; ++s) {
            const float* xs = xc + s * kGgmlQK_K;
            uint8_t* Ls = L + s * kGgmlQK_K;
            finishScalesAndMinsK(xs, scales + s * subBlocks, mins + s * subBlocks, p.nmax, kernels.codesK, y[i0 + s],
                                 Ls);
            pack(Ls, y[i0 + s]);
        }
    }
}

// The rest of quantize_row_q6_K_ref for one super-block of 256 at x, given the fit of its 16
// sub-blocks (scales as make_qx_quants returns them, L[256] its codes): the int8 sub-block
// scales against the one of largest magnitude, the fp16 d, the final L, the packing.
void finishQ6_K(const float* x, const float* scales, detail::GgmlCodesQ6 codes, int8_t* L, GgmlBlockQ6_K& y)
{
    constexpr int subBlocks = kGgmlQK_K / 16;
    float maxScale = 0;
    float maxAbsScale = 0;
    for (int ib = 0; ib < subBlocks; ++ib) {
        const float scale = scales[ib];
        const float absScale = std::fabs(scale);
        if (absScale > maxAbsScale) {
            maxAbsScale = absScale;
            maxScale = scale;
        }
    }
    if (maxAbsScale < kGroupMaxEps) {
        std::memset(&y, 0, sizeof(GgmlBlockQ6_K));
        y.d = ggmlFp32ToFp16(0.f);
        return;
    }

    // The signed scale of largest magnitude maps to -128 (int8 sub-block scales).
    const float iscale = -128.f / maxScale;
    y.d = ggmlFp32ToFp16(1 / iscale);
    for (int ib = 0; ib < subBlocks; ++ib)
        y.scales[ib] = static_cast<int8_t>(minInt(127, nearestInt(iscale * scales[ib])));

    // Sub-block j's codes against d = d * scales[j]; where d is 0, L keeps what makeQxQuants
    // chose (codes() skips it).
    float d[subBlocks];
    for (int j = 0; j < subBlocks; ++j)
        d[j] = ggmlFp16ToFp32(y.d) * y.scales[j];
    codes(x, d, L);
    packQ6_K(L, y.ql, y.qh);
}

} // namespace

namespace detail {

void ggmlFitQkx2Scalar(const float* x, int64_t count, const GgmlQkx2Params& p, float* scales, float* mins,
                       uint8_t* L)
{
    uint8_t Laux[32];
    float weights[32];
    for (int64_t j = 0; j < count; ++j) {
        const float* xj = x + 32 * j;
        float sumX2 = 0;
        for (int l = 0; l < 32; ++l)
            sumX2 += xj[l] * xj[l];
        const float avX = std::sqrt(sumX2 / 32);
        for (int l = 0; l < 32; ++l)
            weights[l] = avX + std::fabs(xj[l]);
        scales[j] = makeQkx2Quants(32, p.nmax, xj, weights, L + 32 * j, &mins[j], Laux, p.rmin, p.rdelta, p.nstep);
    }
}

void ggmlFitQxScalar(const float* x, int64_t count, float* scales, int8_t* L)
{
    for (int64_t j = 0; j < count; ++j)
        scales[j] = makeQxQuants(16, 32, x + 16 * j, L + 16 * j);
}

void ggmlCodesKScalar(const float* x, const float* d, const float* dm, int nmax, uint8_t* L)
{
    for (int j = 0; j < kGgmlQK_K / 32; ++j) {
        if (!d[j])
            continue;
        for (int ii = 0; ii < 32; ++ii) {
            int l = nearestInt((x[32 * j + ii] + dm[j]) / d[j]);
            l = maxInt(0, minInt(nmax, l));
            L[32 * j + ii] = static_cast<uint8_t>(l);
        }
    }
}

void ggmlCodesQ6Scalar(const float* x, const float* d, int8_t* L)
{
    for (int j = 0; j < kGgmlQK_K / 16; ++j) {
        if (!d[j])
            continue;
        for (int ii = 0; ii < 16; ++ii) {
            int l = nearestInt(x[16 * j + ii] / d[j]);
            l = maxInt(-32, minInt(31, l));
            L[16 * j + ii] = static_cast<int8_t>(l + 32);
        }
    }
}

GgmlKQuantKernels ggmlKQuantKernelsScalar()
{
    return {ggmlFitQkx2Scalar, ggmlFitQxScalar, ggmlCodesKScalar, ggmlCodesQ6Scalar};
}

} // namespace detail

const char* ggmlIsaName(GgmlIsa isa)
{
    switch (isa) {
    case GgmlIsa::Auto: return "auto";
    case GgmlIsa::Scalar: return "scalar";
    case GgmlIsa::Avx2: return "avx2";
    case GgmlIsa::Avx512: return "avx512";
    }
    return "unknown";
}

bool ggmlIsaSupported(GgmlIsa isa)
{
    const CpuFeatures& f = cpuFeatures();
    switch (isa) {
    case GgmlIsa::Auto:
    case GgmlIsa::Scalar: return true;
    case GgmlIsa::Avx2: return detail::ggmlKQuantsAvx2Compiled() && f.avx2;
    case GgmlIsa::Avx512: return detail::ggmlKQuantsAvx512Compiled() && f.avx512f && f.avx512bw;
    }
    return false;
}

GgmlIsa ggmlBestIsa()
{
    if (ggmlIsaSupported(GgmlIsa::Avx512))
        return GgmlIsa::Avx512;
    if (ggmlIsaSupported(GgmlIsa::Avx2))
        return GgmlIsa::Avx2;
    return GgmlIsa::Scalar;
}

void ggmlQuantizeRowQ4_K(const float* x, GgmlBlockQ4_K* y, int64_t k, GgmlIsa isa)
{
    quantizeRowK(x, y, k, {15, -1.f, 0.1f, 20}, isa, [](const uint8_t* L, GgmlBlockQ4_K& block) {
        packQ4_K(L, block.qs);
    });
}

void ggmlQuantizeRowQ5_K(const float* x, GgmlBlockQ5_K* y, int64_t k, GgmlIsa isa)
{
    quantizeRowK(x, y, k, {31, -0.5f, 0.1f, 15}, isa, [](const uint8_t* L, GgmlBlockQ5_K& block) {
        packQ5_K(L, block.qh, block.qs);
    });
}

void ggmlQuantizeRowQ6_K(const float* x, GgmlBlockQ6_K* y, int64_t k, GgmlIsa isa)
{
    constexpr int subBlocks = kGgmlQK_K / 16;
    const detail::GgmlKQuantKernels& kernels = kernelsFor(isa);
    const int64_t nb = k / kGgmlQK_K;
    int8_t L[kChunkSuperBlocks * kGgmlQK_K];
    float scales[kChunkSuperBlocks * subBlocks];
    for (int64_t i0 = 0; i0 < nb; i0 += kChunkSuperBlocks) {
        const int64_t count = nb - i0 < kChunkSuperBlocks ? nb - i0 : kChunkSuperBlocks;
        const float* xc = x + i0 * kGgmlQK_K;
        kernels.fitQx(xc, count * subBlocks, scales, L);
        for (int64_t s = 0; s < count; ++s)
            finishQ6_K(xc + s * kGgmlQK_K, scales + s * subBlocks, kernels.codesQ6, L + s * kGgmlQK_K, y[i0 + s]);
    }
}

void ggmlDequantizeRowQ4_K(const GgmlBlockQ4_K* x, float* y, int64_t k)
{
    const int64_t nb = k / kGgmlQK_K;
    for (int64_t i = 0; i < nb; ++i) {
        const uint8_t* q = x[i].qs;
        const float d = ggmlFp16ToFp32(x[i].d);
        const float min = ggmlFp16ToFp32(x[i].dmin);
        int is = 0;
        uint8_t sc, m;
        for (int j = 0; j < kGgmlQK_K; j += 64) {
            scaleMinK4(is + 0, x[i].scales, &sc, &m);
            const float d1 = d * sc;
            const float m1 = min * m;
            scaleMinK4(is + 1, x[i].scales, &sc, &m);
            const float d2 = d * sc;
            const float m2 = min * m;
            for (int l = 0; l < 32; ++l)
                *y++ = d1 * (q[l] & 0xF) - m1;
            for (int l = 0; l < 32; ++l)
                *y++ = d2 * (q[l] >> 4) - m2;
            q += 32;
            is += 2;
        }
    }
}

void ggmlDequantizeRowQ5_K(const GgmlBlockQ5_K* x, float* y, int64_t k)
{
    const int64_t nb = k / kGgmlQK_K;
    for (int64_t i = 0; i < nb; ++i) {
        const uint8_t* ql = x[i].qs;
        const uint8_t* qh = x[i].qh;
        const float d = ggmlFp16ToFp32(x[i].d);
        const float min = ggmlFp16ToFp32(x[i].dmin);
        int is = 0;
        uint8_t sc, m;
        uint8_t u1 = 1, u2 = 2;
        for (int j = 0; j < kGgmlQK_K; j += 64) {
            scaleMinK4(is + 0, x[i].scales, &sc, &m);
            const float d1 = d * sc;
            const float m1 = min * m;
            scaleMinK4(is + 1, x[i].scales, &sc, &m);
            const float d2 = d * sc;
            const float m2 = min * m;
            for (int l = 0; l < 32; ++l)
                *y++ = d1 * ((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
            for (int l = 0; l < 32; ++l)
                *y++ = d2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
            ql += 32;
            is += 2;
            u1 = static_cast<uint8_t>(u1 << 2);
            u2 = static_cast<uint8_t>(u2 << 2);
        }
    }
}

void ggmlDequantizeRowQ6_K(const GgmlBlockQ6_K* x, float* y, int64_t k)
{
    const int64_t nb = k / kGgmlQK_K;
    for (int64_t i = 0; i < nb; ++i) {
        const float d = ggmlFp16ToFp32(x[i].d);
        const uint8_t* ql = x[i].ql;
        const uint8_t* qh = x[i].qh;
        const int8_t* sc = x[i].scales;
        for (int n = 0; n < kGgmlQK_K; n += 128) {
            for (int l = 0; l < 32; ++l) {
                const int is = l / 16;
                const int8_t q1 = static_cast<int8_t>((ql[l + 0] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int8_t q2 = static_cast<int8_t>((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int8_t q3 = static_cast<int8_t>((ql[l + 0] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int8_t q4 = static_cast<int8_t>((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l + 0] = d * sc[is + 0] * q1;
                y[l + 32] = d * sc[is + 2] * q2;
                y[l + 64] = d * sc[is + 4] * q3;
                y[l + 96] = d * sc[is + 6] * q4;
            }
            y += 128;
            ql += 64;
            qh += 32;
            sc += 8;
        }
    }
}

} // namespace tbk
