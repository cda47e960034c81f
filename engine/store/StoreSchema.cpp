#include "store/StoreSchema.h"

#include "store/SqliteDatabase.h"
#include "store/SqliteTransaction.h"
#include "store/StoreError.h"

#include <array>
#include <cstdio>
#include <string>

namespace tb {

namespace {

// Times are ISO-8601 UTC text with milliseconds (strftime('%Y-%m-%dT%H:%M:%fZ','now')):
// readable in the sqlite3 shell, sortable as text, and julianday() understands them.
// Never edit a migration that has shipped: add the next one.
constexpr const char* kMigrationTo1 = R"SQL(
CREATE TABLE models (
    id              INTEGER PRIMARY KEY,
    path            TEXT NOT NULL,
    architecture    TEXT NOT NULL DEFAULT '',
    parameter_count INTEGER,
    content_hash    TEXT NOT NULL DEFAULT '',
    added_at        TEXT NOT NULL,
    UNIQUE (path, content_hash)
);
CREATE TABLE datasets (
    id            INTEGER PRIMARY KEY,
    path          TEXT NOT NULL,
    format        TEXT NOT NULL DEFAULT '',
    record_count  INTEGER,
    token_count   INTEGER,
    content_hash  TEXT NOT NULL DEFAULT '',
    added_at      TEXT NOT NULL,
    UNIQUE (path, content_hash)
);
CREATE TABLE runs (
    id              INTEGER PRIMARY KEY,
    name            TEXT NOT NULL,
    method          TEXT NOT NULL CHECK (method IN ('lora', 'qlora', 'full')),
    model_id        INTEGER REFERENCES models (id) ON DELETE SET NULL,
    dataset_id      INTEGER REFERENCES datasets (id) ON DELETE SET NULL,
    config_json     TEXT NOT NULL,
    lora_rank       INTEGER,
    lora_alpha      REAL,
    lora_targets    TEXT,
    learning_rate   REAL,
    batch_size      INTEGER,
    seq_len         INTEGER,
    quant           TEXT,
    seed            INTEGER,
    total_steps     INTEGER,
    status          TEXT NOT NULL CHECK (status IN
                        ('queued', 'running', 'finished', 'failed', 'cancelled', 'interrupted')),
    reason          TEXT NOT NULL DEFAULT '',
    created_at      TEXT NOT NULL,
    started_at      TEXT,
    ended_at        TEXT,
    app_version     TEXT NOT NULL DEFAULT '',
    torch_version   TEXT NOT NULL DEFAULT '',
    device          TEXT NOT NULL DEFAULT '',
    run_dir         TEXT NOT NULL DEFAULT '',
    owner_pid       INTEGER,
    owner_since     TEXT,
    heartbeat_at    TEXT,
    last_step       INTEGER NOT NULL DEFAULT 0,
    last_checkpoint TEXT NOT NULL DEFAULT '',
    trainable_parameters INTEGER,
    wall_seconds    REAL NOT NULL DEFAULT 0,
    note            TEXT NOT NULL DEFAULT ''
);
CREATE TABLE metrics (
    run_id       INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step         INTEGER NOT NULL,
    tokens       INTEGER,
    wall_seconds REAL,
    name         TEXT NOT NULL,
    value        REAL
);
-- (run_id, name, step): a curve, and the last value of a metric, are index range reads.
CREATE INDEX metrics_by_run ON metrics (run_id, name, step);
CREATE TABLE memory_samples (
    run_id   INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step     INTEGER NOT NULL,
    seconds  REAL,
    category TEXT NOT NULL,
    bytes    INTEGER NOT NULL
);
-- (run_id, category, bytes): the peak of a category, which every run list shows, is one seek.
CREATE INDEX memory_by_run ON memory_samples (run_id, category, bytes);
CREATE TABLE artifacts (
    id         INTEGER PRIMARY KEY,
    run_id     INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    kind       TEXT NOT NULL CHECK (kind IN ('checkpoint', 'adapter', 'merged', 'export', 'report')),
    path       TEXT NOT NULL,
    size_bytes INTEGER,
    step       INTEGER,
    created_at TEXT NOT NULL
);
CREATE INDEX artifacts_by_run ON artifacts (run_id);
CREATE TABLE tags (
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    tag    TEXT NOT NULL,
    PRIMARY KEY (run_id, tag)
) WITHOUT ROWID;
CREATE INDEX tags_by_tag ON tags (tag);
)SQL";

constexpr const char* kMigrationTo2 = R"SQL(
ALTER TABLE runs ADD COLUMN owner_start TEXT;
CREATE INDEX runs_by_status ON runs (status);
)SQL";

// A data-parallel run (issue #17) records each worker's memory: the worker's rank; every
// sample written before has rank 0, the one process of its run. memory_by_run stays as it is:
// a category's peak is the peak over the run's workers.
constexpr const char* kMigrationTo3 = R"SQL(
ALTER TABLE memory_samples ADD COLUMN worker INTEGER NOT NULL DEFAULT 0;
)SQL";

// kMigrations[i] takes a database from version i to version i + 1.
constexpr std::array<const char*, StoreSchema::kCurrentVersion> kMigrations = {kMigrationTo1, kMigrationTo2,
                                                                              kMigrationTo3};

std::string hex(int64_t value)
{
    char text[32];
    std::snprintf(text, sizeof text, "0x%08llx", static_cast<unsigned long long>(value));
    return text;
}

} // namespace

int64_t StoreSchema::version(SqliteDatabase& db)
{
    return db.queryInt("PRAGMA user_version");
}

void StoreSchema::prepare(SqliteDatabase& db)
{
    // Everything up to the WAL switch only reads.
    const int64_t applicationId = db.queryInt("PRAGMA application_id");
    if (applicationId != 0 && applicationId != kApplicationId)
        throw StoreError(db.path(), "is an SQLite database of another program (application_id " + hex(applicationId) +
                                        "), not a Tunebench experiment database");
    int64_t found = version(db);
    if (found > kCurrentVersion)
        throw StoreError(db.path(), "was written by a newer Tunebench (schema version " + std::to_string(found) +
                                        "; this build knows up to " + std::to_string(kCurrentVersion) +
                                        "); update Tunebench to open it. The file was not modified.");
    if (found == 0 && db.queryInt("SELECT count(*) FROM sqlite_master") > 0)
        throw StoreError(db.path(), "is an SQLite database that is not a Tunebench experiment database "
                                    "(it has tables but no Tunebench schema version)");

    // WAL is a property of the file (it stays on); readers never block the writer nor it them.
    if (db.queryText("PRAGMA journal_mode = WAL") != "wal")
        throw StoreError(db.path(), "cannot switch the database to WAL mode (is it on a network file system?)");

    if (found == kCurrentVersion)
        return;
    SqliteTransaction transaction(db);
    // Another process may have migrated the file between the read above and the write lock.
    found = version(db);
    for (int64_t v = found; v < kCurrentVersion; ++v)
        db.exec(kMigrations[static_cast<size_t>(v)]);
    if (found == 0)
        db.exec("PRAGMA application_id = " + std::to_string(kApplicationId));
    // PRAGMAs take no bound parameters; the value is our own constant.
    db.exec("PRAGMA user_version = " + std::to_string(kCurrentVersion));
    transaction.commit();
}

} // namespace tb
