// Internal: the tiled AVX-512 attention loops, included by CausalAttentionAvx512.cpp (bf16 pairs
// multiplied as fp32) and CausalAttentionAvx512Bf16.cpp (vdpbf16ps), which set
// TBK_ATTN_NATIVE_BF16 to 0 or 1 and are compiled with the matching -m flags.
//
// Every tile product is one routine, gemm(): C[m x n] (+)= A[m x r] . B[r x n] in fp32, where the
// reduction r is walked in 32-bit units: one fp32, or a pair of consecutive bf16 (what
// vdpbf16ps multiplies: lane l gets a.even * b.even + a.odd * b.odd).
//   A is row-major, lda units a row (a tile of q, k, v, dO, P or dS, D padded with zeros);
//     one unit of a row is broadcast to all 16 lanes.
//   B is packed [r units][n] units: 16 consecutive lanes of n are one load. Two packings:
//     packTransposed   rows [n][D] -> [D units][n]          (k for S = q k^T, v for dP = dO v^T,
//                                                            q and dO in the dK/dV pass)
//     packInterleaved  rows [r][D] -> [r units][Dp] units   (v for O = P v, k for dQ = dS k,
//                      bf16: rows 2u and 2u+1 interleaved     q and dO for dK and dV)
// Micro-kernel: 6 rows x 64 columns (24 zmm accumulators), or 4 x 64 when bf16 pairs are split
// into two FMAs (their operands need 10 more registers).
//
// Tiles are 64 queries x 64 keys (kAttentionTile). Forward (FA2 Algorithm 1): per key tile,
// S = q k^T, the running max m and sum l per row, P = exp(scale S - m) rounded to the input
// dtype, O = alpha O + P v; at the end O / l and lse = m + log l. Backward (Algorithm 2, split
// in two passes so each output has one writer): BackwardQ per query tile recomputes S and
// dP = dO v^T for each visible key tile, dS = P (dP - Delta), dQ += dS k. BackwardKv per key tile
// computes the transposed tiles S^T = k q^T and dP^T = v dO^T for each query tile (and each query
// head of the group), so P^T and dS^T come out row-major as A operands: dV += P^T dO,
// dK += dS^T q. Masks are per 16-lane group: an interval of positions (causal + window) and the
// key-padding bits.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "cpu/Bf16Avx512.h"
#include "cpu/CausalAttentionKernels.h"

