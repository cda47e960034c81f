// Blockwise quantization in bitsandbytes' formats (bitsandbytes functional.py quantize_4bit,
// quantize_blockwise; csrc/kernels.cu kQuantizeBlockwise), scalar CPU reference code.
//
// NF4 (quant_type="nf4"), n elements, blocksize B (power of two, 32..4096, default 64):
//   packed  uint8 [(n+1)/2]     element 2j in the HIGH nibble, 2j+1 in the low nibble
//                               (HF checkpoint: `weight`, shape [(n+1)/2, 1])
//   absmax  fp32  [ceil(n/B)]   max |x| of each block (`weight.absmax` when not nested)
//   code:   nf4Nearest(x * (1/absmax)); padding of an odd n is quantized as 0.0 (code 7, or 0
//           when the block's absmax is 0, since 0 * (1/0) is NaN, as in bitsandbytes).
// Double quantization (compress_statistics=True), nblocks = ceil(n/B) absmax values:
//   offset        fp32               mean(absmax)          (quant_state `nested_offset`)
//   qabsmax       uint8 [nblocks]    dynamic-map codes of absmax - offset, blockwise 256
//                                    (`weight.absmax` when nested)
//   nestedAbsmax  fp32 [ceil(nblocks/256)]  max |absmax - offset| per 256 blocks
//                                    (`weight.nested_absmax`)
//   inverse: absmax[i] = code[qabsmax[i]] * nestedAbsmax[i/256] + offset  (two fp32 roundings)
// 8-bit blockwise mode (quantize_blockwise, dynamic map, blocksize 64..4096):
//   q uint8 [n], absmax fp32 [ceil(n/B)], x[i] ~ code[q[i]] * absmax[i/B].
// Cost: 8/B + 32/(B*256) bits per parameter of statistics when nested (0.127 for B = 64),
// 32/B when not (0.5 for B = 64); plus 4 bits per parameter of codes.
#pragma once

#include <cstdint>

#include "cpu/KernelStatus.h"

namespace tbk {

inline constexpr int kNestedBlocksize = 256; // bitsandbytes quantize_4bit: blocksize=256 for absmax

inline int64_t nf4PackedBytes(int64_t n) { return (n + 1) / 2; }
inline int64_t blockCount(int64_t n, int64_t blocksize) { return (n + blocksize - 1) / blocksize; }

// NF4 quantize. x is [n] fp32 (or bf16 bits); writes packed[(n+1)/2] and absmax[ceil(n/B)].
KernelStatus quantizeNf4(const float* x, int64_t n, int blocksize, uint8_t* packed, float* absmax);
KernelStatus quantizeNf4Bf16(const uint16_t* x, int64_t n, int blocksize, uint8_t* packed, float* absmax);

// Scalar NF4 dequantize to fp32 with plain fp32 absmax (the reference for the SIMD kernels in
// Nf4Dequant.h, which are what the training path calls).
KernelStatus dequantizeNf4Reference(const uint8_t* packed, const float* absmax, int64_t n, int blocksize,
                                    float* out);

// Double quantization of nblocks absmax values with a 256-entry sorted code (nullptr = the
// signed dynamic map). Writes qabsmax[nblocks], nestedAbsmax[ceil(nblocks/nestedBlocksize)],
// *offset. The mean is accumulated in double and rounded to fp32 once (torch's fp32 mean may
// differ from it in the last ulp).
KernelStatus doubleQuantizeAbsmax(const float* absmax, int64_t nblocks, uint8_t* qabsmax, float* nestedAbsmax,
                                  float* offset, const float* code = nullptr,
                                  int nestedBlocksize = kNestedBlocksize);
KernelStatus doubleDequantizeAbsmax(const uint8_t* qabsmax, const float* nestedAbsmax, float offset,
                                    int64_t nblocks, float* absmax, const float* code = nullptr,
                                    int nestedBlocksize = kNestedBlocksize);
// One absmax from its double-quantized form, shared by every dequantizer: fp32 multiply, then
// fp32 add (bitsandbytes: dequantize_blockwise, then `absmax += offset`), never fused.
inline float nestedAbsmaxAt(const uint8_t* qabsmax, const float* nestedAbsmax, float offset, const float* code,
                            int64_t block, int nestedBlocksize)
{
    const float scaled = code[qabsmax[block]] * nestedAbsmax[block / nestedBlocksize];
    return scaled + offset;
}

// 8-bit blockwise mode. code nullptr = the signed dynamic map; blocksize 64..4096.
KernelStatus quantizeBlockwise8(const float* x, int64_t n, int blocksize, uint8_t* q, float* absmax,
                                const float* code = nullptr);
KernelStatus dequantizeBlockwise8(const uint8_t* q, const float* absmax, int64_t n, int blocksize, float* out,
                                  const float* code = nullptr);

} // namespace tbk
