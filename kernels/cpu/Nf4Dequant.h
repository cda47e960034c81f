// NF4 dequantization, the hot path of QLoRA training on CPU: every forward and backward pass
// turns the frozen 4-bit base weights back into bf16 (or fp32) just before the matmul.
//
// Input (bitsandbytes layout, see Nf4Quantizer.h): packed uint8 [(n+1)/2], element 2j in the
// high nibble; one absmax per block of `blocksize` elements, either plain fp32 or double-
// quantized (uint8 codes + fp32 scale per 256 blocks + offset, decoded on the fly).
// Output: out[i] = kNf4Code[nibble(i)] * absmax[i / blocksize], as fp32, or rounded to bf16
// (round to nearest even, as torch and CUDA do), written as uint16 bits.
//
// Variants, all bit-identical (tests/kernels/tst_nf4.cpp compares them):
//   Scalar  - portable C++, per-block 16-entry table.
//   Avx2    - Nf4DequantAvx2.cpp, 32 elements per step through two vpshufb byte tables.
//   Avx512  - Nf4DequantAvx512.cpp (AVX-512F+BW), 64 elements per step through vpermw.
// Auto picks the best the CPU offers (cpuFeatures()) once per call.
// Threads: `threads` > 1 splits the blocks into that many contiguous ranges, each run on its
// own std::thread (the calling thread takes the first); 1 runs on the caller only. Worth it
// above ~1M elements; a caller with its own pool passes 1 and splits on block boundaries.
#pragma once

#include <cstdint>

#include "cpu/KernelStatus.h"
#include "cpu/Nf4Quantizer.h"

namespace tbk {

enum class Nf4Isa { Auto, Scalar, Avx2, Avx512 };

const char* nf4IsaName(Nf4Isa isa);
// Compiled in and offered by this CPU (Scalar and Auto always are).
bool nf4IsaSupported(Nf4Isa isa);
// The variant Auto resolves to here.
Nf4Isa nf4BestIsa();

// The block scales of one quantized tensor: plain fp32, or bitsandbytes' nested form.
struct Nf4Absmax {
    const float* absmax = nullptr;       // [nblocks] fp32: `weight.absmax` of a non-nested state
    const uint8_t* qabsmax = nullptr;    // [nblocks] uint8: `weight.absmax` of a nested state
    const float* nestedAbsmax = nullptr; // [ceil(nblocks/nestedBlocksize)]: `weight.nested_absmax`
    const float* nestedCode = nullptr;   // [256]: `weight.nested_quant_map`; nullptr = dynamicMapSigned()
    float offset = 0.0f;                 // quant_state `nested_offset`
    int nestedBlocksize = kNestedBlocksize;

    static Nf4Absmax plain(const float* absmax)
    {
        Nf4Absmax a;
        a.absmax = absmax;
        return a;
    }
    static Nf4Absmax nested(const uint8_t* qabsmax, const float* nestedAbsmax, float offset,
                            const float* nestedCode = nullptr)
    {
        Nf4Absmax a;
        a.qabsmax = qabsmax;
        a.nestedAbsmax = nestedAbsmax;
        a.offset = offset;
        a.nestedCode = nestedCode;
        return a;
    }
};

// out is [n] bf16 bits / fp32. Returns BadBlocksize, BadSize, NullPointer or IsaUnavailable
// without touching out.
KernelStatus dequantizeNf4Bf16(const uint8_t* packed, const Nf4Absmax& absmax, int64_t n, int blocksize,
                               uint16_t* out, Nf4Isa isa = Nf4Isa::Auto, int threads = 1);
KernelStatus dequantizeNf4F32(const uint8_t* packed, const Nf4Absmax& absmax, int64_t n, int blocksize,
                              float* out, Nf4Isa isa = Nf4Isa::Auto, int threads = 1);

} // namespace tbk
