// Memory samples taken during training, by category, measured rather than estimated:
// tensor bytes are summed over the actual tensors; process memory comes from the kernel
// (/proc/self/status VmRSS, VmHWM); CUDA figures from LibTorch's caching allocator.
#pragma once

#include <cstdint>

namespace tb {

struct MemorySample {
    int64_t step = 0;
    double elapsedSeconds = 0;
    int64_t baseWeightBytes = 0; // frozen parameters (in their stored dtype)
    int64_t adapterBytes = 0;    // trainable parameters (LoRA A/B, or every weight in full fine-tuning)
    int64_t gradientBytes = 0;   // .grad tensors alive after backward
    int64_t optimizerBytes = 0;  // AdamW moments
    int64_t residentBytes = 0;   // process RSS
    int64_t peakResidentBytes = 0; // process peak RSS (VmHWM)
    int64_t cudaAllocatedBytes = -1; // -1 on CPU
    int64_t cudaReservedBytes = -1;
    int64_t cudaPeakAllocatedBytes = -1;
};

struct ProcessMemory {
    int64_t residentBytes = 0;
    int64_t peakResidentBytes = 0;
};

ProcessMemory processMemory(); // zeros where /proc is unavailable

// Resets the process's peak RSS (VmHWM) to its current RSS (Linux >= 4.0: "5" written to
// /proc/self/clear_refs), so that a process that trains several runs one after another (the
// workbench) reports each run's own peak, not the largest of all. False where unsupported.
bool resetPeakResident();

} // namespace tb
