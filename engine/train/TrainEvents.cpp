#include "train/TrainEvents.h"

#include "formats/FormatError.h"

#include <nlohmann/json.hpp>

#include <cerrno>

namespace tb {

using nlohmann::json;

namespace {

template <class... Ts> struct Overloaded : Ts... { using Ts::operator()...; };
template <class... Ts> Overloaded(Ts...) -> Overloaded<Ts...>;

LogLevel logLevelFromName(const std::string& name)
{
    if (name == "warning") return LogLevel::Warning;
    if (name == "error") return LogLevel::Error;
    return LogLevel::Info;
}

json toJson(const RunEvent& e)
{
    return {{"event", "run"}, {"run_id", e.runId}, {"pid", e.pid}, {"output_dir", e.outputDir}, {"method", e.method}};
}

json toJson(const StartReport& r)
{
    return {{"event", "start"}, {"total_steps", r.totalSteps}, {"start_step", r.startStep},
            {"trainable_parameters", r.trainableParameters}, {"device", r.device}, {"device_name", r.deviceName},
            {"device_total_bytes", r.deviceTotalBytes}};
}

json toJson(const StepReport& r)
{
    json j = {{"event", "step"}, {"step", r.step}, {"total_steps", r.totalSteps}, {"epoch", r.epoch},
            {"tokens", r.tokensSeen}, {"loss", r.loss}, {"lr", r.learningRate}, {"grad_norm", r.gradNorm},
            {"tokens_per_second", r.tokensPerSecond}, {"elapsed", r.elapsedSeconds}, {"skipped", r.skipped}};
    if (!r.workerTokensPerSecond.empty())
        j["worker_tokens_per_second"] = r.workerTokensPerSecond;
    return j;
}

json toJson(const EvalReport& r)
{
    return {{"event", "eval"}, {"step", r.step}, {"loss", r.loss}, {"perplexity", r.perplexity}, {"tokens", r.tokens}};
}

json toJson(const MemorySample& m)
{
    json j = {{"event", "memory"},         {"worker", m.worker},
              {"step", m.step},
              {"elapsed", m.elapsedSeconds}, {"base_weights", m.baseWeightBytes},
              {"adapters", m.adapterBytes}, {"gradients", m.gradientBytes},
              {"optimizer", m.optimizerBytes}, {"rss", m.residentBytes},
              {"peak_rss", m.peakResidentBytes}};
    if (m.cudaAllocatedBytes >= 0) {
        j["cuda_allocated"] = m.cudaAllocatedBytes;
        j["cuda_reserved"] = m.cudaReservedBytes;
        j["cuda_peak_allocated"] = m.cudaPeakAllocatedBytes;
    }
    return j;
}

json toJson(const LogEvent& e)
{
    return {{"event", "log"}, {"level", logLevelName(e.level)}, {"message", e.message}};
}

json toJson(const CheckpointEvent& e)
{
    return {{"event", "checkpoint"}, {"step", e.step}, {"path", e.path}};
}

json toJson(const PauseEvent& e)
{
    return {{"event", "pause"}, {"paused", e.paused}, {"step", e.step}};
}

json toJson(const EndEvent& e)
{
    const TrainResult& r = e.result;
    return {{"event", "end"}, {"run_id", e.runId}, {"status", trainStatusName(r.status)}, {"reason", r.reason},
            {"step", r.step}, {"total_steps", r.totalSteps}, {"tokens", r.tokensSeen},
            {"trainable_parameters", r.trainableParameters}, {"last_loss", r.lastLoss},
            {"last_validation_loss", r.lastValidationLoss}, {"best_validation_loss", r.bestValidationLoss},
            {"wall_seconds", r.wallSeconds}, {"adapter", r.adapterDir}, {"checkpoint", r.lastCheckpoint}};
}

// Reads the keys of one event; a key that is missing keeps the default, one of the wrong type is
// a FormatError naming the event and the key.
class EventReader {
public:
    EventReader(const json& j, const std::string& source, const std::string& event) : m_j(j), m_source(source), m_event(event) {}
    template <class T> void get(const char* key, T& target) const
    {
        const auto it = m_j.find(key);
        if (it == m_j.end() || it->is_null())
            return;
        try {
            target = it->get<T>();
        } catch (const json::exception&) {
            throw FormatError(m_source, "event \"" + m_event + "\": key \"" + key + "\" has the wrong type (" + it->dump() + ")");
        }
    }

private:
    const json& m_j;
    const std::string& m_source;
    const std::string& m_event;
};

} // namespace

const char* logLevelName(LogLevel level)
{
    switch (level) {
    case LogLevel::Info: return "info";
    case LogLevel::Warning: return "warning";
    case LogLevel::Error: return "error";
    }
    return "info";
}

std::string encodeTrainEvent(const TrainEvent& event)
{
    json j = std::visit([](const auto& e) { return toJson(e); }, event);
    j["v"] = kTrainEventVersion;
    // Invalid UTF-8 in a message (a file name, a model's text) is replaced, never a throw.
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::optional<TrainEvent> decodeTrainEvent(const std::string& line, const std::string& source)
{
    const json j = json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("event") || !j["event"].is_string())
        return std::nullopt;
    const std::string name = j["event"].get<std::string>();
    const EventReader r(j, source, name);
    int version = 0;
    r.get("v", version);
    if (version != kTrainEventVersion)
        throw FormatError(source, "event \"" + name + "\" is of event-stream version " + std::to_string(version) + "; this build reads version "
                                      + std::to_string(kTrainEventVersion) + " (the workbench and tunebench-cli must be the same build)");
    if (name == "run") {
        RunEvent e;
        r.get("run_id", e.runId);
        r.get("pid", e.pid);
        r.get("output_dir", e.outputDir);
        r.get("method", e.method);
        return e;
    }
    if (name == "start") {
        StartReport s;
        r.get("total_steps", s.totalSteps);
        r.get("start_step", s.startStep);
        r.get("trainable_parameters", s.trainableParameters);
        r.get("device", s.device);
        r.get("device_name", s.deviceName);
        r.get("device_total_bytes", s.deviceTotalBytes);
        return s;
    }
    if (name == "step") {
        StepReport s;
        r.get("step", s.step);
        r.get("total_steps", s.totalSteps);
        r.get("epoch", s.epoch);
        r.get("tokens", s.tokensSeen);
        r.get("loss", s.loss);
        r.get("lr", s.learningRate);
        r.get("grad_norm", s.gradNorm);
        r.get("tokens_per_second", s.tokensPerSecond);
        r.get("elapsed", s.elapsedSeconds);
        r.get("skipped", s.skipped);
        r.get("worker_tokens_per_second", s.workerTokensPerSecond); // absent: one process
        return s;
    }
    if (name == "eval") {
        EvalReport e;
        r.get("step", e.step);
        r.get("loss", e.loss);
        r.get("perplexity", e.perplexity);
        r.get("tokens", e.tokens);
        return e;
    }
    if (name == "memory") {
        MemorySample m;
        r.get("worker", m.worker); // absent (a stream before data-parallel runs): worker 0
        r.get("step", m.step);
        r.get("elapsed", m.elapsedSeconds);
        r.get("base_weights", m.baseWeightBytes);
        r.get("adapters", m.adapterBytes);
        r.get("gradients", m.gradientBytes);
        r.get("optimizer", m.optimizerBytes);
        r.get("rss", m.residentBytes);
        r.get("peak_rss", m.peakResidentBytes);
        r.get("cuda_allocated", m.cudaAllocatedBytes);
        r.get("cuda_reserved", m.cudaReservedBytes);
        r.get("cuda_peak_allocated", m.cudaPeakAllocatedBytes);
        return m;
    }
    if (name == "log") {
        LogEvent e;
        std::string level = "info";
        r.get("level", level);
        e.level = logLevelFromName(level);
        r.get("message", e.message);
        return e;
    }
    if (name == "checkpoint") {
        CheckpointEvent e;
        r.get("step", e.step);
        r.get("path", e.path);
        return e;
    }
    if (name == "pause") {
        PauseEvent e;
        r.get("paused", e.paused);
        r.get("step", e.step);
        return e;
    }
    if (name == "end") {
        EndEvent e;
        r.get("run_id", e.runId);
        std::string status = "failed";
        r.get("status", status);
        e.result.status = trainStatusFromName(status);
        r.get("reason", e.result.reason);
        r.get("step", e.result.step);
        r.get("total_steps", e.result.totalSteps);
        r.get("tokens", e.result.tokensSeen);
        r.get("trainable_parameters", e.result.trainableParameters);
        r.get("last_loss", e.result.lastLoss);
        r.get("last_validation_loss", e.result.lastValidationLoss);
        r.get("best_validation_loss", e.result.bestValidationLoss);
        r.get("wall_seconds", e.result.wallSeconds);
        r.get("adapter", e.result.adapterDir);
        r.get("checkpoint", e.result.lastCheckpoint);
        return e;
    }
    throw FormatError(source, "unknown event \"" + name + "\" in event-stream version " + std::to_string(version));
}

void deliverTrainEvent(const TrainEvent& event, TrainEventSink& sink)
{
    std::visit(Overloaded{[&](const RunEvent& e) { sink.onRun(e); },
                          [&](const StartReport& e) { sink.onStart(e); },
                          [&](const StepReport& e) { sink.onStep(e); },
                          [&](const EvalReport& e) { sink.onEval(e); },
                          [&](const MemorySample& e) { sink.onMemory(e); },
                          [&](const LogEvent& e) { sink.onLog(e.level, e.message); },
                          [&](const CheckpointEvent& e) { sink.onCheckpoint(e.path, e.step); },
                          [&](const PauseEvent& e) { sink.onPauseChanged(e.paused, e.step); },
                          [&](const EndEvent& e) { sink.onEnd(e); }},
               event);
}

void TrainEventWriter::write(const TrainEvent& event)
{
    const std::string line = encodeTrainEvent(event) + "\n";
    std::lock_guard<std::mutex> lock(m_mutex);
    if (m_detached)
        return;
    errno = 0;
    if (std::fwrite(line.data(), 1, line.size(), m_out) != line.size() || std::fflush(m_out) != 0) {
        // EPIPE: nobody reads any more. The run is recorded in the database and its folder;
        // the stream is what is lost. Any other error loses this event only.
        if (errno == EPIPE)
            m_detached = true;
        std::clearerr(m_out);
    }
}

} // namespace tb
