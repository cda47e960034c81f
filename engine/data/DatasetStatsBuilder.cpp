#include "data/DatasetStatsBuilder.h"

namespace tb {

DatasetStatsBuilder::DatasetStatsBuilder(int64_t maxSeqLen)
{
    int64_t bucket = 1;
    while (bucket * 16 < maxSeqLen)
        bucket *= 2;
    m_stats.histogramBucket = bucket;
}

void DatasetStatsBuilder::addExample(const TokenizedExample& example, int64_t untruncatedLength)
{
    ++m_stats.records;
    if (example.truncated)
        ++m_stats.truncated;
    m_stats.tokens += int64_t(example.ids.size());
    for (uint8_t m : example.lossMask)
        m_stats.lossTokens += m;
    const auto bucket = size_t(untruncatedLength / m_stats.histogramBucket);
    if (m_stats.lengthHistogram.size() <= bucket)
        m_stats.lengthHistogram.resize(bucket + 1, 0);
    ++m_stats.lengthHistogram[bucket];
}

void DatasetStatsBuilder::addSkipped(const std::string& file, int64_t line, const std::string& reason)
{
    ++m_stats.skipped;
    if (m_firstSkip.empty())
        m_firstSkip = "line " + std::to_string(line) + ": " + reason;
    addWarning(file + ":" + std::to_string(line) + ": " + reason);
}

void DatasetStatsBuilder::addWarning(const std::string& warning)
{
    if (m_stats.warnings.size() < kMaxWarnings)
        m_stats.warnings.push_back(warning);
    else
        ++m_stats.warningsOmitted;
}

DatasetStats DatasetStatsBuilder::take(int64_t sequences)
{
    m_stats.sequences = sequences;
    return std::move(m_stats);
}

} // namespace tb
