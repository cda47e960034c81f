// AVX-512 k-quant scale searches (compiled with -mavx512f -mavx512bw -mavx2; called only when
// cpuFeatures() reports AVX-512F and BW): GgmlKQuantsLanes.h with 16 sub-blocks per register,
// lane masks as __mmask16, the sub-blocks transposed into lanes with masked gathers.
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

    static I zeroI() { return _mm512_setzero_si512(); }
    static I addI(I a, int b) { return _mm512_add_epi32(a, _mm512_set1_epi32(b)); }
    static I clampI(I v, int lo, int hi) // ggml's MAX(lo, MIN(hi, v))
    {
        return _mm512_max_epi32(_mm512_set1_epi32(lo), _mm512_min_epi32(_mm512_set1_epi32(hi), v));
    }
    static I selectI(M m, I ifTrue, I ifFalse) { return _mm512_mask_blend_epi32(m, ifFalse, ifTrue); }
    static void storeI(int32_t* p, I v) { _mm512_store_si512(p, v); }
    // ggml's nearest_int: f + 1.5 * 2^23, low 23 bits of the sum's bits, minus 2^22.
    static I nearestInt(F f)
    {
        const I bits = _mm512_castps_si512(_mm512_add_ps(f, _mm512_set1_ps(12582912.f)));
        return _mm512_sub_epi32(_mm512_and_si512(bits, _mm512_set1_epi32(0x007FFFFF)), _mm512_set1_epi32(0x00400000));
    }
    static F toFloat(I v) { return _mm512_cvtepi32_ps(v); } // exact: |v| < 2^24 after clampI
};

} // namespace

bool ggmlKQuantsAvx512Compiled() { return true; }

void ggmlFitQkx2Avx512(const float* x, int64_t count, const GgmlQkx2Params& p, float* scales, float* mins, uint8_t* L)
{
    fitQkx2Lanes<LanePair<Avx512Lanes>>(x, count, p, scales, mins, L);
}

void ggmlFitQxAvx512(const float* x, int64_t count, float* scales, int8_t* L)
{
    fitQxLanes<LanePair<Avx512Lanes>>(x, count, scales, L);
}

} // namespace tbk::detail

#else // not built with AVX-512: never selected (ggmlIsaSupported checks ggmlKQuantsAvx512Compiled()).

namespace tbk::detail {
bool ggmlKQuantsAvx512Compiled() { return false; }
void ggmlFitQkx2Avx512(const float*, int64_t, const GgmlQkx2Params&, float*, float*, uint8_t*) {}
void ggmlFitQxAvx512(const float*, int64_t, float*, int8_t*) {}
} // namespace tbk::detail

#endif
