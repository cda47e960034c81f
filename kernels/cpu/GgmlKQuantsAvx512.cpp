// AVX-512 k-quant scale searches (compiled with -mavx512f -mavx512bw -mavx2; called only when
// cpuFeatures() reports AVX-512F and BW): GgmlKQuantsLanes.h with 16 sub-blocks per register,
// lane masks as __mmask16; two registers side by side (LanePair), 32 sub-blocks per group.
#include "cpu/GgmlKQuantsKernels.h"

#if defined(__AVX512F__) && defined(__AVX512BW__)

#include <immintrin.h>

#include "cpu/GgmlKQuantsLanes.h"

namespace tbk::detail {

namespace {

struct Avx512Lanes {
    static constexpr int kLanes = 16;
    using F = __m512;
    using I = __m512i;
    using M = __mmask16;

    static F zero() { return _mm512_setzero_ps(); }
    static F set1(float v) { return _mm512_set1_ps(v); }
    static F load(const float* p) { return _mm512_load_ps(p); }
    static void store(float* p, F v) { _mm512_store_ps(p, v); }
    static F add(F a, F b) { return _mm512_add_ps(a, b); }
    static F sub(F a, F b) { return _mm512_sub_ps(a, b); }
    static F mul(F a, F b) { return _mm512_mul_ps(a, b); }
    static F div(F a, F b) { return _mm512_div_ps(a, b); }
    static F sqrt(F a) { return _mm512_sqrt_ps(a); }
    static F abs(F a) // fabsf: clear the sign bit
    {
        return _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(a), _mm512_set1_epi32(0x7FFFFFFF)));
    }
    static M lt(F a, F b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
    static M gt(F a, F b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
    static M eq(F a, F b) { return _mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ); }
    static M ne(F a, F b) { return _mm512_cmp_ps_mask(a, b, _CMP_NEQ_UQ); }
    static M both(M a, M b) { return static_cast<M>(a & b); }
    static F select(M m, F ifTrue, F ifFalse) { return _mm512_mask_blend_ps(m, ifFalse, ifTrue); }

    static I addI(I a, int b) { return _mm512_add_epi32(a, _mm512_set1_epi32(b)); }
    static I clampI(I v, int lo, int hi) // ggml's MAX(lo, MIN(hi, v))
    {
        return _mm512_max_epi32(_mm512_set1_epi32(lo), _mm512_min_epi32(_mm512_set1_epi32(hi), v));
    }
    // ggml's nearest_int: f + 1.5 * 2^23, low 23 bits of the sum's bits, minus 2^22.
    static I nearestInt(F f)
    {
        const I bits = _mm512_castps_si512(_mm512_add_ps(f, _mm512_set1_ps(12582912.f)));
        return _mm512_sub_epi32(_mm512_and_si512(bits, _mm512_set1_epi32(0x007FFFFF)), _mm512_set1_epi32(0x00400000));
    }
    static F toFloat(I v) { return _mm512_cvtepi32_ps(v); } // exact: |v| < 2^24 after clampI
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
    static F loadu(const float* p) { return _mm512_loadu_ps(p); }
    static void storeBytes(uint8_t* p, I v) // 16 bytes; v is in 0..255
    {
        _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm512_cvtepi32_epi8(v));
    }
};

} // namespace

bool ggmlKQuantsAvx512Compiled() { return true; }

GgmlKQuantKernels ggmlKQuantKernelsAvx512()
{
    using Pair = LanePair<Avx512Lanes>;
    return {fitQkx2Lanes<Pair>, fitQxLanes<Pair>, codesKLanes<Avx512Lanes>, codesQ6Lanes<Avx512Lanes>};
}

} // namespace tbk::detail

#else // not built with AVX-512: never selected (ggmlIsaSupported checks ggmlKQuantsAvx512Compiled()).

namespace tbk::detail {
bool ggmlKQuantsAvx512Compiled() { return false; }
GgmlKQuantKernels ggmlKQuantKernelsAvx512() { return {}; }
} // namespace tbk::detail

#endif
