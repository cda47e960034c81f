// Scalar attention: the reference the tiled variants are tested against. One query row (or, for
// dK/dV, one key row) at a time: its scores into a row buffer, a two-pass softmax with std::exp,
// fp32 sums in index order. O(Tk) scratch per row, never Tq x Tk.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "cpu/Bf16.h"
#include "cpu/CausalAttentionKernels.h"

namespace tbk::detail {

namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Row `t` of head `head` in batch b of a [B, T, heads, D] tensor, as elements.
template <typename E>
const E* row(const void* base, const AttentionStrides& s, int64_t b, int64_t t, int64_t head)
{
    return static_cast<const E*>(base) + b * s.batch + t * s.time + head * s.head;
}
template <typename E>
E* row(void* base, const AttentionStrides& s, int64_t b, int64_t t, int64_t head)
{
    return static_cast<E*>(base) + b * s.batch + t * s.time + head * s.head;
}

inline float toF32(float x) { return x; }
inline float toF32(uint16_t x) { return bf16ToFloat(x); }
inline void fromF32(float x, float* out) { *out = x; }
inline void fromF32(float x, uint16_t* out) { *out = floatToBf16(x); }

template <typename E>
float dot(const E* x, const E* y, int64_t n)
{
    float sum = 0.0f;
    for (int64_t d = 0; d < n; ++d)
        sum += toF32(x[d]) * toF32(y[d]);
    return sum;
}

template <typename E>
void storeRow(const std::vector<float>& acc, float factor, E* out)
{
    for (size_t d = 0; d < acc.size(); ++d)
        fromF32(acc[d] * factor, out + d);
}

inline bool keyValid(const AttentionArgs& a, int64_t b, int64_t j)
{
    return !a.keyValid || a.keyValid[b * a.shape.keyLen + j] != 0;
}

template <typename E>
void forward(const AttentionArgs& a, int64_t b, int64_t h, int64_t i0, int64_t i1)
{
    const AttentionShape& s = a.shape;
    const int64_t D = s.headDim, g = h / (s.heads / s.kvHeads), offset = attentionQueryOffset(s);
    thread_local std::vector<float> scores;
    std::vector<float> acc(static_cast<size_t>(D));
    for (int64_t i = i0; i < i1; ++i) {
        const int64_t pos = offset + i, lo = attentionFirstKey(s, pos);
        const E* q = row<E>(a.q, a.qStride, b, i, h);
        scores.assign(static_cast<size_t>(pos - lo + 1), kNegInf);
        float m = kNegInf;
        for (int64_t j = lo; j <= pos; ++j) {
            if (!keyValid(a, b, j))
                continue;
            const float sc = a.scale * dot(q, row<E>(a.k, a.kStride, b, j, g), D);
            scores[size_t(j - lo)] = sc;
            m = std::max(m, sc);
        }
        float* lse = a.lse + (b * s.heads + h) * s.queryLen + i;
        std::fill(acc.begin(), acc.end(), 0.0f);
        if (m == kNegInf) { // no visible key: o = 0, lse = -inf
            *lse = kNegInf;
            storeRow(acc, 0.0f, row<E>(a.o, a.oStride, b, i, h));
            continue;
        }
        float l = 0.0f;
        for (int64_t j = lo; j <= pos; ++j) {
            if (scores[size_t(j - lo)] == kNegInf)
                continue;
            const float p = std::exp(scores[size_t(j - lo)] - m);
            l += p;
            const E* v = row<E>(a.v, a.vStride, b, j, g);
            for (int64_t d = 0; d < D; ++d)
                acc[size_t(d)] += p * toF32(v[d]);
        }
        *lse = m + std::log(l);
        storeRow(acc, 1.0f / l, row<E>(a.o, a.oStride, b, i, h));
    }
}

// dQ_i = scale * sum_j dS_ij k_j, dS_ij = P_ij (dO_i . v_j - Delta_i), P_ij = exp(s_ij - lse_i).
template <typename E>
void backwardQ(const AttentionArgs& a, int64_t b, int64_t h, int64_t i0, int64_t i1)
{
    const AttentionShape& s = a.shape;
    const int64_t D = s.headDim, g = h / (s.heads / s.kvHeads), offset = attentionQueryOffset(s);
    std::vector<float> acc(static_cast<size_t>(D));
    for (int64_t i = i0; i < i1; ++i) {
        const int64_t pos = offset + i;
        const E* q = row<E>(a.q, a.qStride, b, i, h);
        const E* dO = row<E>(a.dO, a.dOStride, b, i, h);
        const float lse = a.lse[(b * s.heads + h) * s.queryLen + i];
        const float delta = dot(dO, row<E>(a.o, a.oStride, b, i, h), D);
        std::fill(acc.begin(), acc.end(), 0.0f);
        for (int64_t j = attentionFirstKey(s, pos); j <= pos && lse != kNegInf; ++j) {
            if (!keyValid(a, b, j))
                continue;
            const E* k = row<E>(a.k, a.kStride, b, j, g);
            const float p = std::exp(a.scale * dot(q, k, D) - lse);
            const float ds = p * (dot(dO, row<E>(a.v, a.vStride, b, j, g), D) - delta);
            for (int64_t d = 0; d < D; ++d)
                acc[size_t(d)] += ds * toF32(k[d]);
        }
        storeRow(acc, a.scale, row<E>(a.dQ, a.dQStride, b, i, h));
    }
}

// dV_j = sum_{h in group, i} P_ij dO_i, dK_j = scale * sum_{h in group, i} dS_ij q_i.
template <typename E>
void backwardKv(const AttentionArgs& a, int64_t b, int64_t g, int64_t j0, int64_t j1)
{
    const AttentionShape& s = a.shape;
    const int64_t D = s.headDim, group = s.heads / s.kvHeads, offset = attentionQueryOffset(s);
    std::vector<float> dk(static_cast<size_t>(D)), dv(static_cast<size_t>(D));
    for (int64_t j = j0; j < j1; ++j) {
        std::fill(dk.begin(), dk.end(), 0.0f);
        std::fill(dv.begin(), dv.end(), 0.0f);
        const E* k = row<E>(a.k, a.kStride, b, j, g);
        const E* v = row<E>(a.v, a.vStride, b, j, g);
        // Queries that see key j: j <= pos_i and, with a window, pos_i < j + window.
        const int64_t iLo = std::max<int64_t>(0, j - offset);
        const int64_t iHi = s.window > 0 ? std::min(s.queryLen - 1, j + s.window - 1 - offset) : s.queryLen - 1;
        for (int64_t h = g * group; h < (g + 1) * group && keyValid(a, b, j); ++h) {
            for (int64_t i = iLo; i <= iHi; ++i) {
                const float lse = a.lse[(b * s.heads + h) * s.queryLen + i];
                if (lse == kNegInf)
                    continue;
                const E* q = row<E>(a.q, a.qStride, b, i, h);
                const E* dO = row<E>(a.dO, a.dOStride, b, i, h);
                const float p = std::exp(a.scale * dot(q, k, D) - lse);
                const float delta = dot(dO, row<E>(a.o, a.oStride, b, i, h), D);
                const float ds = p * (dot(dO, v, D) - delta);
                for (int64_t d = 0; d < D; ++d) {
                    dv[size_t(d)] += p * toF32(dO[d]);
                    dk[size_t(d)] += ds * toF32(q[d]);
                }
            }
        }
        storeRow(dk, a.scale, row<E>(a.dK, a.dKStride, b, j, g));
        storeRow(dv, 1.0f, row<E>(a.dV, a.dVStride, b, j, g));
    }
}

} // namespace

void attentionForwardScalar(const AttentionArgs& a, int64_t b, int64_t h, int64_t i0, int64_t i1)
{
    if (a.dtype == AttentionDtype::Bf16)
        forward<uint16_t>(a, b, h, i0, i1);
    else
        forward<float>(a, b, h, i0, i1);
}

void attentionBackwardQScalar(const AttentionArgs& a, int64_t b, int64_t h, int64_t i0, int64_t i1)
{
    if (a.dtype == AttentionDtype::Bf16)
        backwardQ<uint16_t>(a, b, h, i0, i1);
    else
        backwardQ<float>(a, b, h, i0, i1);
}

void attentionBackwardKvScalar(const AttentionArgs& a, int64_t b, int64_t g, int64_t j0, int64_t j1)
{
    if (a.dtype == AttentionDtype::Bf16)
        backwardKv<uint16_t>(a, b, g, j0, j1);
    else
        backwardKv<float>(a, b, g, j0, j1);
}

} // namespace tbk::detail
