#include "store/MetricBuffer.h"

#include "store/SqliteDatabase.h"
#include "store/SqliteTransaction.h"
#include "store/StoreSchema.h"

#include <algorithm>

namespace tb {

MetricBuffer::MetricBuffer(SqliteDatabase& db, int64_t runId, MetricBufferOptions options)
    : m_db(db),
      m_runId(runId),
      m_options(options),
      m_insertMetric(db.prepare("INSERT INTO metrics (run_id, step, tokens, wall_seconds, name, value) "
                                "VALUES (?1, ?2, ?3, ?4, ?5, ?6)")),
      m_insertMemory(db.prepare("INSERT INTO memory_samples (run_id, step, seconds, category, bytes, worker) "
                                "VALUES (?1, ?2, ?3, ?4, ?5, ?6)")),
      m_updateRun(db.prepare("UPDATE runs SET last_step = MAX(last_step, ?2), heartbeat_at = " TB_SQL_NOW
                             " WHERE id = ?1"))
{
    m_metrics.reserve(m_options.maxRecords);
    m_memory.reserve(m_options.maxRecords);
}

MetricBuffer::~MetricBuffer()
{
    try {
        flush();
    } catch (...) {
        // Destructors must not throw; a caller who cares calls flush() and sees the error.
    }
}

void MetricBuffer::appendMetric(int64_t step, std::optional<int64_t> tokens, std::optional<double> wallSeconds,
                                std::string_view name, double value)
{
    if (pending() == 0)
        m_oldestPending = std::chrono::steady_clock::now();
    m_metrics.push_back({step, tokens, wallSeconds, std::string(name), value});
    recordArrived();
}

void MetricBuffer::appendMemory(int64_t step, std::optional<double> seconds, std::string_view category, int64_t bytes,
                                int worker)
{
    if (pending() == 0)
        m_oldestPending = std::chrono::steady_clock::now();
    m_memory.push_back({step, seconds, std::string(category), bytes, worker});
    recordArrived();
}

void MetricBuffer::recordArrived()
{
    const auto age = std::chrono::steady_clock::now() - m_oldestPending;
    if (pending() >= m_options.maxRecords || age >= std::chrono::milliseconds(m_options.maxDelayMs))
        flush();
}

void MetricBuffer::flush()
{
    if (pending() == 0)
        return;
    int64_t highestStep = 0;
    SqliteTransaction transaction(m_db);
    for (const Metric& m : m_metrics) {
        m_insertMetric.reset();
        m_insertMetric.bindInt(1, m_runId).bindInt(2, m.step).bindInt(3, m.tokens).bindDouble(4, m.wallSeconds);
        m_insertMetric.bindText(5, m.name).bindDouble(6, m.value).run();
        highestStep = std::max(highestStep, m.step);
    }
    for (const Memory& m : m_memory) {
        m_insertMemory.reset();
        m_insertMemory.bindInt(1, m_runId).bindInt(2, m.step).bindDouble(3, m.seconds);
        m_insertMemory.bindText(4, m.category).bindInt(5, m.bytes).bindInt(6, int64_t(m.worker)).run();
        highestStep = std::max(highestStep, m.step);
    }
    m_updateRun.reset();
    m_updateRun.bindInt(1, m_runId).bindInt(2, highestStep).run();
    transaction.commit();
    // Cleared only after the commit: a failed batch stays pending for the next try.
    m_metrics.clear();
    m_memory.clear();
    ++m_commits;
}

} // namespace tb
