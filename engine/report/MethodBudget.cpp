#include "report/MethodBudget.h"

#include "memory/FitFinder.h"
#include "memory/MemoryEstimator.h"
#include "report/ReportRows.h"

#include <atomic>
#include <chrono>
#include <thread>

namespace tb {

namespace {

// The estimator's request for one method at the comparison's settings, as `train` will run it
// (train's defaults for everything the comparison does not set: all seven projections, alpha
// 2 x rank, NF4 with double quantization in blocks of 64, bf16 base).
MemoryEstimateRequest estimateRequest(const MethodComparisonRequest& q, const std::string& method)
{
    MemoryEstimateRequest r = requestForModelFolder(q.modelDir);
    r.method = trainMethodFromName(method);
    r.lora.rank = q.rank;
    r.lora.alpha = static_cast<double>(q.rank) * 2;
    r.batchSize = q.batchSize;
    r.seqLen = q.seqLen;
    r.device = q.device;
    r.threads = q.threads;
    if (r.method == TrainMethod::Qlora)
        r.quantizedCacheExists = quantizedCacheExists(q.modelDir, r.quant);
    return r;
}

BudgetFigure figureOf(const FitPoint& point, bool confirming, int64_t budgetBytes, int64_t searchLimit, bool batch)
{
    BudgetFigure f;
    const int64_t value = batch ? point.batchSize : point.seqLen;
    f.value = value;
    const std::string what = batch ? "batch size" : "sequence length";
    if (value == 0) {
        f.source = confirming && !point.attempts.empty() ? FigureSource::Measured : FigureSource::Estimated;
        f.how = std::string(confirming && !point.attempts.empty() ? "confirming runs found" : "the estimator finds") +
                " that not even the smallest " + what + " fits " + reportBytesText(budgetBytes);
        return f;
    }
    const std::string limit =
        value < searchLimit ? std::string()
        : batch             ? " (the search stops at " + std::to_string(searchLimit) + ")"
                            : " (the model's context length)";
    if (point.confirmed) {
        f.source = FigureSource::Measured;
        f.how = "confirmed: a real training run at this " + what + " peaked at " + reportBytesText(point.measuredBytes) +
                " (estimated " + reportBytesText(point.estimatedBytes) + ")" + limit;
        return f;
    }
    f.source = FigureSource::Estimated;
    f.how = "MemoryEstimator: estimated peak " + reportBytesText(point.estimatedBytes) + limit;
    if (!confirming)
        f.how += "; not confirmed by a run (--fit estimate)";
    else if (!point.attempts.empty())
        f.how += "; not confirmed: the last confirming run " + point.attempts.back().outcome;
    return f;
}

} // namespace

MethodMemoryEstimate estimateMethodMemory(const MethodComparisonRequest& request, const std::string& method)
{
    MethodMemoryEstimate e;
    try {
        const MemoryEstimate estimate = estimateMemory(estimateRequest(request, method));
        const MemoryBreakdown& peak = estimate.peak().bytes;
        const bool full = method == "full";
        e.estimator = "MemoryEstimator (from config.json; peak in its \"" + estimate.peak().name + "\" phase)";
        e.peakBytes = estimate.peakBytes();
        // Full fine-tuning has no frozen base: its trained weights take the base's place.
        e.baseWeightBytes = full ? peak.adapters : peak.baseWeights;
        e.adapterBytes = full ? 0 : peak.adapters;
        e.gradientBytes = peak.gradients;
        e.optimizerBytes = peak.optimizer;
        e.trainableParameters = estimate.trainableParameters;
        e.unavailable.clear();
    } catch (const std::exception& error) {
        e.unavailable = std::string("no estimate: ") + error.what();
    }
    return e;
}

MethodFit findMethodFit(const MethodComparisonRequest& request, const std::string& method, int64_t budgetBytes,
                        const std::string& cliExecutable, const std::function<bool()>& cancelled,
                        const std::function<void(const std::string&)>& log)
{
    MethodFit fit;
    if (request.fit == FitMode::Off) {
        fit.largestBatch.how = fit.longestSeqLen.how = "not searched (--fit off)";
        return fit;
    }
    if (budgetBytes <= 0) {
        fit.largestBatch.how = fit.longestSeqLen.how = "no budget: none given and the device's free memory is unknown";
        return fit;
    }
    FitRequest q;
    q.modelDir = request.modelDir;
    q.dataPath = request.dataPath;
    q.methods = {trainMethodFromName(method)};
    q.seqLen = request.seqLen;
    q.budgetBytes = budgetBytes;
    q.device = request.device;
    q.threads = request.threads;
    q.lora.rank = request.rank;
    q.lora.alpha = static_cast<double>(request.rank) * 2;
    q.confirm = request.fit == FitMode::Confirm;
    q.cliExecutable = cliExecutable;
    FitFinder finder(q);
    // FitFinder::cancel() is the finder's own flag: a watcher forwards the comparison's.
    std::atomic<bool> done{false};
    std::thread watcher([&] {
        while (!done.load()) {
            if (cancelled()) {
                finder.cancel();
                return;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    });
    FitReport report;
    try {
        report = finder.run(log);
    } catch (const std::exception& error) {
        done.store(true);
        watcher.join();
        fit.largestBatch.how = fit.longestSeqLen.how = std::string("not found: ") + error.what();
        return fit;
    }
    done.store(true);
    watcher.join();
    if (report.cancelled || report.methods.empty()) {
        fit.largestBatch.how = fit.longestSeqLen.how = "not found: the comparison was cancelled";
        return fit;
    }
    const MethodFitResult& result = report.methods.front();
    fit.largestBatch = figureOf(result.largestBatch, q.confirm, budgetBytes, q.maxBatchSize, true);
    int64_t context = 1 << 20;
    try {
        context = requestForModelFolder(request.modelDir).model.maxPositionEmbeddings;
    } catch (const std::exception&) {
        // the finder read the same config a moment ago; the limit only words the note
    }
    fit.longestSeqLen = figureOf(result.longestSequence, q.confirm, budgetBytes, context, false);
    return fit;
}

} // namespace tb
