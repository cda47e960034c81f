// Block layouts of the ggml quantized types GgmlQuant.h writes (ggml/src/ggml-common.h), byte
// for byte as a GGUF file stores them, and the per-row quantizers/dequantizers behind
// ggmlQuantizeRows. All fp16 fields are ggml_half: IEEE binary16 bits, little-endian.
// The structs only need 2-byte alignment (GGUF aligns tensor data to 32 bytes).
//
// Q4_0 (32 elements, 18 bytes): x = d * (q - 8), q in 0..15; element j in the low nibble of
//   qs[j], element j+16 in the high nibble.
// Q5_0 (32 elements, 22 bytes): x = d * (q - 16), q in 0..31; the low 4 bits as in Q4_0,
//   the fifth bit of element j in bit j of qh (a little-endian uint32).
// Q5_1 (32 elements, 24 bytes): x = d * q + m, q in 0..31 (m the block's minimum); bits as Q5_0.
// Q8_0 (32 elements, 34 bytes): x = d * q, q int8.
// Q4_K (super-block of 256 = 8 sub-blocks of 32, 144 bytes): x = d*sc[j]*q - dmin*m[j], q in
//   0..15; 6-bit sc/m packed into scales[12] (see ggmlScaleMinK4); qs[32*p + l] holds element
//   64*p + l (low nibble) and 64*p + 32 + l (high nibble).
// Q5_K (256, 176 bytes): Q4_K plus a fifth bit per element: bit 2p of qh[l] for element
//   64*p + l, bit 2p+1 for element 64*p + 32 + l.
// Q6_K (256 = 16 sub-blocks of 16, 210 bytes): x = d * scales[j] * (q - 32), q in 0..63,
//   int8 scales; per 128 elements, ql holds the low 4 bits (64 bytes), qh the top 2 (32 bytes).
#pragma once

#include <cstdint>

#include "cpu/GgmlQuant.h"

namespace tbk {

inline constexpr int kGgmlQK4_0 = 32;
inline constexpr int kGgmlQK5_0 = 32;
inline constexpr int kGgmlQK5_1 = 32;
inline constexpr int kGgmlQK8_0 = 32;
inline constexpr int kGgmlQK_K = 256;  // super-block of the k-quants
inline constexpr int kGgmlKScaleSize = 12;

struct GgmlBlockQ4_0 {
    uint16_t d;
    uint8_t qs[kGgmlQK4_0 / 2];
};
static_assert(sizeof(GgmlBlockQ4_0) == 18, "ggml block_q4_0 is 18 bytes");

struct GgmlBlockQ5_0 {
    uint16_t d;
    uint8_t qh[4]; // fifth bits, element j in bit j % 8 of qh[j / 8]
    uint8_t qs[kGgmlQK5_0 / 2];
};
static_assert(sizeof(GgmlBlockQ5_0) == 22, "ggml block_q5_0 is 22 bytes");

struct GgmlBlockQ5_1 {
    uint16_t d;
    uint16_t m; // the block's minimum
    uint8_t qh[4];
    uint8_t qs[kGgmlQK5_1 / 2];
};
static_assert(sizeof(GgmlBlockQ5_1) == 24, "ggml block_q5_1 is 24 bytes");

struct GgmlBlockQ8_0 {
    uint16_t d;
    int8_t qs[kGgmlQK8_0];
};
static_assert(sizeof(GgmlBlockQ8_0) == 34, "ggml block_q8_0 is 34 bytes");

struct GgmlBlockQ4_K {
    uint16_t d;    // scale of the sub-block scales
    uint16_t dmin; // scale of the sub-block mins
    uint8_t scales[kGgmlKScaleSize];
    uint8_t qs[kGgmlQK_K / 2];
};
static_assert(sizeof(GgmlBlockQ4_K) == 144, "ggml block_q4_K is 144 bytes");

struct GgmlBlockQ5_K {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[kGgmlKScaleSize];
    uint8_t qh[kGgmlQK_K / 8];
    uint8_t qs[kGgmlQK_K / 2];
};
static_assert(sizeof(GgmlBlockQ5_K) == 176, "ggml block_q5_K is 176 bytes");

struct GgmlBlockQ6_K {
    uint8_t ql[kGgmlQK_K / 2];
    uint8_t qh[kGgmlQK_K / 4];
    int8_t scales[kGgmlQK_K / 16];
    uint16_t d;
};
static_assert(sizeof(GgmlBlockQ6_K) == 210, "ggml block_q6_K is 210 bytes");

// k elements (a multiple of the block size) -> k / blockElements blocks, and back. The
// quantizers are ggml's quantize_row_*_ref (the path ggml_quantize_chunk takes without an
// importance matrix); the dequantizers are dequantize_row_*.
void ggmlQuantizeRowQ4_0(const float* x, GgmlBlockQ4_0* y, int64_t k);   // GgmlLegacyQuants.cpp
void ggmlQuantizeRowQ5_0(const float* x, GgmlBlockQ5_0* y, int64_t k);
void ggmlQuantizeRowQ5_1(const float* x, GgmlBlockQ5_1* y, int64_t k);
void ggmlQuantizeRowQ8_0(const float* x, GgmlBlockQ8_0* y, int64_t k);
void ggmlDequantizeRowQ4_0(const GgmlBlockQ4_0* x, float* y, int64_t k);
void ggmlDequantizeRowQ5_0(const GgmlBlockQ5_0* x, float* y, int64_t k);
void ggmlDequantizeRowQ5_1(const GgmlBlockQ5_1* x, float* y, int64_t k);
void ggmlDequantizeRowQ8_0(const GgmlBlockQ8_0* x, float* y, int64_t k);

// The k-quants take the variant of their scale search (all give the same bytes); one that
// ggmlIsaSupported() refuses runs as Auto.
void ggmlQuantizeRowQ4_K(const float* x, GgmlBlockQ4_K* y, int64_t k, GgmlIsa isa = GgmlIsa::Auto); // GgmlKQuants.cpp
void ggmlQuantizeRowQ5_K(const float* x, GgmlBlockQ5_K* y, int64_t k, GgmlIsa isa = GgmlIsa::Auto);
void ggmlQuantizeRowQ6_K(const float* x, GgmlBlockQ6_K* y, int64_t k, GgmlIsa isa = GgmlIsa::Auto);
void ggmlDequantizeRowQ4_K(const GgmlBlockQ4_K* x, float* y, int64_t k);
void ggmlDequantizeRowQ5_K(const GgmlBlockQ5_K* x, float* y, int64_t k);
void ggmlDequantizeRowQ6_K(const GgmlBlockQ6_K* x, float* y, int64_t k);

} // namespace tbk
