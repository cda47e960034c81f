// Portable NF4 dequantize loops: per block, a 16-entry table of code * absmax (already rounded
// for bf16), then two table reads per packed byte (high nibble first).
#include <algorithm>

#include "cpu/Bf16.h"
#include "cpu/Nf4Codebook.h"
#include "cpu/Nf4DequantKernels.h"

namespace tbk::detail {

namespace {

template <typename Out, typename Convert>
void dequantScalar(const uint8_t* packed, const float* absmax, int64_t n, int blocksize, Out* out, Convert convert)
{
    Out table[16];
    for (int64_t begin = 0, block = 0; begin < n; begin += blocksize, ++block) {
        const int64_t count = std::min<int64_t>(blocksize, n - begin);
        const float scale = absmax[block];
        for (int c = 0; c < 16; ++c)
            table[c] = convert(kNf4Code[c] * scale);
        const uint8_t* src = packed + begin / 2;
        Out* dst = out + begin;
        int64_t i = 0;
        for (; i + 1 < count; i += 2) {
            const uint8_t byte = src[i / 2];
            dst[i] = table[byte >> 4];
            dst[i + 1] = table[byte & 0x0F];
        }
        if (i < count) // odd n: the last byte's low nibble is padding
            dst[i] = table[src[i / 2] >> 4];
    }
}

} // namespace

void nf4DequantBf16Scalar(const uint8_t* packed, const float* absmax, int64_t n, int blocksize, uint16_t* out)
{
    dequantScalar(packed, absmax, n, blocksize, out, [](float v) { return floatToBf16(v); });
}

void nf4DequantF32Scalar(const uint8_t* packed, const float* absmax, int64_t n, int blocksize, float* out)
{
    dequantScalar(packed, absmax, n, blocksize, out, [](float v) { return v; });
}

} // namespace tbk::detail
