// What the comparison report needs from the memory estimator and the fit finder
// (engine/memory: MemoryEstimator, FitFinder): a method's estimated peak memory by category at
// the request's settings, for a method that measuring would not fit in the budget; and the
// largest batch size / longest sequence length that fit the budget. All estimator figures enter
// the report through these two functions, each with its provenance.
//
// Thread contract: the calling thread (the one running MethodComparison); findMethodFit may run
// child training processes and polls `cancelled` between them.
#pragma once

#include "report/MethodComparisonRequest.h"
#include "report/MethodReport.h"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace tb {

// Estimated memory of one method at the request's model, seq len, batch size and rank.
struct MethodMemoryEstimate {
    std::string unavailable = "not estimated"; // "" when the figures hold; otherwise why there are none
    std::string estimator;            // what produced them, for the cells' provenance
    int64_t peakBytes = 0;            // what the process would peak at on the request's device
    int64_t baseWeightBytes = 0;      // frozen base as held (bf16, NF4 + constants), or full's trained weights
    int64_t adapterBytes = 0;         // LoRA A and B
    int64_t gradientBytes = 0;
    int64_t optimizerBytes = 0;
    int64_t trainableParameters = 0;

    bool available() const { return unavailable.empty(); }
};

MethodMemoryEstimate estimateMethodMemory(const MethodComparisonRequest& request, const std::string& method);

// One "within the budget" figure: the value, whether a real run confirmed it, and how.
struct BudgetFigure {
    std::optional<int64_t> value;
    FigureSource source = FigureSource::NotAvailable;
    std::string how;
};

struct MethodFit {
    BudgetFigure largestBatch;  // at request.seqLen
    BudgetFigure longestSeqLen; // at batch size 1
};

// FitFinder for one method at the request's seq len, rank and device: the estimator's answers,
// confirmed by real capped training runs when request.fit is Confirm (FitMode::Off: no
// figures). budgetBytes <= 0: unknown budget (no figures). cliExecutable runs the confirming
// children; `cancelled` returning true stops the search (polled every 50 ms); `log` gets the
// finder's progress lines.
MethodFit findMethodFit(const MethodComparisonRequest& request, const std::string& method, int64_t budgetBytes,
                        const std::string& cliExecutable, const std::function<bool()>& cancelled,
                        const std::function<void(const std::string&)>& log);

} // namespace tb
