// Internal: the tools of the tiled AVX-512 attention loops (packing, tile products, masks,
// scratch); the passes are in CausalAttentionAvx512Forward.h and CausalAttentionAvx512Backward.h.
// Included by CausalAttentionAvx512.cpp (bf16 pairs multiplied as fp32) and
// CausalAttentionAvx512Bf16.cpp (vdpbf16ps), which set TBK_ATTN_NATIVE_BF16 to 0 or 1 and are
// compiled with the matching -m flags.
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
// key-padding bits. Grouped-query attention: Forward and BackwardQ stack the query rows of up to
// kAttentionMaxHeadsPerTask heads of a KV group into one tile, so each K/V tile is packed once for
// all of them; BackwardKv walks the group's query heads with its K/V tile loaded.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <type_traits>

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

// Buffers start on a 64-byte line: tile rows are multiples of 16 floats, so every zmm load and
// store of the tile products then stays within one cache line (a line-splitting store costs two;
// with malloc's 16-byte alignment the passes' speed varied by 10-20% with where the heap put them).
template <typename X>
struct AlignedBuffer {
    X* data = nullptr;
    size_t size = 0;
    AlignedBuffer() = default;
    AlignedBuffer(const AlignedBuffer&) = delete;
    AlignedBuffer& operator=(const AlignedBuffer&) = delete;
    ~AlignedBuffer() { std::free(data); }
};

struct Scratch {
    AlignedBuffer<uint32_t> u[8];
    AlignedBuffer<float> f[6];
};

inline Scratch& scratch()
{
    thread_local Scratch s;
    return s;
}

// n elements, zeroed when first allocated; contents are kept only while it does not grow.
template <typename X>
X* grow(AlignedBuffer<X>& v, size_t n)
{
    const size_t want = n + 64; // slack: copyRows may write up to 16 units past the last row
    if (v.size < want) {
        std::free(v.data);
        const size_t bytes = (want * sizeof(X) + 63) / 64 * 64;
        v.data = static_cast<X*>(std::aligned_alloc(64, bytes));
        if (!v.data)
            throw std::bad_alloc();
        std::memset(v.data, 0, bytes);
        v.size = want;
    }
    return v.data;
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

// Stores 64 fp32 as a row of the P / dS tile (bf16 rounded or fp32). With AVX512_BF16,
// vcvtne2ps2bf16 rounds 32 at a time to nearest even as roundToBf16 does, in one instruction
// instead of seven per 16 (it flushes denormals, below 1.2e-38: nothing these sums can see).
template <typename E>
void storeTileRow(E* row, const __m512 v[4])
{
#if TBK_ATTN_NATIVE_BF16
    if constexpr (kEpu<E> == 2) {
        for (int c = 0; c < 4; c += 2)
            _mm512_storeu_si512(row + 16 * c, (__m512i)_mm512_cvtne2ps_pbh(v[c + 1], v[c]));
        return;
    }
#endif
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

} // namespace

} // namespace tbk::detail
