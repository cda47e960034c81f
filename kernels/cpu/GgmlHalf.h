// fp16 and bf16 conversions exactly as ggml performs them (ggml/src/ggml-impl.h
// ggml_compute_fp32_to_fp16 / ggml_compute_fp16_to_fp32 / ggml_compute_fp32_to_bf16), as raw
// uint16 bits, so what GgmlQuant.h writes into a GGUF file matches llama.cpp bit for bit.
//
//   fp32 -> fp16: round to nearest even; overflow -> +-inf; subnormal results kept;
//                 NaN -> sign | 0x7E00 (the payload is dropped).
//   fp32 -> bf16: round to nearest even by adding 0x7FFF + lowest kept bit; NaN keeps its top
//                 16 bits with the quiet bit (0x40) forced on. This differs from Bf16.h's
//                 floatToBf16 (PyTorch's rule, NaN -> 0x7FC0) only for NaN inputs.
//   fp16/bf16 -> fp32: exact.
//
// Out of line on purpose: the fp16 rounding is done with fp32 arithmetic, which a caller's
// translation unit could contract into FMAs; GgmlHalf.cpp is compiled with -ffp-contract=off.
#pragma once

#include <cstdint>

namespace tbk {

uint16_t ggmlFp32ToFp16(float f);
float ggmlFp16ToFp32(uint16_t h);
uint16_t ggmlFp32ToBf16(float f);
float ggmlBf16ToFp32(uint16_t h);

// Whole rows, n elements: ggml_fp32_to_fp16_row / ggml_fp32_to_bf16_row_ref (what
// ggml_quantize_chunk calls) and their inverses.
void ggmlFp32ToFp16Row(const float* x, uint16_t* y, int64_t n);
void ggmlFp16ToFp32Row(const uint16_t* x, float* y, int64_t n);
void ggmlFp32ToBf16Row(const float* x, uint16_t* y, int64_t n);
void ggmlBf16ToFp32Row(const uint16_t* x, float* y, int64_t n);

} // namespace tbk
