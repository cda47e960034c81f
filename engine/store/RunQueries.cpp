#include "store/RunQueries.h"

#include "store/ArtifactFiles.h"
#include "store/ConfigDiff.h"
#include "store/SqliteDatabase.h"
#include "store/SqliteTransaction.h"
#include "store/StoreError.h"

#include <limits>

namespace tb {

namespace {

// One row of the run list; the filter clause is appended. The per-run subqueries are index
// seeks (metrics_by_run, memory_by_run), so the list stays fast however long the runs were.
constexpr const char* kSummarySelect = R"SQL(
SELECT r.id, r.name, r.method, r.status, r.reason,
       COALESCE(m.path, ''), COALESCE(m.architecture, ''), COALESCE(d.path, ''),
       r.lora_rank, r.created_at, COALESCE(r.started_at, ''), COALESCE(r.ended_at, ''),
       r.last_step, r.total_steps,
       (SELECT value FROM metrics WHERE run_id = r.id AND name = 'loss' ORDER BY step DESC LIMIT 1),
       (SELECT value FROM metrics WHERE run_id = r.id AND name = 'val_loss' ORDER BY step DESC LIMIT 1),
       (SELECT MIN(value) FROM metrics WHERE run_id = r.id AND name = 'val_loss'),
       COALESCE((SELECT MAX(bytes) FROM memory_samples WHERE run_id = r.id AND category = 'peak_rss'),
                (SELECT MAX(bytes) FROM memory_samples WHERE run_id = r.id AND category = 'rss')),
       COALESCE((SELECT MAX(bytes) FROM memory_samples WHERE run_id = r.id AND category = 'cuda_peak_allocated'),
                (SELECT MAX(bytes) FROM memory_samples WHERE run_id = r.id AND category = 'cuda_allocated')),
       (SELECT group_concat(tag, char(31)) FROM (SELECT tag FROM tags WHERE run_id = r.id ORDER BY tag))
FROM runs r
LEFT JOIN models m ON m.id = r.model_id
LEFT JOIN datasets d ON d.id = r.dataset_id
)SQL";

std::vector<std::string> splitTags(const std::string& joined)
{
    std::vector<std::string> tags;
    if (joined.empty())
        return tags;
    size_t start = 0;
    for (;;) {
        const size_t end = joined.find('\x1f', start); // char(31), a separator no tag contains
        tags.push_back(joined.substr(start, end - start));
        if (end == std::string::npos)
            return tags;
        start = end + 1;
    }
}

RunSummary readSummary(const SqliteStatement& row)
{
    RunSummary s;
    s.id = row.columnInt(0);
    s.name = row.columnText(1);
    s.method = row.columnText(2);
    s.status = runStatusFromName(row.columnText(3));
    s.reason = row.columnText(4);
    s.modelPath = row.columnText(5);
    s.modelArchitecture = row.columnText(6);
    s.datasetPath = row.columnText(7);
    s.loraRank = row.columnOptionalInt(8);
    s.createdAt = row.columnText(9);
    s.startedAt = row.columnText(10);
    s.endedAt = row.columnText(11);
    s.lastStep = row.columnInt(12);
    s.totalSteps = row.columnOptionalInt(13);
    s.finalLoss = row.columnOptionalDouble(14);
    s.finalValLoss = row.columnOptionalDouble(15);
    s.bestValLoss = row.columnOptionalDouble(16);
    s.peakResidentBytes = row.columnOptionalInt(17);
    s.peakCudaBytes = row.columnOptionalInt(18);
    s.tags = splitTags(row.columnText(19));
    return s;
}

double valueOrNan(const SqliteStatement& row, int column)
{
    return row.isNull(column) ? std::numeric_limits<double>::quiet_NaN() : row.columnDouble(column);
}

} // namespace

std::vector<RunSummary> RunQueries::listRuns(const RunFilter& filter)
{
    SqliteStatement q = m_db.prepare(std::string(kSummarySelect) +
                                     "WHERE (?1 IS NULL OR r.status = ?1) "
                                     "  AND (?2 = '' OR EXISTS (SELECT 1 FROM tags t WHERE t.run_id = r.id AND t.tag = ?2)) "
                                     "ORDER BY r.id DESC LIMIT ?3");
    if (filter.status)
        q.bindText(1, runStatusName(*filter.status));
    q.bindText(2, filter.tag).bindInt(3, filter.limit < 0 ? -1 : filter.limit);
    std::vector<RunSummary> runs;
    while (q.step())
        runs.push_back(readSummary(q));
    return runs;
}

