// The event stream of a training run: what `tunebench-cli train --json` writes to stdout, one
// JSON object per line, and what the workbench, the method report and the fit finder read back
// from a child run. One codec, so writer and readers cannot drift; docs/training.md lists the
// events and their keys.
//
// Every line carries {"v": kTrainEventVersion, "event": NAME, ...}. A reader takes lines of its
// own version; a line of another version is a FormatError (a workbench newer or older than the
// CLI it started), a line that is not a JSON object with "event" is not an event (a library
// printing to stdout) and is skipped.
//
// Events, in the order a run writes them:
//   run         the run's row and folder: run_id (-1 when not recorded), pid, output_dir, method
//   start       after setup: total_steps, start_step, trainable_parameters, device, device_name,
//               device_total_bytes
//   step, eval, memory, log, checkpoint, pause   as TrainerCallbacks reports them; a
//               data-parallel run writes one memory event per worker per sample, each with
//               its "worker" (rank; absent = 0), and its step's tokens_per_second is the run's
//   end         the TrainResult: status, reason, step, ... (the last line of a run that ended
//               by itself; a killed run has none)
#pragma once

#include "train/Trainer.h"
#include "train/TrainerCallbacks.h"

#include <cstdint>
#include <cstdio>
#include <mutex>
#include <optional>
#include <string>
#include <variant>

namespace tb {

constexpr int kTrainEventVersion = 1;

struct RunEvent {
    int64_t runId = -1; // the experiment database's id; -1 when the run is not recorded
    int64_t pid = 0;    // the training process
    std::string outputDir;
    std::string method;
};

struct LogEvent {
    LogLevel level = LogLevel::Info;
    std::string message;
};

struct CheckpointEvent {
    int64_t step = 0;
    std::string path;
};

struct PauseEvent {
    bool paused = false;
    int64_t step = 0;
};

struct EndEvent {
    int64_t runId = -1;
    TrainResult result;
};

using TrainEvent =
    std::variant<RunEvent, StartReport, StepReport, EvalReport, MemorySample, LogEvent, CheckpointEvent, PauseEvent, EndEvent>;

const char* logLevelName(LogLevel level); // "info", "warning", "error"

// One line of JSON, without the newline.
std::string encodeTrainEvent(const TrainEvent& event);
// nullopt when the line is not an event; FormatError (naming `source` and the event) for an
// event of another version or with a key of the wrong type.
std::optional<TrainEvent> decodeTrainEvent(const std::string& line, const std::string& source = "train event");

// What a reader of the stream implements: the trainer's callbacks plus the run's two ends.
class TrainEventSink : public TrainerCallbacks {
public:
    virtual void onRun(const RunEvent&) {}
    virtual void onEnd(const EndEvent&) {}
};
// Calls the sink's method for `event`.
void deliverTrainEvent(const TrainEvent& event, TrainEventSink& sink);

// Writes the stream to a FILE* (stdout), one flushed line per event; thread-safe. When the
// reader goes away (the workbench closed with "keep training": EPIPE), the run goes on and the
// stream is dropped; SIGPIPE must be ignored by the process for that (the CLI does), and
// signal handlers should be SA_RESTART so a write is not cut short.
class TrainEventWriter : public TrainEventSink {
public:
    explicit TrainEventWriter(std::FILE* out) : m_out(out) {}
    void write(const TrainEvent& event);
    bool detached() const { return m_detached; }

    void onRun(const RunEvent& e) override { write(e); }
    void onStart(const StartReport& r) override { write(r); }
    void onStep(const StepReport& r) override { write(r); }
    void onEval(const EvalReport& r) override { write(r); }
    void onMemory(const MemorySample& m) override { write(m); }
    void onLog(LogLevel level, const std::string& message) override { write(LogEvent{level, message}); }
    void onCheckpoint(const std::string& dir, int64_t step) override { write(CheckpointEvent{step, dir}); }
    void onPauseChanged(bool paused, int64_t step) override { write(PauseEvent{paused, step}); }
    void onEnd(const EndEvent& e) override { write(e); }

private:
    std::FILE* m_out;
    std::mutex m_mutex;
    bool m_detached = false;
};

} // namespace tb
