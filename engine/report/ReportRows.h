// The comparison report's rows, computed from what each method's run recorded in the
// experiment database (and, for a method not run, from the memory estimator): peak memory and
// its breakdown, base-weight bytes, trainable parameters, tokens/s, wall time, cost per million
// training tokens, the budget figures, losses and perplexities, adapter size on disk. Every
// cell says whether it was measured, estimated or derived, and from what.
//
// Pure computation: no files, no database; any thread.
#pragma once

#include "report/MethodBudget.h"
#include "report/MethodComparisonRequest.h"
#include "report/MethodReport.h"
#include "store/StoreTypes.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tb {

struct MethodMeasurement {
    MethodColumn column;
    std::optional<RunDetails> run; // the database's record of the method's run; nullopt: not run
    MethodMemoryEstimate estimate; // used where the run did not measure (not run, or no sample)
    MethodFit fit;
};

// budgetBytes <= 0: unknown budget. The rows' cells follow `measurements`' order.
std::vector<ReportRow> buildReportRows(const MethodComparisonRequest& request,
                                       const std::vector<MethodMeasurement>& measurements, int64_t budgetBytes);

// Display helpers shared by the report's renderers: 1536 -> "1.5 KiB"; 75.2 -> "1 min 15 s";
// 3950848 -> "3,950,848".
std::string reportBytesText(int64_t bytes);
std::string reportDurationText(double seconds);
std::string reportCountText(int64_t count);

} // namespace tb
