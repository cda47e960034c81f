// The experiment store's write side: models, datasets, runs and their lifecycle, artifacts,
// tags, notes, deletion, and recovery of runs whose process died. Metrics and memory samples
// go through MetricBuffer (batched); the list/show/compare queries are RunQueries.
//
// A TrainerCallbacks adapter records a run as:
//   RunStore store(StorePaths::resolve().database);
//   id = store.createRun(newRun);                       // status running, owned by this pid
//   MetricBuffer buffer(store.database(), id);
//   onStep/onEval/onMemory -> buffer.appendMetric / appendMemory
//   onCheckpoint           -> buffer.flush(); store.recordCheckpoint(id, step, dir)
//   end                    -> buffer.flush(); store.addArtifact(id, Adapter, dir); store.finishRun(id, end)
// and `--resume` continues the same row with store.resumeRun(id, checkpointStep).
//
// Thread affinity: one RunStore (one connection) per thread; the GUI opens its own. Every
// method is one transaction, so another connection sees all of it or none of it.
// Errors throw StoreError naming the database file.
#pragma once

#include "store/ProcessIdentity.h"
#include "store/SqliteDatabase.h"
#include "store/StoreTypes.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tb {

// A run marked running and the process that trains it.
struct LiveRun {
    int64_t runId = 0;
    ProcessIdentity owner;
};

struct StoreOptions {
    int busyTimeoutMs = 5000;
    // On open, mark runs whose owner process is gone as interrupted (recoverInterruptedRuns).
    bool recoverInterruptedRuns = true;
    std::string workspace; // "": StorePaths::workspaceFor(database)
};

class RunStore {
public:
    // Opens (creating the file and its folder if missing), checks and migrates the database.
    explicit RunStore(const std::string& databasePath, const StoreOptions& options = {});

    SqliteDatabase& database() { return m_db; }
    const std::string& path() const { return m_db.path(); }
    const std::string& workspace() const { return m_workspace; }

    // Returns the existing row when the same path with the same content hash is registered.
    int64_t registerModel(const ModelRecord& model);
    int64_t registerDataset(const DatasetRecord& dataset);

    int64_t createRun(const NewRun& run);
    // queued -> running, owned by this process.
    void startRun(int64_t runId);
    // Continues a run (interrupted, cancelled, failed...) in this process: the same row,
    // running again, owner = this process. Metrics and memory samples after `fromStep` are
    // dropped because the resumed trainer records those steps again from its checkpoint;
    // nullopt keeps them all. Refused while another live process owns the run.
    void resumeRun(int64_t runId, std::optional<int64_t> fromStep);
    // The checkpoint folder of `step`: becomes the run's last checkpoint and an artifact.
    // Flush the MetricBuffer first, so the metrics up to the checkpoint are committed with it.
    void recordCheckpoint(int64_t runId, int64_t step, const std::string& path);
    // sizeBytes nullopt: measured on disk now (a folder's files summed).
    int64_t addArtifact(int64_t runId, ArtifactKind kind, const std::string& path,
                        std::optional<int64_t> step = std::nullopt, std::optional<int64_t> sizeBytes = std::nullopt);
    void finishRun(int64_t runId, const RunEnd& end);
    // The optimizer steps the run will take (known once it is set up: epochs converted).
    void setTotalSteps(int64_t runId, int64_t totalSteps);
    // Runs marked running whose owner process is gone (pid not alive, or alive but with
    // another start marker: the pid was reused) become interrupted; they keep the step their
    // committed metrics reached and their last checkpoint. Returns their ids.
    std::vector<int64_t> recoverInterruptedRuns();
    // Runs marked running whose owner process is alive and is not this process (a run kept
    // training after the workbench closed, or a CLI run), newest first.
    std::vector<LiveRun> liveRuns();
    // The reason of an interrupted run, when the one who saw its process end knows more than
    // recoverInterruptedRuns() ("killed by signal 9"). Runs in another state are left alone.
    void explainInterruption(int64_t runId, const std::string& reason);
    // An interrupted run that the one who saw its process end knows to have failed (a
    // data-parallel launcher whose rank 0 was killed: the run cannot go on by itself). It stays
    // resumable from its last checkpoint, as every failed run. Runs in another state are left
    // alone.
    void failInterruptedRun(int64_t runId, const std::string& reason);

    void renameRun(int64_t runId, const std::string& name);
    void addTag(int64_t runId, const std::string& tag);
    void removeTag(int64_t runId, const std::string& tag);
    void setNote(int64_t runId, const std::string& note);
    // Removes the run's rows (metrics, memory, artifacts, tags cascade) in one transaction;
    // asks nothing. With deleteFiles, also removes the artifact files that ArtifactFiles
    // allows (inside the workspace or the run folder) and the run folder when it lies inside
    // the workspace; anything else is listed as kept.
    DeleteReport deleteRun(int64_t runId, bool deleteFiles = false);

private:
    void requireRun(int64_t runId);
    std::vector<int64_t> deadOwnerRuns();
    [[noreturn]] void throwNoRun(int64_t runId);
    int64_t insertArtifact(int64_t runId, ArtifactKind kind, const std::string& path, std::optional<int64_t> step,
                           std::optional<int64_t> sizeBytes);

    SqliteDatabase m_db;
    std::string m_workspace;
};

} // namespace tb
