// The experiment store's read side, as the CLI (`runs list/show/compare`) and the GUI (run
// table, curves, compare view) need it. Every query that takes several statements runs in one
// read transaction: in WAL mode that is a consistent snapshot while a trainer keeps writing
// through its own connection, and it never blocks that writer.
//
// Metric names the results look for: loss, val_loss, tokens_per_second. Memory categories:
// peak_rss / rss (host) and cuda_peak_allocated / cuda_allocated (GPU). docs/database.md
// lists them. A data-parallel run records each worker's memory samples (MemoryPoint::worker);
// peaks (RunSummary, RunResults::peakMemory) are over all of the run's workers.
//
// Thread affinity: the thread that owns the connection. Errors throw StoreError.
#pragma once

#include "store/StoreTypes.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tb {

class SqliteDatabase;

class RunQueries {
public:
    explicit RunQueries(SqliteDatabase& db) : m_db(db) {}

    // Newest first.
    std::vector<RunSummary> listRuns(const RunFilter& filter = {});
    // Throws StoreError when there is no such run.
    RunDetails getRun(int64_t runId);
    // The newest run recorded for a run folder (TrainConfig::outputDir), so that
    // `train --resume RUN_DIR` continues the same row; nullopt when none was recorded.
    std::optional<int64_t> findRunByDir(const std::string& runDir);
    // Runs in the order given; the config settings that differ; results side by side.
    RunComparison compareRuns(const std::vector<int64_t>& runIds);

    // A metric's curve in step order; afterStep lets a polling GUI fetch only what is new.
    // A non-finite value the trainer reported (SQLite keeps NaN as NULL) comes back as NaN.
    std::vector<MetricPoint> metricSeries(int64_t runId, const std::string& name, int64_t afterStep = -1);
    // Every worker's samples, in step order (within a step: by worker, then as recorded).
    std::vector<MemoryPoint> memorySeries(int64_t runId, const std::string& category, int64_t afterStep = -1);
    std::vector<std::string> metricNames(int64_t runId);
    std::vector<std::string> memoryCategories(int64_t runId);

private:
    RunSummary summary(int64_t runId);
    RunResults results(int64_t runId, const RunSummary& summary);
    std::vector<std::string> distinctValues(const char* table, const char* column, int64_t runId);

    SqliteDatabase& m_db;
};

} // namespace tb
