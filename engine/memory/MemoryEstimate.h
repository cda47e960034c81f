// What a training run will need, by category and by phase: the plain value types the memory
// estimator (MemoryEstimator.h) returns and the CLI, the fit finder and the GUI read. No Torch,
// no Qt; every figure is in bytes.
//
// A run passes through phases (loading, quantizing, training steps, evaluation, saving); the
// process needs the most in one of them, and that phase's total is the peak. On the CPU the
// figures are resident memory (RSS) of the training process; on CUDA, memory of the device.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tb {

struct MemoryBreakdown {
    int64_t baseWeights = 0;    // frozen weights as stored in memory (bf16; QLoRA: codes, scales and the unquantized rest)
    int64_t adapters = 0;       // trainable parameters: LoRA A/B in fp32, or every weight (fp32) in full fine-tuning
    int64_t gradients = 0;      // .grad of the trainable parameters
    int64_t optimizer = 0;      // AdamW's two fp32 moments
    int64_t activations = 0;    // tensors kept for backward plus the step's largest transient
    int64_t allocatorSlack = 0; // CPU: heap that glibc keeps but no tensor uses; CUDA: reserved beyond allocated
    int64_t transient = 0;      // phase-specific: the mapped checkpoint file while loading, copies while saving
    int64_t overhead = 0;       // CPU: LibTorch, its threads, tokenizer and data; CUDA: the context

    int64_t total() const
    {
        return baseWeights + adapters + gradients + optimizer + activations + allocatorSlack + transient + overhead;
    }
};

struct PhaseEstimate {
    std::string name; // "load", "quantize", "train step", "evaluation", "save"
    std::string note; // what the phase's transient bytes are
    MemoryBreakdown bytes;
};

// The activation term of one training step, in tensor bytes (before allocator slack).
struct ActivationDetail {
    int64_t tokens = 0;         // batch x sequence length
    int64_t savedPerLayer = 0;  // kept for backward by one decoder layer (all of it without checkpointing)
    int64_t savedTotal = 0;     // alive when backward starts
    int64_t headSaved = 0;      // final norm, log-softmax of the logits, attention mask
    int64_t backwardPeak = 0;   // savedTotal plus the largest transient (head or attention backward)
    int64_t forwardPeak = 0;
    int64_t peak = 0;           // max(forwardPeak, backwardPeak)
};

struct MemoryEstimate {
    std::string device; // "cpu", "cuda:0"
    std::vector<PhaseEstimate> phases;
    size_t peakPhase = 0; // index into phases
    ActivationDetail activation;
    int64_t trainableParameters = 0;
    int64_t totalParameters = 0;
    std::vector<std::string> assumptions; // what the figures take for granted (shown with --json and in the GUI)

    const PhaseEstimate& peak() const { return phases.at(peakPhase); }
    int64_t peakBytes() const { return phases.empty() ? 0 : peak().bytes.total(); }
};

} // namespace tb
