// What a Trainer reports while it runs. All methods are called on the training thread, in
// order; implementations must return quickly (the GUI's adapter only queues a signal).
#pragma once

#include "train/MemoryProbe.h"

#include <cstdint>
#include <string>
#include <vector>

namespace tb {

// Once the run is set up (model, data, what trains; resumed state restored) and before its
// first step: what the progress bar and the plots need to size themselves.
struct StartReport {
    int64_t totalSteps = 0;   // the run's optimizer steps (epochs converted to steps)
    int64_t startStep = 0;    // > 0 when resumed
    int64_t trainableParameters = 0;
    std::string device;       // "cpu", "cuda:0"
    std::string deviceName;   // "CPU", "NVIDIA H200"
    int64_t deviceTotalBytes = -1; // the device's memory (RAM on the CPU); -1 unknown
};

struct StepReport {
    int64_t step = 0;        // optimizer steps completed (1-based after the first step)
    int64_t totalSteps = 0;
    double epoch = 0;        // fractional epochs of the training set seen
    int64_t tokensSeen = 0;  // real tokens processed since the run began (including before a resume)
    double loss = 0;         // mean loss over the step's target tokens
    double learningRate = 0;
    double gradNorm = 0;     // before clipping
    double tokensPerSecond = 0; // this step
    double elapsedSeconds = 0;  // since the run (or resume) began
    bool skipped = false;    // non-finite loss: the update was not applied
    // Data-parallel: each worker's tokens per second of its own compute (its forward and
    // backward, waiting for the others excluded), in rank order; empty in a one-process run.
    // tokensPerSecond is the whole run's.
    std::vector<double> workerTokensPerSecond;
};

struct EvalReport {
    int64_t step = 0;
    double loss = 0;
    double perplexity = 0;
    int64_t tokens = 0; // target tokens evaluated
};

enum class LogLevel { Info, Warning, Error };

class TrainerCallbacks {
public:
    virtual ~TrainerCallbacks() = default;
    virtual void onStart(const StartReport&) {}
    virtual void onStep(const StepReport&) {}
    virtual void onEval(const EvalReport&) {}
    virtual void onMemory(const MemorySample&) {}
    virtual void onLog(LogLevel, const std::string&) {}
    virtual void onCheckpoint(const std::string& /*dir*/, int64_t /*step*/) {}
    // The run stopped before its next step because pause() came (paused = true), or goes on
    // after resume() (false); `step` is the last completed step.
    virtual void onPauseChanged(bool /*paused*/, int64_t /*step*/) {}
};

} // namespace tb
