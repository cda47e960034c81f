// ggml's fp16/bf16 conversions. The fp16 pair is Maratyszcza's FP16 algorithm as ggml-impl.h
// carries it: the operations and their order are kept so the results are those of ggml.
#include "cpu/GgmlHalf.h"

#include <cmath>
#include <cstring>

namespace tbk {

namespace {

float floatFromBits(uint32_t w)
{
    float f;
    std::memcpy(&f, &w, 4);
    return f;
}

uint32_t bitsFromFloat(float f)
{
    uint32_t w;
    std::memcpy(&w, &f, 4);
    return w;
}

inline uint16_t fp32ToFp16(float f)
{
    const float scaleToInf = 0x1.0p+112f;
    const float scaleToZero = 0x1.0p-110f;
    // Scaling by 2^112 then 2^-110 pushes values too large for fp16 to inf and leaves the
    // rest exact; adding a power of two matched to f's exponent makes the fp32 adder round
    // the mantissa to fp16's 10 bits (to nearest even), subnormals included.
    float base = (std::fabs(f) * scaleToInf) * scaleToZero;

    const uint32_t w = bitsFromFloat(f);
    const uint32_t shl1W = w + w;
    const uint32_t sign = w & 0x80000000u;
    uint32_t bias = shl1W & 0xFF000000u;
    if (bias < 0x71000000u)
        bias = 0x71000000u;

    base = floatFromBits((bias >> 1) + 0x07800000u) + base;
    const uint32_t bits = bitsFromFloat(base);
    const uint32_t expBits = (bits >> 13) & 0x00007C00u;
    const uint32_t mantissaBits = bits & 0x00000FFFu;
    const uint32_t nonsign = expBits + mantissaBits;
    return static_cast<uint16_t>((sign >> 16) | (shl1W > 0xFF000000u ? 0x7E00u : nonsign));
}

inline float fp16ToFp32(uint16_t h)
{
    const uint32_t w = static_cast<uint32_t>(h) << 16;
    const uint32_t sign = w & 0x80000000u;
    const uint32_t twoW = w + w;

    const uint32_t expOffset = 0xE0u << 23;
    const float expScale = 0x1.0p-112f;
    const float normalized = floatFromBits((twoW >> 4) + expOffset) * expScale;

    const uint32_t magicMask = 126u << 23;
    const float magicBias = 0.5f;
    const float denormalized = floatFromBits((twoW >> 17) | magicMask) - magicBias;

    const uint32_t denormalizedCutoff = 1u << 27;
    const uint32_t result =
        sign | (twoW < denormalizedCutoff ? bitsFromFloat(denormalized) : bitsFromFloat(normalized));
    return floatFromBits(result);
}

inline uint16_t fp32ToBf16(float f)
{
    const uint32_t i = bitsFromFloat(f);
    if ((i & 0x7FFFFFFFu) > 0x7F800000u)
        return static_cast<uint16_t>((i >> 16) | 64u); // NaN: force quiet
    return static_cast<uint16_t>((i + (0x7FFFu + ((i >> 16) & 1u))) >> 16);
}

inline float bf16ToFp32(uint16_t h)
{
    return floatFromBits(static_cast<uint32_t>(h) << 16);
}

} // namespace

// The public entry points wrap the inline versions: with -fPIC an exported function may be
// interposed, so the compiler would not inline it into the row loops below.
uint16_t ggmlFp32ToFp16(float f) { return fp32ToFp16(f); }
float ggmlFp16ToFp32(uint16_t h) { return fp16ToFp32(h); }
uint16_t ggmlFp32ToBf16(float f) { return fp32ToBf16(f); }
float ggmlBf16ToFp32(uint16_t h) { return bf16ToFp32(h); }

void ggmlFp32ToFp16Row(const float* x, uint16_t* y, int64_t n)
{
    for (int64_t i = 0; i < n; ++i)
        y[i] = fp32ToFp16(x[i]);
}

void ggmlFp16ToFp32Row(const uint16_t* x, float* y, int64_t n)
{
    for (int64_t i = 0; i < n; ++i)
        y[i] = fp16ToFp32(x[i]);
}

void ggmlFp32ToBf16Row(const float* x, uint16_t* y, int64_t n)
{
    for (int64_t i = 0; i < n; ++i)
        y[i] = fp32ToBf16(x[i]);
}

void ggmlBf16ToFp32Row(const uint16_t* x, float* y, int64_t n)
{
    for (int64_t i = 0; i < n; ++i)
        y[i] = bf16ToFp32(x[i]);
}

} // namespace tbk
