#include "report/MethodBudget.h"

namespace tb {

namespace {

// Until engine/memory (MemoryEstimator, FitFinder) is in the build, the report says so in
// these cells instead of showing a number nobody computed.
const char* const kNoEstimator = "not computed: the memory estimator (engine/memory) is not part of this build";

} // namespace

MethodMemoryEstimate estimateMethodMemory(const MethodComparisonRequest& /*request*/, const std::string& /*method*/)
{
    MethodMemoryEstimate e;
    e.unavailable = kNoEstimator;
    return e;
}

MethodFit findMethodFit(const MethodComparisonRequest& /*request*/, const std::string& /*method*/, int64_t /*budgetBytes*/,
                        const std::string& /*cliExecutable*/, const std::function<bool()>& /*cancelled*/)
{
    MethodFit fit;
    fit.largestBatch.how = kNoEstimator;
    fit.longestSeqLen.how = kNoEstimator;
    return fit;
}

} // namespace tb
