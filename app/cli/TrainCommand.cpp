#include "cli/ArgList.h"
#include "cli/Commands.h"
#include "cli/TextFormat.h"

#include "core/TorchCompat.h"
#include "formats/ModelConfig.h"
#include "store/ContentHash.h"
#include "store/RunQueries.h"
#include "store/RunStore.h"
#include "store/StorePaths.h"
#include "train/RunRecorder.h"
#include "train/RunRegistration.h"
#include "train/Trainer.h"
#include "train/TrainingCheckpoint.h"

#include <nlohmann/json.hpp>

#include <cctype>
#include <csignal>
#include <ctime>
#include <filesystem>
#include <memory>
#include <cstdio>
#include <iomanip>
#include <iostream>
#include <atomic>
#include <chrono>
#include <sstream>
#include <thread>

namespace tbcli {

namespace {

std::atomic<bool> g_stopRequested{false};
static_assert(std::atomic<bool>::is_always_lock_free, "the signal handler needs a lock-free flag");

std::string clock(double seconds)
{
    const long s = static_cast<long>(seconds + 0.5);
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%02ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
    return buffer;
}

nlohmann::json memoryJson(const tb::MemorySample& m)
{
    nlohmann::json j = {{"event", "memory"},         {"step", m.step},
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

// JSON Lines on stdout (one object per event), or a progress line on stderr for people.
class CliReporter : public tb::TrainerCallbacks {
public:
    explicit CliReporter(bool json) : m_json(json) {}

    void onStep(const tb::StepReport& r) override
    {
        if (m_json) {
            emit({{"event", "step"}, {"step", r.step}, {"total_steps", r.totalSteps}, {"epoch", r.epoch},
                  {"tokens", r.tokensSeen}, {"loss", r.loss}, {"lr", r.learningRate}, {"grad_norm", r.gradNorm},
                  {"tokens_per_second", r.tokensPerSecond}, {"elapsed", r.elapsedSeconds}, {"skipped", r.skipped}});
            return;
        }
        const double done = static_cast<double>(r.step) / static_cast<double>(r.totalSteps);
        const int width = 24;
        const int filled = static_cast<int>(done * width);
        const double perStep = r.elapsedSeconds / std::max<int64_t>(1, r.step - m_firstStep + 1);
        std::ostringstream line;
        line << "\rstep " << r.step << "/" << r.totalSteps << " [" << std::string(filled, '=')
             << std::string(width - filled, ' ') << "] loss " << std::fixed << std::setprecision(4) << r.loss;
        if (m_lastValLoss >= 0)
            line << " val " << m_lastValLoss;
        line << " | " << std::setprecision(0) << r.tokensPerSecond << " tok/s | ETA "
             << clock(perStep * static_cast<double>(r.totalSteps - r.step)) << "   ";
        std::cerr << line.str() << std::flush;
        if (m_firstStep < 0)
            m_firstStep = r.step;
    }
    void onEval(const tb::EvalReport& r) override
    {
        m_lastValLoss = r.loss;
        if (m_json)
            emit({{"event", "eval"}, {"step", r.step}, {"loss", r.loss}, {"perplexity", r.perplexity}, {"tokens", r.tokens}});
        else
            std::cerr << "\nvalidation at step " << r.step << ": loss " << r.loss << ", perplexity " << r.perplexity << "\n";
    }
    void onMemory(const tb::MemorySample& m) override
    {
        if (m_json)
            emit(memoryJson(m));
    }
    void onLog(tb::LogLevel level, const std::string& message) override
    {
        const char* name = level == tb::LogLevel::Info ? "info" : level == tb::LogLevel::Warning ? "warning" : "error";
        if (m_json)
            emit({{"event", "log"}, {"level", name}, {"message", message}});
        else
            std::cerr << (level == tb::LogLevel::Info ? "" : std::string(name) + ": ") << message << "\n";
    }
    void onCheckpoint(const std::string& dir, int64_t step) override
    {
        if (m_json)
            emit({{"event", "checkpoint"}, {"step", step}, {"path", dir}});
    }
    void emit(const nlohmann::json& j) { std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl; }
    void setRunId(int64_t id) { m_runId = id; }
    int64_t runId() const { return m_runId; }

private:
    bool m_json;
    int64_t m_runId = -1;
    int64_t m_firstStep = -1;
    double m_lastValLoss = -1;
};

} // namespace

int runTrain(const std::vector<std::string>& args)
{
    const ArgList a(args,
                    {"model", "data", "val-data", "method", "rank", "alpha", "dropout", "targets", "lr", "steps", "epochs",
                     "batch-size", "grad-accum", "seq-len", "schedule", "warmup", "eval-every", "save-every", "seed", "threads",
                     "out", "resume", "format", "val-fraction", "weight-decay", "max-grad-norm", "device", "max-bad-steps", "adapter", "db", "name", "quant", "blocksize", "quant-cache"},
                    {"rslora", "json", "pack", "train-on-prompt", "gradient-checkpointing", "no-db", "double-quant",
                     "no-double-quant"});
    tb::TrainConfig c;
    const bool resume = a.has("resume");
    if (resume)
        c.outputDir = a.required("resume");
    else if (a.has("out"))
        c.outputDir = a.required("out");
    else if (a.has("no-db"))
        throw UsageError("option --out RUN_DIR is required with --no-db");
    else // a new folder in the experiment database's workspace
        c.outputDir = tb::defaultRunFolder(tb::StorePaths::resolve(a.text("db", "")).workspace, a.text("name", ""));
    if (resume && a.has("out") && a.text("out", "") != c.outputDir)
        throw UsageError("--resume RUN_DIR continues that run in place; leave out --out or give the same folder");
    c.modelDir = a.required("model");
    c.dataPath = a.required("data");
    c.validationPath = a.text("val-data", "");
    try {
        c.method = tb::trainMethodFromName(a.text("method", "lora"));
        c.schedule = tb::lrScheduleFromName(a.text("schedule", "cosine"));
        c.data.format = tb::datasetFormatFromName(a.text("format", "auto"));
    } catch (const std::invalid_argument& e) {
        throw UsageError(e.what());
    }
    if (a.has("quant") || a.has("blocksize") || a.has("double-quant") || a.has("no-double-quant") || a.has("quant-cache")) {
        if (c.method != tb::TrainMethod::Qlora)
            throw UsageError("--quant, --blocksize, --[no-]double-quant and --quant-cache need --method qlora");
        const auto type = tb::QuantSettings::typeFromName(a.text("quant", "nf4"));
        if (!type)
            throw UsageError("option --quant: expected nf4 or int8");
        if (a.has("double-quant") && a.has("no-double-quant"))
            throw UsageError("give --double-quant or --no-double-quant, not both");
        c.quant.type = *type;
        c.quant.doubleQuant = !a.has("no-double-quant");
        c.quant.blockSize = a.integer("blocksize", 64, 32, 4096);
        c.quantCacheDir = a.text("quant-cache", "");
    }
    c.lora.rank = a.integer("rank", 8, 1, 4096);
    c.lora.alpha = a.number("alpha", static_cast<double>(c.lora.rank) * 2, 1e-6, 1e6);
    c.lora.dropout = a.number("dropout", 0.0, 0.0, 0.99);
    c.lora.rslora = a.has("rslora");
    c.initialAdapter = a.text("adapter", "");
    if (!c.initialAdapter.empty() && (a.has("rank") || a.has("alpha") || a.has("targets") || a.has("rslora") || a.has("dropout")))
        throw UsageError("--adapter continues an existing adapter, whose adapter_config.json sets rank, alpha, dropout and targets");
    if (a.has("targets"))
        c.lora.targets = splitCommaList(a.required("targets"));
    c.learningRate = a.number("lr", c.method == tb::TrainMethod::Full ? 2e-5 : 2e-4, 1e-12, 1.0);
    if (a.has("steps") && a.has("epochs"))
        throw UsageError("give --steps or --epochs, not both");
    c.maxSteps = a.integer("steps", 0, 1, 1LL << 40);
    c.epochs = a.number("epochs", 1.0, 1e-6, 1e6);
    c.batchSize = a.integer("batch-size", 4, 1, 1 << 20);
    c.gradAccum = a.integer("grad-accum", 1, 1, 1 << 20);
    c.data.maxSeqLen = a.integer("seq-len", 512, 2, 1 << 22);
    c.data.pack = a.has("pack");
    c.data.trainOnPrompt = a.has("train-on-prompt");
    c.data.validationFraction = a.number("val-fraction", 0.1, 0.0, 0.99);
    c.warmupSteps = a.integer("warmup", 0, 0, 1LL << 40);
    c.evalEvery = a.integer("eval-every", 0, 0, 1LL << 40);
    c.saveEvery = a.integer("save-every", 0, 0, 1LL << 40);
    c.seed = static_cast<uint64_t>(a.integer("seed", 42, 0, 1LL << 62));
    c.data.splitSeed = c.seed;
    c.threads = static_cast<int>(a.integer("threads", 0, 0, 1024));
    c.weightDecay = a.number("weight-decay", 0.0, 0.0, 10.0);
    c.maxGradNorm = a.number("max-grad-norm", 1.0, 0.0, 1e9);
    c.maxBadSteps = a.integer("max-bad-steps", 5, 1, 1 << 20);
    c.gradientCheckpointing = a.has("gradient-checkpointing");
    c.device = a.text("device", "cpu");
    try {
        c.validate();
    } catch (const std::invalid_argument& e) {
        throw UsageError(e.what());
    }
    c.makePathsAbsolute();

    // Ctrl-C / SIGTERM cancel cleanly (the trainer checkpoints the last completed step). The
    // handler only sets a lock-free flag (async-signal-safe, whichever thread LibTorch's pools
    // let the signal land on); a watcher thread turns it into Trainer::cancel().
    struct sigaction action {};
    action.sa_handler = [](int) { g_stopRequested.store(true); };
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, nullptr);
    sigaction(SIGTERM, &action, nullptr);
    tb::Trainer trainer(c);
    CliReporter reporter(a.has("json"));
    // The experiment store records the run as it happens (--no-db to skip); a resumed run
    // continues its row.
    std::unique_ptr<tb::RunStore> store;
    std::unique_ptr<tb::RunRecorder> recorder;
    if (!a.has("no-db")) {
        if (a.has("db") && a.required("db").empty())
            throw UsageError("option --db needs a path");
        store = std::make_unique<tb::RunStore>(tb::StorePaths::resolve(a.text("db", "")).database);
        const int64_t runId = tb::registerTrainingRun(*store, c, resume, a.text("name", ""));
        recorder = std::make_unique<tb::RunRecorder>(*store, runId, c.method, &reporter);
        reporter.setRunId(runId);
    } else if (a.has("db") || a.has("name")) {
        throw UsageError("--db and --name record the run; they contradict --no-db");
    }
    std::atomic<bool> finished{false};
    std::thread signalWatcher([&] {
        while (!finished.load()) {
            if (g_stopRequested.load()) {
                trainer.cancel();
                return;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    });

    const tb::TrainResult r = trainer.run(recorder ? static_cast<tb::TrainerCallbacks&>(*recorder) : reporter, resume);
    finished.store(true);
    signalWatcher.join();
    if (recorder)
        recorder->finish(r);

    if (a.has("json")) {
        reporter.emit({{"event", "end"}, {"run_id", reporter.runId()}, {"status", tb::trainStatusName(r.status)}, {"reason", r.reason}, {"step", r.step},
                       {"total_steps", r.totalSteps}, {"tokens", r.tokensSeen}, {"trainable_parameters", r.trainableParameters},
                       {"last_loss", r.lastLoss}, {"last_validation_loss", r.lastValidationLoss},
                       {"best_validation_loss", r.bestValidationLoss}, {"wall_seconds", r.wallSeconds},
                       {"adapter", r.adapterDir}, {"checkpoint", r.lastCheckpoint}});
    } else {
        std::cerr << "\n" << tb::trainStatusName(r.status);
        if (!r.reason.empty())
            std::cerr << ": " << r.reason;
        std::cerr << "\n";
        if (!r.adapterDir.empty())
            std::cerr << "saved " << r.adapterDir << "\n";
        if (reporter.runId() >= 0)
            std::cerr << "recorded as run " << reporter.runId() << " in " << store->path() << "\n";
    }
    return r.status == tb::TrainStatus::Failed ? 1 : 0;
}

} // namespace tbcli
