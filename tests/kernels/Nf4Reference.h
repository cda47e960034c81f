// Independent reference for the NF4 / dynamic-map tests (tst_nf4.cpp, tst_nf4_cuda.cpp), written
// from the published algorithm (QLoRA paper; bitsandbytes quantize_4bit / quantize_blockwise /
// create_dynamic_map as documented in /work/shared/REFERENCE.md) and NOT from kernels/: nearest
// code by the fp32 midpoints (NF4) or argmin of the distance in double (dynamic map), bf16 rounding by comparing the two neighbours, the
// code tables as literals. Only the parts bitsandbytes defines by its kernels are taken as facts:
// x is normalized as x * (1/absmax) in fp32, a tie between two codes goes to the lower NF4 code,
// padding of an odd n is quantized as 0.0.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

namespace nf4ref {

// REFERENCE.md "NF4 as bitsandbytes stores it", index 0..15.
inline const double kNf4[16] = {
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
    -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
    0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
    0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0};

// create_dynamic_map(signed=True) as torch.linspace in LibTorch 1.13.1 (this machine) computes
// it: fp32 bit patterns dumped from LibTorch, ascending.
inline const uint32_t kDynamicMapBits[256] = {
#include "DynamicMapBits.inc"
};

inline float dynamicMap(int i)
{
    float f;
    std::memcpy(&f, &kDynamicMapBits[i], 4);
    return f;
}

inline uint32_t bitsOf(float f)
{
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
}

inline float floatOf(uint32_t u)
{
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

// Nearest bf16 (ties to even) by comparing the two bf16 neighbours of f in double.
inline uint16_t bf16(float f)
{
    if (std::isnan(f))
        return 0x7FC0;
    const uint32_t down = bitsOf(f) & 0xFFFF0000u;
    const uint32_t up = down + 0x10000u;
    const double dDown = std::fabs(double(f) - double(floatOf(down)));
    const double dUp = std::fabs(double(f) - double(floatOf(up)));
    if (dDown < dUp)
        return uint16_t(down >> 16);
    if (dUp < dDown)
        return uint16_t(up >> 16);
    return ((down >> 16) & 1u) ? uint16_t(up >> 16) : uint16_t(down >> 16);
}

// dQuantizeNF4's thresholds (bitsandbytes csrc/kernels.cu), ascending: the midpoints of adjacent
// codes as the fp32 literals written there (decimal -> fp32 directly: going through double
// would round the first one, which sits next to an fp32 tie, the other way). As fp32 they are
// not always the rounding of the exact midpoint, so the literals are what defines the format.
inline const float kNf4Threshold[15] = {
    -0.8480964004993439f, -0.6106329262256622f, -0.4599952697753906f, -0.33967943489551544f,
    -0.23460740596055984f, -0.13791173323988914f, -0.045525018125772476f, 0.03979014977812767f,
    0.1202552504837513f, 0.2035212516784668f, 0.2920137718319893f, 0.3893125355243683f,
    0.5016634166240692f, 0.6427869200706482f, 0.8614784181118011f};

// Index of the NF4 code by bitsandbytes' midpoint decision: code c+1 rather than c when
// x > threshold c; a value on a threshold takes the lower code. NaN -> 0.
inline int nearestNf4(float xn)
{
    int code = 0;
    for (int c = 0; c < 15; ++c)
        code += xn > kNf4Threshold[c];
    return code;
}

inline int nearestDynamic(float xn)
{
    if (std::isnan(xn))
        return 0;
    int best = 0;
    for (int c = 1; c < 256; ++c)
        if (std::fabs(double(xn) - double(dynamicMap(c))) < std::fabs(double(xn) - double(dynamicMap(best))))
            best = c;
    return best;
}

struct Nf4Quantized {
    std::vector<uint8_t> packed; // (n+1)/2, element 2j in the high nibble
    std::vector<float> absmax;   // ceil(n/blocksize)
};

inline float blockAbsmax(const float* x, size_t begin, size_t end)
{
    float m = 0.0f;
    for (size_t i = begin; i < end; ++i)
        m = std::fabs(x[i]) > m ? std::fabs(x[i]) : m;
    return m;
}

inline Nf4Quantized quantizeNf4(const std::vector<float>& x, size_t blocksize)
{
    const size_t n = x.size();
    Nf4Quantized q;
    q.packed.assign((n + 1) / 2, 0);
    for (size_t b = 0; b * blocksize < n; ++b) {
        const size_t begin = b * blocksize, end = std::min(n, begin + blocksize);
        const float amax = blockAbsmax(x.data(), begin, end);
        q.absmax.push_back(amax);
        const float recip = 1.0f / amax;
        for (size_t i = begin; i < begin + (end - begin + 1) / 2 * 2; ++i) {
            const float v = i < end ? x[i] : 0.0f; // padding of an odd n
            const int code = nearestNf4(v * recip);
            q.packed[i / 2] |= uint8_t(i % 2 == 0 ? code << 4 : code);
        }
    }
    return q;
}

inline float dequantNf4(const Nf4Quantized& q, size_t blocksize, size_t i)
{
    const int nibble = i % 2 == 0 ? q.packed[i / 2] >> 4 : q.packed[i / 2] & 0x0F;
    return float(kNf4[nibble]) * q.absmax[i / blocksize];
}

struct Blockwise8 {
    std::vector<uint8_t> q;
    std::vector<float> absmax;
};

inline Blockwise8 quantize8(const std::vector<float>& x, size_t blocksize)
{
    Blockwise8 r;
    r.q.resize(x.size());
    for (size_t b = 0; b * blocksize < x.size(); ++b) {
        const size_t begin = b * blocksize, end = std::min(x.size(), begin + blocksize);
        const float amax = blockAbsmax(x.data(), begin, end);
        r.absmax.push_back(amax);
        for (size_t i = begin; i < end; ++i)
            r.q[i] = uint8_t(nearestDynamic(x[i] * (1.0f / amax)));
    }
    return r;
}

struct DoubleQuant {
    std::vector<uint8_t> qabsmax;
    std::vector<float> nestedAbsmax;
    float offset = 0;
};

// offset = mean(absmax); (absmax - offset) quantized blockwise 256 with the dynamic map.
inline DoubleQuant doubleQuantize(const std::vector<float>& absmax)
{
    DoubleQuant d;
    double sum = 0;
    for (float a : absmax)
        sum += a;
    d.offset = float(sum / double(absmax.size()));
    std::vector<float> centered;
    for (float a : absmax)
        centered.push_back(a - d.offset);
    const Blockwise8 q = quantize8(centered, 256);
    d.qabsmax = q.q;
    d.nestedAbsmax = q.absmax;
    return d;
}

inline float doubleDequantize(const DoubleQuant& d, size_t block)
{
    const float scaled = dynamicMap(d.qabsmax[block]) * d.nestedAbsmax[block / 256];
    return scaled + d.offset;
}

// A fixed input with exact fp32 values: n = 149 (odd), so blocksize 64 gives blocks of 64, 64
// and 21 elements, the last byte holding one element and the padding nibble.
inline std::vector<float> knownAnswerInput()
{
    std::vector<float> x(149);
    for (size_t i = 0; i < x.size(); ++i)
        x[i] = float(int((i * 37 + 11) % 101) - 50) / 64.0f * float(1 + i % 3);
    return x;
}

} // namespace nf4ref
