// AVX2 NF4 dequantize loops (compiled with -mavx2 -mfma, called only when cpuFeatures().avx2).
// Per block: the 16 values code*absmax, as two 16-byte tables (low and high bytes of the bf16
// words) for vpshufb, or two 8-float tables for vpermps. Per 16 packed bytes (32 elements):
// split nibbles, interleave high/low (element 2j = high nibble of byte j), look up, store.
#include "cpu/Nf4DequantKernels.h"

#if defined(__AVX2__)

#include <immintrin.h>

#include "cpu/Bf16.h"
#include "cpu/Nf4Codebook.h"

namespace tbk::detail {

namespace {

// fp32 -> bf16 bits in the low half of each 32-bit lane, round to nearest even, NaN -> 0x7FC0
// (the same rule as floatToBf16).
inline __m256i roundToBf16(__m256 v)
{
    const __m256i bits = _mm256_castps_si256(v);
    const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(1));
    const __m256i rounded =
        _mm256_srli_epi32(_mm256_add_epi32(bits, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7FFF))), 16);
    const __m256i nan = _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    return _mm256_blendv_epi8(rounded, _mm256_set1_epi32(0x7FC0), nan);
}

// 16 packed bytes -> 32 nibble indices in element order: lane 0 = elements 0..15, lane 1 = 16..31.
inline __m256i unpackNibbles(const uint8_t* src)
{
    const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src));
    const __m128i mask = _mm_set1_epi8(0x0F);
    const __m128i hi = _mm_and_si128(_mm_srli_epi16(bytes, 4), mask);
    const __m128i lo = _mm_and_si128(bytes, mask);
    return _mm256_set_m128i(_mm_unpackhi_epi8(hi, lo), _mm_unpacklo_epi8(hi, lo));
}

} // namespace

bool nf4Avx2Compiled() { return true; }

void nf4DequantBf16Avx2(const uint8_t* packed, const float* absmax, int64_t n, int blocksize, uint16_t* out)
{
    const __m256 code0 = _mm256_loadu_ps(kNf4Code), code1 = _mm256_loadu_ps(kNf4Code + 8);
    // Within each 128-bit lane: even bytes (low halves of 8 words) first, then odd bytes.
    const __m256i splitBytes = _mm256_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15, 0, 2, 4, 6,
                                                8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
    for (int64_t begin = 0, block = 0; begin < n; begin += blocksize, ++block) {
        const int64_t count = n - begin < blocksize ? n - begin : blocksize; // no std:: templates here
        const float scale = absmax[block];
        const __m256 s = _mm256_set1_ps(scale);
        // packus interleaves lanes: words [0-3, 8-11 | 4-7, 12-15]; 0xD8 puts quads back in order.
        __m256i words = _mm256_permute4x64_epi64(
            _mm256_packus_epi32(roundToBf16(_mm256_mul_ps(code0, s)), roundToBf16(_mm256_mul_ps(code1, s))), 0xD8);
        // -> lane 0: low bytes of words 0..15, lane 1: high bytes of words 0..15.
        words = _mm256_permute4x64_epi64(_mm256_shuffle_epi8(words, splitBytes), 0xD8);
        const __m256i tableLo = _mm256_permute2x128_si256(words, words, 0x00);
        const __m256i tableHi = _mm256_permute2x128_si256(words, words, 0x11);

        const uint8_t* src = packed + begin / 2;
        uint16_t* dst = out + begin;
        int64_t i = 0;
        for (; i + 32 <= count; i += 32) {
            const __m256i idx = unpackNibbles(src + i / 2);
            const __m256i lo = _mm256_shuffle_epi8(tableLo, idx);
            const __m256i hi = _mm256_shuffle_epi8(tableHi, idx);
            const __m256i w0 = _mm256_unpacklo_epi8(lo, hi); // elements 0..7 | 16..23
            const __m256i w1 = _mm256_unpackhi_epi8(lo, hi); // elements 8..15 | 24..31
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i), _mm256_permute2x128_si256(w0, w1, 0x20));
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst + i + 16), _mm256_permute2x128_si256(w0, w1, 0x31));
        }
        for (; i < count; ++i) { // partial last block
            const uint8_t byte = src[i / 2];
            dst[i] = floatToBf16(kNf4Code[(i % 2 == 0) ? (byte >> 4) : (byte & 0x0F)] * scale);
        }
    }
}

void nf4DequantF32Avx2(const uint8_t* packed, const float* absmax, int64_t n, int blocksize, float* out)
{
    const __m256 code0 = _mm256_loadu_ps(kNf4Code), code1 = _mm256_loadu_ps(kNf4Code + 8);
    for (int64_t begin = 0, block = 0; begin < n; begin += blocksize, ++block) {
        const int64_t count = n - begin < blocksize ? n - begin : blocksize; // no std:: templates here
        const float scale = absmax[block];
        const __m256 s = _mm256_set1_ps(scale);
        const __m256 table0 = _mm256_mul_ps(code0, s), table1 = _mm256_mul_ps(code1, s);
        const uint8_t* src = packed + begin / 2;
        float* dst = out + begin;
        int64_t i = 0;
        for (; i + 32 <= count; i += 32) {
            const __m256i idx = unpackNibbles(src + i / 2);
            const __m128i half[2] = {_mm256_castsi256_si128(idx), _mm256_extracti128_si256(idx, 1)};
            for (int g = 0; g < 4; ++g) {
                const __m128i part = (g % 2 == 0) ? half[g / 2] : _mm_srli_si128(half[g / 2], 8);
                const __m256i k = _mm256_cvtepu8_epi32(part); // elements 8g .. 8g+7
                const __m256 a = _mm256_permutevar8x32_ps(table0, k); // vpermps uses bits 0..2
                const __m256 b = _mm256_permutevar8x32_ps(table1, k);
                // bit 3 of the index picks the upper table: move it to the sign bit for blendv.
                const __m256 v = _mm256_blendv_ps(a, b, _mm256_castsi256_ps(_mm256_slli_epi32(k, 28)));
                _mm256_storeu_ps(dst + i + 8 * g, v);
            }
        }
        for (; i < count; ++i) {
            const uint8_t byte = src[i / 2];
            dst[i] = kNf4Code[(i % 2 == 0) ? (byte >> 4) : (byte & 0x0F)] * scale;
        }
    }
}

} // namespace tbk::detail

#else // not built with AVX2: never selected (nf4IsaSupported checks nf4Avx2Compiled()).

namespace tbk::detail {
bool nf4Avx2Compiled() { return false; }
void nf4DequantBf16Avx2(const uint8_t*, const float*, int64_t, int, uint16_t*) {}
void nf4DequantF32Avx2(const uint8_t*, const float*, int64_t, int, float*) {}
} // namespace tbk::detail

#endif
