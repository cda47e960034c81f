#include "cli/ArgList.h"
#include "cli/Commands.h"
#include "cli/TextFormat.h"
#include "cli/WorkerLauncher.h"

#include "formats/FormatError.h"
#include "core/TorchCompat.h"
#include "core/UsableCores.h"
#include "dist/C10dWorkerGroup.h"
#include "dist/WorkerPlacement.h"
#include "formats/ModelConfig.h"
#include "store/ContentHash.h"
#include "store/RunQueries.h"
#include "store/RunStore.h"
#include "store/StorePaths.h"
#include "train/RunRecorder.h"
#include "train/RunRegistration.h"
#include "train/TrainEvents.h"
#include "train/Trainer.h"
#include "train/TrainingCheckpoint.h"

#include <nlohmann/json.hpp>

#include <cctype>
#include <map>
#include <set>
#include <csignal>
#include <cstdlib>
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

#include <unistd.h>

namespace tbcli {

namespace {

std::atomic<bool> g_stopRequested{false};
std::atomic<bool> g_pauseRequested{false};
static_assert(std::atomic<bool>::is_always_lock_free, "the signal handler needs a lock-free flag");

std::string clock(double seconds)
{
    const long s = static_cast<long>(seconds + 0.5);
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%02ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
    return buffer;
}

// A progress line on stderr for people (without --json; with it, TrainEventWriter).
class ProgressPrinter : public tb::TrainEventSink {
public:
    void onStep(const tb::StepReport& r) override
    {
        const double done = static_cast<double>(r.step) / static_cast<double>(std::max<int64_t>(1, r.totalSteps));
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
        std::cerr << "\nvalidation at step " << r.step << ": loss " << r.loss << ", perplexity " << r.perplexity << "\n";
    }
    void onLog(tb::LogLevel level, const std::string& message) override
    {
        std::cerr << (level == tb::LogLevel::Info ? "" : std::string(tb::logLevelName(level)) + ": ") << message << "\n";
    }

private:
    int64_t m_firstStep = -1;
    double m_lastValLoss = -1;
};

// A data-parallel worker other than rank 0: rank 0 reports the run; this one only says what
// went wrong here, its lines marked with its rank.
class WorkerLog : public tb::TrainEventSink {
public:
    explicit WorkerLog(int rank) : m_rank(rank) {}
    void onLog(tb::LogLevel level, const std::string& message) override
    {
        if (level != tb::LogLevel::Info)
            std::cerr << "[rank " << m_rank << "] " << tb::logLevelName(level) << ": " << message << "\n";
    }

private:
    int m_rank;
};

} // namespace

namespace {

// One entry of --devices: a CUDA device index as nvidia-smi and CUDA_VISIBLE_DEVICES number them.
long parseDeviceIndex(const std::string& text)
{
    char* end = nullptr;
    const long index = std::strtol(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || index < 0 || index > 1023)
        throw UsageError("option --devices: \"" + text + "\" is not a CUDA device index (0, 1, ...)");
    return index;
}

// The option that sets each TrainConfig field, so a problem TrainConfig reports by field is
// shown by the option the user typed.
const std::map<std::string, std::string>& optionOfField()
{
    static const std::map<std::string, std::string> m = {
        {"model", "--model"}, {"data", "--data"}, {"validation_data", "--val-data"}, {"output_dir", "--out"},
        {"method", "--method"}, {"initial_adapter", "--adapter"}, {"quant", "--quant/--blocksize"},
        {"lora.rank", "--rank"}, {"lora.alpha", "--alpha"}, {"lora.dropout", "--dropout"}, {"lora.targets", "--targets"},
        {"dataset.seq_len", "--seq-len"}, {"dataset.validation_fraction", "--val-fraction"}, {"learning_rate", "--lr"},
        {"warmup_steps", "--warmup"}, {"max_steps", "--steps"}, {"epochs", "--epochs"}, {"batch_size", "--batch-size"},
        {"grad_accum", "--grad-accum"}, {"weight_decay", "--weight-decay"}, {"max_grad_norm", "--max-grad-norm"},
        {"eval_every", "--eval-every"}, {"save_every", "--save-every"}, {"max_bad_steps", "--max-bad-steps"},
        {"seed", "--seed"}, {"threads", "--threads"}, {"device", "--device"}, {"processes", "--nproc-per-node"}, {"devices", "--devices"}, {"base_dtype", "--base-dtype"},
        {"dist_timeout", "--dist-timeout"}};
    return m;
}

// "option --rank (lora.rank): must be between 1 and 4096" for each problem, one per line; with a
// config file, the file and the key instead.
std::string describeProblems(const std::vector<tb::ConfigProblem>& problems, const std::string& configFile)
{
    std::string text;
    for (const tb::ConfigProblem& p : problems) {
        std::string where;
        if (!configFile.empty())
            where = configFile + ": key \"" + p.field + "\"";
        else if (const auto it = optionOfField().find(p.field); it != optionOfField().end())
            where = "option " + it->second + " (" + p.field + ")";
        else
            where = p.field;
        text += (text.empty() ? "" : "\n") + (where.empty() ? p.message : where + ": " + p.message);
    }
    return text;
}

// Options that describe the run (everything but how it is recorded and reported); they
// contradict --config, which is the whole description.
const std::set<std::string>& settingOptions()
{
    static const std::set<std::string> s = {"model", "data", "val-data", "method", "rank", "alpha", "dropout", "targets", "lr",
        "steps", "epochs", "batch-size", "grad-accum", "seq-len", "schedule", "warmup", "eval-every", "save-every", "seed",
        "threads", "out", "format", "val-fraction", "weight-decay", "max-grad-norm", "device", "max-bad-steps", "adapter",
        "quant", "blocksize", "quant-cache", "rslora", "pack", "train-on-prompt", "gradient-checkpointing", "double-quant",
        "no-double-quant", "nproc-per-node", "dist-timeout", "devices", "base-dtype"};
    return s;
}

// The run as the options describe it: TrainConfig's defaults for the method, then each option
// given. Ranges are TrainConfig's rules (checked by the caller), not the parser's.
tb::TrainConfig configFromOptions(const ArgList& a)
{
    constexpr long long kBig = 1LL << 62;
    tb::TrainConfig c;
    try {
        c = tb::TrainConfig::defaults(tb::trainMethodFromName(a.text("method", "lora")));
        c.schedule = tb::lrScheduleFromName(a.text("schedule", tb::lrScheduleName(c.schedule)));
        c.data.format = tb::datasetFormatFromName(a.text("format", tb::datasetFormatName(c.data.format)));
    } catch (const std::invalid_argument& e) {
        throw UsageError(e.what());
    }
    c.modelDir = a.required("model");
    c.dataPath = a.required("data");
    c.validationPath = a.text("val-data", c.validationPath);
    if (a.has("quant") || a.has("blocksize") || a.has("double-quant") || a.has("no-double-quant") || a.has("quant-cache")) {
        if (c.method != tb::TrainMethod::Qlora)
            throw UsageError("--quant, --blocksize, --[no-]double-quant and --quant-cache need --method qlora");
        const auto type = tb::QuantSettings::typeFromName(a.text("quant", tb::QuantSettings::typeName(c.quant.type)));
        if (!type)
            throw UsageError("option --quant: expected nf4 or int8");
        if (a.has("double-quant") && a.has("no-double-quant"))
            throw UsageError("give --double-quant or --no-double-quant, not both");
        c.quant.type = *type;
        if (a.has("no-double-quant") || a.has("double-quant"))
            c.quant.doubleQuant = a.has("double-quant");
        c.quant.blockSize = a.integer("blocksize", c.quant.blockSize, -kBig, kBig);
        c.quantCacheDir = a.text("quant-cache", c.quantCacheDir);
    }
    c.lora.rank = a.integer("rank", c.lora.rank, -kBig, kBig);
    c.lora.alpha = a.number("alpha", tb::TrainConfig::defaultAlpha(c.lora.rank), -1e300, 1e300);
    c.lora.dropout = a.number("dropout", c.lora.dropout, -1e300, 1e300);
    c.lora.rslora = a.has("rslora") || c.lora.rslora;
    c.initialAdapter = a.text("adapter", c.initialAdapter);
    if (!c.initialAdapter.empty() && (a.has("rank") || a.has("alpha") || a.has("targets") || a.has("rslora") || a.has("dropout")))
        throw UsageError("--adapter continues an existing adapter, whose adapter_config.json sets rank, alpha, dropout and targets");
    if (a.has("targets"))
        c.lora.targets = splitCommaList(a.required("targets"));
    c.learningRate = a.number("lr", c.learningRate, -1e300, 1e300);
    if (a.has("steps") && a.has("epochs"))
        throw UsageError("give --steps or --epochs, not both");
    c.maxSteps = a.integer("steps", c.maxSteps, -kBig, kBig);
    if (a.has("steps") && c.maxSteps < 1)
        throw UsageError("option --steps: must be at least 1 (or train for --epochs)");
    c.epochs = a.number("epochs", c.epochs, -1e300, 1e300);
    c.batchSize = a.integer("batch-size", c.batchSize, -kBig, kBig);
    c.gradAccum = a.integer("grad-accum", c.gradAccum, -kBig, kBig);
    c.data.maxSeqLen = a.integer("seq-len", c.data.maxSeqLen, -kBig, kBig);
    c.data.pack = a.has("pack") || c.data.pack;
    c.data.trainOnPrompt = a.has("train-on-prompt") || c.data.trainOnPrompt;
    c.data.validationFraction = a.number("val-fraction", c.data.validationFraction, -1e300, 1e300);
    c.warmupSteps = a.integer("warmup", c.warmupSteps, -kBig, kBig);
    c.evalEvery = a.integer("eval-every", c.evalEvery, -kBig, kBig);
    c.saveEvery = a.integer("save-every", c.saveEvery, -kBig, kBig);
    const long long seed = a.integer("seed", static_cast<long long>(c.seed), 0, kBig);
    c.seed = static_cast<uint64_t>(seed);
    c.threads = static_cast<int>(a.integer("threads", c.threads, -1024, 1 << 20));
    c.weightDecay = a.number("weight-decay", c.weightDecay, -1e300, 1e300);
    c.maxGradNorm = a.number("max-grad-norm", c.maxGradNorm, -1e300, 1e300);
    c.maxBadSteps = a.integer("max-bad-steps", c.maxBadSteps, -kBig, kBig);
    c.gradientCheckpointing = a.has("gradient-checkpointing") || c.gradientCheckpointing;
    c.device = a.text("device", c.device);
    c.baseDtype = a.text("base-dtype", c.baseDtype);
    c.processes = static_cast<int>(a.integer("nproc-per-node", c.processes, -kBig, kBig));
    c.distTimeoutSeconds = static_cast<int>(a.integer("dist-timeout", c.distTimeoutSeconds, -kBig, kBig));
    if (a.has("devices")) {
        if (a.has("nproc-per-node"))
            throw UsageError("--devices starts one worker per device; leave out --nproc-per-node");
        if (c.device.rfind("cuda", 0) != 0)
            throw UsageError("--devices lists CUDA devices; give --device cuda as well");
        c.devices.clear();
        for (const std::string& d : splitCommaList(a.required("devices")))
            c.devices.push_back(static_cast<int>(parseDeviceIndex(d)));
        c.processes = static_cast<int>(c.devices.size());
    }
    return c;
}

} // namespace

int runTrain(const std::vector<std::string>& args)
{
    std::set<std::string> values = {"config", "resume", "db", "name"}, flags = {"json", "no-db", "print-config"};
    for (const std::string& o : settingOptions())
        (o == "rslora" || o == "pack" || o == "train-on-prompt" || o == "gradient-checkpointing" || o == "double-quant"
                 || o == "no-double-quant"
             ? flags
             : values)
            .insert(o);
    const ArgList a(args, values, flags);
    const bool resume = a.has("resume");
    // Placed by a launcher (torchrun, srun, or our own --nproc-per-node): one worker of several.
    std::optional<tb::WorkerPlacement> placement;
    try {
        placement = tb::placementFromEnvironment(tb::processEnvironment());
    } catch (const std::invalid_argument& e) {
        throw UsageError(e.what());
    }
    if (placement && placement->worldSize == 1)
        placement.reset();
    const int rank = placement ? placement->rank : 0;
    const std::string configFile = a.text("config", "");
    tb::TrainConfig c;
    if (a.has("config")) {
        for (const std::string& o : settingOptions())
            if (a.has(o))
                throw UsageError("--config RUN.json is the whole description of the run; option --" + o
                                 + " contradicts it (edit the file instead)");
        try {
            c = tb::TrainConfig::fromFile(configFile);
        } catch (const tb::FormatError& e) {
            throw UsageError(e.what());
        }
        if (resume && !c.outputDir.empty()
            && std::filesystem::absolute(c.outputDir).lexically_normal() != std::filesystem::absolute(a.required("resume")).lexically_normal())
            throw UsageError("--resume " + a.required("resume") + ": " + configFile + " describes the run in " + c.outputDir);
    } else {
        c = configFromOptions(a);
    }
    if (resume)
        c.outputDir = a.required("resume");
    else if (a.has("out"))
        c.outputDir = a.required("out");
    if (resume && a.has("out") && a.text("out", "") != c.outputDir)
        throw UsageError("--resume RUN_DIR continues that run in place; leave out --out or give the same folder");
    if (c.outputDir.empty() && placement)
        throw UsageError("a data-parallel worker (" + placement->launcher + " set RANK/WORLD_SIZE) needs --out RUN_DIR: every worker "
                         "must name the same run folder");
    if (c.outputDir.empty()) {
        if (a.has("no-db"))
            throw UsageError(configFile.empty() ? "option --out RUN_DIR is required with --no-db"
                                                : configFile + ": key \"output_dir\" is required with --no-db");
        // A new folder in the experiment database's workspace.
        c.outputDir = tb::defaultRunFolder(tb::StorePaths::resolve(a.text("db", "")).workspace, a.text("name", c.name));
    }
    if (a.has("name"))
        c.name = a.required("name");
    if (placement) {
        // One process per worker: the processes field is the launcher's, and the device is this
        // worker's (torchrun's convention: cuda -> cuda:LOCAL_RANK).
        c.processes = 1;
        c.devices.clear();
        if (c.device == "cuda")
            c.device = "cuda:" + std::to_string(placement->localRank);
        if (c.threads <= 0 && placement->localWorldSize > 1)
            c.threads = std::max(1, tb::usableCores().usable / placement->localWorldSize);
    }
    std::vector<tb::ConfigProblem> problems = c.problems();
    for (tb::ConfigProblem& p : c.fileProblems(resume))
        if (rank == 0 || p.field != "output_dir") // rank 0 may already have started the folder
            problems.push_back(std::move(p));
    if (!problems.empty())
        throw UsageError(describeProblems(problems, configFile));
    c.makePathsAbsolute();
    if (a.has("print-config")) {
        // The description as it would run, without running it: what `--config` takes back.
        std::cout << c.toJson().dump(2) << std::endl;
        return 0;
    }
    if (!placement && c.processes > 1) {
        WorkerLaunch launch;
        launch.config = c;
        for (const char* flag : {"json", "no-db"})
            if (a.has(flag))
                launch.recordingArgs.push_back(std::string("--") + flag);
        if (!a.has("no-db"))
            launch.database = tb::StorePaths::resolve(a.text("db", "")).database;
        for (const char* option : {"db", "name", "resume"})
            if (a.has(option)) {
                launch.recordingArgs.push_back(std::string("--") + option);
                launch.recordingArgs.push_back(a.required(option));
            }
        return launchWorkers(launch);
    }
    // Joins the other workers before anything is loaded: a rendezvous that cannot complete
    // fails here, within the timeout, naming the address.
    std::unique_ptr<tb::C10dWorkerGroup> group;
    if (placement) {
        tb::WorkerGroupOptions options;
        options.timeout = std::chrono::seconds(c.distTimeoutSeconds);
        options.cuda = c.device.rfind("cuda", 0) == 0;
        try {
            group = std::make_unique<tb::C10dWorkerGroup>(*placement, options);
        } catch (const tb::WorkerGroupError& e) {
            std::cerr << "error: " << e.what() << "\n";
            return 1;
        }
    }

    // Ctrl-C / SIGTERM cancel cleanly (the trainer checkpoints the last completed step);
    // SIGUSR1 pauses and SIGUSR2 resumes: the workbench's controls, which reach a run it
    // started and one it found still running after a restart alike. The handlers only set
    // lock-free flags (async-signal-safe, whichever thread LibTorch's pools let the signal land
    // on); a watcher thread turns them into Trainer calls.
    // The workbench starts this process with them blocked (a Pause sent before this point waits
    // rather than killing the process); they are unblocked once handled. SA_RESTART: a write
    // to the event pipe interrupted by one of them goes on.
    struct sigaction action {};
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    action.sa_handler = [](int) { g_stopRequested.store(true); };
    sigaction(SIGINT, &action, nullptr);
    sigaction(SIGTERM, &action, nullptr);
    action.sa_handler = [](int) { g_pauseRequested.store(true); };
    sigaction(SIGUSR1, &action, nullptr);
    action.sa_handler = [](int) { g_pauseRequested.store(false); };
    sigaction(SIGUSR2, &action, nullptr);
    sigset_t controls;
    sigemptyset(&controls);
    for (int sig : {SIGINT, SIGTERM, SIGUSR1, SIGUSR2})
        sigaddset(&controls, sig);
    pthread_sigmask(SIG_UNBLOCK, &controls, nullptr);
    // The workbench reads the stream through a pipe and may close it (window closed, run kept
    // training): writes then fail with EPIPE instead of killing the process.
    std::signal(SIGPIPE, SIG_IGN);
    tb::Trainer trainer(c);
    trainer.setWorkerGroup(group.get());
    const bool json = a.has("json");
    ProgressPrinter printer;
    tb::TrainEventWriter writer(stdout);
    WorkerLog workerLog(rank);
    tb::TrainEventSink& reporter = rank > 0 ? static_cast<tb::TrainEventSink&>(workerLog)
        : json                              ? static_cast<tb::TrainEventSink&>(writer)
                                            : printer;
    // The experiment store records the run as it happens (--no-db to skip); a resumed run
    // continues its row.
    std::unique_ptr<tb::RunStore> store;
    std::unique_ptr<tb::RunRecorder> recorder;
    int64_t runId = -1;
    if (!a.has("no-db") && rank == 0) {
        if (a.has("db") && a.required("db").empty())
            throw UsageError("option --db needs a path");
        store = std::make_unique<tb::RunStore>(tb::StorePaths::resolve(a.text("db", "")).database);
        try {
            runId = tb::registerTrainingRun(*store, c, resume, a.text("name", ""));
        } catch (const tb::ConfigError& e) {
            throw UsageError(describeProblems(e.problems(), configFile));
        }
        recorder = std::make_unique<tb::RunRecorder>(*store, runId, c.method, &reporter);
    } else if (a.has("no-db") && (a.has("db") || a.has("name"))) {
        throw UsageError("--db and --name record the run; they contradict --no-db");
    }
    reporter.onRun({runId, static_cast<int64_t>(::getpid()), c.outputDir, tb::trainMethodName(c.method)});
    std::atomic<bool> finished{false};
    std::thread signalWatcher([&] {
        bool paused = false;
        while (!finished.load()) {
            if (g_stopRequested.load())
                trainer.cancel();
            const bool wantPaused = g_pauseRequested.load();
            if (wantPaused != paused) {
                paused = wantPaused;
                paused ? trainer.pause() : trainer.resume();
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    });

    const tb::TrainResult r = trainer.run(recorder ? static_cast<tb::TrainerCallbacks&>(*recorder) : reporter, resume);
    finished.store(true);
    signalWatcher.join();
    if (recorder)
        recorder->finish(r);

    if (rank > 0) {
        // Rank 0 reports the run; this worker's line says only how it ended here.
        if (r.status == tb::TrainStatus::Failed)
            std::cerr << "[rank " << rank << "] failed: " << r.reason << "\n";
    } else if (json) {
        writer.onEnd({runId, r});
    } else {
        std::cerr << "\n" << tb::trainStatusName(r.status);
        if (!r.reason.empty())
            std::cerr << ": " << r.reason;
        std::cerr << "\n";
        if (!r.adapterDir.empty())
            std::cerr << "saved " << r.adapterDir << "\n";
        if (runId >= 0)
            std::cerr << "recorded as run " << runId << " in " << store->path() << "\n";
    }
    return r.status == tb::TrainStatus::Failed ? 1 : 0;
}

} // namespace tbcli
