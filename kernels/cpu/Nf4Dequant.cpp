// Dispatch for Nf4Dequant.h: argument checks, ISA choice, the thread split, and decoding a
// nested absmax chunk by chunk into a stack buffer in front of the per-ISA loops.
#include "cpu/Nf4Dequant.h"

#include <algorithm>
#include <thread>
#include <vector>

#include "cpu/CpuFeatures.h"
#include "cpu/Nf4Codebook.h"
#include "cpu/Nf4DequantKernels.h"

namespace tbk {

const char* nf4IsaName(Nf4Isa isa)
{
    switch (isa) {
    case Nf4Isa::Auto: return "auto";
    case Nf4Isa::Scalar: return "scalar";
    case Nf4Isa::Avx2: return "avx2";
    case Nf4Isa::Avx512: return "avx512";
    }
    return "unknown";
}

bool nf4IsaSupported(Nf4Isa isa)
{
    const CpuFeatures& f = cpuFeatures();
    switch (isa) {
    case Nf4Isa::Auto:
    case Nf4Isa::Scalar: return true;
    case Nf4Isa::Avx2: return detail::nf4Avx2Compiled() && f.avx2;
    case Nf4Isa::Avx512: return detail::nf4Avx512Compiled() && f.avx512f && f.avx512bw;
    }
    return false;
}

Nf4Isa nf4BestIsa()
{
    if (nf4IsaSupported(Nf4Isa::Avx512))
        return Nf4Isa::Avx512;
    if (nf4IsaSupported(Nf4Isa::Avx2))
        return Nf4Isa::Avx2;
    return Nf4Isa::Scalar;
}

namespace {

template <typename Out>
using Kernel = void (*)(const uint8_t*, const float*, int64_t, int, Out*);

template <typename Out>
Kernel<Out> kernelFor(Nf4Isa isa);

template <>
Kernel<uint16_t> kernelFor<uint16_t>(Nf4Isa isa)
{
    switch (isa) {
    case Nf4Isa::Avx512: return detail::nf4DequantBf16Avx512;
    case Nf4Isa::Avx2: return detail::nf4DequantBf16Avx2;
    default: return detail::nf4DequantBf16Scalar;
    }
}

template <>
Kernel<float> kernelFor<float>(Nf4Isa isa)
{
    switch (isa) {
    case Nf4Isa::Avx512: return detail::nf4DequantF32Avx512;
    case Nf4Isa::Avx2: return detail::nf4DequantF32Avx2;
    default: return detail::nf4DequantF32Scalar;
    }
}

// Blocks [blockBegin, blockEnd) of the tensor; element range clipped to n.
template <typename Out>
void runRange(Kernel<Out> kernel, const uint8_t* packed, const Nf4Absmax& a, int64_t n, int blocksize,
              Out* out, int64_t blockBegin, int64_t blockEnd)
{
    if (a.absmax) {
        const int64_t begin = blockBegin * blocksize;
        const int64_t end = std::min<int64_t>(n, blockEnd * blocksize);
        kernel(packed + begin / 2, a.absmax + blockBegin, end - begin, blocksize, out + begin);
        return;
    }
    // Nested: decode up to kChunk absmax values at a time (1 KiB of stack).
    constexpr int64_t kChunk = 256;
    float scales[kChunk];
    const float* code = a.nestedCode ? a.nestedCode : dynamicMapSigned();
    for (int64_t b0 = blockBegin; b0 < blockEnd; b0 += kChunk) {
        const int64_t b1 = std::min(blockEnd, b0 + kChunk);
        for (int64_t b = b0; b < b1; ++b)
            scales[b - b0] = nestedAbsmaxAt(a.qabsmax, a.nestedAbsmax, a.offset, code, b, a.nestedBlocksize);
        const int64_t begin = b0 * blocksize;
        const int64_t end = std::min<int64_t>(n, b1 * blocksize);
        kernel(packed + begin / 2, scales, end - begin, blocksize, out + begin);
    }
}

template <typename Out>
KernelStatus dequantize(const uint8_t* packed, const Nf4Absmax& a, int64_t n, int blocksize, Out* out, Nf4Isa isa,
                        int threads)
{
    if (!isValidBlocksize(blocksize, 32))
        return KernelStatus::BadBlocksize;
    if (n < 0)
        return KernelStatus::BadSize;
    const bool nested = a.absmax == nullptr;
    if (nested && !isValidBlocksize(a.nestedBlocksize, 64))
        return KernelStatus::BadBlocksize;
    if (isa == Nf4Isa::Auto)
        isa = nf4BestIsa();
    else if (!nf4IsaSupported(isa))
        return KernelStatus::IsaUnavailable;
    if (n == 0)
        return KernelStatus::Ok;
    if (!packed || !out || (nested && (!a.qabsmax || !a.nestedAbsmax)))
        return KernelStatus::NullPointer;

    const Kernel<Out> kernel = kernelFor<Out>(isa);
    const int64_t nblocks = blockCount(n, blocksize);
    const int64_t parts = std::max<int64_t>(1, std::min<int64_t>(threads, nblocks));
    if (parts == 1) {
        runRange(kernel, packed, a, n, blocksize, out, 0, nblocks);
        return KernelStatus::Ok;
    }
    std::vector<std::thread> workers;
    workers.reserve(static_cast<size_t>(parts - 1));
    for (int64_t p = 1; p < parts; ++p) {
        const int64_t b0 = nblocks * p / parts, b1 = nblocks * (p + 1) / parts;
        workers.emplace_back([=, &a] { runRange(kernel, packed, a, n, blocksize, out, b0, b1); });
    }
    runRange(kernel, packed, a, n, blocksize, out, 0, nblocks / parts);
    for (std::thread& t : workers)
        t.join();
    return KernelStatus::Ok;
}

} // namespace

KernelStatus dequantizeNf4Bf16(const uint8_t* packed, const Nf4Absmax& absmax, int64_t n, int blocksize,
                               uint16_t* out, Nf4Isa isa, int threads)
{
    return dequantize(packed, absmax, n, blocksize, out, isa, threads);
}

KernelStatus dequantizeNf4F32(const uint8_t* packed, const Nf4Absmax& absmax, int64_t n, int blocksize,
                              float* out, Nf4Isa isa, int threads)
{
    return dequantize(packed, absmax, n, blocksize, out, isa, threads);
}

} // namespace tbk
