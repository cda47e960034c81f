#include "cpu/Nf4Quantizer.h"

#include <algorithm>
#include <cmath>

#include "cpu/Bf16.h"
#include "cpu/Nf4Codebook.h"

namespace tbk {

namespace {

KernelStatus checkArgs(int64_t n, int blocksize, int minBlocksize, const void* a, const void* b, const void* c)
{
    if (!isValidBlocksize(blocksize, minBlocksize))
        return KernelStatus::BadBlocksize;
    if (n < 0)
        return KernelStatus::BadSize;
    if (n > 0 && (!a || !b || !c))
        return KernelStatus::NullPointer;
    return KernelStatus::Ok;
}

// Block absmax as kQuantizeBlockwise reduces it: fmaxf from -FLT_MAX over |x| (NaN inputs are
// skipped by fmaxf), then one reciprocal that every element is multiplied by.
template <typename Load>
float blockAbsmax(Load load, int64_t begin, int64_t end)
{
    float m = -3.402823466e38f;
    for (int64_t i = begin; i < end; ++i)
        m = std::fmax(m, std::fabs(load(i)));
    return m;
}

template <typename Load>
KernelStatus quantizeNf4Impl(Load load, int64_t n, int blocksize, uint8_t* packed, float* absmax)
{
    for (int64_t begin = 0, block = 0; begin < n; begin += blocksize, ++block) {
        const int64_t end = std::min<int64_t>(n, begin + blocksize);
        const float amax = blockAbsmax(load, begin, end);
        absmax[block] = amax;
        const float recip = 1.0f / amax;
        // begin is even (blocksize >= 32), so the block starts on a byte.
        for (int64_t i = begin; i < end; i += 2) {
            const float hi = load(i) * recip;
            const float lo = (i + 1 < end ? load(i + 1) : 0.0f) * recip; // padding is 0.0
            packed[i / 2] = static_cast<uint8_t>((nf4Nearest(hi) << 4) | nf4Nearest(lo));
        }
    }
    return KernelStatus::Ok;
}

} // namespace

KernelStatus quantizeNf4(const float* x, int64_t n, int blocksize, uint8_t* packed, float* absmax)
{
    const KernelStatus s = checkArgs(n, blocksize, 32, x, packed, absmax);
    if (s != KernelStatus::Ok)
        return s;
    return quantizeNf4Impl([x](int64_t i) { return x[i]; }, n, blocksize, packed, absmax);
}

KernelStatus quantizeNf4Bf16(const uint16_t* x, int64_t n, int blocksize, uint8_t* packed, float* absmax)
{
    const KernelStatus s = checkArgs(n, blocksize, 32, x, packed, absmax);
    if (s != KernelStatus::Ok)
        return s;
    return quantizeNf4Impl([x](int64_t i) { return bf16ToFloat(x[i]); }, n, blocksize, packed, absmax);
}

KernelStatus dequantizeNf4Reference(const uint8_t* packed, const float* absmax, int64_t n, int blocksize,
                                    float* out)
{
    const KernelStatus s = checkArgs(n, blocksize, 32, packed, absmax, out);
    if (s != KernelStatus::Ok)
        return s;
    for (int64_t i = 0; i < n; ++i) {
        const uint8_t byte = packed[i / 2];
        const uint8_t nibble = (i % 2 == 0) ? (byte >> 4) : (byte & 0x0F);
        out[i] = kNf4Code[nibble] * absmax[i / blocksize];
    }
    return KernelStatus::Ok;
}

KernelStatus doubleQuantizeAbsmax(const float* absmax, int64_t nblocks, uint8_t* qabsmax, float* nestedAbsmax,
                                  float* offset, const float* code, int nestedBlocksize)
{
    KernelStatus s = checkArgs(nblocks, nestedBlocksize, 64, absmax, qabsmax, nestedAbsmax);
    if (s != KernelStatus::Ok)
        return s;
    if (!offset)
        return KernelStatus::NullPointer;
    if (!code)
        code = dynamicMapSigned();
    double sum = 0.0;
    for (int64_t i = 0; i < nblocks; ++i)
        sum += absmax[i];
    const float mean = nblocks > 0 ? static_cast<float>(sum / static_cast<double>(nblocks)) : 0.0f;
    *offset = mean;
    auto centered = [absmax, mean](int64_t i) { return absmax[i] - mean; };
    for (int64_t begin = 0, block = 0; begin < nblocks; begin += nestedBlocksize, ++block) {
        const int64_t end = std::min<int64_t>(nblocks, begin + nestedBlocksize);
        const float scale = blockAbsmax(centered, begin, end);
        nestedAbsmax[block] = scale;
        const float recip = 1.0f / scale;
        for (int64_t i = begin; i < end; ++i)
            qabsmax[i] = dynamicNearest(code, centered(i) * recip);
    }
    return KernelStatus::Ok;
}

KernelStatus doubleDequantizeAbsmax(const uint8_t* qabsmax, const float* nestedAbsmax, float offset,
                                    int64_t nblocks, float* absmax, const float* code, int nestedBlocksize)
{
    const KernelStatus s = checkArgs(nblocks, nestedBlocksize, 64, qabsmax, nestedAbsmax, absmax);
    if (s != KernelStatus::Ok)
        return s;
    if (!code)
        code = dynamicMapSigned();
    for (int64_t i = 0; i < nblocks; ++i)
        absmax[i] = nestedAbsmaxAt(qabsmax, nestedAbsmax, offset, code, i, nestedBlocksize);
    return KernelStatus::Ok;
}

KernelStatus quantizeBlockwise8(const float* x, int64_t n, int blocksize, uint8_t* q, float* absmax,
                                const float* code)
{
    const KernelStatus s = checkArgs(n, blocksize, 64, x, q, absmax);
    if (s != KernelStatus::Ok)
        return s;
    if (!code)
        code = dynamicMapSigned();
    auto load = [x](int64_t i) { return x[i]; };
    for (int64_t begin = 0, block = 0; begin < n; begin += blocksize, ++block) {
        const int64_t end = std::min<int64_t>(n, begin + blocksize);
        const float amax = blockAbsmax(load, begin, end);
        absmax[block] = amax;
        const float recip = 1.0f / amax;
        for (int64_t i = begin; i < end; ++i)
            q[i] = dynamicNearest(code, x[i] * recip);
    }
    return KernelStatus::Ok;
}

KernelStatus dequantizeBlockwise8(const uint8_t* q, const float* absmax, int64_t n, int blocksize, float* out,
                                  const float* code)
{
    const KernelStatus s = checkArgs(n, blocksize, 64, q, absmax, out);
    if (s != KernelStatus::Ok)
        return s;
    if (!code)
        code = dynamicMapSigned();
    for (int64_t i = 0; i < n; ++i)
        out[i] = code[q[i]] * absmax[i / blocksize];
    return KernelStatus::Ok;
}

} // namespace tbk
