#include "store/RunStore.h"

#include "store/ArtifactFiles.h"
#include "store/ProcessIdentity.h"
#include "store/SqliteTransaction.h"
#include "store/StoreError.h"
#include "store/StorePaths.h"
#include "store/StoreSchema.h"

#include <stdexcept>

namespace tb {

namespace {

std::string trimmed(const std::string& text)
{
    const size_t first = text.find_first_not_of(" \t\r\n");
    if (first == std::string::npos)
        return {};
    return text.substr(first, text.find_last_not_of(" \t\r\n") - first + 1);
}

bool isKnownMethod(const std::string& method)
{
    return method == "lora" || method == "qlora" || method == "full";
}

} // namespace

RunStore::RunStore(const std::string& databasePath, const StoreOptions& options)
    : m_db(databasePath, options.busyTimeoutMs),
      m_workspace(options.workspace.empty() ? StorePaths::workspaceFor(databasePath) : options.workspace)
{
    StoreSchema::prepare(m_db);
    if (options.recoverInterruptedRuns)
        recoverInterruptedRuns();
}

void RunStore::throwNoRun(int64_t runId)
{
    throw StoreError(path(), "has no run with id " + std::to_string(runId));
}

void RunStore::requireRun(int64_t runId)
{
    SqliteStatement q = m_db.prepare("SELECT 1 FROM runs WHERE id = ?1");
    q.bindInt(1, runId);
    if (!q.step())
        throwNoRun(runId);
}

int64_t RunStore::registerModel(const ModelRecord& model)
{
    SqliteTransaction transaction(m_db);
    SqliteStatement insert = m_db.prepare(
        "INSERT OR IGNORE INTO models (path, architecture, parameter_count, content_hash, added_at) "
        "VALUES (?1, ?2, ?3, ?4, " TB_SQL_NOW ")");
    insert.bindText(1, model.path).bindText(2, model.architecture).bindInt(3, model.parameterCount);
    insert.bindText(4, model.contentHash).run();
    SqliteStatement find = m_db.prepare("SELECT id FROM models WHERE path = ?1 AND content_hash = ?2");
    find.bindText(1, model.path).bindText(2, model.contentHash).step();
    const int64_t id = find.columnInt(0);
    transaction.commit();
    return id;
}

int64_t RunStore::registerDataset(const DatasetRecord& dataset)
{
    SqliteTransaction transaction(m_db);
    SqliteStatement insert = m_db.prepare(
        "INSERT OR IGNORE INTO datasets (path, format, record_count, token_count, content_hash, added_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5, " TB_SQL_NOW ")");
    insert.bindText(1, dataset.path).bindText(2, dataset.format).bindInt(3, dataset.recordCount);
    insert.bindInt(4, dataset.tokenCount).bindText(5, dataset.contentHash).run();
    SqliteStatement find = m_db.prepare("SELECT id FROM datasets WHERE path = ?1 AND content_hash = ?2");
    find.bindText(1, dataset.path).bindText(2, dataset.contentHash).step();
    const int64_t id = find.columnInt(0);
    transaction.commit();
    return id;
}

int64_t RunStore::createRun(const NewRun& run)
{
    if (!isKnownMethod(run.method))
        throw std::invalid_argument("unknown training method \"" + run.method + "\" (known: lora, qlora, full)");
    if (run.status != RunStatus::Running && run.status != RunStatus::Queued)
        throw std::invalid_argument("a new run is queued or running, not " + std::string(runStatusName(run.status)));
    const bool running = run.status == RunStatus::Running;
    const ProcessIdentity owner = ProcessIdentity::current();

    SqliteTransaction transaction(m_db);
    SqliteStatement insert = m_db.prepare(
        "INSERT INTO runs (name, method, model_id, dataset_id, config_json, lora_rank, lora_alpha, lora_targets, "
        "  learning_rate, batch_size, seq_len, quant, seed, total_steps, status, created_at, started_at, "
        "  app_version, torch_version, device, run_dir, owner_pid, owner_start, owner_since, heartbeat_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, " TB_SQL_NOW ", "
        "  CASE WHEN ?16 THEN " TB_SQL_NOW " END, ?17, ?18, ?19, ?20, ?21, ?22, "
        "  CASE WHEN ?16 THEN " TB_SQL_NOW " END, CASE WHEN ?16 THEN " TB_SQL_NOW " END)");
    insert.bindText(1, run.name).bindText(2, run.method).bindInt(3, run.modelId).bindInt(4, run.datasetId);
    insert.bindText(5, run.config.dump()).bindInt(6, run.loraRank).bindDouble(7, run.loraAlpha);
    insert.bindText(8, run.loraTargets).bindDouble(9, run.learningRate).bindInt(10, run.batchSize);
    insert.bindInt(11, run.seqLen).bindText(12, run.quant).bindInt(13, run.seed).bindInt(14, run.totalSteps);
    insert.bindText(15, runStatusName(run.status)).bindInt(16, running ? 1 : 0);
    insert.bindText(17, run.appVersion).bindText(18, run.torchVersion).bindText(19, run.device);
    insert.bindText(20, run.runDir);
    if (running)
        insert.bindInt(21, owner.pid).bindText(22, owner.startMarker);
    insert.run();
    const int64_t id = m_db.lastInsertRowId();
    if (trimmed(run.name).empty()) {
        SqliteStatement name = m_db.prepare("UPDATE runs SET name = ?1 WHERE id = ?2");
        name.bindText(1, "run-" + std::to_string(id)).bindInt(2, id).run();
    }
    transaction.commit();
    return id;
}

void RunStore::startRun(int64_t runId)
{
    const ProcessIdentity owner = ProcessIdentity::current();
    SqliteTransaction transaction(m_db);
    SqliteStatement update = m_db.prepare(
        "UPDATE runs SET status = 'running', reason = '', started_at = " TB_SQL_NOW ", ended_at = NULL, "
        "  owner_pid = ?2, owner_start = ?3, owner_since = " TB_SQL_NOW ", heartbeat_at = " TB_SQL_NOW " "
        "WHERE id = ?1 AND status = 'queued'");
    update.bindInt(1, runId).bindInt(2, owner.pid).bindText(3, owner.startMarker).run();
    if (m_db.changes() == 0) {
        requireRun(runId);
        throw StoreError(path(), "run " + std::to_string(runId) + " is not queued, so it cannot be started");
    }
    transaction.commit();
}

void RunStore::resumeRun(int64_t runId, std::optional<int64_t> fromStep)
{
    const ProcessIdentity owner = ProcessIdentity::current();
    SqliteTransaction transaction(m_db);
    SqliteStatement row = m_db.prepare("SELECT status, owner_pid, owner_start FROM runs WHERE id = ?1");
    row.bindInt(1, runId);
    if (!row.step())
        throwNoRun(runId);
    const bool ours = row.columnInt(1) == owner.pid && row.columnText(2) == owner.startMarker;
    if (row.columnText(0) == "running" && !ours && ProcessIdentity::isAlive(row.columnInt(1), row.columnText(2)))
        throw StoreError(path(), "run " + std::to_string(runId) + " is still running in process " +
                                     std::to_string(row.columnInt(1)) + "; it cannot be resumed twice");
    if (fromStep) {
        for (const char* sql : {"DELETE FROM metrics WHERE run_id = ?1 AND step > ?2",
                                "DELETE FROM memory_samples WHERE run_id = ?1 AND step > ?2"}) {
            SqliteStatement drop = m_db.prepare(sql);
            drop.bindInt(1, runId).bindInt(2, *fromStep).run();
        }
    }
    SqliteStatement update = m_db.prepare(
        "UPDATE runs SET status = 'running', reason = '', ended_at = NULL, "
        "  started_at = COALESCE(started_at, " TB_SQL_NOW "), last_step = COALESCE(?2, last_step), "
        "  owner_pid = ?3, owner_start = ?4, owner_since = " TB_SQL_NOW ", heartbeat_at = " TB_SQL_NOW " "
        "WHERE id = ?1");
    update.bindInt(1, runId).bindInt(2, fromStep).bindInt(3, owner.pid).bindText(4, owner.startMarker).run();
    transaction.commit();
}

int64_t RunStore::insertArtifact(int64_t runId, ArtifactKind kind, const std::string& artifactPath,
                                 std::optional<int64_t> step, std::optional<int64_t> sizeBytes)
{
    if (!sizeBytes)
        sizeBytes = ArtifactFiles::sizeOnDisk(artifactPath);
    SqliteStatement insert = m_db.prepare(
        "INSERT INTO artifacts (run_id, kind, path, size_bytes, step, created_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5, " TB_SQL_NOW ")");
    insert.bindInt(1, runId).bindText(2, artifactKindName(kind)).bindText(3, artifactPath);
    insert.bindInt(4, sizeBytes).bindInt(5, step).run();
    return m_db.lastInsertRowId();
}

int64_t RunStore::addArtifact(int64_t runId, ArtifactKind kind, const std::string& artifactPath,
                              std::optional<int64_t> step, std::optional<int64_t> sizeBytes)
{
    SqliteTransaction transaction(m_db);
    requireRun(runId);
    const int64_t id = insertArtifact(runId, kind, artifactPath, step, sizeBytes);
    transaction.commit();
    return id;
}

void RunStore::recordCheckpoint(int64_t runId, int64_t step, const std::string& checkpointPath)
{
    SqliteTransaction transaction(m_db);
    SqliteStatement update = m_db.prepare(
        "UPDATE runs SET last_checkpoint = ?2, last_step = MAX(last_step, ?3), heartbeat_at = " TB_SQL_NOW " "
        "WHERE id = ?1");
    update.bindInt(1, runId).bindText(2, checkpointPath).bindInt(3, step).run();
    if (m_db.changes() == 0)
        throwNoRun(runId);
    insertArtifact(runId, ArtifactKind::Checkpoint, checkpointPath, step, std::nullopt);
    transaction.commit();
}

void RunStore::finishRun(int64_t runId, const RunEnd& end)
{
    if (end.status != RunStatus::Finished && end.status != RunStatus::Failed && end.status != RunStatus::Cancelled)
        throw std::invalid_argument("a run ends finished, failed or cancelled, not " +
                                    std::string(runStatusName(end.status)));
    SqliteTransaction transaction(m_db);
    // Without a caller's figure, this session's wall time is measured from when this owner took
    // the run (owner_since), so a resumed run adds up its sessions.
    SqliteStatement update = m_db.prepare(
        "UPDATE runs SET status = ?2, reason = ?3, ended_at = " TB_SQL_NOW ", "
        "  last_step = CASE WHEN ?4 >= 0 THEN ?4 ELSE MAX(last_step, "
        "    COALESCE((SELECT MAX(step) FROM metrics WHERE run_id = ?1), 0)) END, "
        "  last_checkpoint = CASE WHEN ?5 <> '' THEN ?5 ELSE last_checkpoint END, "
        "  trainable_parameters = COALESCE(?6, trainable_parameters), "
        "  wall_seconds = wall_seconds + COALESCE(?7, "
        "    MAX(0, (julianday('now') - julianday(owner_since)) * 86400.0), 0), "
        "  owner_since = NULL, heartbeat_at = " TB_SQL_NOW " "
        "WHERE id = ?1");
    update.bindInt(1, runId).bindText(2, runStatusName(end.status)).bindText(3, end.reason);
    update.bindInt(4, end.lastStep).bindText(5, end.lastCheckpoint).bindInt(6, end.trainableParameters);
    update.bindDouble(7, end.wallSeconds).run();
    if (m_db.changes() == 0)
        throwNoRun(runId);
    transaction.commit();
}

std::vector<int64_t> RunStore::deadOwnerRuns()
{
    const ProcessIdentity self = ProcessIdentity::current();
    std::vector<int64_t> dead;
    SqliteStatement running = m_db.prepare("SELECT id, owner_pid, owner_start FROM runs WHERE status = 'running'");
    while (running.step()) {
        const int64_t pid = running.isNull(1) ? 0 : running.columnInt(1);
        const std::string marker = running.columnText(2);
        const bool ours = pid == self.pid && (marker.empty() || marker == self.startMarker);
        if (!ours && !ProcessIdentity::isAlive(pid, marker))
            dead.push_back(running.columnInt(0));
    }
    return dead;
}

std::vector<LiveRun> RunStore::liveRuns()
{
    const ProcessIdentity self = ProcessIdentity::current();
    std::vector<LiveRun> live;
    SqliteStatement running =
        m_db.prepare("SELECT id, owner_pid, owner_start FROM runs WHERE status = 'running' ORDER BY id DESC");
    while (running.step()) {
        LiveRun r;
        r.runId = running.columnInt(0);
        r.owner.pid = running.isNull(1) ? 0 : running.columnInt(1);
        r.owner.startMarker = running.columnText(2);
        const bool ours = r.owner.pid == self.pid && (r.owner.startMarker.empty() || r.owner.startMarker == self.startMarker);
        if (!ours && r.owner.pid > 0 && ProcessIdentity::isAlive(r.owner.pid, r.owner.startMarker))
            live.push_back(r);
    }
    return live;
}

std::vector<int64_t> RunStore::recoverInterruptedRuns()
{
    // A read first: a GUI opening the store while a trainer commits takes no write lock unless
    // there is something to recover.
    if (deadOwnerRuns().empty())
        return {};
    // Then one write transaction, checking again under the lock: two processes opening the
    // store at once do not both recover the same run.
    SqliteTransaction transaction(m_db);
    const std::vector<int64_t> recovered = deadOwnerRuns();
    for (const int64_t id : recovered) {
        // The session ended at the last committed batch (heartbeat_at): its time is counted
        // up to there, and the step is what the committed metrics reached.
        SqliteStatement update = m_db.prepare(
            "UPDATE runs SET status = 'interrupted', "
            "  reason = 'the process that ran it (pid ' || COALESCE(owner_pid, '?') || ') ended without finishing it', "
            "  ended_at = COALESCE(heartbeat_at, " TB_SQL_NOW "), "
            "  last_step = MAX(last_step, COALESCE((SELECT MAX(step) FROM metrics WHERE run_id = ?1), 0)), "
            "  wall_seconds = wall_seconds + "
            "    COALESCE(MAX(0, (julianday(heartbeat_at) - julianday(owner_since)) * 86400.0), 0), "
            "  owner_since = NULL "
            "WHERE id = ?1");
        update.bindInt(1, id).run();
    }
    transaction.commit();
    return recovered;
}

void RunStore::setTotalSteps(int64_t runId, int64_t totalSteps)
{
    SqliteStatement update = m_db.prepare("UPDATE runs SET total_steps = ?2 WHERE id = ?1");
    update.bindInt(1, runId).bindInt(2, totalSteps).run();
    if (m_db.changes() == 0)
        throwNoRun(runId);
}

void RunStore::explainInterruption(int64_t runId, const std::string& reason)
{
    SqliteStatement update = m_db.prepare("UPDATE runs SET reason = ?2 WHERE id = ?1 AND status = 'interrupted'");
    update.bindInt(1, runId).bindText(2, reason).run();
}

void RunStore::failInterruptedRun(int64_t runId, const std::string& reason)
{
    SqliteStatement update = m_db.prepare("UPDATE runs SET status = 'failed', reason = ?2 WHERE id = ?1 AND status = 'interrupted'");
    update.bindInt(1, runId).bindText(2, reason).run();
}

void RunStore::renameRun(int64_t runId, const std::string& name)
{
    const std::string clean = trimmed(name);
    if (clean.empty())
        throw std::invalid_argument("a run name cannot be empty");
    SqliteStatement update = m_db.prepare("UPDATE runs SET name = ?2 WHERE id = ?1");
    update.bindInt(1, runId).bindText(2, clean).run();
    if (m_db.changes() == 0)
        throwNoRun(runId);
}

void RunStore::addTag(int64_t runId, const std::string& tag)
{
    const std::string clean = trimmed(tag);
    if (clean.empty())
        throw std::invalid_argument("a tag cannot be empty");
    SqliteTransaction transaction(m_db);
    requireRun(runId);
    SqliteStatement insert = m_db.prepare("INSERT OR IGNORE INTO tags (run_id, tag) VALUES (?1, ?2)");
    insert.bindInt(1, runId).bindText(2, clean).run();
    transaction.commit();
}

void RunStore::removeTag(int64_t runId, const std::string& tag)
{
    SqliteStatement drop = m_db.prepare("DELETE FROM tags WHERE run_id = ?1 AND tag = ?2");
    drop.bindInt(1, runId).bindText(2, trimmed(tag)).run();
}

void RunStore::setNote(int64_t runId, const std::string& note)
{
    SqliteStatement update = m_db.prepare("UPDATE runs SET note = ?2 WHERE id = ?1");
    update.bindInt(1, runId).bindText(2, note).run();
    if (m_db.changes() == 0)
        throwNoRun(runId);
}

DeleteReport RunStore::deleteRun(int64_t runId, bool deleteFiles)
{
    std::string runDir;
    std::vector<std::string> artifactPaths;
    {
        SqliteTransaction transaction(m_db);
        SqliteStatement row = m_db.prepare("SELECT run_dir FROM runs WHERE id = ?1");
        row.bindInt(1, runId);
        if (!row.step())
            throwNoRun(runId);
        runDir = row.columnText(0);
        SqliteStatement artifacts = m_db.prepare("SELECT DISTINCT path FROM artifacts WHERE run_id = ?1");
        artifacts.bindInt(1, runId);
        while (artifacts.step())
            artifactPaths.push_back(artifacts.columnText(0));
        // metrics, memory_samples, artifacts and tags go with it (ON DELETE CASCADE).
        SqliteStatement drop = m_db.prepare("DELETE FROM runs WHERE id = ?1");
        drop.bindInt(1, runId).run();
        transaction.commit();
    }

    DeleteReport report;
    if (!deleteFiles)
        return report;
    // Files go only after the rows are gone: a failure here never leaves rows without files
    // that the user still sees in the list.
    const bool runDirOk = ArtifactFiles::isRunFolder(runDir);
    const bool runDirInWorkspace = runDirOk && ArtifactFiles::isInside(runDir, m_workspace);
    for (const std::string& artifact : artifactPaths) {
        const bool allowed = ArtifactFiles::isInside(artifact, m_workspace) ||
                             (runDirOk && ArtifactFiles::isInside(artifact, runDir));
        if (!allowed) {
            report.kept.push_back(artifact);
            continue;
        }
        if (!ArtifactFiles::exists(artifact))
            continue;
        std::string error;
        if (ArtifactFiles::remove(artifact, error))
            report.removed.push_back(artifact);
        else
            report.failed.push_back(artifact + ": " + error);
    }
    if (runDirInWorkspace) {
        std::string error;
        if (ArtifactFiles::remove(runDir, error))
            report.removed.push_back(runDir);
        else
            report.failed.push_back(runDir + ": " + error);
    }
    return report;
}

} // namespace tb
