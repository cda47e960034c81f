// The two code tables of bitsandbytes' 4-bit format (QLoRA, Dettmers et al. 2023):
//   NF4           - 16 values, the first-level codes of the weights (`weight.quant_map`).
//   dynamic map   - 256 values, signed 8-bit "dynamic" type (create_dynamic_map(signed=True)):
//                   the codes of the double-quantized absmax (`weight.nested_quant_map`) and of
//                   the 8-bit blockwise mode (quantize_blockwise).
// Plus the two nearest-code decisions exactly as bitsandbytes' csrc/kernels.cu makes them
// (dQuantizeNF4's decision tree, dQuantize's binary search with midpoints), ties included.
#pragma once

#include <cstdint>

#include "cpu/HostDevice.h"

namespace tbk {

// NF4 code values, index 0..15 (bitsandbytes get_4bit_type("nf4"); fp32 values).
inline constexpr float kNf4Code[16] = {
    -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
    -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
    0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
    0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f};

// Nearest NF4 code of a normalized value x = v * (1/absmax). The thresholds are the midpoints of
// adjacent codes as the fp32 literals of dQuantizeNF4's tree (decimal -> fp32; 4 of the 15 are
// one ulp off fp32(exact midpoint), and the literals define the format). The tree returns
// "how many thresholds x is strictly greater than", so:
//   - a value exactly on a midpoint takes the LOWER code (ties go down);
//   - NaN (e.g. 0 * (1/0) in an all-zero block) compares false everywhere: code 0 (-1.0).
TBK_HD uint8_t nf4Nearest(float x)
{
    return static_cast<uint8_t>(
        (x > -0.8480964004993439f) + (x > -0.6106329262256622f) + (x > -0.4599952697753906f) +
        (x > -0.33967943489551544f) + (x > -0.23460740596055984f) + (x > -0.13791173323988914f) +
        (x > -0.045525018125772476f) + (x > 0.03979014977812767f) + (x > 0.1202552504837513f) +
        (x > 0.2035212516784668f) + (x > 0.2920137718319893f) + (x > 0.3893125355243683f) +
        (x > 0.5016634166240692f) + (x > 0.6427869200706482f) + (x > 0.8614784181118011f));
}

// Nearest code of x in a sorted 256-entry map (bitsandbytes dQuantize<STOCHASTIC=0>): a 7-step
// binary search from pivot 127 tracking the bracketing codes, then a midpoint decision between
// the final pivot and its neighbour on x's side. Ties at a midpoint go to the final pivot
// (x > mid to move up, x < mid to move down). Bracket ends never visited are code[255]/code[0].
// NaN walks down to pivot 0 and returns 0.
TBK_HD uint8_t dynamicNearest(const float* code, float x)
{
    int pivot = 127, upperPivot = 255, lowerPivot = 0;
    float lower = -1.0f, upper = 1.0f;
    float val = code[pivot];
    for (int step = 64; step > 0; step >>= 1) {
        if (x > val) {
            lowerPivot = pivot;
            lower = val;
            pivot += step;
        } else {
            upperPivot = pivot;
            upper = val;
            pivot -= step;
        }
        val = code[pivot];
    }
    if (upperPivot == 255)
        upper = code[255];
    if (lowerPivot == 0)
        lower = code[0];
    if (x > val)
        return static_cast<uint8_t>(x > (upper + val) * 0.5f ? upperPivot : pivot);
    return static_cast<uint8_t>(x < (lower + val) * 0.5f ? lowerPivot : pivot);
}

// Fills code[256] with the signed dynamic map, ascending. See Nf4Codebook.cpp for the construction.
void buildDynamicMapSigned(float code[256]);
// The same table, built once (thread-safe static).
const float* dynamicMapSigned();

} // namespace tbk
