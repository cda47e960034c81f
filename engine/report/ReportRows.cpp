#include "report/ReportRows.h"

#include "train/MemoryProbe.h"

#include <cmath>
#include <cstdio>
#include <functional>

namespace tb {

namespace {

const char* const kMemory = "Memory";
const char* const kSpeed = "Speed and cost";
const char* const kBudget = "Within the budget";
const char* const kQuality = "Quality";
const char* const kOutput = "Output";

std::string fixed(double v, int decimals)
{
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%.*f", decimals, v);
    return buffer;
}

// 4 significant digits at most, without exponent for everyday magnitudes: 0.001234, 12.35, 3412.
std::string significant(double v)
{
    if (!std::isfinite(v))
        return std::isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf");
    const double a = std::fabs(v);
    if (a >= 1000 || a == 0)
        return fixed(v, 0);
    const int decimals = std::max(0, 3 - static_cast<int>(std::floor(std::log10(a))));
    return fixed(v, std::min(decimals, 8));
}

// Figures the user typed, as typed: 200 -> "200", 0.35 -> "0.35".
std::string plain(double v)
{
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%g", v);
    return buffer;
}

std::string runRef(const MethodMeasurement& m)
{
    return m.column.runId ? "run #" + std::to_string(*m.column.runId) : "the run";
}

// How a cell that has no figure explains itself.
ReportCell missing(const std::string& how)
{
    return {std::nullopt, "-", FigureSource::NotAvailable, how};
}

ReportCell measured(double value, std::string text, std::string how)
{
    return {value, std::move(text), FigureSource::Measured, std::move(how)};
}

ReportCell estimated(double value, std::string text, std::string how)
{
    return {value, std::move(text), FigureSource::Estimated, std::move(how)};
}

ReportCell derived(double value, std::string text, std::string how)
{
    return {value, std::move(text), FigureSource::Derived, std::move(how)};
}

ReportCell bytesCell(FigureSource source, int64_t bytes, std::string how)
{
    return {static_cast<double>(bytes), reportBytesText(bytes), source, std::move(how)};
}

// Why a method has no measured figure: it was not run (and why), or it failed.
std::string notMeasuredReason(const MethodMeasurement& m)
{
    if (!m.run)
        return "not run" + (m.column.reason.empty() ? std::string() : ": " + m.column.reason);
    return "not recorded by " + runRef(m) + " (" + m.column.status +
           (m.column.reason.empty() ? std::string() : ": " + m.column.reason) + ")";
}

std::optional<int64_t> peakCategory(const MethodMeasurement& m, const std::string& category)
{
    if (!m.run)
        return std::nullopt;
    const auto& peaks = m.run->results.peakMemory;
    const auto it = peaks.find(category);
    return it == peaks.end() ? std::nullopt : std::optional<int64_t>(it->second);
}

bool isCuda(const MethodComparisonRequest& request)
{
    return request.device.rfind("cuda", 0) == 0;
}

// The memory category that is "peak memory" on the request's device.
std::string peakCategoryName(const MethodComparisonRequest& request)
{
    return isCuda(request) ? "cuda_peak_allocated" : "peak_rss";
}

// A run's figure by memory category, measured; else the estimate's; else why neither.
ReportCell memoryCell(const MethodMeasurement& m, const std::string& category, const std::string& measuredHow,
                      const std::function<int64_t(const MethodMemoryEstimate&)>& fromEstimate)
{
    if (const auto v = peakCategory(m, category))
        return bytesCell(FigureSource::Measured, *v, measuredHow + " of " + runRef(m));
    if (m.estimate.available())
        return bytesCell(FigureSource::Estimated, fromEstimate(m.estimate),
                         m.estimate.estimator + " (" + notMeasuredReason(m) + ")");
    return missing(notMeasuredReason(m) + "; " + m.estimate.unavailable);
}

std::optional<int64_t> savedBytes(const MethodMeasurement& m, std::string& what)
{
    if (!m.run)
        return std::nullopt;
    if (m.column.method != "full") {
        what = "the PEFT adapter folder";
        return m.run->results.adapterBytes;
    }
    // Full fine-tuning saves the whole model (artifact kind "merged").
    what = "the saved model folder (full fine-tuning trains and saves every weight)";
    std::optional<int64_t> newest;
    for (const ArtifactInfo& a : m.run->artifacts)
        if (a.kind == ArtifactKind::Merged && !a.missing)
            newest = a.sizeBytes;
    return newest;
}

} // namespace

std::string reportBytesText(int64_t bytes)
{
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double x = static_cast<double>(bytes);
    int u = 0;
    while (std::fabs(x) >= 1024 && u < 4) {
        x /= 1024;
        ++u;
    }
    return u ? fixed(x, x < 10 ? 2 : 1) + " " + units[u] : std::to_string(bytes) + " B";
}

std::string reportDurationText(double seconds)
{
    if (!std::isfinite(seconds))
        return "-";
    if (seconds < 60)
        return fixed(seconds, seconds < 10 ? 2 : 1) + " s";
    const long s = std::lround(seconds);
    if (s < 3600)
        return std::to_string(s / 60) + " min " + std::to_string(s % 60) + " s";
    if (s < 86400)
        return std::to_string(s / 3600) + " h " + std::to_string((s / 60) % 60) + " min";
    return std::to_string(s / 86400) + " d " + std::to_string((s / 3600) % 24) + " h";
}

std::string reportCountText(int64_t count)
{
    std::string digits = std::to_string(count < 0 ? -count : count);
    std::string out;
    for (size_t i = 0; i < digits.size(); ++i) {
        if (i && (digits.size() - i) % 3 == 0)
            out += ',';
        out += digits[i];
    }
    return (count < 0 ? "-" : "") + out;
}

std::vector<ReportRow> buildReportRows(const MethodComparisonRequest& request,
                                       const std::vector<MethodMeasurement>& measurements, int64_t budgetBytes)
{
    std::vector<ReportRow> rows;
    auto addRow = [&](const char* section, const std::string& key, const std::string& property, const std::string& unit,
                      const std::string& note, const std::function<ReportCell(const MethodMeasurement&)>& cell) {
        ReportRow row{section, key, property, unit, note, {}};
        for (const MethodMeasurement& m : measurements)
            row.cells.push_back(cell(m));
        rows.push_back(std::move(row));
    };
    const std::string peakName = peakCategoryName(request);
    const bool cuda = isCuda(request);

    // --- Memory ---------------------------------------------------------------------------
    addRow(kMemory, "peak_memory", "peak memory", "bytes",
           cuda ? "measured: the training process's peak CUDA allocation (cuda_peak_allocated)"
                : "measured: the training process's peak resident memory (VmHWM; each method in its own process)",
           [&](const MethodMeasurement& m) {
               return memoryCell(m, peakName, "max " + peakName,
                                 [](const MethodMemoryEstimate& e) { return e.peakBytes; });
           });
    addRow(kMemory, "base_weight_bytes", "base-weight bytes", "bytes",
           "measured: bytes of the model's weights as held (frozen bf16 for LoRA, NF4 codes and constants for "
           "QLoRA, the trained fp32 weights for full)",
           [&](const MethodMeasurement& m) {
               // Full fine-tuning freezes nothing: its base weights are the trainable ones.
               const std::string category = m.column.method == "full" ? "adapters" : "base_weights";
               return memoryCell(m, category, "max " + category,
                                 [](const MethodMemoryEstimate& e) { return e.baseWeightBytes; });
           });
    addRow(kMemory, "adapter_weight_bytes", "adapter weights", "bytes",
           "measured: bytes of the LoRA A and B matrices (tensor sizes summed)", [&](const MethodMeasurement& m) {
               if (m.column.method == "full")
                   return ReportCell{std::nullopt, "none", FigureSource::NotAvailable,
                                     "full fine-tuning has no adapter: every weight is trained (see base-weight bytes)"};
               return memoryCell(m, "adapters", "max adapters",
                                 [](const MethodMemoryEstimate& e) { return e.adapterBytes; });
           });
    addRow(kMemory, "gradient_bytes", "gradients", "bytes", "measured: bytes of the .grad tensors after backward",
           [&](const MethodMeasurement& m) {
               return memoryCell(m, "gradients", "max gradients",
                                 [](const MethodMemoryEstimate& e) { return e.gradientBytes; });
           });
    addRow(kMemory, "optimizer_bytes", "optimizer state", "bytes", "measured: bytes of AdamW's two moments",
           [&](const MethodMeasurement& m) {
               return memoryCell(m, "optimizer", "max optimizer",
                                 [](const MethodMemoryEstimate& e) { return e.optimizerBytes; });
           });
    addRow(kMemory, "other_bytes", "activations and runtime", "bytes",
           cuda ? "derived: peak memory minus the four rows above (activations, temporaries)"
                : "derived: peak memory minus the four rows above (activations, temporaries, allocator caches, "
                  "the process's code and libraries)",
           [&](const MethodMeasurement& m) {
               const auto peak = peakCategory(m, peakName);
               if (!peak && m.estimate.available()) {
                   const MethodMemoryEstimate& e = m.estimate;
                   return bytesCell(FigureSource::Estimated,
                                    MemorySample::restOf(e.peakBytes, e.baseWeightBytes + e.adapterBytes + e.gradientBytes + e.optimizerBytes),
                                    e.estimator + ": its peak minus the four rows above (" + notMeasuredReason(m) + ")");
               }
               if (!peak)
                   return missing(notMeasuredReason(m));
               int64_t parts = 0;
               for (const char* c : {"base_weights", "adapters", "gradients", "optimizer"})
                   parts += peakCategory(m, c).value_or(0);
               // The memory views' derivation (MemorySample::restOf), on the run's maxima.
               return bytesCell(FigureSource::Derived, MemorySample::restOf(*peak, parts),
                                "max " + peakName + " minus the maxima of base_weights, adapters, gradients and "
                                "optimizer of " + runRef(m));
           });
    addRow(kMemory, "trainable_parameters", "trainable parameters", "parameters",
           "measured: parameters with gradients, counted by the trainer", [&](const MethodMeasurement& m) {
               if (m.run && m.run->results.trainableParameters)
                   return measured(static_cast<double>(*m.run->results.trainableParameters),
                                   reportCountText(*m.run->results.trainableParameters), "recorded by " + runRef(m));
               if (m.estimate.available())
                   return estimated(static_cast<double>(m.estimate.trainableParameters),
                                    reportCountText(m.estimate.trainableParameters), m.estimate.estimator);
               return missing(notMeasuredReason(m));
           });

    // --- Speed and cost -------------------------------------------------------------------
    auto tokensPerSecond = [](const MethodMeasurement& m) -> std::optional<double> {
        if (!m.run || !m.run->results.meanTokensPerSecond || !(*m.run->results.meanTokensPerSecond > 0))
            return std::nullopt;
        return m.run->results.meanTokensPerSecond;
    };
    addRow(kSpeed, "tokens_per_second", "tokens/s", "tokens/s",
           "measured: mean over the training steps of real (non-padding) tokens per second",
           [&](const MethodMeasurement& m) {
               if (const auto t = tokensPerSecond(m))
                   return measured(*t, significant(*t), "mean tokens_per_second of " + runRef(m));
               return missing(notMeasuredReason(m));
           });
    addRow(kSpeed, "wall_seconds", "wall time", "seconds",
           "measured: the whole run (loading, quantizing the base for QLoRA unless cached, training, evaluation, "
           "saving)", [&](const MethodMeasurement& m) {
               if (m.run && m.run->results.wallSeconds > 0)
                   return measured(m.run->results.wallSeconds, reportDurationText(m.run->results.wallSeconds),
                                   "wall seconds of " + runRef(m));
               return missing(notMeasuredReason(m));
           });
    addRow(kSpeed, "seconds_per_million_tokens", "time per 1M training tokens", "seconds",
           "derived: 1,000,000 / tokens/s", [&](const MethodMeasurement& m) {
               if (const auto t = tokensPerSecond(m))
                   return derived(1e6 / *t, reportDurationText(1e6 / *t), "1e6 / mean tokens/s of " + runRef(m));
               return missing(notMeasuredReason(m));
           });
    addRow(kSpeed, "kwh_per_million_tokens", "energy per 1M training tokens", "kWh",
           request.watts ? "derived: " + plain(*request.watts) + " W (--watts) x time per 1M tokens"
                         : "needs the machine's power (--watts W)",
           [&](const MethodMeasurement& m) {
               if (!request.watts)
                   return missing("no power given (--watts)");
               if (const auto t = tokensPerSecond(m)) {
                   const double kwh = *request.watts * (1e6 / *t) / 3.6e6;
                   return derived(kwh, significant(kwh) + " kWh",
                                  plain(*request.watts) + " W x 1e6 / tokens/s of " + runRef(m));
               }
               return missing(notMeasuredReason(m));
           });
    addRow(kSpeed, "cost_per_million_tokens", "cost per 1M training tokens", "money",
           request.pricePerHour
               ? "derived: " + plain(*request.pricePerHour) + " per hour (--price-per-hour) x time per 1M tokens"
               : "needs the machine's price per hour (--price-per-hour X)",
           [&](const MethodMeasurement& m) {
               if (!request.pricePerHour)
                   return missing("no price per hour given (--price-per-hour)");
               if (const auto t = tokensPerSecond(m)) {
                   const double cost = *request.pricePerHour * (1e6 / *t) / 3600;
                   return derived(cost, significant(cost),
                                  plain(*request.pricePerHour) + " per hour x 1e6 / tokens/s of " + runRef(m));
               }
               return missing(notMeasuredReason(m));
           });

    // --- Within the budget ----------------------------------------------------------------
    const std::string budgetText = budgetBytes > 0 ? reportBytesText(budgetBytes) : std::string("unknown");
    addRow(kBudget, "fits_budget", "peak memory within " + budgetText, "",
           "derived: peak memory compared with the budget", [&](const MethodMeasurement& m) {
               if (budgetBytes <= 0)
                   return missing("no budget: none given and the device's free memory is unknown");
               std::optional<int64_t> peak = peakCategory(m, peakName);
               FigureSource source = FigureSource::Derived;
               std::string how = "max " + peakName + " of " + runRef(m) + " vs " + budgetText;
               if (!peak && m.estimate.available()) {
                   peak = m.estimate.peakBytes;
                   source = FigureSource::Estimated;
                   how = m.estimate.estimator + " peak vs " + budgetText;
               }
               if (!peak)
                   return missing(notMeasuredReason(m));
               const bool fits = *peak <= budgetBytes;
               return ReportCell{fits ? 1.0 : 0.0, fits ? "yes" : "no", source, how};
           });
    auto fitCell = [](const BudgetFigure& f) {
        if (!f.value)
            return missing(f.how);
        return ReportCell{static_cast<double>(*f.value), *f.value > 0 ? reportCountText(*f.value) : "none fits", f.source,
                          f.how};
    };
    const std::string fitNote =
        request.fit == FitMode::Confirm
            ? "measured: the memory estimator's answer confirmed by a few real training steps in a child process "
              "capped at the budget, stepping down until one fits (estimated where no run confirmed it)"
        : request.fit == FitMode::Estimate ? "estimated: the memory estimator's answer (--fit estimate)"
                                           : "not searched (--fit off)";
    addRow(kBudget, "largest_batch_size", "largest batch size at seq len " + std::to_string(request.seqLen), "sequences",
           fitNote, [&](const MethodMeasurement& m) { return fitCell(m.fit.largestBatch); });
    addRow(kBudget, "longest_seq_len", "longest sequence length at batch 1", "tokens", fitNote,
           [&](const MethodMeasurement& m) { return fitCell(m.fit.longestSeqLen); });

    // --- Quality --------------------------------------------------------------------------
    auto lossRow = [&](const std::string& key, const std::string& property, const std::string& note,
                       const std::function<std::optional<double>(const RunSummary&)>& pick, const std::string& metric,
                       bool perplexity) {
        addRow(kQuality, key, property, "", note, [&](const MethodMeasurement& m) {
            const std::optional<double> loss = m.run ? pick(m.run->summary) : std::nullopt;
            if (!loss)
                return missing(notMeasuredReason(m));
            if (perplexity)
                return derived(std::exp(*loss), significant(std::exp(*loss)),
                               "exp(" + metric + " " + fixed(*loss, 4) + ") of " + runRef(m));
            return measured(*loss, fixed(*loss, 4), metric + " of " + runRef(m));
        });
    };
    lossRow("final_loss", "final training loss", "measured: mean loss over the last step's target tokens",
            [](const RunSummary& s) { return s.finalLoss; }, "loss at the last step", false);
    lossRow("final_val_loss", "final validation loss", "measured: mean loss over the validation set's target tokens",
            [](const RunSummary& s) { return s.finalValLoss; }, "val_loss at the last evaluation", false);
    lossRow("best_val_loss", "best validation loss", "measured: the lowest validation loss of the run",
            [](const RunSummary& s) { return s.bestValLoss; }, "lowest val_loss", false);
    lossRow("final_val_perplexity", "final validation perplexity", "derived: exp(final validation loss)",
            [](const RunSummary& s) { return s.finalValLoss; }, "final val_loss", true);
    lossRow("best_val_perplexity", "best validation perplexity", "derived: exp(best validation loss)",
            [](const RunSummary& s) { return s.bestValLoss; }, "best val_loss", true);

    // --- Output ---------------------------------------------------------------------------
    addRow(kOutput, "adapter_bytes", "adapter size on disk", "bytes",
           "measured: bytes of the saved files (for full fine-tuning, the whole model folder)",
           [&](const MethodMeasurement& m) {
               std::string what;
               if (const auto bytes = savedBytes(m, what))
                   return bytesCell(FigureSource::Measured, *bytes, what + " of " + runRef(m));
               return missing(m.run ? "no saved adapter recorded by " + runRef(m) : notMeasuredReason(m));
           });
    return rows;
}

} // namespace tb
