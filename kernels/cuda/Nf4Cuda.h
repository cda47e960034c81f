// CUDA NF4 / double-quant / 8-bit blockwise kernels: the same formats and decisions as the CPU
// code (kernels/cpu/Nf4Quantizer.h for byte layouts; cpu/Nf4Codebook.h for the nearest-code
// rules, shared through TBK_HD), so GPU and CPU results are equal bit for bit.
//
// All pointers are DEVICE pointers; every call only enqueues work on `stream` and returns
// cudaErrorInvalidValue for a bad blocksize / negative n / null buffer (nothing enqueued),
// otherwise cudaGetLastError() after the launches.
//   packed        uint8 [(n+1)/2]      element 2j in the high nibble       (`weight`)
//   absmax        fp32  [ceil(n/B)]                                        (`weight.absmax`)
//   qabsmax       uint8 [ceil(n/B)]    nested codes                         (`weight.absmax`, nested)
//   nestedAbsmax  fp32  [ceil(ceil(n/B)/256)]                              (`weight.nested_absmax`)
//   code          fp32  [256]          dynamic map, ascending (`weight.nested_quant_map`; upload
//                                      tbk::dynamicMapSigned() for fresh quantization)
//   bf16 in/out   uint16 bits (__nv_bfloat16 layout)
#pragma once

#include <cstdint>

#include <cuda_runtime_api.h>

namespace tbk {

// NF4 blockwise quantize (blocksize 32..4096).
cudaError_t nf4QuantizeCuda(const float* x, int64_t n, int blocksize, uint8_t* packed, float* absmax,
                            cudaStream_t stream);
cudaError_t nf4QuantizeBf16Cuda(const uint16_t* x, int64_t n, int blocksize, uint8_t* packed, float* absmax,
                                cudaStream_t stream);

// Double quantization of nblocks absmax values: *offset (one device float) = mean(absmax),
// accumulated in double by one thread block; then (absmax - offset) blockwise 256 with `code`.
cudaError_t nf4DoubleQuantizeCuda(const float* absmax, int64_t nblocks, const float* code, uint8_t* qabsmax,
                                  float* nestedAbsmax, float* offset, cudaStream_t stream);

// NF4 dequantize with plain fp32 absmax.
cudaError_t nf4DequantizeBf16Cuda(const uint8_t* packed, const float* absmax, int64_t n, int blocksize,
                                  uint16_t* out, cudaStream_t stream);
cudaError_t nf4DequantizeF32Cuda(const uint8_t* packed, const float* absmax, int64_t n, int blocksize, float* out,
                                 cudaStream_t stream);
// NF4 dequantize with the nested absmax decoded on the fly:
//   absmax[b] = code[qabsmax[b]] * nestedAbsmax[b/256] + offset (fp32, unfused).
cudaError_t nf4DequantizeNestedBf16Cuda(const uint8_t* packed, const uint8_t* qabsmax, const float* nestedAbsmax,
                                        const float* code, float offset, int64_t n, int blocksize, uint16_t* out,
                                        cudaStream_t stream);
cudaError_t nf4DequantizeNestedF32Cuda(const uint8_t* packed, const uint8_t* qabsmax, const float* nestedAbsmax,
                                       const float* code, float offset, int64_t n, int blocksize, float* out,
                                       cudaStream_t stream);

// 8-bit blockwise mode (quantize_blockwise / dequantize_blockwise; blocksize 64..4096).
cudaError_t quantizeBlockwise8Cuda(const float* x, int64_t n, int blocksize, const float* code, uint8_t* q,
                                   float* absmax, cudaStream_t stream);
cudaError_t dequantizeBlockwise8Cuda(const uint8_t* q, const float* absmax, int64_t n, int blocksize,
                                     const float* code, float* out, cudaStream_t stream);

} // namespace tbk
