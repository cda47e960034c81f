// Memory samples taken during training, by category, measured rather than estimated:
// tensor bytes are summed over the actual tensors; process memory comes from the kernel
// (/proc/self/status VmRSS, VmHWM); CUDA figures from LibTorch's caching allocator.
#pragma once

#include <cstdint>

namespace tb {

struct MemorySample {
    int worker = 0;              // the data-parallel worker's rank (0 in a one-process run)
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

    // What the categories are stacked against, one derivation for every view (the live
    // monitor, the memory inspector, the method report): on a GPU the CUDA allocator's
    // allocated bytes (the tensors live on the card, not in the RSS), on the CPU the process's
    // resident memory.
    bool onCuda() const { return cudaAllocatedBytes >= 0; }
    int64_t basisBytes() const { return onCuda() ? cudaAllocatedBytes : residentBytes; }
    // The peak of the basis: the allocator's peak allocated bytes, or the peak RSS (VmHWM);
    // never below the basis now.
    int64_t peakBytes() const;
    // "cuda allocated" / "process RSS", and their peaks' names.
    const char* basisName() const { return onCuda() ? "CUDA allocated" : "process RSS"; }
    const char* peakName() const { return onCuda() ? "CUDA peak allocated" : "peak RSS"; }
    // The measured tensor categories: base weights, adapters, gradients, optimizer state.
    int64_t tensorBytes() const;
    // "Activations and the rest": the basis minus the tensor categories (activations,
    // temporaries, allocator slack; on the CPU also the process's code and libraries); 0 when
    // the categories are the whole basis.
    int64_t restBytes() const { return restOf(basisBytes(), tensorBytes()); }
    static int64_t restOf(int64_t basis, int64_t tensors) { return basis < tensors ? 0 : basis - tensors; }
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
