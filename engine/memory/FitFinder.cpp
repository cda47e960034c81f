#include "memory/FitFinder.h"

#include "core/DeviceMemory.h"
#include "core/TorchCompat.h"
#include "core/ChildProcess.h"
#include "core/ScratchFolder.h"
#include "model/ModelLoader.h"
#include "train/TrainEvents.h"
#include "train/Trainer.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <unistd.h>

namespace tb {

namespace fs = std::filesystem;

namespace {

bool isCuda(const std::string& device)
{
    return device.rfind("cuda", 0) == 0;
}

int64_t estimatedPeak(MemoryEstimateRequest r, int64_t batch, int64_t seq, const std::optional<MemoryModelConstants>& constants)
{
    r.batchSize = batch;
    r.seqLen = seq;
    return (constants ? estimateMemory(r, *constants) : estimateMemory(r)).peakBytes();
}

std::string humanBytes(int64_t bytes)
{
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%.0f MiB", static_cast<double>(bytes) / (1 << 20));
    return buffer;
}

// Why a trial run failed, from its log: the reason of its end event, else its last line that
// is not an event (a refusal before the run began).
std::string trialFailure(const std::string& logPath)
{
    std::ifstream in(logPath);
    std::string line, lastText;
    while (std::getline(in, line)) {
        try {
            if (const auto event = decodeTrainEvent(line, logPath)) {
                if (const auto* end = std::get_if<EndEvent>(&*event); end && !end->result.reason.empty())
                    return end->result.reason;
                continue;
            }
        } catch (const std::exception&) {
        }
        if (line.find_first_not_of(" \t\r") != std::string::npos)
            lastText = line;
    }
    return lastText.empty() ? "no reason given (see " + logPath + ")" : lastText;
}

} // namespace

int64_t parseByteSize(const std::string& text)
{
    size_t i = 0;
    while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == '.'))
        ++i;
    if (i == 0)
        throw std::invalid_argument("\"" + text + "\" is not a size (expected e.g. 8G, 512M, 1048576)");
    double value = 0;
    try {
        value = std::stod(text.substr(0, i));
    } catch (const std::exception&) {
        throw std::invalid_argument("\"" + text + "\" is not a size (expected e.g. 8G, 512M, 1048576)");
    }
    std::string unit = text.substr(i);
    for (char& c : unit)
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    double scale = 1;
    if (!unit.empty() && std::string("KMGT").find(unit[0]) != std::string::npos) {
        scale = std::pow(1024.0, static_cast<double>(std::string("KMGT").find(unit[0]) + 1));
        unit.erase(0, 1);
        if (unit == "IB" || unit == "B")
            unit.clear();
    } else if (unit == "B") {
        unit.clear();
    }
    if (!unit.empty())
        throw std::invalid_argument("\"" + text + "\": unknown unit (expected K, M, G or T)");
    const double bytes = value * scale;
    if (!(bytes >= 1) || bytes > 9.0e18)
        throw std::invalid_argument("\"" + text + "\" is out of range");
    return static_cast<int64_t>(bytes);
}

FitFinder::FitFinder(FitRequest request) : m_request(std::move(request)) {}

void FitFinder::cancel()
{
    m_cancel = true;
    std::lock_guard<std::mutex> lock(m_trainerMutex);
    if (m_trainer)
        m_trainer->cancel(); // CUDA: the confirming steps run in this process
}

int64_t FitFinder::largestBatchByEstimate(MemoryEstimateRequest r, int64_t budget, int64_t maxBatch,
                                          const std::optional<MemoryModelConstants>& constants)
{
    if (estimatedPeak(r, 1, r.seqLen, constants) > budget)
        return 0;
    int64_t good = 1, bad = 0; // bad == 0: no failing size found yet
    while (bad == 0) {
        const int64_t next = std::min(good * 2, maxBatch);
        if (next == good)
            return good;
        if (estimatedPeak(r, next, r.seqLen, constants) <= budget)
            good = next;
        else
            bad = next;
    }
    while (bad - good > 1) {
        const int64_t mid = good + (bad - good) / 2;
        (estimatedPeak(r, mid, r.seqLen, constants) <= budget ? good : bad) = mid;
    }
    return good;
}

int64_t FitFinder::longestSeqLenByEstimate(MemoryEstimateRequest r, int64_t budget,
                                           const std::optional<MemoryModelConstants>& constants)
{
    const int64_t context = r.model.maxPositionEmbeddings > 0 ? r.model.maxPositionEmbeddings : 1 << 20;
    if (estimatedPeak(r, 1, 2, constants) > budget)
        return 0;
    if (estimatedPeak(r, 1, context, constants) <= budget)
        return context;
    int64_t good = 2, bad = context;
    while (bad - good > 1) {
        const int64_t mid = good + (bad - good) / 2;
        (estimatedPeak(r, 1, mid, constants) <= budget ? good : bad) = mid;
    }
    return good;
}

