// One training run's state and the steps of its recipe, in the shape torchtune's recipes made
// familiar: setup() builds everything the config names (threads, seed, model, tokenizer, data,
// the quantized base, what trains, the optimizer); restore() continues from the run folder's
// latest checkpoint; step() runs one optimizer step and reports it; evaluate(),
// saveCheckpoint() and saveResult() do what they say. Trainer drives a session (pause, cancel,
// when to evaluate and save, how the run ends); data-parallel training and export build on the
// same pieces.
//
// Everything runs on the calling thread and reports through the TrainerCallbacks given. A
// session is not copied or moved: its batch stream refers to its data.
//
// Data-parallel (a WorkerGroup of W workers, set before setup()): each worker holds its own
// base and adapters and takes its share of every global micro-batch (BatchStream.h); the loss
// of a step is the token-weighted mean over the whole global batch, so each worker divides by
// the global count of loss tokens and the workers' gradients are summed (one all-reduce per
// bucket): every worker then clips, guards and steps on the same bytes and the weights never
// diverge. Evaluation is sharded and summed. Rank 0 alone writes the run folder (config,
// checkpoints, result) and reports every worker's memory; the others report warnings and
// errors only. Checkpoints count the global examples consumed, so a run resumes at another
// world size as long as the global batch (batch x accumulation x workers) is the same.
#pragma once

#include "lora/LoraSettings.h"
#include "data/TrainingDataset.h"
#include "model/ModelLoader.h"
#include "train/AdamW.h"
#include "train/BatchStream.h"
#include "train/OverlappedGradientSum.h"
#include "train/TrainConfig.h"
#include "train/Trainer.h"
#include "core/ThreadCountGovernor.h"
#include "train/TrainerCallbacks.h"
#include "train/WorkerGroup.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace tb {

// Thrown by setup() between its phases when `cancelled` says so; `phase` reads "while loading
// the model", "while quantizing the base", ...
struct SetupCancelled {
    std::string phase;
};

class TrainingSession {
public:
    // `cancelled` is asked between setup phases, per projection while quantizing and before
    // each micro-batch.
    TrainingSession(TrainConfig config, TrainerCallbacks& callbacks, std::function<bool()> cancelled);
    TrainingSession(const TrainingSession&) = delete;
    TrainingSession& operator=(const TrainingSession&) = delete;

    // The other workers of a data-parallel run (nullptr: one process); before setup().
    void setWorkerGroup(WorkerGroup* group) { m_group = group; }
    WorkerGroup* workerGroup() const { return m_group; }
    int rank() const { return m_group ? m_group->rank() : 0; }
    int worldSize() const { return m_group ? m_group->size() : 1; }
    // Examples per optimizer step across all workers.
    int64_t globalBatch() const { return m_config.batchSize * m_config.gradAccum * worldSize(); }

    // Throws on bad input (naming the file), SetupCancelled when cancelled.
    void setup();
    // Continues from the latest checkpoint in the run folder: trained weights, optimizer state,
    // RNG, counters. Throws when there is none or it was written with other settings.
    void restore();
    // Writes train_config.json into the run folder (after restore(), which compares with it).
    void writeConfig() const;
    // The stepping begins (elapsed times count from here); returns what onStart reports: total
    // steps, where the run starts, the device.
    StartReport begin();

    // One optimizer step over gradAccum micro-batches; also reports its memory sample (taken
    // while the gradients are alive). nullopt when cancelled between micro-batches: nothing was
    // applied and the gradients are dropped. A non-finite loss skips the update (report.skipped)
    // and counts towards consecutiveBadSteps().
    std::optional<StepReport> step();
    // The memory sample of `step` through onMemory.
    void sampleMemory(int64_t step);
    // The validation loss at the current step through onEval (nothing without validation data).
    void evaluate();
    void saveCheckpoint();
    // The LoRA adapter as a PEFT folder, or the fully fine-tuned model folder.
    void saveResult();

    bool done() const { return m_result.step >= m_result.totalSteps; }
    int64_t consecutiveBadSteps() const { return m_badSteps; }
    const TrainConfig& config() const { return m_config; }
    TrainResult& result() { return m_result; }

private:
    void checkCancelled(const char* phase) const;
    // Data-parallel: every worker's trained weights hash to rank 0's (they step on the same
    // summed gradients, so they must be the same bytes); throws naming the first that differs.
    void checkWorkersAgree();
    // Gives workers above rank 0 random streams of their own (LoRA dropout).
    void decorrelateDropout();
    void quantizeBase();
    void chooseWhatTrains();

    TrainConfig m_config;
    TrainerCallbacks& m_cb;
    std::function<bool()> m_cancelled;
    nlohmann::json m_configJson;
    std::chrono::steady_clock::time_point m_sessionStart;

    LoadedModel m_loaded;
    at::Device m_device{at::kCPU};
    bool m_quantizeOnHost = false;
    PreparedDataset m_data;
    std::unique_ptr<BatchStream> m_stream;
    LoraSettings m_lora;
    bool m_adapters = false;
    std::vector<std::pair<std::string, at::Tensor>> m_trainable;
    std::unique_ptr<AdamW> m_optimizer;
    TrainResult m_result;
    int64_t m_badSteps = 0;
    int64_t m_examplesSeen = 0; // global examples consumed: where the stream continues
    double m_collectiveSeconds = 0; // this session's steps' time in collectives (data-parallel)
    double m_stepSeconds = 0;
    double m_stepCollectiveSeconds = 0; // the current step's token-count exchange
    int64_t m_sessionSteps = 0;
    WorkerGroup* m_group = nullptr;
    std::unique_ptr<OverlappedGradientSum> m_gradientSum; // data-parallel runs
    std::unique_ptr<ThreadCountGovernor> m_threadGovernor; // default thread count only
};

} // namespace tb