namespace tbk::detail {

namespace {

constexpr int64_t T = kAttentionTile; // 64: tile rows, and 4 groups of 16 lanes
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

template <typename E>
constexpr int64_t kEpu = sizeof(uint32_t) / sizeof(E); // elements per 32-bit unit: 2 (bf16) or 1

inline int64_t roundUp16(int64_t x) { return (x + 15) / 16 * 16; }

// Mask of the first n of 16 (or 32) lanes, n clamped to [0, lanes].
inline __mmask16 firstLanes16(int64_t n) { return n <= 0 ? 0 : n >= 16 ? 0xFFFF : __mmask16((1u << n) - 1); }
inline __mmask32 firstLanes32(int64_t n) { return n <= 0 ? 0 : n >= 32 ? 0xFFFFFFFFu : __mmask32((1u << n) - 1); }

// Lanes l of 16 with lo <= first + l <= hi.
inline __mmask16 rangeMask(int64_t first, int64_t lo, int64_t hi)
{
    const int64_t a = std::max<int64_t>(lo - first, 0), z = std::min<int64_t>(hi - first, 15);
    if (a > z)
        return 0;
    return __mmask16(((2u << z) - 1) & ~((1u << a) - 1));
}

// Up to 16 elements (n valid, the rest 0) as fp32.
inline __m512 loadF32(const float* p, int64_t n) { return _mm512_maskz_loadu_ps(firstLanes16(n), p); }
inline __m512 loadF32(const uint16_t* p, int64_t n)
{
    const __m256i h = _mm256_maskz_loadu_epi16(firstLanes16(n), p);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}
inline void storeF32(float* p, __m512 v, int64_t n) { _mm512_mask_storeu_ps(p, firstLanes16(n), v); }
inline void storeF32(uint16_t* p, __m512 v, int64_t n)
{
    _mm256_mask_storeu_epi16(p, firstLanes16(n), roundToBf16(v));
}

// 16 units of a row (32 bf16 or 16 fp32) starting at element x, elements >= n zero; raw bits.
inline __m512i loadUnits(const uint16_t* p, int64_t n) { return _mm512_maskz_loadu_epi16(firstLanes32(n), p); }
inline __m512i loadUnits(const float* p, int64_t n) { return _mm512_maskz_loadu_epi32(firstLanes16(n), p); }

// exp(x) for x <= ~0 (scores minus their max), Cephes expf's range reduction and polynomial
// (relative error ~1e-7); vscalefps applies 2^n and gives 0 far below -87.
inline __m512 expNeg(__m512 x)
{
    x = _mm512_max_ps(x, _mm512_set1_ps(-150.0f));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    const __m512 y = _mm512_add_ps(_mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r), _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(y, n);
}

// In-place transpose of a 16 x 16 matrix of 32-bit units (x[i] = row i).
inline void transpose16(__m512i x[16])
{
    __m512i t[16];
    for (int i = 0; i < 8; ++i) {
        t[2 * i] = _mm512_unpacklo_epi32(x[2 * i], x[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_epi32(x[2 * i], x[2 * i + 1]);
    }
    // u[4g + j], 128-bit lane L: column 4L + j of rows 4g..4g+3.
    __m512i u[16];
    for (int g = 0; g < 4; ++g) {
        u[4 * g] = _mm512_unpacklo_epi64(t[4 * g], t[4 * g + 2]);
        u[4 * g + 1] = _mm512_unpackhi_epi64(t[4 * g], t[4 * g + 2]);
        u[4 * g + 2] = _mm512_unpacklo_epi64(t[4 * g + 1], t[4 * g + 3]);
        u[4 * g + 3] = _mm512_unpackhi_epi64(t[4 * g + 1], t[4 * g + 3]);
    }
    for (int j = 0; j < 4; ++j) {
        const __m512i aLo = _mm512_shuffle_i32x4(u[j], u[4 + j], 0x44);
        const __m512i aHi = _mm512_shuffle_i32x4(u[j], u[4 + j], 0xEE);
        const __m512i bLo = _mm512_shuffle_i32x4(u[8 + j], u[12 + j], 0x44);
        const __m512i bHi = _mm512_shuffle_i32x4(u[8 + j], u[12 + j], 0xEE);
        x[j] = _mm512_shuffle_i32x4(aLo, bLo, 0x88);
        x[4 + j] = _mm512_shuffle_i32x4(aLo, bLo, 0xDD);
        x[8 + j] = _mm512_shuffle_i32x4(aHi, bHi, 0x88);
        x[12 + j] = _mm512_shuffle_i32x4(aHi, bHi, 0xDD);
    }
}

// ---- operand packing -------------------------------------------------------------------------

// A operand: rows [rows][D] (row stride in elements) -> [rows][dp] elements, zero beyond D.
template <typename E>
void copyRows(const E* src, int64_t stride, int64_t rows, int64_t D, int64_t dp, uint32_t* dst)
{
    E* out = reinterpret_cast<E*>(dst);
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t x = 0; x < dp; x += 16 * kEpu<E>)
            _mm512_storeu_si512(out + r * dp + x, loadUnits(src + r * stride + x, D - x));
}

// B operand for a reduction over D: rows [rows][D] -> [dp / kEpu units][T], rows >= `rows` zero.
template <typename E>
void packTransposed(const E* src, int64_t stride, int64_t rows, int64_t D, int64_t dUnits, uint32_t* dst)
{
    for (int64_t r0 = 0; r0 < T; r0 += 16) {
        for (int64_t u0 = 0; u0 < dUnits; u0 += 16) {
            __m512i x[16];
            for (int i = 0; i < 16; ++i)
                x[i] = r0 + i < rows ? loadUnits(src + (r0 + i) * stride + u0 * kEpu<E>, D - u0 * kEpu<E>)
                                     : _mm512_setzero_si512();
            transpose16(x);
            for (int t = 0; t < 16 && u0 + t < dUnits; ++t)
                _mm512_storeu_si512(dst + (u0 + t) * T + r0, x[t]);
        }
    }
}

// B operand for a reduction over rows (T of them, rows >= `rows` zero): [T / kEpu units][dp].
// bf16: unit (u, x) holds rows 2u and 2u+1 of column x.
template <typename E>
void packInterleaved(const E* src, int64_t stride, int64_t rows, int64_t D, int64_t dp, uint32_t* dst)
{
    if constexpr (kEpu<E> == 1) {
        copyRows(src, stride, rows, D, dp, dst);
        for (int64_t r = rows; r < T; ++r)
            for (int64_t x = 0; x < dp; x += 16)
                _mm512_storeu_si512(dst + r * dp + x, _mm512_setzero_si512());
    } else {
        // Words 2t, 2t+1 of the result = a[t], b[t]: t in 0..15 (lo) and 16..31 (hi).
        alignas(64) uint16_t lo[32], hi[32];
        for (int t = 0; t < 16; ++t) {
            lo[2 * t] = uint16_t(t), lo[2 * t + 1] = uint16_t(32 + t);
            hi[2 * t] = uint16_t(16 + t), hi[2 * t + 1] = uint16_t(48 + t);
        }
        const __m512i idxLo = _mm512_load_si512(lo), idxHi = _mm512_load_si512(hi);
        for (int64_t u = 0; u < T / 2; ++u) {
            const int64_t ra = 2 * u, rb = 2 * u + 1;
            for (int64_t x = 0; x < dp; x += 32) {
                const __m512i a = ra < rows ? loadUnits(src + ra * stride + x, D - x) : _mm512_setzero_si512();
                const __m512i b = rb < rows ? loadUnits(src + rb * stride + x, D - x) : _mm512_setzero_si512();
                _mm512_storeu_si512(dst + u * dp + x, _mm512_permutex2var_epi16(a, idxLo, b));
                if (x + 16 < dp)
                    _mm512_storeu_si512(dst + u * dp + x + 16, _mm512_permutex2var_epi16(a, idxHi, b));
            }
        }
    }
}

// ---- tile products ---------------------------------------------------------------------------

inline __m512i broadcastUnit(const uint32_t* p)
{
    uint32_t u;
    std::memcpy(&u, p, 4);
    return _mm512_set1_epi32(int(u));
}

template <typename E, int R, int C>
void microKernel(int64_t units, const uint32_t* a, int64_t lda, const uint32_t* b, int64_t ldb, float* c,
                 int64_t ldc, bool accumulate)
{
    __m512 acc[R][C];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
        for (int j = 0; j < C; ++j)
            acc[r][j] = accumulate ? _mm512_loadu_ps(c + r * ldc + 16 * j) : _mm512_setzero_ps();
    for (int64_t u = 0; u < units; ++u) {
        __m512i bv[C];
#pragma GCC unroll 4
        for (int j = 0; j < C; ++j)
            bv[j] = _mm512_loadu_si512(b + u * ldb + 16 * j);
        if constexpr (kEpu<E> == 1) {
#pragma GCC unroll 8
            for (int r = 0; r < R; ++r) {
                const __m512 av = _mm512_castsi512_ps(broadcastUnit(a + r * lda + u));
#pragma GCC unroll 4
                for (int j = 0; j < C; ++j)
                    acc[r][j] = _mm512_fmadd_ps(av, _mm512_castsi512_ps(bv[j]), acc[r][j]);
            }
        } else {
#if TBK_ATTN_NATIVE_BF16
#pragma GCC unroll 8
            for (int r = 0; r < R; ++r) {
                const __m512i av = broadcastUnit(a + r * lda + u);
#pragma GCC unroll 4
                for (int j = 0; j < C; ++j)
                    acc[r][j] = _mm512_dpbf16_ps(acc[r][j], (__m512bh)av, (__m512bh)bv[j]);
            }
#else
            const __m512i high = _mm512_set1_epi32(int(0xFFFF0000u));
            __m512 bEven[C], bOdd[C];
#pragma GCC unroll 4
            for (int j = 0; j < C; ++j) {
                bEven[j] = _mm512_castsi512_ps(_mm512_slli_epi32(bv[j], 16));
                bOdd[j] = _mm512_castsi512_ps(_mm512_and_si512(bv[j], high));
            }
#pragma GCC unroll 8
            for (int r = 0; r < R; ++r) {
                const __m512i av = broadcastUnit(a + r * lda + u);
                const __m512 aEven = _mm512_castsi512_ps(_mm512_slli_epi32(av, 16));
                const __m512 aOdd = _mm512_castsi512_ps(_mm512_and_si512(av, high));
#pragma GCC unroll 4
                for (int j = 0; j < C; ++j)
                    acc[r][j] = _mm512_fmadd_ps(aOdd, bOdd[j], _mm512_fmadd_ps(aEven, bEven[j], acc[r][j]));
            }
#endif
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
        for (int j = 0; j < C; ++j)
            _mm512_storeu_ps(c + r * ldc + 16 * j, acc[r][j]);
}

template <typename E>
constexpr int kRows = (kEpu<E> == 2 && !TBK_ATTN_NATIVE_BF16) ? 4 : 6;

template <typename E, int R>
void microKernelCols(int cols, int64_t units, const uint32_t* a, int64_t lda, const uint32_t* b, int64_t ldb,
                     float* c, int64_t ldc, bool accumulate)
{
    switch (cols) {
    case 4: microKernel<E, R, 4>(units, a, lda, b, ldb, c, ldc, accumulate); break;
    case 3: microKernel<E, R, 3>(units, a, lda, b, ldb, c, ldc, accumulate); break;
    case 2: microKernel<E, R, 2>(units, a, lda, b, ldb, c, ldc, accumulate); break;
    default: microKernel<E, R, 1>(units, a, lda, b, ldb, c, ldc, accumulate); break;
    }
}

// C[m x n] (+)= A[m x units] . B[units x n]; n a multiple of 16. lda, ldb in units, ldc in floats.
template <typename E>
void gemm(int64_t m, int64_t n, int64_t units, const uint32_t* a, int64_t lda, const uint32_t* b, int64_t ldb,
          float* c, int64_t ldc, bool accumulate)
{
    constexpr int R = kRows<E>;
    for (int64_t n0 = 0; n0 < n; n0 += 64) {
        const int cols = int(std::min<int64_t>(4, (n - n0) / 16));
        int64_t m0 = 0;
        for (; m0 + R <= m; m0 += R)
            microKernelCols<E, R>(cols, units, a + m0 * lda, lda, b + n0, ldb, c + m0 * ldc + n0, ldc, accumulate);
        const auto tail = [&](auto rows) {
            microKernelCols<E, decltype(rows)::value>(cols, units, a + m0 * lda, lda, b + n0, ldb,
                                                      c + m0 * ldc + n0, ldc, accumulate);
        };
        switch (m - m0) {
        case 5: tail(std::integral_constant<int, 5>()); break;
        case 4: tail(std::integral_constant<int, 4>()); break;
        case 3: tail(std::integral_constant<int, 3>()); break;
        case 2: tail(std::integral_constant<int, 2>()); break;
        case 1: tail(std::integral_constant<int, 1>()); break;
        default: break;
        }
    }
}

// ---- per-thread scratch ----------------------------------------------------------------------

struct Scratch {
    std::vector<uint32_t> u[8];
    std::vector<float> f[6];
};

inline Scratch& scratch()
{
    thread_local Scratch s;
    return s;
}

template <typename V>
auto* grow(V& v, size_t n)
{
    if (v.size() < n + 64) // slack: copyRows may write up to 16 units past the last row
        v.resize(n + 64);
    return v.data();
}

template <typename E>
const E* rowPtr(const void* base, const AttentionStrides& s, int64_t b, int64_t t, int64_t head)
{
    return static_cast<const E*>(base) + b * s.batch + t * s.time + head * s.head;
}
template <typename E>
E* rowPtr(void* base, const AttentionStrides& s, int64_t b, int64_t t, int64_t head)
{
    return static_cast<E*>(base) + b * s.batch + t * s.time + head * s.head;
}

// Keys k0 + 16c + l that exist and are not padding.
inline void keyValidMasks(const AttentionArgs& a, int64_t b, int64_t k0, __mmask16 valid[4])
{
    const int64_t tk = a.shape.keyLen;
    for (int c = 0; c < 4; ++c) {
        const int64_t first = k0 + 16 * c;
        __mmask16 m = firstLanes16(tk - first);
        if (a.keyValid && m) {
            const __m128i bytes = _mm_maskz_loadu_epi8(m, a.keyValid + b * tk + first);
            m = _mm_mask_cmpneq_epi8_mask(m, bytes, _mm_setzero_si128());
        }
        valid[c] = m;
    }
}

// Stores 64 fp32 as a row of the P / dS tile (bf16 rounded or fp32).
template <typename E>
void storeTileRow(E* row, const __m512 v[4])
{
    for (int c = 0; c < 4; ++c)
        storeF32(row + 16 * c, v[c], 16);
}
template <typename E>
void zeroTileRow(E* row)
{
    for (int64_t x = 0; x < T; x += 16 * kEpu<E>)
        _mm512_storeu_si512(row + x, _mm512_setzero_si512());
}

template <typename E>
float rowDot(const E* x, const E* y, int64_t D)
{
    __m512 s = _mm512_setzero_ps();
    for (int64_t d = 0; d < D; d += 16)
        s = _mm512_fmadd_ps(loadF32(x + d, D - d), loadF32(y + d, D - d), s);
    return _mm512_reduce_add_ps(s);
}

template <typename E>
void storeRow(const float* acc, float factor, int64_t D, E* out)
{
    const __m512 f = _mm512_set1_ps(factor);
    for (int64_t d = 0; d < D; d += 16)
        storeF32(out + d, _mm512_mul_ps(_mm512_loadu_ps(acc + d), f), D - d);
}

// ---- forward ---------------------------------------------------------------------------------

template <typename E>
void forwardTile(const AttentionArgs& a, int64_t b, int64_t h, int64_t i0, int64_t i1)
{
    const AttentionShape& s = a.shape;
    const int64_t D = s.headDim, dp = roundUp16(D), dUnits = dp / kEpu<E>, pUnits = T / kEpu<E>;
    const int64_t g = h / (s.heads / s.kvHeads), offset = attentionQueryOffset(s), mq = i1 - i0;
    Scratch& w = scratch();
    uint32_t* qa = grow(w.u[0], size_t(T * dUnits));
    uint32_t* kt = grow(w.u[1], size_t(T * dUnits));
    uint32_t* vi = grow(w.u[2], size_t(T * dUnits));
    uint32_t* pt = grow(w.u[3], size_t(T * pUnits));
    float* st = grow(w.f[0], size_t(T * T));
    float* oacc = grow(w.f[1], size_t(T * dp));
    float* m = grow(w.f[2], size_t(T));
    float* l = grow(w.f[3], size_t(T));
    E* p = reinterpret_cast<E*>(pt);

    copyRows(rowPtr<E>(a.q, a.qStride, b, i0, h), a.qStride.time, mq, D, dp, qa);
    std::fill(oacc, oacc + mq * dp, 0.0f);
    std::fill(m, m + T, kNegInf);
    std::fill(l, l + T, 0.0f);
    const E* kBase = rowPtr<E>(a.k, a.kStride, b, 0, g);
    const E* vBase = rowPtr<E>(a.v, a.vStride, b, 0, g);
    const __m512 scale = _mm512_set1_ps(a.scale);
    const int64_t kLo = attentionFirstKey(s, offset + i0), kHi = offset + i1 - 1;
    for (int64_t k0 = kLo; k0 <= kHi; k0 += T) {
        const int64_t nk = std::min(T, s.keyLen - k0);
        packTransposed(kBase + k0 * a.kStride.time, a.kStride.time, nk, D, dUnits, kt);
        gemm<E>(mq, T, dUnits, qa, dUnits, kt, T, st, T, false);
        packInterleaved(vBase + k0 * a.vStride.time, a.vStride.time, nk, D, dp, vi);
        __mmask16 valid[4];
        keyValidMasks(a, b, k0, valid);
        for (int64_t r = 0; r < mq; ++r) {
            const int64_t pos = offset + i0 + r;
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
            const float alpha = std::exp(m[r] - mNew); // 0 while m[r] is still -inf
            const __m512 mv = _mm512_set1_ps(mNew);
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
        gemm<E>(mq, dp, pUnits, pt, pUnits, vi, dp, oacc, dp, true);
    }
    float* lse = a.lse + (b * s.heads + h) * s.queryLen + i0;
    for (int64_t r = 0; r < mq; ++r) {
        const bool empty = l[r] == 0.0f; // no visible key: o = 0, lse = -inf
        lse[r] = empty ? kNegInf : m[r] + std::log(l[r]);
        storeRow(oacc + r * dp, empty ? 0.0f : 1.0f / l[r], D, rowPtr<E>(a.o, a.oStride, b, i0 + r, h));
    }
}

// ---- backward: dQ ----------------------------------------------------------------------------

template <typename E>
void backwardQTile(const AttentionArgs& a, int64_t b, int64_t h, int64_t i0, int64_t i1)
{
    const AttentionShape& s = a.shape;
    const int64_t D = s.headDim, dp = roundUp16(D), dUnits = dp / kEpu<E>, pUnits = T / kEpu<E>;
    const int64_t g = h / (s.heads / s.kvHeads), offset = attentionQueryOffset(s), mq = i1 - i0;
    Scratch& w = scratch();
    uint32_t* qa = grow(w.u[0], size_t(T * dUnits));
    uint32_t* doa = grow(w.u[1], size_t(T * dUnits));
    uint32_t* kt = grow(w.u[2], size_t(T * dUnits));
    uint32_t* vt = grow(w.u[3], size_t(T * dUnits));
    uint32_t* ki = grow(w.u[4], size_t(T * dUnits));
    uint32_t* dst = grow(w.u[5], size_t(T * pUnits));
    float* st = grow(w.f[0], size_t(T * T));
    float* dpt = grow(w.f[1], size_t(T * T));
    float* dqacc = grow(w.f[2], size_t(T * dp));
    float* lse = grow(w.f[3], size_t(T));
    float* delta = grow(w.f[4], size_t(T));
    E* ds = reinterpret_cast<E*>(dst);

    copyRows(rowPtr<E>(a.q, a.qStride, b, i0, h), a.qStride.time, mq, D, dp, qa);
    copyRows(rowPtr<E>(a.dO, a.dOStride, b, i0, h), a.dOStride.time, mq, D, dp, doa);
    for (int64_t r = 0; r < mq; ++r) {
        lse[r] = a.lse[(b * s.heads + h) * s.queryLen + i0 + r];
        delta[r] = rowDot(rowPtr<E>(a.dO, a.dOStride, b, i0 + r, h), rowPtr<E>(a.o, a.oStride, b, i0 + r, h), D);
    }
    std::fill(dqacc, dqacc + mq * dp, 0.0f);
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
        gemm<E>(mq, T, dUnits, qa, dUnits, kt, T, st, T, false);
        gemm<E>(mq, T, dUnits, doa, dUnits, vt, T, dpt, T, false);
        __mmask16 valid[4];
        keyValidMasks(a, b, k0, valid);
        for (int64_t r = 0; r < mq; ++r) {
            const int64_t pos = offset + i0 + r;
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
        gemm<E>(mq, dp, pUnits, dst, pUnits, ki, dp, dqacc, dp, true);
    }
    for (int64_t r = 0; r < mq; ++r)
        storeRow(dqacc + r * dp, a.scale, D, rowPtr<E>(a.dQ, a.dQStride, b, i0 + r, h));
}

// ---- backward: dK, dV ------------------------------------------------------------------------

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