TrainConfig FitFinder::trialConfig(const MemoryEstimateRequest& r, const std::string& outputDir) const
{
    TrainConfig c = TrainConfig::defaults(r.method);
    c.modelDir = m_request.modelDir;
    c.dataPath = m_request.dataPath;
    c.outputDir = outputDir;
    c.lora = r.lora;
    c.quant = r.quant;
    c.quantCacheDir = m_request.quantCacheDir;
    c.batchSize = r.batchSize;
    c.data.maxSeqLen = r.seqLen;
    c.data.pack = true; // every sequence full length: the peak the estimate is about
    c.maxSteps = m_request.confirmSteps;
    c.gradientCheckpointing = r.gradientCheckpointing;
    c.device = m_request.device;
    c.threads = m_request.threads;
    return c;
}

FitAttempt FitFinder::tryRunInProcess(const MemoryEstimateRequest& r)
{
    FitAttempt attempt;
    attempt.batchSize = r.batchSize;
    attempt.seqLen = r.seqLen;
    if (!compat::cudaAvailable()) {
        attempt.outcome = "failed: this build of LibTorch has no CUDA, or no CUDA device is present";
        return attempt;
    }
    // Not yet run on a GPU (installer/gpu-check.sh). The run's tensors are all owned by the
    // Trainer and released when run() returns, also after an out-of-memory error (which the
    // Trainer turns into a failed result); the cache is emptied so the next try starts from
    // the same free memory.
    const at::Device device = parseDevice(m_request.device);
    compat::emptyCudaCache();
    compat::resetCudaPeak(device);
    const ScratchFolder folder(m_request.workDir, "tunebench-fit-");
    const TrainConfig c = trialConfig(r, (folder.path() / "run").string());
    TrainerCallbacks quiet;
    TrainResult result;
    {
        Trainer trainer(c);
        {
            std::lock_guard<std::mutex> lock(m_trainerMutex);
            m_trainer = &trainer;
        }
        if (!m_cancel.load())
            result = trainer.run(quiet);
        std::lock_guard<std::mutex> lock(m_trainerMutex);
        m_trainer = nullptr;
    }
    attempt.measuredBytes = compat::cudaMemoryStats(device).peakReserved;
    compat::emptyCudaCache();
    if (m_cancel.load()) {
        attempt.outcome = "cancelled";
        return attempt;
    }
    if (result.status != TrainStatus::Finished) {
        const bool oom = result.reason.find("out of memory") != std::string::npos;
        attempt.outcome = oom ? "out of memory" : "failed: " + result.reason;
        return attempt;
    }
    if (attempt.measuredBytes < 0) { // -1: no allocator statistics; never a "fits"
        attempt.outcome = "failed: no CUDA allocator statistics in this build";
        return attempt;
    }
    attempt.fits = attempt.measuredBytes <= m_budget;
    attempt.outcome = attempt.fits ? "fits" : "over the budget";
    return attempt;
}

FitAttempt FitFinder::tryRun(const MemoryEstimateRequest& r, const Progress& progress)
{
    FitAttempt attempt;
    attempt.batchSize = r.batchSize;
    attempt.seqLen = r.seqLen;
    attempt.estimatedBytes = estimatedPeak(r, r.batchSize, r.seqLen, m_request.constants);
    if (progress)
        progress(std::string(trainMethodName(r.method)) + ": running " + std::to_string(m_request.confirmSteps)
                 + " steps at batch " + std::to_string(r.batchSize) + " x " + std::to_string(r.seqLen) + " tokens (estimated "
                 + humanBytes(attempt.estimatedBytes) + ")");
    if (isCuda(m_request.device)) {
        const int64_t estimated = attempt.estimatedBytes;
        attempt = tryRunInProcess(r);
        attempt.estimatedBytes = estimated;
        return attempt;
    }
    const ScratchFolder folder(m_request.workDir, "tunebench-fit-");
    // The trial run is described by a TrainConfig like any other (TrainConfig's defaults for
    // what the request leaves open) and run from that file: no second spelling of the options.
    const std::string configPath = (folder.path() / "run.json").string();
    {
        std::ofstream out(configPath);
        out << trialConfig(r, (folder.path() / "run").string()).toJson().dump(2) << "\n";
        if (!out)
            throw std::runtime_error(configPath + ": cannot write the trial run's config");
    }
    // --json: the trial's end event (train/TrainEvents) says why it failed; stderr shares the log.
    const std::vector<std::string> args = {"train", "--config", configPath, "--no-db", "--json"};
    const std::string log = (folder.path() / "train.log").string();
    const CappedRunResult run = runMemoryCapped(m_request.cliExecutable, args, m_budget, log, &m_cancel);
    attempt.measuredBytes = run.peakResidentBytes;
    if (!run.started) {
        attempt.outcome = "failed: " + run.error;
    } else if (run.cancelled) {
        attempt.outcome = "cancelled";
    } else if (run.overCap) {
        attempt.outcome = "over the budget";
    } else if (run.signal != 0) {
        attempt.outcome = "failed: " + run.describe();
    } else if (run.exitCode != 0) {
        attempt.outcome = "failed: " + trialFailure(log);
    } else {
        attempt.fits = true;
        attempt.outcome = "fits";
    }
    return attempt;
}

