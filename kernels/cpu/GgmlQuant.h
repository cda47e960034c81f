// ggml tensor types for GGUF export: fp32 weight rows converted to the bytes llama.cpp stores,
// identical to what ggml_quantize_chunk(type, src, dst, 0, rows, rowElements, NULL) writes
// (tests/kernels/tst_ggmlquant_parity.cpp compares against ggml's own library), and back.
//
// A tensor of shape [rows, rowElements] (row-major, ggml's ne0 = rowElements) becomes rows *
// ggmlRowBytes(type, rowElements) bytes; every row is a run of blocks of blockElements values
// (block layouts in GgmlBlocks.h). Blocks are quantized independently, so a row split across
// threads gives the same bytes as one thread.
//   F32  1 element,    4 bytes   copy
//   F16  1 element,    2 bytes   ggmlFp32ToFp16 (round to nearest even; GgmlHalf.h)
//   BF16 1 element,    2 bytes   ggmlFp32ToBf16 (round to nearest even; NaN stays NaN)
//   Q4_0 32 elements, 18 bytes   4.5 bits per weight, symmetric
//   Q5_0 32 elements, 22 bytes   5.5 bits per weight, symmetric
//   Q5_1 32 elements, 24 bytes   6 bits per weight, scale and min
//   Q8_0 32 elements, 34 bytes   8.5 bits per weight, symmetric
//   Q4_K 256,         144 bytes  4.5 bits per weight, scale and min per 32
//   Q5_K 256,         176 bytes  5.5 bits per weight, scale and min per 32
//   Q6_K 256,         210 bytes  6.5625 bits per weight, scale per 16
// Q5_0/Q5_1 are what llama.cpp's quantizer falls back to from Q4_K/Q5_K for a tensor whose
// rows are not a multiple of 256 long (e.g. 896). The quantizers are ggml's reference ones (no
// importance matrix).
//
// Variants (GgmlIsa), all giving the same bytes: the k-quants' per-sub-block scale search
// (make_qkx2_quants / make_qx_quants, nearly all their time) runs one sub-block per SIMD lane,
// 32 (two AVX-512 registers, GgmlKQuantsAvx512.cpp) or 16 (two AVX2 ones, GgmlKQuantsAvx2.cpp)
// at once, each lane doing ggml's scalar operations in ggml's order (GgmlKQuantsLanes.h).
// Other types have one variant. Auto picks the best the CPU offers (cpuFeatures()).
//
// Buffers need 2-byte alignment. Threads: `threads` > 1 splits the tensor's blocks (rows are whole blocks) into
// that many contiguous ranges, each on its own std::thread (the calling thread takes the
// first); <= 1 runs on the caller only.
#pragma once

#include <cstdint>

#include "cpu/GgmlHalf.h"
#include "cpu/KernelStatus.h"

namespace tbk {

// Type ids as ggml's enum ggml_type numbers them (written into GGUF tensor infos).
enum class GgmlType : uint32_t {
    F32 = 0,
    F16 = 1,
    Q4_0 = 2,
    Q5_0 = 6,
    Q5_1 = 7,
    Q8_0 = 8,
    Q4_K = 12,
    Q5_K = 13,
    Q6_K = 14,
    BF16 = 30
};

enum class GgmlIsa { Auto, Scalar, Avx2, Avx512 };

const char* ggmlIsaName(GgmlIsa isa); // "auto", "scalar", "avx2", "avx512"
// Compiled in and offered by this CPU (Scalar and Auto always are).
bool ggmlIsaSupported(GgmlIsa isa);
// The variant Auto resolves to here.
GgmlIsa ggmlBestIsa();

struct GgmlTypeInfo {
    GgmlType type;
    const char* name;      // ggml's type_name: "f32", "f16", "q4_0", "q5_0", "q5_1", "q8_0",
                           // "q4_K", "q5_K", "q6_K", "bf16"
    int64_t blockElements; // ggml's blck_size
    int64_t blockBytes;    // ggml's type_size: bytes of one block
};

// nullptr for a type id this code does not convert (ggml knows more types than these).
const GgmlTypeInfo* ggmlTypeInfo(uint32_t typeId);
const GgmlTypeInfo* ggmlTypeInfo(GgmlType type);

// Bytes of one row of `elements` values (ggml_row_size); -1 when elements is negative or not a
// multiple of the block size, or the type is unknown.
int64_t ggmlRowBytes(GgmlType type, int64_t elements);

// src is [rows, rowElements] fp32, dst receives rows * ggmlRowBytes(type, rowElements) bytes.
// Returns BadSize (dst untouched) when rows or rowElements is negative or rowElements is not a
// multiple of the type's block size, BadBlocksize for a type id outside GgmlType, NullPointer
// for a null buffer while there is something to convert, IsaUnavailable for a variant
// ggmlIsaSupported() refuses.
KernelStatus ggmlQuantizeRows(GgmlType type, const float* src, void* dst, int64_t rows, int64_t rowElements,
                              int threads = 1, GgmlIsa isa = GgmlIsa::Auto);

// The inverse, ggml's dequantize_row_* (to_float): src holds rows * ggmlRowBytes bytes, dst
// receives [rows, rowElements] fp32. Same status codes.
KernelStatus ggmlDequantizeRows(GgmlType type, const void* src, float* dst, int64_t rows, int64_t rowElements,
                                int threads = 1);

} // namespace tbk
