// Internal: the AVX-512 forward pass (FA2 Algorithm 1) on the tools of CausalAttentionAvx512Impl.h,
// included by CausalAttentionAvx512.cpp and CausalAttentionAvx512Bf16.cpp.
//
// One call is query tile [i0, i1) of nh query heads of one KV group (attentionHeadsPerTask), their
// rows stacked into one A operand of nh * (i1 - i0) rows: stacked row r is query i0 + r % mq of
// head h0 + r / mq. Each key tile is packed once (k transposed, v interleaved) for all of them
// instead of once per head, and the products run over nh times the rows per packed B. A row's
// arithmetic is the same as with nh = 1 (gemm sums each element over the reduction in the same
// order whatever the row count), so the result does not depend on nh.
#pragma once

#include "cpu/CausalAttentionAvx512Impl.h"

namespace tbk::detail {

namespace {

template <typename E>
void forwardTile(const AttentionArgs& a, int64_t b, int64_t h0, int64_t nh, int64_t i0, int64_t i1)
{
    const AttentionShape& s = a.shape;
    const int64_t D = s.headDim, dp = roundUp16(D), dUnits = dp / kEpu<E>, pUnits = T / kEpu<E>;
    const int64_t g = h0 / (s.heads / s.kvHeads), offset = attentionQueryOffset(s), mq = i1 - i0;
    const int64_t rows = nh * mq;
    Scratch& w = scratch();
    uint32_t* qa = grow(w.u[0], size_t(rows * dUnits));
    uint32_t* kt = grow(w.u[1], size_t(T * dUnits));
    uint32_t* vi = grow(w.u[2], size_t(T * dUnits));
    uint32_t* pt = grow(w.u[3], size_t(rows * pUnits));
    float* st = grow(w.f[0], size_t(rows * T));
    float* oacc = grow(w.f[1], size_t(rows * dp));
    float* m = grow(w.f[2], size_t(rows));
    float* l = grow(w.f[3], size_t(rows));
    E* p = reinterpret_cast<E*>(pt);

    for (int64_t k = 0; k < nh; ++k)
        copyRows(rowPtr<E>(a.q, a.qStride, b, i0, h0 + k), a.qStride.time, mq, D, dp, qa + k * mq * dUnits);
    std::fill(oacc, oacc + rows * dp, 0.0f);
    std::fill(m, m + rows, kNegInf);
    std::fill(l, l + rows, 0.0f);
    const E* kBase = rowPtr<E>(a.k, a.kStride, b, 0, g);
    const E* vBase = rowPtr<E>(a.v, a.vStride, b, 0, g);
    const __m512 scale = _mm512_set1_ps(a.scale);
    const int64_t kLo = attentionFirstKey(s, offset + i0), kHi = offset + i1 - 1;
    for (int64_t k0 = kLo; k0 <= kHi; k0 += T) {
        const int64_t nk = std::min(T, s.keyLen - k0);
        packTransposed(kBase + k0 * a.kStride.time, a.kStride.time, nk, D, dUnits, kt);
        gemm<E>(rows, T, dUnits, qa, dUnits, kt, T, st, T, false);
        packInterleaved(vBase + k0 * a.vStride.time, a.vStride.time, nk, D, dp, vi);
        __mmask16 valid[4];
        keyValidMasks(a, b, k0, valid);
        for (int64_t r = 0; r < rows; ++r) {
            const int64_t pos = offset + i0 + r % mq;
            const int64_t lo = attentionFirstKey(s, pos);
            __mmask16 mk[4];
            unsigned any = 0;
            for (int c = 0; c < 4; ++c)
                any |= mk[c] = valid[c] & rangeMask(k0 + 16 * c, lo, pos);
            if (!any) {
                zeroTileRow(p + r * T);
                continue;
            }
            __m512 x[4];
            __m512 vmax = _mm512_set1_ps(kNegInf);
            for (int c = 0; c < 4; ++c) {
                x[c] = _mm512_mul_ps(_mm512_loadu_ps(st + r * T + 16 * c), scale);
                vmax = _mm512_mask_max_ps(vmax, mk[c], vmax, x[c]);
            }
            const float mNew = std::max(m[r], _mm512_reduce_max_ps(vmax));
            const __m512 mv = _mm512_set1_ps(mNew);
            // 0 while m[r] is still -inf (expNeg clamps at -150). Vector exp, not std::exp: a
            // libm call per row and tile cost about 4% of the pass (and a vzeroupper each).
            const float alpha = _mm512_cvtss_f32(expNeg(_mm512_set1_ps(m[r] - mNew)));
            __m512 sum = _mm512_setzero_ps();
            for (int c = 0; c < 4; ++c) {
                x[c] = _mm512_maskz_mov_ps(mk[c], expNeg(_mm512_sub_ps(x[c], mv)));
                sum = _mm512_add_ps(sum, x[c]);
            }
            storeTileRow(p + r * T, x);
            l[r] = l[r] * alpha + _mm512_reduce_add_ps(sum);
            m[r] = mNew;
            if (alpha != 1.0f) {
                const __m512 av = _mm512_set1_ps(alpha);
                for (int64_t d = 0; d < dp; d += 16)
                    _mm512_storeu_ps(oacc + r * dp + d, _mm512_mul_ps(_mm512_loadu_ps(oacc + r * dp + d), av));
            }
        }
        gemm<E>(rows, dp, pUnits, pt, pUnits, vi, dp, oacc, dp, true);
    }
    for (int64_t r = 0; r < rows; ++r) {
        const int64_t h = h0 + r / mq, i = i0 + r % mq;
        const bool empty = l[r] == 0.0f; // no visible key: o = 0, lse = -inf
        a.lse[(b * s.heads + h) * s.queryLen + i] = empty ? kNegInf : m[r] + std::log(l[r]);
        storeRow(oacc + r * dp, empty ? 0.0f : 1.0f / l[r], D, rowPtr<E>(a.o, a.oStride, b, i, h));
    }
}

} // namespace

} // namespace tbk::detail
