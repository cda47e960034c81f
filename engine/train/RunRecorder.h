// Records a training run in the experiment store as it happens: a TrainerCallbacks decorator
// that writes every report to the store (metrics and memory samples through the batched
// MetricBuffer; checkpoints, the adapter and the end state through RunStore) and passes it on
// to the next callbacks (the CLI's printer, the GUI's signal adapter).
//
// Metric names: loss, lr, grad_norm, tokens_per_second, epoch, skipped (per step);
// val_loss, val_perplexity (per evaluation). Memory categories: base_weights, adapters,
// gradients, optimizer, rss, peak_rss and, on CUDA, cuda_allocated, cuda_reserved,
// cuda_peak_allocated. Runs on the training thread, like every callback.
#pragma once

#include "train/Trainer.h"
#include "train/TrainerCallbacks.h"

#include <memory>

namespace tb {

class MetricBuffer;
class RunStore;

class RunRecorder : public TrainerCallbacks {
public:
    // `method` decides how the result folder is recorded: a LoRA adapter ("adapter"), or the
    // whole fine-tuned model ("merged": a complete Hugging Face model folder).
    RunRecorder(RunStore& store, int64_t runId, TrainMethod method, TrainerCallbacks* next);
    ~RunRecorder() override;

    void onStart(const StartReport& r) override;
    void onStep(const StepReport& r) override;
    void onEval(const EvalReport& r) override;
    void onMemory(const MemorySample& m) override;
    void onLog(LogLevel level, const std::string& message) override;
    void onCheckpoint(const std::string& dir, int64_t step) override;
    void onPauseChanged(bool paused, int64_t step) override;

    // Commits what is buffered, records the adapter (or full model) folder and how the run
    // ended.
    void finish(const TrainResult& result);

    int64_t runId() const { return m_runId; }

private:
    RunStore& m_store;
    int64_t m_runId;
    TrainMethod m_method;
    TrainerCallbacks* m_next;
    std::unique_ptr<MetricBuffer> m_buffer;
    int64_t m_lastTokens = 0;
    double m_lastElapsed = 0;
};

} // namespace tb