RunSummary RunQueries::summary(int64_t runId)
{
    SqliteStatement q = m_db.prepare(std::string(kSummarySelect) + "WHERE r.id = ?1");
    q.bindInt(1, runId);
    if (!q.step())
        throw StoreError(m_db.path(), "has no run with id " + std::to_string(runId));
    return readSummary(q);
}

std::vector<std::string> RunQueries::distinctValues(const char* table, const char* column, int64_t runId)
{
    // Walks the index from one distinct value to the next (a seek each) instead of reading
    // every row of a long run: metrics hold ~8 rows per step, names only a handful.
    SqliteStatement next = m_db.prepare(std::string("SELECT MIN(") + column + ") FROM " + table +
                                        " WHERE run_id = ?1 AND " + column + " > ?2");
    std::vector<std::string> values;
    std::string last; // "" sorts before every name
    for (;;) {
        next.reset();
        next.bindInt(1, runId).bindText(2, last);
        if (!next.step() || next.isNull(0))
            return values;
        last = next.columnText(0);
        values.push_back(last);
    }
}

std::vector<std::string> RunQueries::metricNames(int64_t runId)
{
    return distinctValues("metrics", "name", runId);
}

std::vector<std::string> RunQueries::memoryCategories(int64_t runId)
{
    return distinctValues("memory_samples", "category", runId);
}

RunResults RunQueries::results(int64_t runId, const RunSummary& summary)
{
    RunResults r;
    r.finalLoss = summary.finalLoss;
    r.finalValLoss = summary.finalValLoss;
    r.bestValLoss = summary.bestValLoss;

    SqliteStatement tps = m_db.prepare(
        "SELECT AVG(value) FROM metrics WHERE run_id = ?1 AND name = 'tokens_per_second'");
    tps.bindInt(1, runId).step();
    r.meanTokensPerSecond = tps.columnOptionalDouble(0);

    SqliteStatement peak = m_db.prepare("SELECT MAX(bytes) FROM memory_samples WHERE run_id = ?1 AND category = ?2");
    for (const std::string& category : memoryCategories(runId)) {
        peak.reset();
        peak.bindInt(1, runId).bindText(2, category).step();
        r.peakMemory[category] = peak.columnInt(0);
    }

    // A running run's wall time includes its current session so far.
    SqliteStatement run = m_db.prepare(
        "SELECT trainable_parameters, wall_seconds + CASE WHEN status = 'running' AND owner_since IS NOT NULL "
        "  THEN MAX(0, (julianday('now') - julianday(owner_since)) * 86400.0) ELSE 0 END "
        "FROM runs WHERE id = ?1");
    run.bindInt(1, runId).step();
    r.trainableParameters = run.columnOptionalInt(0);
    r.wallSeconds = run.columnDouble(1);

    SqliteStatement adapter = m_db.prepare(
        "SELECT size_bytes FROM artifacts WHERE run_id = ?1 AND kind = 'adapter' ORDER BY id DESC LIMIT 1");
    adapter.bindInt(1, runId);
    if (adapter.step())
        r.adapterBytes = adapter.columnOptionalInt(0);
    return r;
}

