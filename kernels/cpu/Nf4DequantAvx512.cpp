// AVX-512 NF4 dequantize loops (compiled with -mavx512f -mavx512bw -mavx2 -mfma; called only
// when cpuFeatures() reports AVX-512F and BW). Per block: the 16 values code*absmax in one
// register (16 bf16 words for vpermw, or 16 floats for vpermps). Per 32 packed bytes (64
// elements): split nibbles, interleave high/low (element 2j = high nibble of byte j), widen the
// indices, permute, store 128 bytes of bf16.
#include "cpu/Nf4DequantKernels.h"

#if defined(__AVX512F__) && defined(__AVX512BW__)

#include <immintrin.h>

#include "cpu/Bf16.h"
#include "cpu/Bf16Avx512.h"
#include "cpu/Nf4Codebook.h"

namespace tbk::detail {

namespace {

// 16 packed bytes -> 32 nibble indices in element order (low 128 bits: elements 0..15).
inline __m256i unpackNibbles16(const uint8_t* src)
{
    const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src));
    const __m128i mask = _mm_set1_epi8(0x0F);
    const __m128i hi = _mm_and_si128(_mm_srli_epi16(bytes, 4), mask);
    const __m128i lo = _mm_and_si128(bytes, mask);
    return _mm256_set_m128i(_mm_unpackhi_epi8(hi, lo), _mm_unpacklo_epi8(hi, lo));
}

} // namespace

bool nf4Avx512Compiled() { return true; }

void nf4DequantBf16Avx512(const uint8_t* packed, const float* absmax, int64_t n, int blocksize, uint16_t* out)
{
    const __m512 code = _mm512_loadu_ps(kNf4Code);
    const __m256i mask = _mm256_set1_epi8(0x0F);
    for (int64_t begin = 0, block = 0; begin < n; begin += blocksize, ++block) {
        const int64_t count = n - begin < blocksize ? n - begin : blocksize; // no std:: templates here
        const float scale = absmax[block];
        // vpermw reads 5 index bits; indices are < 16, so only the low 16 words matter.
        const __m512i table = _mm512_zextsi256_si512(roundToBf16(_mm512_mul_ps(code, _mm512_set1_ps(scale))));
        const uint8_t* src = packed + begin / 2;
        uint16_t* dst = out + begin;
        int64_t i = 0;
        for (; i + 64 <= count; i += 64) {
            const __m256i bytes = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i / 2));
            const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(bytes, 4), mask);
            const __m256i lo = _mm256_and_si256(bytes, mask);
            const __m256i a = _mm256_unpacklo_epi8(hi, lo); // elements 0..15 | 32..47
            const __m256i b = _mm256_unpackhi_epi8(hi, lo); // elements 16..31 | 48..63
            const __m512i idx0 = _mm512_cvtepu8_epi16(_mm256_permute2x128_si256(a, b, 0x20));
            const __m512i idx1 = _mm512_cvtepu8_epi16(_mm256_permute2x128_si256(a, b, 0x31));
            _mm512_storeu_si512(dst + i, _mm512_permutexvar_epi16(idx0, table));
            _mm512_storeu_si512(dst + i + 32, _mm512_permutexvar_epi16(idx1, table));
        }
        for (; i + 32 <= count; i += 32) // blocksize 32, or the last 32 of a partial block
            _mm512_storeu_si512(dst + i,
                                _mm512_permutexvar_epi16(_mm512_cvtepu8_epi16(unpackNibbles16(src + i / 2)), table));
        for (; i < count; ++i) { // partial last block
            const uint8_t byte = src[i / 2];
            dst[i] = floatToBf16(kNf4Code[(i % 2 == 0) ? (byte >> 4) : (byte & 0x0F)] * scale);
        }
    }
}

void nf4DequantF32Avx512(const uint8_t* packed, const float* absmax, int64_t n, int blocksize, float* out)
{
    const __m512 code = _mm512_loadu_ps(kNf4Code);
    for (int64_t begin = 0, block = 0; begin < n; begin += blocksize, ++block) {
        const int64_t count = n - begin < blocksize ? n - begin : blocksize; // no std:: templates here
        const float scale = absmax[block];
        const __m512 table = _mm512_mul_ps(code, _mm512_set1_ps(scale));
        const uint8_t* src = packed + begin / 2;
        float* dst = out + begin;
        int64_t i = 0;
        for (; i + 32 <= count; i += 32) {
            const __m256i idx = unpackNibbles16(src + i / 2);
            const __m512i k0 = _mm512_cvtepu8_epi32(_mm256_castsi256_si128(idx));
            const __m512i k1 = _mm512_cvtepu8_epi32(_mm256_extracti128_si256(idx, 1));
            _mm512_storeu_ps(dst + i, _mm512_permutexvar_ps(k0, table));
            _mm512_storeu_ps(dst + i + 16, _mm512_permutexvar_ps(k1, table));
        }
        for (; i < count; ++i) {
            const uint8_t byte = src[i / 2];
            dst[i] = kNf4Code[(i % 2 == 0) ? (byte >> 4) : (byte & 0x0F)] * scale;
        }
    }
}

} // namespace tbk::detail

#else // not built with AVX-512: never selected (nf4IsaSupported checks nf4Avx512Compiled()).

namespace tbk::detail {
bool nf4Avx512Compiled() { return false; }
void nf4DequantBf16Avx512(const uint8_t*, const float*, int64_t, int, uint16_t*) {}
void nf4DequantF32Avx512(const uint8_t*, const float*, int64_t, int, float*) {}
} // namespace tbk::detail

#endif
