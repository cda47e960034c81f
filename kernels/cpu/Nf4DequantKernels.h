// Internal: the per-ISA NF4 dequantize loops behind Nf4Dequant.h. Each takes a span that
// starts on a block boundary: packed has (n+1)/2 bytes, absmax has ceil(n/blocksize) fp32
// values (already decoded when nested), out has n elements. blocksize is valid and even.
#pragma once

#include <cstdint>

namespace tbk::detail {

using Nf4Bf16Kernel = void (*)(const uint8_t* packed, const float* absmax, int64_t n, int blocksize,
                               uint16_t* out);
using Nf4F32Kernel = void (*)(const uint8_t* packed, const float* absmax, int64_t n, int blocksize, float* out);

void nf4DequantBf16Scalar(const uint8_t* packed, const float* absmax, int64_t n, int blocksize, uint16_t* out);
void nf4DequantF32Scalar(const uint8_t* packed, const float* absmax, int64_t n, int blocksize, float* out);

// Defined in Nf4DequantAvx2.cpp / Nf4DequantAvx512.cpp; the *Compiled() functions say whether
// the file was built with its -m flags (false on other architectures, where the loops are stubs).
bool nf4Avx2Compiled();
void nf4DequantBf16Avx2(const uint8_t* packed, const float* absmax, int64_t n, int blocksize, uint16_t* out);
void nf4DequantF32Avx2(const uint8_t* packed, const float* absmax, int64_t n, int blocksize, float* out);
bool nf4Avx512Compiled();
void nf4DequantBf16Avx512(const uint8_t* packed, const float* absmax, int64_t n, int blocksize, uint16_t* out);
void nf4DequantF32Avx512(const uint8_t* packed, const float* absmax, int64_t n, int blocksize, float* out);

} // namespace tbk::detail
