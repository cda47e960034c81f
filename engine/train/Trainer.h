// Fine-tunes a model as a TrainConfig says: LoRA (frozen bf16 base, fp32 adapters), QLoRA
// (frozen NF4 base) or full fine-tuning (every weight trainable, fp32). Engine code: no Qt;
// reports through TrainerCallbacks. The recipe's steps are a TrainingSession's (setup, restore,
// step, evaluate, save); Trainer drives them: pause, cancel, when to evaluate and save, and how
// the run ends.
//
// Thread contract: run() blocks and does all the work on the calling thread (a worker thread in
// the GUI, the main thread in the CLI); callbacks are called on that thread. pause(), resume()
// and cancel() may be called from any thread; cancel takes effect before the next micro-batch,
// so within one optimizer step, and leaves a checkpoint of the last completed step; during setup
// it takes effect between phases (loading, data, quantizing: per layer) and ends the run
// `cancelled` without a checkpoint.
//
// Data-parallel (setWorkerGroup): before each step the workers exchange their pause and cancel
// requests, so a Stop or Pause that reaches any one worker stops or pauses all of them at the
// same step. While paused they exchange once a second (no collective waits out its timeout);
// the run goes on when no worker is paused any more.
#pragma once

#include "train/TrainConfig.h"
#include "train/TrainerCallbacks.h"
#include "train/WorkerGroup.h"

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>

namespace tb {

enum class TrainStatus { Finished, Cancelled, Failed };
const char* trainStatusName(TrainStatus status); // "finished", "cancelled", "failed"
TrainStatus trainStatusFromName(const std::string& name); // anything else reads as failed

struct TrainResult {
    TrainStatus status = TrainStatus::Failed;
    std::string reason;           // why it failed or was cancelled
    int64_t step = 0;             // optimizer steps completed
    int64_t totalSteps = 0;
    int64_t tokensSeen = 0;
    int64_t trainableParameters = 0;
    double lastLoss = 0;
    double lastValidationLoss = -1; // -1 when never evaluated
    double bestValidationLoss = -1;
    double wallSeconds = 0;
    std::string adapterDir;      // LoRA: the PEFT folder; full: the saved model folder
    std::string lastCheckpoint;
};

class Trainer {
public:
    explicit Trainer(TrainConfig config);

    // resume: continue from the latest checkpoint in config.outputDir (whose config must
    // match). Throws nothing: errors end the run with status Failed and the reason.
    TrainResult run(TrainerCallbacks& callbacks, bool resume = false);

    // The other workers of a data-parallel run (nullptr: one process); before run().
    void setWorkerGroup(WorkerGroup* group) { m_group = group; }

    void pause();
    void resume();
    void cancel();
    bool paused() const { return m_paused.load(); }

private:
    TrainResult runOrThrow(TrainerCallbacks& callbacks, bool resume);
    // Throws (caught by run(), which ends the run cancelled) when cancel() came; called between
    // the setup phases, so a cancel while loading or quantizing is not left until the first step.
    void checkCancelled(const char* phase) const;
    // Blocks while paused, telling onPauseChanged(true) before and (false) after; returns false
    // when cancelled.
    bool waitWhilePaused(const std::function<void(bool)>& onPauseChanged);
    // The same for a worker group: false when any worker asked to stop (then this one is
    // cancelled too).
    bool agreeToGoOn(const std::function<void(bool)>& onPauseChanged);

    TrainConfig m_config;
    WorkerGroup* m_group = nullptr;
    std::atomic<bool> m_cancel{false};
    std::atomic<bool> m_paused{false};
    std::mutex m_pauseMutex;
    std::condition_variable m_pauseChanged;
};

} // namespace tb
