// bfloat16 as raw uint16 bits (the top half of an IEEE fp32), converted the way PyTorch's
// c10::BFloat16 and CUDA's __float2bfloat16_rn do: round to nearest, ties to even. NaN maps to
// 0x7FC0 (c10's canonical quiet NaN), so every kernel variant can be compared bit for bit.
#pragma once

#include <cstdint>
#include <cstring>

#include "cpu/HostDevice.h"

namespace tbk {

TBK_HD uint16_t floatToBf16(float f)
{
#if defined(__CUDA_ARCH__)
    uint32_t bits = __float_as_uint(f);
#else
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
#endif
    if ((bits & 0x7FFFFFFFu) > 0x7F800000u)
        return 0x7FC0;
    // Add 0x7FFF plus the lowest kept bit: rounds half to even, carries into the exponent.
    bits += 0x7FFFu + ((bits >> 16) & 1u);
    return static_cast<uint16_t>(bits >> 16);
}

TBK_HD float bf16ToFloat(uint16_t h)
{
    const uint32_t bits = static_cast<uint32_t>(h) << 16;
#if defined(__CUDA_ARCH__)
    return __uint_as_float(bits);
#else
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
#endif
}

} // namespace tbk
