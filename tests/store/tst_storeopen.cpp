// engine/store: opening the database file in every state a user's disk can hold it, and
// migrating databases written by schema versions 1 and 2 (the fixtures are written here by plain
// SQL, as those versions' DDL was, not by the library).
#include "StoreTestSupport.h"

#include "store/RunQueries.h"
#include "store/RunStore.h"
#include "store/StoreError.h"
#include "store/StoreSchema.h"

#include <QDir>
#include <QFile>
#include <QProcess>
#include <QTemporaryDir>
#include <QTest>

#include <optional>

#include <unistd.h>

using namespace tbtest;

namespace {

// Schema version 1 as it shipped (before runs.owner_start and runs_by_status).
const char* kSchemaV1 = R"SQL(
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
CREATE INDEX metrics_by_run ON metrics (run_id, name, step);
CREATE TABLE memory_samples (
    run_id   INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step     INTEGER NOT NULL,
    seconds  REAL,
    category TEXT NOT NULL,
    bytes    INTEGER NOT NULL
);
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
PRAGMA application_id = 1413631555;
PRAGMA user_version = 1;
)SQL";

// Schema version 2 as it shipped: version 1, then runs.owner_start and runs_by_status (before
// memory_samples.worker). Run after kSchemaV1.
const char* kSchemaV2After1 = R"SQL(
ALTER TABLE runs ADD COLUMN owner_start TEXT;
CREATE INDEX runs_by_status ON runs (status);
PRAGMA user_version = 2;
)SQL";

// The StoreError message opening `path` gives, or nullopt when it opens.
std::optional<std::string> openError(const std::string& path, int busyTimeoutMs = 5000)
{
    try {
        tb::StoreOptions options;
        options.busyTimeoutMs = busyTimeoutMs;
        tb::RunStore store(path, options);
    } catch (const tb::StoreError& e) {
        return std::string(e.what());
    }
    return std::nullopt;
}

bool contains(const std::string& haystack, const std::string& needle)
{
    return haystack.find(needle) != std::string::npos;
}

QByteArray readAll(const QString& path)
{
    QFile f(path);
    return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

std::string schemaText(const std::string& db)
{
    RawDb raw(db);
    return raw.text("SELECT group_concat(name || ':' || COALESCE(sql, ''), char(10)) FROM "
                    "(SELECT name, sql FROM sqlite_master ORDER BY name)");
}

} // namespace

class TestStoreOpen : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;

    std::string path(const QString& relative) const { return (m_dir.path() + "/" + relative).toStdString(); }

