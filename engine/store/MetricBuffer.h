// Buffers one run's metrics and memory samples and writes them in batches: one transaction
// (one WAL commit) per `maxRecords` records or per `maxDelayMs` since the oldest pending
// record, whichever comes first, and on flush() and destruction. A step's ~14 records cost a
// few microseconds this way instead of a commit each (see bench_store, docs/database.md).
//
// Each commit also moves runs.last_step to the highest step committed and heartbeat_at to
// now, in the same transaction: after a crash, last_step is exactly what the surviving
// metrics reached, and heartbeat_at says when the process was last heard from.
//
// The delay is checked when a record arrives (no timer thread): a trainer that stops
// appending must flush(), which finishRun's caller does anyway.
//
// Lifetime: the connection (the RunStore's database()) must outlive the buffer.
// Thread affinity: the thread that owns the connection (the training thread). A failed
// commit (e.g. the disk is full) throws StoreError and keeps the records pending, so a later
// flush() can retry; the destructor flushes and swallows errors.
#pragma once

#include "store/SqliteStatement.h"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tb {

class SqliteDatabase;

struct MetricBufferOptions {
    size_t maxRecords = 512;  // metrics + memory samples per transaction
    int64_t maxDelayMs = 1000; // how stale a reader's view of the run may get
};

class MetricBuffer {
public:
    MetricBuffer(SqliteDatabase& db, int64_t runId, MetricBufferOptions options = {});
    ~MetricBuffer();
    MetricBuffer(const MetricBuffer&) = delete;
    MetricBuffer& operator=(const MetricBuffer&) = delete;

    // name: loss, val_loss, lr, grad_norm, tokens_per_second, perplexity, ... (free text).
    void appendMetric(int64_t step, std::optional<int64_t> tokens, std::optional<double> wallSeconds,
                      std::string_view name, double value);
    // category: base_weights, adapters, gradients, optimizer, rss, peak_rss, cuda_* (bytes).
    // worker: the data-parallel worker's rank the sample was taken in (0 in a one-process run).
    void appendMemory(int64_t step, std::optional<double> seconds, std::string_view category, int64_t bytes,
                      int worker = 0);
    // Commits everything pending now.
    void flush();

    size_t pending() const { return m_metrics.size() + m_memory.size(); }
    int64_t commits() const { return m_commits; }
    int64_t runId() const { return m_runId; }

private:
    struct Metric {
        int64_t step;
        std::optional<int64_t> tokens;
        std::optional<double> wallSeconds;
        std::string name;
        double value;
    };
    struct Memory {
        int64_t step;
        std::optional<double> seconds;
        std::string category;
        int64_t bytes;
        int worker;
    };

    void recordArrived();

    SqliteDatabase& m_db;
    int64_t m_runId;
    MetricBufferOptions m_options;
    // Prepared once, reused for every batch.
    SqliteStatement m_insertMetric;
    SqliteStatement m_insertMemory;
    SqliteStatement m_updateRun;
    std::vector<Metric> m_metrics;
    std::vector<Memory> m_memory;
    std::chrono::steady_clock::time_point m_oldestPending;
    int64_t m_commits = 0;
};

} // namespace tb
