// AVX2 k-quant scale searches (compiled with -mavx2; called only when cpuFeatures() reports
// AVX2): GgmlKQuantsLanes.h with 8 sub-blocks per register, lane masks as all-ones/all-zeros
// floats (blendv); two registers side by side (LanePair), 16 sub-blocks per group.
#include "cpu/GgmlKQuantsKernels.h"

#if defined(__AVX2__)

#include <immintrin.h>

#include "cpu/GgmlKQuantsLanes.h"

namespace tbk::detail {

namespace {

struct Avx2Lanes {
    static constexpr int kLanes = 8;
    using F = __m256;
    using I = __m256i;
    using M = __m256;

    static F zero() { return _mm256_setzero_ps(); }
    static F set1(float v) { return _mm256_set1_ps(v); }
    static F load(const float* p) { return _mm256_load_ps(p); }
    static void store(float* p, F v) { _mm256_store_ps(p, v); }
    static F add(F a, F b) { return _mm256_add_ps(a, b); }
    static F sub(F a, F b) { return _mm256_sub_ps(a, b); }
    static F mul(F a, F b) { return _mm256_mul_ps(a, b); }
    static F div(F a, F b) { return _mm256_div_ps(a, b); }
    static F sqrt(F a) { return _mm256_sqrt_ps(a); }
    static F abs(F a) // fabsf: clear the sign bit
    {
        return _mm256_castsi256_ps(_mm256_and_si256(_mm256_castps_si256(a), _mm256_set1_epi32(0x7FFFFFFF)));
    }
    static M lt(F a, F b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
    static M gt(F a, F b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
    static M eq(F a, F b) { return _mm256_cmp_ps(a, b, _CMP_EQ_OQ); }
    static M ne(F a, F b) { return _mm256_cmp_ps(a, b, _CMP_NEQ_UQ); }
    static M both(M a, M b) { return _mm256_and_ps(a, b); }
    static F select(M m, F ifTrue, F ifFalse) { return _mm256_blendv_ps(ifFalse, ifTrue, m); }

    static I addI(I a, int b) { return _mm256_add_epi32(a, _mm256_set1_epi32(b)); }
    static I clampI(I v, int lo, int hi) // ggml's MAX(lo, MIN(hi, v))
    {
        return _mm256_max_epi32(_mm256_set1_epi32(lo), _mm256_min_epi32(_mm256_set1_epi32(hi), v));
    }
    // ggml's nearest_int: f + 1.5 * 2^23, low 23 bits of the sum's bits, minus 2^22.
    static I nearestInt(F f)
    {
        const I bits = _mm256_castps_si256(_mm256_add_ps(f, _mm256_set1_ps(12582912.f)));
        return _mm256_sub_epi32(_mm256_and_si256(bits, _mm256_set1_epi32(0x007FFFFF)), _mm256_set1_epi32(0x00400000));
    }
    static F toFloat(I v) { return _mm256_cvtepi32_ps(v); } // exact: |v| < 2^24 after clampI
    // dst[r * dstStride + c] = src[c * srcStride + r], r, c < 8: unpack pairs of rows, then
    // pairs of pairs, then swap 128-bit halves. Data movement only.
    static void transpose8x8(const float* src, int srcStride, float* dst, int dstStride)
    {
        __m256 r[8], t[8];
        for (int k = 0; k < 8; ++k)
            r[k] = _mm256_loadu_ps(src + k * srcStride);
        for (int k = 0; k < 8; k += 2) {
            t[k] = _mm256_unpacklo_ps(r[k], r[k + 1]);
            t[k + 1] = _mm256_unpackhi_ps(r[k], r[k + 1]);
        }
        for (int k = 0; k < 8; k += 4) {
            r[k] = _mm256_shuffle_ps(t[k], t[k + 2], _MM_SHUFFLE(1, 0, 1, 0));
            r[k + 1] = _mm256_shuffle_ps(t[k], t[k + 2], _MM_SHUFFLE(3, 2, 3, 2));
            r[k + 2] = _mm256_shuffle_ps(t[k + 1], t[k + 3], _MM_SHUFFLE(1, 0, 1, 0));
            r[k + 3] = _mm256_shuffle_ps(t[k + 1], t[k + 3], _MM_SHUFFLE(3, 2, 3, 2));
        }
        for (int k = 0; k < 4; ++k) {
            _mm256_storeu_ps(dst + k * dstStride, _mm256_permute2f128_ps(r[k], r[k + 4], 0x20));
            _mm256_storeu_ps(dst + (k + 4) * dstStride, _mm256_permute2f128_ps(r[k], r[k + 4], 0x31));
        }
    }
    static F loadu(const float* p) { return _mm256_loadu_ps(p); }
    static void storeBytes(uint8_t* p, I v) // 8 bytes; v is in 0..255
    {
        const __m256i lowBytes = _mm256_shuffle_epi8(
            v, _mm256_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, //
                                0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1));
        const __m128i packed = _mm_unpacklo_epi32(_mm256_castsi256_si128(lowBytes), _mm256_extracti128_si256(lowBytes, 1));
        _mm_storel_epi64(reinterpret_cast<__m128i*>(p), packed);
    }
};

} // namespace

bool ggmlKQuantsAvx2Compiled() { return true; }

GgmlKQuantKernels ggmlKQuantKernelsAvx2()
{
    using Pair = LanePair<Avx2Lanes>;
    return {fitQkx2Lanes<Pair>, fitQxLanes<Pair>, codesKLanes<Avx2Lanes>, codesQ6Lanes<Avx2Lanes>};
}

} // namespace tbk::detail

#else // not built with AVX2: never selected (ggmlIsaSupported checks ggmlKQuantsAvx2Compiled()).

namespace tbk::detail {
bool ggmlKQuantsAvx2Compiled() { return false; }
GgmlKQuantKernels ggmlKQuantKernelsAvx2() { return {}; }
} // namespace tbk::detail

#endif