RunDetails RunQueries::getRun(int64_t runId)
{
    SqliteTransaction snapshot(m_db, SqliteTransaction::Mode::Read);
    RunDetails d;
    d.summary = summary(runId);

    SqliteStatement row = m_db.prepare(
        "SELECT config_json, lora_alpha, COALESCE(lora_targets, ''), learning_rate, batch_size, seq_len, seed, "
        "  COALESCE(quant, ''), app_version, torch_version, device, run_dir, owner_pid, COALESCE(heartbeat_at, ''), "
        "  last_checkpoint, note FROM runs WHERE id = ?1");
    row.bindInt(1, runId).step();
    const std::string configText = row.columnText(0);
    // Written by createRun from a json value; a hand-edited row that no longer parses is
    // shown as its text rather than making the run unreadable.
    d.config = nlohmann::json::parse(configText, nullptr, false);
    if (d.config.is_discarded())
        d.config = configText;
    d.loraAlpha = row.columnOptionalDouble(1);
    d.loraTargets = row.columnText(2);
    d.learningRate = row.columnOptionalDouble(3);
    d.batchSize = row.columnOptionalInt(4);
    d.seqLen = row.columnOptionalInt(5);
    d.seed = row.columnOptionalInt(6);
    d.quant = row.columnText(7);
    d.appVersion = row.columnText(8);
    d.torchVersion = row.columnText(9);
    d.device = row.columnText(10);
    d.runDir = row.columnText(11);
    d.ownerPid = row.columnOptionalInt(12);
    d.heartbeatAt = row.columnText(13);
    d.lastCheckpoint = row.columnText(14);
    d.note = row.columnText(15);

    SqliteStatement last = m_db.prepare(
        "SELECT value FROM metrics WHERE run_id = ?1 AND name = ?2 ORDER BY step DESC LIMIT 1");
    for (const std::string& name : metricNames(runId)) {
        last.reset();
        last.bindInt(1, runId).bindText(2, name).step();
        d.finalMetrics[name] = valueOrNan(last, 0);
    }
    d.results = results(runId, d.summary);

    SqliteStatement artifacts = m_db.prepare(
        "SELECT id, kind, path, size_bytes, step, created_at FROM artifacts WHERE run_id = ?1 ORDER BY id");
    artifacts.bindInt(1, runId);
    while (artifacts.step()) {
        ArtifactInfo a;
        a.id = artifacts.columnInt(0);
        a.runId = runId;
        a.kind = artifactKindFromName(artifacts.columnText(1));
        a.path = artifacts.columnText(2);
        a.sizeBytes = artifacts.columnOptionalInt(3);
        a.step = artifacts.columnOptionalInt(4);
        a.createdAt = artifacts.columnText(5);
        // A deleted file is a fact to show, not an error: the listing goes on.
        a.missing = !ArtifactFiles::exists(a.path);
        d.artifacts.push_back(std::move(a));
    }
    snapshot.commit();
    return d;
}

RunComparison RunQueries::compareRuns(const std::vector<int64_t>& runIds)
{
    SqliteTransaction snapshot(m_db, SqliteTransaction::Mode::Read);
    RunComparison comparison;
    std::vector<nlohmann::json> configs;
    SqliteStatement config = m_db.prepare("SELECT config_json FROM runs WHERE id = ?1");
    for (const int64_t id : runIds) {
        comparison.runs.push_back(summary(id));
        comparison.results.push_back(results(id, comparison.runs.back()));
        config.reset();
        config.bindInt(1, id).step();
        nlohmann::json parsed = nlohmann::json::parse(config.columnText(0), nullptr, false);
        configs.push_back(parsed.is_discarded() ? nlohmann::json(config.columnText(0)) : parsed);
    }
    comparison.differences = ConfigDiff::differences(configs);
    snapshot.commit();
    return comparison;
}

std::vector<MetricPoint> RunQueries::metricSeries(int64_t runId, const std::string& name, int64_t afterStep)
{
    SqliteStatement q = m_db.prepare(
        "SELECT step, tokens, wall_seconds, value FROM metrics "
        "WHERE run_id = ?1 AND name = ?2 AND step > ?3 ORDER BY step, rowid");
    q.bindInt(1, runId).bindText(2, name).bindInt(3, afterStep);
    std::vector<MetricPoint> points;
    while (q.step())
        points.push_back({q.columnInt(0), q.columnOptionalInt(1), q.columnOptionalDouble(2), valueOrNan(q, 3)});
    return points;
}

std::vector<MemoryPoint> RunQueries::memorySeries(int64_t runId, const std::string& category, int64_t afterStep)
{
    SqliteStatement q = m_db.prepare(
        "SELECT step, seconds, bytes, worker FROM memory_samples "
        "WHERE run_id = ?1 AND category = ?2 AND step > ?3 ORDER BY step, worker, rowid");
    q.bindInt(1, runId).bindText(2, category).bindInt(3, afterStep);
    std::vector<MemoryPoint> points;
    while (q.step())
        points.push_back({q.columnInt(0), q.columnOptionalDouble(1), q.columnInt(2), static_cast<int>(q.columnInt(3))});
    return points;
}

} // namespace tb

namespace tb {

std::optional<int64_t> RunQueries::findRunByDir(const std::string& runDir)
{
    SqliteStatement row = m_db.prepare("SELECT id FROM runs WHERE run_dir = ?1 ORDER BY id DESC LIMIT 1");
    row.bindText(1, runDir);
    if (!row.step())
        return std::nullopt;
    return row.columnInt(0);
}

} // namespace tb
