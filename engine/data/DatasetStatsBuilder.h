// Accumulates DatasetStats for one split: usable examples as they are added, skipped records
// with their warnings ("file:line: reason"; the first 100 kept, the rest only counted).
#pragma once

#include "data/TrainingDataset.h"

#include <cstdint>
#include <string>

namespace tb {

class DatasetStatsBuilder {
public:
    static constexpr size_t kMaxWarnings = 100;

    // Histogram buckets: a power of two near maxSeqLen / 16 (32 at the default 512), so the
    // range up to maxSeqLen has about 16 bars whatever the length.
    explicit DatasetStatsBuilder(int64_t maxSeqLen);

    // untruncatedLength: the example's tokens before truncation at maxSeqLen.
    void addExample(const TokenizedExample& example, int64_t untruncatedLength);
    void addSkipped(const std::string& file, int64_t line, const std::string& reason);
    // A note that is not a skipped record (e.g. no eos_token in the config).
    void addWarning(const std::string& warning);

    const DatasetStats& stats() const { return m_stats; }
    DatasetStats take(int64_t sequences);

    // "line 12: missing field ..." of the first skipped record, "" when none.
    const std::string& firstSkipReason() const { return m_firstSkip; }

private:
    DatasetStats m_stats;
    std::string m_firstSkip;
};

} // namespace tb
