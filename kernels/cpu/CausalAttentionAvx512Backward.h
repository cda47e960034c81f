// Internal: the AVX-512 backward passes (FA2 Algorithm 2 split in two, see
// CausalAttentionAvx512Impl.h) on the tools of that header, included by CausalAttentionAvx512.cpp
// and CausalAttentionAvx512Bf16.cpp.
//
// BackwardQ stacks the query rows of nh heads of one KV group as the forward pass does
// (CausalAttentionAvx512Forward.h): k (transposed and interleaved) and v (transposed) are packed
// once per key tile for all of them. BackwardKv already takes a KV head's whole group in one call:
// its k and v rows are copied once and stay put while it walks the group's query heads and tiles.
#pragma once

#include "cpu/CausalAttentionAvx512Impl.h"

namespace tbk::detail {

namespace {

// ---- dQ --------------------------------------------------------------------------------------

template <typename E>
void backwardQTile(const AttentionArgs& a, int64_t b, int64_t h0, int64_t nh, int64_t i0, int64_t i1)
{
    const AttentionShape& s = a.shape;
    const int64_t D = s.headDim, dp = roundUp16(D), dUnits = dp / kEpu<E>, pUnits = T / kEpu<E>;
    const int64_t g = h0 / (s.heads / s.kvHeads), offset = attentionQueryOffset(s), mq = i1 - i0;
    const int64_t rows = nh * mq;
    Scratch& w = scratch();
    uint32_t* qa = grow(w.u[0], size_t(rows * dUnits));
    uint32_t* doa = grow(w.u[1], size_t(rows * dUnits));
    uint32_t* kt = grow(w.u[2], size_t(T * dUnits));
    uint32_t* vt = grow(w.u[3], size_t(T * dUnits));
    uint32_t* ki = grow(w.u[4], size_t(T * dUnits));
    uint32_t* dst = grow(w.u[5], size_t(rows * pUnits));
    float* st = grow(w.f[0], size_t(rows * T));
    float* dpt = grow(w.f[1], size_t(rows * T));
    float* dqacc = grow(w.f[2], size_t(rows * dp));
    float* lse = grow(w.f[3], size_t(rows));
    float* delta = grow(w.f[4], size_t(rows));
    E* ds = reinterpret_cast<E*>(dst);

    for (int64_t k = 0; k < nh; ++k) {
        const int64_t h = h0 + k;
        copyRows(rowPtr<E>(a.q, a.qStride, b, i0, h), a.qStride.time, mq, D, dp, qa + k * mq * dUnits);
        copyRows(rowPtr<E>(a.dO, a.dOStride, b, i0, h), a.dOStride.time, mq, D, dp, doa + k * mq * dUnits);
        for (int64_t i = 0; i < mq; ++i) {
            lse[k * mq + i] = a.lse[(b * s.heads + h) * s.queryLen + i0 + i];
            delta[k * mq + i] = rowDot(rowPtr<E>(a.dO, a.dOStride, b, i0 + i, h),
                                       rowPtr<E>(a.o, a.oStride, b, i0 + i, h), D);
        }
    }
    std::fill(dqacc, dqacc + rows * dp, 0.0f);
    const E* kBase = rowPtr<E>(a.k, a.kStride, b, 0, g);
    const E* vBase = rowPtr<E>(a.v, a.vStride, b, 0, g);
    const __m512 scale = _mm512_set1_ps(a.scale);
    const int64_t kLo = attentionFirstKey(s, offset + i0), kHi = offset + i1 - 1;
    for (int64_t k0 = kLo; k0 <= kHi; k0 += T) {
        const int64_t nk = std::min(T, s.keyLen - k0);
        const E* kRows = kBase + k0 * a.kStride.time;
        packTransposed(kRows, a.kStride.time, nk, D, dUnits, kt);
        packTransposed(vBase + k0 * a.vStride.time, a.vStride.time, nk, D, dUnits, vt);
        packInterleaved(kRows, a.kStride.time, nk, D, dp, ki);
        gemm<E>(rows, T, dUnits, qa, dUnits, kt, T, st, T, false);
        gemm<E>(rows, T, dUnits, doa, dUnits, vt, T, dpt, T, false);
        __mmask16 valid[4];
        keyValidMasks(a, b, k0, valid);
        for (int64_t r = 0; r < rows; ++r) {
            const int64_t pos = offset + i0 + r % mq;
            const int64_t lo = attentionFirstKey(s, pos);
            __mmask16 mk[4];
            unsigned any = 0;
            for (int c = 0; c < 4; ++c)
                any |= mk[c] = valid[c] & rangeMask(k0 + 16 * c, lo, pos);
            if (!any || lse[r] == kNegInf) {
                zeroTileRow(ds + r * T);
                continue;
            }
            const __m512 lv = _mm512_set1_ps(lse[r]), dv = _mm512_set1_ps(delta[r]);
            __m512 x[4];
            for (int c = 0; c < 4; ++c) {
                const __m512 sc = _mm512_fmsub_ps(_mm512_loadu_ps(st + r * T + 16 * c), scale, lv);
                const __m512 pv = _mm512_maskz_mov_ps(mk[c], expNeg(sc));
                x[c] = _mm512_mul_ps(pv, _mm512_sub_ps(_mm512_loadu_ps(dpt + r * T + 16 * c), dv));
            }
            storeTileRow(ds + r * T, x);
        }
        gemm<E>(rows, dp, pUnits, dst, pUnits, ki, dp, dqacc, dp, true);
    }
    for (int64_t r = 0; r < rows; ++r)
        storeRow(dqacc + r * dp, a.scale, D, rowPtr<E>(a.dQ, a.dQStride, b, i0 + r % mq, h0 + r / mq));
}

// ---- dK, dV ----------------------------------------------------------------------------------

template <typename E>
void backwardKvTile(const AttentionArgs& a, int64_t b, int64_t g, int64_t j0, int64_t j1)
{
    const AttentionShape& s = a.shape;
    const int64_t D = s.headDim, dp = roundUp16(D), dUnits = dp / kEpu<E>, pUnits = T / kEpu<E>;
    const int64_t group = s.heads / s.kvHeads, offset = attentionQueryOffset(s), nk = j1 - j0;
    Scratch& w = scratch();
    uint32_t* ka = grow(w.u[0], size_t(T * dUnits));
    uint32_t* va = grow(w.u[1], size_t(T * dUnits));
    uint32_t* qt = grow(w.u[2], size_t(T * dUnits));
    uint32_t* dot = grow(w.u[3], size_t(T * dUnits));
    uint32_t* qi = grow(w.u[4], size_t(T * dUnits));
    uint32_t* doi = grow(w.u[5], size_t(T * dUnits));
    uint32_t* ptu = grow(w.u[6], size_t(T * pUnits));
    uint32_t* dstu = grow(w.u[7], size_t(T * pUnits));
    float* st = grow(w.f[0], size_t(T * T));
    float* dpt = grow(w.f[1], size_t(T * T));
    float* dkacc = grow(w.f[2], size_t(T * dp));
    float* dvacc = grow(w.f[3], size_t(T * dp));
    float* lse = grow(w.f[4], size_t(T));
    float* delta = grow(w.f[5], size_t(T));
    E* pT = reinterpret_cast<E*>(ptu);
    E* dsT = reinterpret_cast<E*>(dstu);

    copyRows(rowPtr<E>(a.k, a.kStride, b, j0, g), a.kStride.time, nk, D, dp, ka);
    copyRows(rowPtr<E>(a.v, a.vStride, b, j0, g), a.vStride.time, nk, D, dp, va);
    std::fill(dkacc, dkacc + nk * dp, 0.0f);
    std::fill(dvacc, dvacc + nk * dp, 0.0f);
    __mmask16 validBits[4];
    keyValidMasks(a, b, j0, validBits);
    const uint64_t keyValid = uint64_t(validBits[0]) | uint64_t(validBits[1]) << 16 |
                              uint64_t(validBits[2]) << 32 | uint64_t(validBits[3]) << 48;
    // Queries that see some key of the tile: pos_i >= j0 and, with a window, pos_i < j1 - 1 + window.
    const int64_t iLo = std::max<int64_t>(0, j0 - offset);
    const int64_t iHi = s.window > 0 ? std::min(s.queryLen - 1, j1 - 2 + s.window - offset) : s.queryLen - 1;
    const int64_t noLimit = std::numeric_limits<int64_t>::max() / 4;
    const __m512 scale = _mm512_set1_ps(a.scale);
    for (int64_t h = g * group; h < (g + 1) * group && keyValid; ++h) {
        const E* qBase = rowPtr<E>(a.q, a.qStride, b, 0, h);
        const E* dOBase = rowPtr<E>(a.dO, a.dOStride, b, 0, h);
        const float* lseRow = a.lse + (b * s.heads + h) * s.queryLen;
        for (int64_t q0 = iLo; q0 <= iHi; q0 += T) {
            const int64_t mq = std::min(T, s.queryLen - q0);
            const E* qRows = qBase + q0 * a.qStride.time;
            const E* dORows = dOBase + q0 * a.dOStride.time;
            packTransposed(qRows, a.qStride.time, mq, D, dUnits, qt);
            packTransposed(dORows, a.dOStride.time, mq, D, dUnits, dot);
            packInterleaved(qRows, a.qStride.time, mq, D, dp, qi);
            packInterleaved(dORows, a.dOStride.time, mq, D, dp, doi);
            for (int64_t r = 0; r < T; ++r) {
                lse[r] = r < mq ? lseRow[q0 + r] : kNegInf;
                delta[r] = r < mq ? rowDot(dORows + r * a.dOStride.time,
                                           rowPtr<E>(a.o, a.oStride, b, q0 + r, h), D)
                                  : 0.0f;
            }
            __m512 lv[4], dv[4];
            __mmask16 live[4]; // queries with a finite lse (some visible key)
            for (int c = 0; c < 4; ++c) {
                lv[c] = _mm512_loadu_ps(lse + 16 * c);
                dv[c] = _mm512_loadu_ps(delta + 16 * c);
                live[c] = _mm512_cmp_ps_mask(lv[c], _mm512_set1_ps(kNegInf), _CMP_NEQ_OQ);
            }
            gemm<E>(nk, T, dUnits, ka, dUnits, qt, T, st, T, false);
            gemm<E>(nk, T, dUnits, va, dUnits, dot, T, dpt, T, false);
            for (int64_t r = 0; r < nk; ++r) {
                const int64_t j = j0 + r;
                // Query i sees key j when j <= offset + i and offset + i < j + window.
                const int64_t qLo = j - offset, qHi = s.window > 0 ? j + s.window - 1 - offset : noLimit;
                __mmask16 mk[4];
                unsigned any = 0;
                for (int c = 0; c < 4; ++c)
                    any |= mk[c] = ((keyValid >> r) & 1u) ? live[c] & rangeMask(q0 + 16 * c, qLo, qHi) : 0;
                if (!any) {
                    zeroTileRow(pT + r * T);
                    zeroTileRow(dsT + r * T);
                    continue;
                }
                __m512 pv[4], dsv[4];
                for (int c = 0; c < 4; ++c) {
                    const __m512 sc = _mm512_fmsub_ps(_mm512_loadu_ps(st + r * T + 16 * c), scale, lv[c]);
                    pv[c] = _mm512_maskz_mov_ps(mk[c], expNeg(sc));
                    dsv[c] = _mm512_mul_ps(pv[c], _mm512_sub_ps(_mm512_loadu_ps(dpt + r * T + 16 * c), dv[c]));
                }
                storeTileRow(pT + r * T, pv);
                storeTileRow(dsT + r * T, dsv);
            }
            gemm<E>(nk, dp, pUnits, ptu, pUnits, doi, dp, dvacc, dp, true);
            gemm<E>(nk, dp, pUnits, dstu, pUnits, qi, dp, dkacc, dp, true);
        }
    }
    for (int64_t r = 0; r < nk; ++r) {
        storeRow(dkacc + r * dp, a.scale, D, rowPtr<E>(a.dK, a.dKStride, b, j0 + r, g));
        storeRow(dvacc + r * dp, 1.0f, D, rowPtr<E>(a.dV, a.dVStride, b, j0 + r, g));
    }
}

} // namespace

} // namespace tbk::detail
