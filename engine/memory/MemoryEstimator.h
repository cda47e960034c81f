// Predicts the peak memory of a training run from the model's config.json alone (no weights
// are read): by category (MemoryBreakdown) and by phase (load, quantize, train step,
// evaluation, save), for LoRA, QLoRA (NF4 / 8-bit, double quantization) and full fine-tuning,
// on the CPU (resident memory of the training process) and on CUDA (device memory).
//
// Every term follows what the engine's code allocates; docs/memory.md lists each with its
// formula and the measurements that validate it. The few constants that describe the machine
// rather than the model (LibTorch's own resident memory, glibc's heap retention, the CUDA
// context) are in MemoryModelConstants, with where each figure comes from.
//
// Thread contract: pure functions of their arguments, callable from any thread.
#pragma once

#include "formats/ModelConfig.h"
#include "lora/LoraSettings.h"
#include "memory/MemoryEstimate.h"
#include "quant/QuantSettings.h"
#include "train/TrainConfig.h"

#include <cstdint>
#include <optional>
#include <string>

namespace tb {

struct MemoryEstimateRequest {
    ModelConfig model;
    TrainMethod method = TrainMethod::Lora;
    LoraSettings lora;         // rank, targets and dropout matter
    QuantSettings quant;       // QLoRA only
    int64_t batchSize = 1;     // sequences per micro-batch
    int64_t seqLen = 512;      // tokens per sequence (packed data fills it; otherwise the longest example)
    bool gradientCheckpointing = false;
    std::string device = "cpu"; // "cpu", "cuda", "cuda:N"
    int threads = 0;            // CPU threads; 0: every core of this machine
    std::string baseDtype = "bf16"; // frozen base for LoRA / QLoRA ("bf16" or "fp32"); full fine-tuning is fp32
    int64_t checkpointFileBytes = -1; // model.safetensors bytes; -1: parameters x config.json's torch_dtype
    bool savesCheckpoint = true;      // a run saves its trainable weights and optimizer state at the end
    // QLoRA: whether the quantized base is already cached (read) or must be quantized and
    // written; unset: unknown, the larger of the two.
    std::optional<bool> quantizedCacheExists;

    // The settings of a TrainConfig (method, LoRA, quantization, batch, sequence length,
    // checkpointing, device, threads, base dtype); `model` still has to be filled.
    static MemoryEstimateRequest fromTrainConfig(const TrainConfig& config, const ModelConfig& model);
};

// Machine-side constants of the model. The defaults (cpuDefaults / cudaDefaults) were measured
// or taken from the sources docs/memory.md names; they are not fitted per configuration.
struct MemoryModelConstants {
    // CPU: resident memory of `tunebench-cli train` before any model byte exists (LibTorch's
    // code and data pages, OpenMP/oneDNN runtime, tokenizer, dataset, SQLite).
    int64_t frameworkBytes = 0;
    int64_t perThreadBytes = 0;   // added per CPU thread (stacks, per-thread buffers)
    // oneDNN's JIT-compiled kernels and primitive cache for the shapes of the training and
    // evaluation batches (the first step makes most of them).
    int64_t firstStepBytes = 0;
    // CPU: heap that glibc keeps (never trimmed, see core/AllocatorSettings) per byte of the
    // training step's peak activation bytes: freed transients leave holes that the next,
    // differently sized allocations cannot fill. bf16 activations (LoRA, QLoRA) pass through
    // fp32 copies of other sizes (norms, softmax) and fragment more than fp32 ones (full).
    double heapRetention = 1.0;
    double heapRetentionFp32 = 1.0;
    // CUDA: the context (driver, kernels, cuBLAS workspace) and the caching allocator's
    // reserved-but-unallocated share of the step's transient bytes.
    int64_t cudaContextBytes = 0;
    double cudaAllocatorSlack = 0.0;

    static MemoryModelConstants cpuDefaults();
    static MemoryModelConstants cudaDefaults();
};

// Throws std::invalid_argument naming the field for an impossible request (batch < 1, a
// sequence longer than the model's context, an unknown LoRA target, ...).
MemoryEstimate estimateMemory(const MemoryEstimateRequest& request);
MemoryEstimate estimateMemory(const MemoryEstimateRequest& request, const MemoryModelConstants& constants);

// Bytes of the quantized projections of one model as ModelQuantizer stores them
// (QuantizedLinear::storageBytes summed: codes, absmax, quant maps, nested state).
int64_t quantizedProjectionBytes(const ModelConfig& model, const QuantSettings& quant);

// Reads <modelDir>/config.json and the size of its *.safetensors files into a request.
MemoryEstimateRequest requestForModelFolder(const std::string& modelDir);

// Whether QuantizedBaseCache has a file for these settings (cacheDir "": the model's own
// cache folder); a valid-looking name is enough, its contents are not checked.
bool quantizedCacheExists(const std::string& modelDir, const QuantSettings& quant, const std::string& cacheDir = {});

} // namespace tb
