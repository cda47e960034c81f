// AVX2 k-quant scale searches (compiled with -mavx2; called only when cpuFeatures() reports
// AVX2): GgmlKQuantsLanes.h with 8 sub-blocks per register, lane masks as all-ones/all-zeros
// floats (blendv), the sub-blocks transposed into lanes with masked gathers.
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

    static I zeroI() { return _mm256_setzero_si256(); }
    static I addI(I a, int b) { return _mm256_add_epi32(a, _mm256_set1_epi32(b)); }
    static I clampI(I v, int lo, int hi) // ggml's MAX(lo, MIN(hi, v))
    {
        return _mm256_max_epi32(_mm256_set1_epi32(lo), _mm256_min_epi32(_mm256_set1_epi32(hi), v));
    }
    static I selectI(M m, I ifTrue, I ifFalse)
    {
        return _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(ifFalse), _mm256_castsi256_ps(ifTrue), m));
    }
    static void storeI(int32_t* p, I v) { _mm256_store_si256(reinterpret_cast<__m256i*>(p), v); }
    // ggml's nearest_int: f + 1.5 * 2^23, low 23 bits of the sum's bits, minus 2^22.
    static I nearestInt(F f)
    {
        const I bits = _mm256_castps_si256(_mm256_add_ps(f, _mm256_set1_ps(12582912.f)));
        return _mm256_sub_epi32(_mm256_and_si256(bits, _mm256_set1_epi32(0x007FFFFF)), _mm256_set1_epi32(0x00400000));
    }
    static F toFloat(I v) { return _mm256_cvtepi32_ps(v); } // exact: |v| < 2^24 after clampI
};

} // namespace

bool ggmlKQuantsAvx2Compiled() { return true; }

void ggmlFitQkx2Avx2(const float* x, int64_t count, const GgmlQkx2Params& p, float* scales, float* mins, uint8_t* L)
{
    fitQkx2Lanes<LanePair<Avx2Lanes>>(x, count, p, scales, mins, L);
}

void ggmlFitQxAvx2(const float* x, int64_t count, float* scales, int8_t* L)
{
    fitQxLanes<LanePair<Avx2Lanes>>(x, count, scales, L);
}

} // namespace tbk::detail

#else // not built with AVX2: never selected (ggmlIsaSupported checks ggmlKQuantsAvx2Compiled()).

namespace tbk::detail {
bool ggmlKQuantsAvx2Compiled() { return false; }
void ggmlFitQkx2Avx2(const float*, int64_t, const GgmlQkx2Params&, float*, float*, uint8_t*) {}
void ggmlFitQxAvx2(const float*, int64_t, float*, int8_t*) {}
} // namespace tbk::detail

#endif
