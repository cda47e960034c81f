// The largest batch size (at a given sequence length) and the longest sequence length (at
// batch size 1) that fit a memory budget, per training method: found on the memory estimator
// first (doubling, then bisection), then confirmed with a few real training steps.
//
// Confirmation on the CPU runs `tunebench-cli train` as a child process per configuration
// under a resident-memory cap (MemoryCappedRun): its peak RSS must stay within the budget; a
// child that exceeds it, fails or dies means "does not fit" and the finder steps down (10% per
// try) and tries again. On CUDA the steps run in this process, catching LibTorch's
// out-of-memory error and emptying the caching allocator afterwards (not exercised on the
// CPU-only development machine; see docs/memory.md).
//
// For a GUI: plain structs in and out, a progress callback, cancel() from any thread.
// Thread contract: run() blocks the calling thread (a worker thread in the GUI); the progress
// callback is called on that thread and must return quickly.
#pragma once

#include "lora/LoraSettings.h"
#include "memory/MemoryEstimator.h"
#include "quant/QuantSettings.h"
#include "train/TrainConfig.h"

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace tb {

class Trainer;

struct FitRequest {
    std::string modelDir;
    std::string dataPath; // what the confirming runs train on (packed, so sequences are full length)
    std::vector<TrainMethod> methods = {TrainMethod::Lora, TrainMethod::Qlora, TrainMethod::Full};
    int64_t seqLen = 512;       // sequence length of the largest-batch search
    int64_t budgetBytes = 0;    // <= 0: the device's free memory (DeviceMemory)
    std::string device = "cpu";
    int threads = 0;            // 0: every core
    LoraSettings lora;
    QuantSettings quant;
    bool gradientCheckpointing = false;
    bool confirm = true;        // false: the estimator's answers only
    int confirmSteps = 2;       // optimizer steps of each confirming run
    int maxTries = 3;           // confirming runs per answer before giving up
    int64_t maxBatchSize = 4096;
    std::string cliExecutable;  // CPU confirmation: the tunebench-cli to run (required when confirming on the CPU)
    std::string workDir;        // confirming runs' folders go below it; "": the system's temporary folder
    std::string quantCacheDir;  // QLoRA: passed to the runs as --quant-cache ("": the model's own cache)
    // The estimator's machine constants; unset: MemoryModelConstants::cpuDefaults / cudaDefaults.
    std::optional<MemoryModelConstants> constants;
};

// One confirming run.
struct FitAttempt {
    int64_t batchSize = 0;
    int64_t seqLen = 0;
    int64_t estimatedBytes = 0;
    int64_t measuredBytes = -1; // CPU: the child's peak RSS; CUDA: the allocator's peak reserved bytes
    bool fits = false;
    std::string outcome; // "fits", "over the budget", "failed: ...", "cancelled"
};

struct FitPoint {
    int64_t batchSize = 0; // 0 / 0: nothing fits, not even batch 1 at the shortest length tried
    int64_t seqLen = 0;
    int64_t estimatedBytes = 0; // the estimator's peak at this point
    bool confirmed = false;     // a real run at this point stayed within the budget
    int64_t measuredBytes = -1;
    std::vector<FitAttempt> attempts;
};

struct MethodFitResult {
    TrainMethod method = TrainMethod::Lora;
    FitPoint largestBatch;    // at FitRequest::seqLen
    FitPoint longestSequence; // at batch size 1, up to the model's context length
};

struct FitReport {
    std::string device;
    int64_t budgetBytes = 0;
    std::vector<MethodFitResult> methods;
    bool cancelled = false;
};

class FitFinder {
public:
    using Progress = std::function<void(const std::string& message)>;

    explicit FitFinder(FitRequest request);

    // Throws std::invalid_argument for a bad request (no model config, no CLI to confirm
    // with on the CPU, unknown device). Child failures are results, not exceptions.
    FitReport run(const Progress& progress = {});
    void cancel();

    // Searches on the estimate alone: the largest batch size in [1, maxBatch] (0 if none) and
    // the longest sequence length in [2, context] (0 if none) whose estimated peak is <= budget.
    static int64_t largestBatchByEstimate(MemoryEstimateRequest request, int64_t budgetBytes, int64_t maxBatch,
                                          const std::optional<MemoryModelConstants>& constants = {});
    static int64_t longestSeqLenByEstimate(MemoryEstimateRequest request, int64_t budgetBytes,
                                           const std::optional<MemoryModelConstants>& constants = {});

private:
    FitPoint confirmPoint(const MemoryEstimateRequest& base, int64_t batchSize, int64_t seqLen, bool stepBatch,
                          const Progress& progress);
    FitAttempt tryRun(const MemoryEstimateRequest& r, const Progress& progress);
    FitAttempt tryRunInProcess(const MemoryEstimateRequest& r);
    // The trial run of `r` as a TrainConfig, into outputDir.
    TrainConfig trialConfig(const MemoryEstimateRequest& r, const std::string& outputDir) const;

    FitRequest m_request;
    int64_t m_budget = 0;
    std::atomic<bool> m_cancel{false};
    std::mutex m_trainerMutex;
    Trainer* m_trainer = nullptr; // the in-process confirming run (CUDA), for cancel()
};

// "8G", "512MiB", "1.5g", "1048576": bytes, with K, M, G, T as powers of 1024 (an optional
// trailing "B" or "iB" is accepted). Throws std::invalid_argument for anything else.
int64_t parseByteSize(const std::string& text);

} // namespace tb
