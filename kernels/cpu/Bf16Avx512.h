// fp32 -> bf16 rounding for 16 lanes at once, shared by the AVX-512 kernels (NF4 dequantization,
// fused attention). Include only from files compiled with -mavx512f -mavx512bw.
#pragma once

#include <immintrin.h>

namespace tbk::detail {

// 16 floats -> 16 bf16 words, round to nearest even, NaN -> 0x7FC0 (as floatToBf16).
inline __m256i roundToBf16(__m512 v)
{
    const __m512i bits = _mm512_castps_si512(v);
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
    __m512i rounded =
        _mm512_srli_epi32(_mm512_add_epi32(bits, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7FFF))), 16);
    rounded = _mm512_mask_blend_epi32(_mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), rounded, _mm512_set1_epi32(0x7FC0));
    return _mm512_cvtepi32_epi16(rounded);
}

} // namespace tbk::detail