FitPoint FitFinder::confirmPoint(const MemoryEstimateRequest& base, int64_t batchSize, int64_t seqLen, bool stepBatch,
                                 const Progress& progress)
{
    FitPoint point;
    point.batchSize = batchSize;
    point.seqLen = seqLen;
    if (batchSize <= 0 || seqLen <= 0)
        return point;
    point.estimatedBytes = estimatedPeak(base, batchSize, seqLen, m_request.constants);
    if (!m_request.confirm)
        return point;
    for (int tryIndex = 0; tryIndex < m_request.maxTries && !m_cancel.load(); ++tryIndex) {
        MemoryEstimateRequest r = base;
        r.batchSize = point.batchSize;
        r.seqLen = point.seqLen;
        FitAttempt attempt = tryRun(r, progress);
        point.attempts.push_back(attempt);
        if (progress)
            progress("  " + attempt.outcome
                     + (attempt.measuredBytes >= 0 ? " (measured " + humanBytes(attempt.measuredBytes) + ")" : std::string()));
        if (attempt.fits) {
            point.confirmed = true;
            point.measuredBytes = attempt.measuredBytes;
            return point;
        }
        if (attempt.outcome == "cancelled" || attempt.outcome.rfind("failed: ", 0) == 0)
            break; // not a memory verdict: stepping down would not change it
        // Step down by a tenth (at least one) and try again.
        int64_t& value = stepBatch ? point.batchSize : point.seqLen;
        const int64_t lowest = stepBatch ? 1 : 2;
        if (value <= lowest) {
            point.batchSize = point.seqLen = 0;
            break;
        }
        value = std::max(lowest, std::min(value - 1, value - value / 10));
        point.estimatedBytes = estimatedPeak(base, point.batchSize, point.seqLen, m_request.constants);
    }
    return point;
}

FitReport FitFinder::run(const Progress& progress)
{
    const FitRequest& q = m_request;
    FitReport report;
    report.device = q.device;
    if (q.methods.empty())
        throw std::invalid_argument("no training method to fit");
    if (q.confirm && !isCuda(q.device) && q.cliExecutable.empty())
        throw std::invalid_argument("confirming on the CPU needs the tunebench-cli executable");
    if (q.confirm && q.dataPath.empty())
        throw std::invalid_argument("confirming needs a dataset to train on");
    MemoryEstimateRequest base = requestForModelFolder(q.modelDir);
    base.lora = q.lora;
    base.quant = q.quant;
    base.gradientCheckpointing = q.gradientCheckpointing;
    base.device = q.device;
    base.threads = q.threads;
    base.seqLen = q.seqLen;
    const DeviceMemoryInfo device = deviceMemory(q.device); // throws for an unknown device
    m_budget = q.budgetBytes > 0 ? q.budgetBytes : device.freeBytes;
    if (m_budget <= 0)
        throw std::invalid_argument("the free memory of " + q.device + " is unknown; give a budget");
    report.budgetBytes = m_budget;
    if (isCuda(q.device) && q.budgetBytes <= 0) {
        // The device's free memory was read after this process created its CUDA context, and
        // the confirming steps run in this process: the context is not part of the budget.
        MemoryModelConstants constants = q.constants.value_or(MemoryModelConstants::cudaDefaults());
        constants.cudaContextBytes = 0;
        m_request.constants = constants;
    }

    for (const TrainMethod method : q.methods) {
        if (m_cancel.load())
            break;
        MemoryEstimateRequest r = base;
        r.method = method;
        if (method == TrainMethod::Qlora)
            r.quantizedCacheExists = quantizedCacheExists(q.modelDir, q.quant, q.quantCacheDir);
        MethodFitResult result;
        result.method = method;
        const int64_t batch = largestBatchByEstimate(r, m_budget, q.maxBatchSize, m_request.constants);
        if (progress)
            progress(std::string(trainMethodName(method)) + ": largest batch at " + std::to_string(q.seqLen)
                     + " tokens by the estimate: " + std::to_string(batch));
        result.largestBatch = confirmPoint(r, batch, batch > 0 ? q.seqLen : 0, true, progress);
        r.batchSize = 1;
        const int64_t seq = longestSeqLenByEstimate(r, m_budget, m_request.constants);
        if (progress)
            progress(std::string(trainMethodName(method)) + ": longest sequence at batch 1 by the estimate: " + std::to_string(seq));
        result.longestSequence = confirmPoint(r, seq > 0 ? 1 : 0, seq, false, progress);
        report.methods.push_back(result);
    }
    report.cancelled = m_cancel.load();
    return report;
}

} // namespace tb
