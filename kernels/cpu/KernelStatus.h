// Status codes the CPU and CUDA kernels return instead of throwing: kernels sit below
// engine/ and are called from worker threads, so errors are plain values.
#pragma once

#include <cstdint>

namespace tbk {

enum class KernelStatus {
    Ok = 0,
    BadBlocksize,   // not a power of two in the range the format allows
    BadSize,        // negative element count
    NullPointer,    // a required buffer is null while n > 0
    IsaUnavailable, // the requested instruction set is not compiled in or not on this CPU
};

inline const char* kernelStatusName(KernelStatus s)
{
    switch (s) {
    case KernelStatus::Ok: return "ok";
    case KernelStatus::BadBlocksize: return "bad blocksize";
    case KernelStatus::BadSize: return "bad size";
    case KernelStatus::NullPointer: return "null pointer";
    case KernelStatus::IsaUnavailable: return "instruction set unavailable";
    }
    return "unknown";
}

// bitsandbytes' blocksizes: powers of two, 32..4096 for 4-bit (quantize_4bit), 64..4096 for
// the 8-bit blockwise mode on CUDA (quantize_blockwise).
inline bool isValidBlocksize(int64_t blocksize, int64_t minBlocksize = 32)
{
    return blocksize >= minBlocksize && blocksize <= 4096 && (blocksize & (blocksize - 1)) == 0;
}

} // namespace tbk