private Q_SLOTS:
    void initTestCase() { QVERIFY(m_dir.isValid()); }

    void missingFileIsCreatedWithItsFolder()
    {
        const std::string db = path("deep/er/tunebench.db");
        QVERIFY(!openError(db));
        QVERIFY(QFileInfo::exists(QString::fromStdString(db)));
    }

    void corruptFileIsRefusedByName()
    {
        const std::string db = path("corrupt.db");
        {
            QFile f(QString::fromStdString(db));
            QVERIFY(f.open(QIODevice::WriteOnly));
            f.write(QByteArray(8192, 'z'));
        }
        const QByteArray before = readAll(QString::fromStdString(db));
        const auto error = openError(db);
        QVERIFY(error);
        QVERIFY2(contains(*error, db), error->c_str());
        QVERIFY2(contains(*error, "not an SQLite database or is damaged"), error->c_str());
        QCOMPARE(readAll(QString::fromStdString(db)), before);

        // A real database with damaged pages: integrity trouble surfaces as an error naming it.
        const std::string damaged = path("damaged.db");
        {
            tb::RunStore store(damaged);
            for (int i = 0; i < 200; ++i)
                store.createRun(sampleRun("run " + std::to_string(i)));
        }
        {
            QFile f(QString::fromStdString(damaged));
            QVERIFY(f.open(QIODevice::ReadWrite));
            f.seek(0);
            f.write(QByteArray(100, '\xff')); // the header
        }
        const auto damagedError = openError(damaged);
        QVERIFY(damagedError);
        QVERIFY2(contains(*damagedError, damaged), damagedError->c_str());
    }

    void folderInsteadOfFileIsRefused()
    {
        const std::string db = path("a-folder.db");
        QVERIFY(QDir().mkpath(QString::fromStdString(db)));
        const auto error = openError(db);
        QVERIFY(error);
        QVERIFY2(contains(*error, db) && contains(*error, "folder"), error->c_str());
    }

    void lockedFileIsReportedAfterTheBusyTimeout()
    {
        const std::string db = path("locked.db");
        QVERIFY(!openError(db));
        RawDb holder(db);
        QCOMPARE(holder.exec("PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE; "
                             "INSERT INTO tags SELECT 0, 'x' WHERE 0;"), std::string());
        const auto error = openError(db, 100);
        QVERIFY(error);
        QVERIFY2(contains(*error, db) && contains(*error, "locked"), error->c_str());
        QCOMPARE(holder.exec("COMMIT"), std::string());
    }

    void readOnlyFileIsRefusedByName()
    {
        const QString folder = m_dir.path() + "/ro";
        const std::string db = (folder + "/tunebench.db").toStdString();
        QVERIFY(!openError(db));
        QVERIFY(QFile::setPermissions(QString::fromStdString(db), QFile::ReadOwner | QFile::ReadGroup | QFile::ReadOther));
        std::optional<std::string> error;
        if (::geteuid() != 0) {
            error = openError(db);
        } else {
            // Root writes to read-only files regardless, so a child process that dropped to
            // "nobody" opens it, exactly as a normal user's Tunebench would.
            const auto traverse = QFile::ReadOwner | QFile::WriteOwner | QFile::ExeOwner | QFile::ReadOther |
                                  QFile::ExeOther | QFile::ReadGroup | QFile::ExeGroup;
            QVERIFY(QFile::setPermissions(m_dir.path(), traverse));
            QVERIFY(QFile::setPermissions(folder, traverse));
            QProcess child;
            child.start(QStringLiteral(TB_STORE_CHILD), {"open", QString::fromStdString(db), "--as-nobody"});
            QVERIFY(child.waitForFinished(30000));
            QCOMPARE(child.exitCode(), 3);
            error = child.readAllStandardOutput().trimmed().toStdString();
        }
        QVERIFY(error);
        QVERIFY2(contains(*error, db) && contains(*error, "read-only"), error->c_str());
    }

    void newerSchemaIsRefusedAndNotModified()
    {
        const std::string db = path("newer.db");
        {
            RawDb raw(db);
            QCOMPARE(raw.exec("CREATE TABLE runs (id INTEGER PRIMARY KEY, future TEXT); "
                              "PRAGMA application_id = 1413631555; PRAGMA user_version = 99;"), std::string());
        }
        const QByteArray before = readAll(QString::fromStdString(db));
        const auto error = openError(db);
        QVERIFY(error);
        QVERIFY2(contains(*error, db) && contains(*error, "newer Tunebench") && contains(*error, "99"), error->c_str());
        QCOMPARE(readAll(QString::fromStdString(db)), before);
        QVERIFY(!QFileInfo::exists(QString::fromStdString(db + "-wal"))); // not even switched to WAL
        RawDb raw(db);
        QCOMPARE(raw.text("PRAGMA journal_mode"), std::string("delete"));
    }

    void foreignDatabasesAreRefused()
    {
        const std::string other = path("other-app.db");
        {
            RawDb raw(other);
            QCOMPARE(raw.exec("PRAGMA application_id = 42; CREATE TABLE t (x);"), std::string());
        }
        auto error = openError(other);
        QVERIFY(error);
        QVERIFY2(contains(*error, other) && contains(*error, "another program"), error->c_str());

        const std::string plain = path("plain.db");
        {
            RawDb raw(plain);
            QCOMPARE(raw.exec("CREATE TABLE t (x);"), std::string());
        }
        error = openError(plain);
        QVERIFY(error);
        QVERIFY2(contains(*error, "not a Tunebench experiment database"), error->c_str());
    }

    void version1DatabaseIsMigrated()
    {
        const std::string db = path("v1.db");
        {
            RawDb raw(db);
            QCOMPARE(raw.exec(kSchemaV1), std::string());
            QCOMPARE(raw.exec(
                "INSERT INTO models (path, architecture, parameter_count, content_hash, added_at) "
                "  VALUES ('/models/old', 'LlamaForCausalLM', 1000, 'fnv1a64:aa', '2024-01-01T00:00:00.000Z');"
                "INSERT INTO runs (name, method, model_id, config_json, lora_rank, status, created_at, started_at, "
                "  owner_pid, owner_since, heartbeat_at, last_step, last_checkpoint) "
                "  VALUES ('old crashed', 'lora', 1, '{\"lora\":{\"rank\":4}}', 4, 'running', '2024-01-01T00:00:00.000Z', "
                "  '2024-01-01T00:00:00.000Z', 1073741823, '2024-01-01T00:00:00.000Z', '2024-01-01T00:01:40.000Z', 2, "
                "  '/runs/old/checkpoints/step-00000002');"
                "INSERT INTO runs (name, method, config_json, status, created_at, wall_seconds) "
                "  VALUES ('old done', 'full', '{}', 'finished', '2024-01-02T00:00:00.000Z', 60);"
                "INSERT INTO metrics VALUES (1, 1, 100, 1.0, 'loss', 3.0), (1, 2, 200, 2.0, 'loss', 2.5), "
                "  (1, 3, 300, 3.0, 'loss', 2.25), (1, 3, 300, 3.0, 'val_loss', 2.4);"
                "INSERT INTO memory_samples VALUES (1, 3, 3.0, 'peak_rss', 4096);"
                "INSERT INTO tags VALUES (1, 'legacy');"), std::string());
        }

        tb::RunStore store(db);
        RawDb raw(db);
        QCOMPARE(raw.integer("PRAGMA user_version"), (long long)tb::StoreSchema::kCurrentVersion);
        QCOMPARE(raw.text("PRAGMA integrity_check"), std::string("ok"));
        QCOMPARE(raw.integer("SELECT count(*) FROM pragma_table_info('runs') WHERE name = 'owner_start'"), 1LL);
        // The migrated file has exactly the schema a new file gets.
        QVERIFY(!openError(path("fresh-for-compare.db")));
        QCOMPARE(schemaText(db), schemaText(path("fresh-for-compare.db")));

        // The v1 run whose owner is gone was recovered on open, with its step and checkpoint.
        tb::RunQueries queries(store.database());
        const auto runs = queries.listRuns();
        QCOMPARE(runs.size(), size_t(2));
        const tb::RunDetails old = queries.getRun(1);
        QCOMPARE(old.summary.status, tb::RunStatus::Interrupted);
        QCOMPARE(old.summary.lastStep, int64_t(3)); // the metrics went further than last_step
        QCOMPARE(old.lastCheckpoint, std::string("/runs/old/checkpoints/step-00000002"));
        // owner_since to the last heartbeat (julianday arithmetic: ~1e-4 s resolution)
        QVERIFY(qAbs(old.results.wallSeconds - 100.0) < 1e-3);
        QCOMPARE(*old.summary.finalValLoss, 2.4);
        QCOMPARE(*old.summary.peakResidentBytes, int64_t(4096));
        QCOMPARE(old.summary.tags, std::vector<std::string>{"legacy"});
        QCOMPARE(old.summary.modelPath, std::string("/models/old"));
        QCOMPARE(queries.getRun(2).results.wallSeconds, 60.0);

        // And the migrated database takes new runs.
        const int64_t id = store.createRun(sampleRun("new"));
        QCOMPARE(id, int64_t(3));
    }

    void version2DatabaseIsMigrated()
    {
        const std::string db = path("v2.db");
        {
            RawDb raw(db);
            QCOMPARE(raw.exec(kSchemaV1), std::string());
            QCOMPARE(raw.exec(kSchemaV2After1), std::string());
            QCOMPARE(raw.exec(
                "INSERT INTO runs (name, method, config_json, status, created_at, last_step) "
                "  VALUES ('one process', 'lora', '{}', 'finished', '2024-03-01T00:00:00.000Z', 2);"
                "INSERT INTO memory_samples VALUES (1, 1, 1.0, 'rss', 1000), (1, 2, 2.0, 'rss', 3000), "
                "  (1, 2, 2.0, 'peak_rss', 3500);"), std::string());
        }

        tb::RunStore store(db);
        RawDb raw(db);
        QCOMPARE(raw.integer("PRAGMA user_version"), 3LL);
        QCOMPARE(raw.text("PRAGMA integrity_check"), std::string("ok"));
        QCOMPARE(raw.text("SELECT type || ' ' || \"notnull\" || ' ' || dflt_value FROM pragma_table_info('memory_samples') "
                          "WHERE name = 'worker'"),
                 std::string("INTEGER 1 0"));
        QVERIFY(!openError(path("fresh-for-v2.db")));
        QCOMPARE(schemaText(db), schemaText(path("fresh-for-v2.db")));

        // Every sample a version-2 file holds was its run's one process: worker 0.
        QCOMPARE(raw.integer("SELECT count(*) FROM memory_samples WHERE worker = 0"), 3LL);
        tb::RunQueries queries(store.database());
        const std::vector<tb::MemoryPoint> rss = queries.memorySeries(1, "rss");
        QCOMPARE(rss.size(), size_t(2));
        QCOMPARE(rss[1].bytes, int64_t(3000));
        QCOMPARE(rss[1].worker, 0);
        QCOMPARE(*queries.getRun(1).summary.peakResidentBytes, int64_t(3500));

        // A data-parallel run recorded into the migrated file keeps its workers apart.
        const int64_t id = store.createRun(sampleRun("two workers"));
        {
            tb::MetricBuffer buffer(store.database(), id);
            buffer.appendMemory(1, 1.0, "rss", 5000, 0);
            buffer.appendMemory(1, 1.0, "rss", 7000, 1);
        }
        QCOMPARE(raw.integer("SELECT bytes FROM memory_samples WHERE run_id = " + std::to_string(id) + " AND worker = 1"), 7000LL);
    }
};

QTEST_GUILESS_MAIN(TestStoreOpen)
#include "tst_storeopen.moc"
