// engine/store: recording runs and reading them back, on a database in a temporary folder.
// Checks that matter go around the library through a raw sqlite3 connection (RawDb).
#include "StoreTestSupport.h"

#include "store/ArtifactFiles.h"
#include "store/ConfigDiff.h"
#include "store/ContentHash.h"
#include "store/MetricBuffer.h"
#include "store/ProcessIdentity.h"
#include "store/RunQueries.h"
#include "store/RunStore.h"
#include "store/SqliteTransaction.h"
#include "store/StoreError.h"
#include "store/StorePaths.h"
#include "store/StoreSchema.h"

#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QTemporaryDir>
#include <QTest>

#include <cmath>
#include <cstdlib>
#include <thread>

using namespace tbtest;

namespace {

// A pid above the kernel's pid_max (at most 2^22): never a live process.
constexpr int64_t kDeadPid = 0x3fffffff;

void writeText(const QString& path, const QByteArray& bytes)
{
    QDir().mkpath(QFileInfo(path).absolutePath());
    QFile f(path);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write(bytes);
}

bool contains(const std::string& haystack, const std::string& needle)
{
    return haystack.find(needle) != std::string::npos;
}

} // namespace

class TestRunStore : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    int m_dbCount = 0;

    // A fresh database file per test function.
    std::string freshDb()
    {
        return (m_dir.path() + QStringLiteral("/db%1/tunebench.db").arg(++m_dbCount)).toStdString();
    }

private Q_SLOTS:
    void initTestCase() { QVERIFY(m_dir.isValid()); }

    void newDatabaseIsSetUp()
    {
        const std::string db = freshDb();
        tb::RunStore store(db);
        QCOMPARE(store.database().queryText("PRAGMA journal_mode"), std::string("wal"));
        QCOMPARE(store.database().queryInt("PRAGMA foreign_keys"), int64_t(1));
        QCOMPARE(store.database().queryInt("PRAGMA synchronous"), int64_t(1)); // NORMAL
        QCOMPARE(store.database().queryInt("PRAGMA busy_timeout"), int64_t(5000));
        QCOMPARE(store.workspace(), (QFileInfo(QString::fromStdString(db)).absolutePath() + "/runs").toStdString());
        RawDb raw(db);
        QCOMPARE(raw.integer("PRAGMA user_version"), (long long)tb::StoreSchema::kCurrentVersion);
        QCOMPARE(raw.integer("PRAGMA application_id"), (long long)tb::StoreSchema::kApplicationId);
        for (const char* table : {"models", "datasets", "runs", "metrics", "memory_samples", "artifacts", "tags"})
            QCOMPARE(raw.integer(std::string("SELECT count(*) FROM sqlite_master WHERE type='table' AND name='") + table + "'"), 1LL);
    }

    void runLifecycleIsRecorded()
    {
        const std::string db = freshDb();
        tb::RunStore store(db);
        const int64_t model = store.registerModel({"/models/tiny", "LlamaForCausalLM", 1000000, "fnv1a64:00"});
        QCOMPARE(store.registerModel({"/models/tiny", "LlamaForCausalLM", 1000000, "fnv1a64:00"}), model);
        QVERIFY(store.registerModel({"/models/tiny", "LlamaForCausalLM", 1000000, "fnv1a64:01"}) != model);
        const int64_t data = store.registerDataset({"/data/chat.jsonl", "chat", 100, 20000, "fnv1a64:02"});

        tb::NewRun run = sampleRun("first");
        run.modelId = model;
        run.datasetId = data;
        const int64_t id = store.createRun(run);
        {
            tb::MetricBuffer buffer(store.database(), id);
            for (int64_t step = 1; step <= 20; ++step)
                recordStep(buffer, step);
            buffer.appendMetric(10, 20480, 5.0, "val_loss", 2.5);
            buffer.appendMetric(20, 40960, 10.0, "val_loss", 2.7);
            buffer.flush();
            store.recordCheckpoint(id, 20, "/runs/first/checkpoints/step-00000020");
        } // the destructor flushes nothing more
        store.finishRun(id, {tb::RunStatus::Finished, "", -1, "", 123456, 12.5});

        tb::RunQueries queries(store.database());
        const tb::RunDetails d = queries.getRun(id);
        QCOMPARE(d.summary.name, std::string("first"));
        QCOMPARE(d.summary.status, tb::RunStatus::Finished);
        QCOMPARE(d.summary.lastStep, int64_t(20));
        QCOMPARE(d.summary.modelPath, std::string("/models/tiny"));
        QCOMPARE(d.summary.modelArchitecture, std::string("LlamaForCausalLM"));
        QCOMPARE(d.summary.datasetPath, std::string("/data/chat.jsonl"));
        QCOMPARE(*d.summary.finalValLoss, 2.7);
        QCOMPARE(*d.summary.bestValLoss, 2.5);
        QCOMPARE(*d.summary.finalLoss, 3.0 / 1.2);
        QCOMPARE(*d.summary.peakResidentBytes, int64_t(6000020));
        QVERIFY(!d.summary.peakCudaBytes);
        QVERIFY(!d.summary.startedAt.empty() && !d.summary.endedAt.empty());
        QCOMPARE(d.config["lora"]["rank"].get<int>(), 8);
        QCOMPARE(*d.loraAlpha, 16.0);
        QCOMPARE(d.loraTargets, std::string("q_proj,v_proj"));
        QCOMPARE(d.torchVersion, std::string("2.3.0"));
        QCOMPARE(d.lastCheckpoint, std::string("/runs/first/checkpoints/step-00000020"));
        QCOMPARE(d.finalMetrics.at("loss"), 3.0 / 1.2);
        QCOMPARE(d.finalMetrics.at("val_loss"), 2.7);
        QCOMPARE(d.results.peakMemory.at("base_weights"), int64_t(1000000));
        QCOMPARE(d.results.peakMemory.size(), size_t(6));
        QCOMPARE(*d.results.trainableParameters, int64_t(123456));
        QCOMPARE(d.results.wallSeconds, 12.5);
        // tokens_per_second is 4000 + step % 10 for steps 1..20: mean 4004.5.
        QCOMPARE(*d.results.meanTokensPerSecond, 4004.5);
        QCOMPARE(d.artifacts.size(), size_t(1));
        QCOMPARE(d.artifacts[0].kind, tb::ArtifactKind::Checkpoint);
        QVERIFY(d.artifacts[0].missing); // the path never existed: shown, not an error

        QCOMPARE(queries.metricSeries(id, "loss").size(), size_t(20));
        QCOMPARE(queries.metricSeries(id, "loss", 15).size(), size_t(5));
        QCOMPARE(queries.memorySeries(id, "rss").back().bytes, int64_t(5000020));
        QCOMPARE(queries.metricNames(id).size(), size_t(9));
        QCOMPARE(queries.memoryCategories(id).size(), size_t(6));
    }

    void memorySamplesKeepTheirWorker()
    {
        // A data-parallel run records each worker's samples (rank 0 writes them all): the series
        // return every worker's in step order, each with its rank; peaks are over the workers.
        const std::string db = freshDb();
        tb::RunStore store(db);
        const int64_t id = store.createRun(sampleRun("data-parallel"));
        {
            tb::MetricBuffer buffer(store.database(), id);
            for (int64_t step = 1; step <= 2; ++step)
                for (int worker = 2; worker >= 0; --worker) { // any order: read back by (step, worker)
                    buffer.appendMemory(step, 0.5 * step, "rss", 1000 * step + worker, worker);
                    buffer.appendMemory(step, 0.5 * step, "peak_rss", 1500 * step + 10 * worker, worker);
                }
            buffer.appendMemory(3, 1.5, "rss", 99); // the default: worker 0
        }
        RawDb raw(db);
        QCOMPARE(raw.integer("SELECT count(DISTINCT worker) FROM memory_samples WHERE run_id = " + std::to_string(id)), 3LL);
        QCOMPARE(raw.integer("SELECT bytes FROM memory_samples WHERE category = 'rss' AND step = 2 AND worker = 1"), 2001LL);

        tb::RunQueries queries(store.database());
        const std::vector<tb::MemoryPoint> rss = queries.memorySeries(id, "rss");
        QCOMPARE(rss.size(), size_t(7));
        for (size_t i = 0; i < 6; ++i) {
            QCOMPARE(rss[i].step, int64_t(1 + i / 3));
            QCOMPARE(rss[i].worker, int(i % 3));
            QCOMPARE(rss[i].bytes, 1000 * rss[i].step + rss[i].worker);
            QCOMPARE(*rss[i].seconds, 0.5 * double(rss[i].step));
        }
        QCOMPARE(rss[6].worker, 0);
        QCOMPARE(queries.memorySeries(id, "rss", 1).size(), size_t(4)); // after step 1: every worker's
        // Peaks: the largest over the workers (worker 2's at step 2).
        const tb::RunDetails d = queries.getRun(id);
        QCOMPARE(*d.summary.peakResidentBytes, int64_t(3020));
        QCOMPARE(d.results.peakMemory.at("rss"), int64_t(2002));
        QCOMPARE(d.results.peakMemory.at("peak_rss"), int64_t(3020));
    }

    void namesAndValuesAreBoundNotSpliced()
    {
        const std::string db = freshDb();
        tb::RunStore store(db);
        const std::string evil = "x'); DROP TABLE runs; --";
        const int64_t id = store.createRun(sampleRun(evil));
        store.setNote(id, "note with 'quotes' and \"double\" and ünïcode");
        tb::RunQueries queries(store.database());
        QCOMPARE(queries.getRun(id).summary.name, evil);
        QCOMPARE(queries.getRun(id).note, std::string("note with 'quotes' and \"double\" and ünïcode"));
        // An empty name becomes run-<id>.
        const int64_t unnamed = store.createRun(sampleRun(""));
        QCOMPARE(queries.getRun(unnamed).summary.name, "run-" + std::to_string(unnamed));
    }

    void nonFiniteMetricsReadBackAsNan()
    {
        tb::RunStore store(freshDb());
        const int64_t id = store.createRun(sampleRun("nan"));
        tb::MetricBuffer buffer(store.database(), id);
        buffer.appendMetric(1, 10, 0.1, "loss", std::nan(""));
        buffer.appendMetric(2, 20, 0.2, "loss", 1.5);
        buffer.flush();
        const auto series = tb::RunQueries(store.database()).metricSeries(id, "loss");
        QCOMPARE(series.size(), size_t(2));
        QVERIFY(std::isnan(series[0].value));
        QCOMPARE(series[1].value, 1.5);
    }

    void listFiltersAndTags()
    {
        tb::RunStore store(freshDb());
        const int64_t a = store.createRun(sampleRun("a"));
        const int64_t b = store.createRun(sampleRun("b"));
        tb::NewRun queued = sampleRun("c");
        queued.status = tb::RunStatus::Queued;
        const int64_t c = store.createRun(queued);
        store.finishRun(a, {tb::RunStatus::Failed, "loss diverged"});
        store.addTag(b, "baseline");
        store.addTag(b, " baseline "); // trimmed: the same tag
        store.addTag(b, "rank8");
        store.addTag(a, "rank8");
        store.renameRun(b, "b renamed");

        tb::RunQueries queries(store.database());
        const auto all = queries.listRuns();
        QCOMPARE(all.size(), size_t(3));
        QCOMPARE(all[0].id, c); // newest first
        QCOMPARE(all[0].status, tb::RunStatus::Queued);
        QCOMPARE(all[1].name, std::string("b renamed"));
        QCOMPARE(all[1].tags, (std::vector<std::string>{"baseline", "rank8"}));
        QCOMPARE(all[2].reason, std::string("loss diverged"));

        tb::RunFilter byTag;
        byTag.tag = "rank8";
        QCOMPARE(queries.listRuns(byTag).size(), size_t(2));
        tb::RunFilter byStatus;
        byStatus.status = tb::RunStatus::Failed;
        QCOMPARE(queries.listRuns(byStatus).size(), size_t(1));
        tb::RunFilter limited;
        limited.limit = 1;
        QCOMPARE(queries.listRuns(limited).size(), size_t(1));

        store.removeTag(b, "baseline");
        QCOMPARE(queries.getRun(b).summary.tags, std::vector<std::string>{"rank8"});

        store.startRun(c);
        QCOMPARE(queries.getRun(c).summary.status, tb::RunStatus::Running);
        QVERIFY_THROWS_EXCEPTION(tb::StoreError, store.startRun(c)); // not queued any more
        QVERIFY_THROWS_EXCEPTION(tb::StoreError, store.renameRun(999, "x"));
        QVERIFY_THROWS_EXCEPTION(tb::StoreError, store.addTag(999, "x"));
        QVERIFY_THROWS_EXCEPTION(tb::StoreError, queries.getRun(999));
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, store.renameRun(b, "  "));
        tb::NewRun bad = sampleRun("bad");
        bad.method = "prefix";
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, store.createRun(bad));
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, store.finishRun(b, {tb::RunStatus::Interrupted}));
    }

    void compareShowsDifferingSettingsAndResults()
    {
        tb::RunStore store(freshDb());
        const int64_t a = store.createRun(sampleRun("r8", 8, 2e-4));
        const int64_t b = store.createRun(sampleRun("r16", 16, 1e-4));
        for (const auto& [id, valLoss] : {std::pair{a, 2.0}, std::pair{b, 1.8}}) {
            tb::MetricBuffer buffer(store.database(), id);
            recordStep(buffer, 1);
            buffer.appendMetric(1, 2048, 0.5, "val_loss", valLoss);
            buffer.appendMemory(1, 0.5, "cuda_peak_allocated", 7000 * id);
        }
        store.addArtifact(b, tb::ArtifactKind::Adapter, "/nowhere/adapter", std::nullopt, 4096);
        store.finishRun(a, {tb::RunStatus::Finished, "", -1, "", 100, 3.0});
        store.finishRun(b, {tb::RunStatus::Finished, "", -1, "", 200, 4.0});

        const tb::RunComparison cmp = tb::RunQueries(store.database()).compareRuns({b, a});
        QCOMPARE(cmp.runs.size(), size_t(2));
        QCOMPARE(cmp.runs[0].id, b);
        std::vector<std::string> keys;
        for (const auto& d : cmp.differences)
            keys.push_back(d.key);
        QCOMPARE(keys, (std::vector<std::string>{"learning_rate", "lora.alpha", "lora.rank"}));
        QCOMPARE(*cmp.differences[2].values[0], std::string("16"));
        QCOMPARE(*cmp.differences[2].values[1], std::string("8"));
        QCOMPARE(*cmp.results[0].finalValLoss, 1.8);
        QCOMPARE(*cmp.results[1].bestValLoss, 2.0);
        QCOMPARE(*cmp.results[0].adapterBytes, int64_t(4096));
        QVERIFY(!cmp.results[1].adapterBytes);
        QCOMPARE(*cmp.results[0].trainableParameters, int64_t(200));
        QCOMPARE(cmp.results[1].wallSeconds, 3.0);
        QCOMPARE(cmp.results[0].peakMemory.at("cuda_peak_allocated"), 7000 * b);
        QCOMPARE(*cmp.runs[0].peakCudaBytes, 7000 * b);
        QCOMPARE(*cmp.results[0].meanTokensPerSecond, 4001.0);
    }

    void configDiffFlattens()
    {
        const nlohmann::json a = {{"lr", 1e-4}, {"lora", {{"rank", 8}, {"targets", {"q", "v"}}}}, {"only_a", true}};
        const nlohmann::json b = {{"lr", 1e-4}, {"lora", {{"rank", 8.0}, {"targets", {"v", "q"}}}}};
        const auto flat = tb::ConfigDiff::flatten(a);
        QCOMPARE(flat.at("lora.rank"), std::string("8"));
        QCOMPARE(flat.at("lora.targets"), std::string("[\"q\",\"v\"]"));
        const auto diff = tb::ConfigDiff::differences({a, b});
        QCOMPARE(diff.size(), size_t(3)); // lora.rank (8 vs 8.0), lora.targets (order), only_a
        QCOMPARE(diff[2].key, std::string("only_a"));
        QCOMPARE(*diff[2].values[0], std::string("true"));
        QVERIFY(!diff[2].values[1]);
        QVERIFY(tb::ConfigDiff::differences({a, a}).empty());
    }

    void metricBufferCommitsInBatches()
    {
        const std::string db = freshDb();
        tb::RunStore store(db);
        const int64_t id = store.createRun(sampleRun("batched"));
        RawDb reader(db);
        const std::string count = "SELECT count(*) FROM metrics WHERE run_id = " + std::to_string(id);
        {
            tb::MetricBuffer buffer(store.database(), id, {10, 60000});
            for (int i = 1; i <= 9; ++i)
                buffer.appendMetric(i, std::nullopt, std::nullopt, "loss", 1.0);
            QCOMPARE(buffer.commits(), int64_t(0));
            QCOMPARE(reader.integer(count), 0LL); // nothing visible before the batch commits
            buffer.appendMemory(9, std::nullopt, "rss", 1);
            QCOMPARE(buffer.commits(), int64_t(1));
            QCOMPARE(buffer.pending(), size_t(0));
            QCOMPARE(reader.integer(count), 9LL);
            QCOMPARE(reader.integer("SELECT last_step FROM runs WHERE id = " + std::to_string(id)), 9LL);
            buffer.appendMetric(10, std::nullopt, std::nullopt, "loss", 1.0);
        } // destruction flushes
        QCOMPARE(reader.integer(count), 10LL);

        tb::MetricBuffer timed(store.database(), id, {100000, 20});
        timed.appendMetric(11, std::nullopt, std::nullopt, "loss", 1.0);
        QCOMPARE(timed.commits(), int64_t(0));
        std::this_thread::sleep_for(std::chrono::milliseconds(40));
        timed.appendMetric(12, std::nullopt, std::nullopt, "loss", 1.0);
        QCOMPARE(timed.commits(), int64_t(1)); // the delay, not the count, committed it
        QCOMPARE(reader.integer(count), 12LL);
    }

    void readerAndWriterConnectionsAtOnce()
    {
        const std::string db = freshDb();
        tb::RunStore writer(db);
        tb::StoreOptions readerOptions;
        readerOptions.busyTimeoutMs = 0; // the reader must never need to wait
        tb::RunStore reader(db, readerOptions);
        tb::RunQueries queries(reader.database());

        const int64_t id = writer.createRun(sampleRun("live"));
        tb::MetricBuffer buffer(writer.database(), id, {100000, 60000});
        for (int64_t step = 1; step <= 5; ++step)
            recordStep(buffer, step);
        QVERIFY(queries.metricSeries(id, "loss").empty()); // buffered, not committed
        buffer.flush();
        QCOMPARE(queries.metricSeries(id, "loss").size(), size_t(5));

    }

    void readerDuringOpenWriteTransaction()
    {
        const std::string db = freshDb();
        tb::RunStore writer(db);
        tb::StoreOptions readerOptions;
        readerOptions.busyTimeoutMs = 0;
        tb::RunStore reader(db, readerOptions);
        tb::RunQueries queries(reader.database());
        const int64_t id = writer.createRun(sampleRun("live"));

        tb::SqliteTransaction transaction(writer.database());
        tb::SqliteStatement insert = writer.database().prepare(
            "INSERT INTO metrics (run_id, step, name, value) VALUES (?1, ?2, 'loss', 1.0)");
        insert.bindInt(1, id).bindInt(2, 1).run();
        QElapsedTimer timer;
        timer.start();
        QCOMPARE(queries.listRuns().size(), size_t(1));
        QVERIFY(queries.metricSeries(id, "loss").empty());
        QVERIFY(queries.getRun(id).finalMetrics.empty());
        QVERIFY(timer.elapsed() < 1000);
        transaction.commit();
        QCOMPARE(queries.metricSeries(id, "loss").size(), size_t(1));
    }

    void recoveryByPidAndStartMarker()
    {
        const std::string db = freshDb();
        tb::RunStore store(db);
        const int64_t mine = store.createRun(sampleRun("mine"));
        const int64_t dead = store.createRun(sampleRun("dead owner"));
        const int64_t reused = store.createRun(sampleRun("pid reused"));
        {
            tb::MetricBuffer buffer(store.database(), dead);
            for (int64_t step = 1; step <= 7; ++step)
                recordStep(buffer, step);
        }
        store.recordCheckpoint(dead, 5, "/runs/dead/checkpoints/step-00000005");
        RawDb raw(db);
        QCOMPARE(raw.exec("UPDATE runs SET owner_pid = " + std::to_string(kDeadPid) + " WHERE id = " + std::to_string(dead)), std::string());
        // Our own pid but another process's start marker: the pid has been reused.
        QCOMPARE(raw.exec("UPDATE runs SET owner_start = 'other-boot:1' WHERE id = " + std::to_string(reused)), std::string());

        const std::vector<int64_t> recovered = store.recoverInterruptedRuns();
        QCOMPARE(recovered, (std::vector<int64_t>{dead, reused}));
        tb::RunQueries queries(store.database());
        const tb::RunDetails d = queries.getRun(dead);
        QCOMPARE(d.summary.status, tb::RunStatus::Interrupted);
        QCOMPARE(d.summary.lastStep, int64_t(7));
        QCOMPARE(d.lastCheckpoint, std::string("/runs/dead/checkpoints/step-00000005"));
        QVERIFY(contains(d.summary.reason, std::to_string(kDeadPid)));
        QCOMPARE(queries.getRun(mine).summary.status, tb::RunStatus::Running);
        QVERIFY(store.recoverInterruptedRuns().empty());

        // Resuming from the checkpoint continues the same row; the steps after it are recorded again.
        store.resumeRun(dead, 5);
        const tb::RunDetails resumed = queries.getRun(dead);
        QCOMPARE(resumed.summary.status, tb::RunStatus::Running);
        QCOMPARE(resumed.summary.lastStep, int64_t(5));
        QCOMPARE(*resumed.ownerPid, tb::ProcessIdentity::current().pid);
        QCOMPARE(queries.metricSeries(dead, "loss").size(), size_t(5));
        QVERIFY(resumed.summary.endedAt.empty());
    }

    void resumeRefusedWhileOwnerAlive()
    {
        const std::string db = freshDb();
        tb::RunStore store(db);
        const int64_t id = store.createRun(sampleRun("busy"));
        RawDb raw(db);
        // PID 1 is alive; its real start marker makes it a live foreign owner.
        const std::string marker = tb::ProcessIdentity::startMarkerOf(1);
        QCOMPARE(raw.exec("UPDATE runs SET owner_pid = 1, owner_start = '" + marker + "' WHERE id = " + std::to_string(id)), std::string());
        QVERIFY(store.recoverInterruptedRuns().empty());
        QVERIFY_THROWS_EXCEPTION(tb::StoreError, store.resumeRun(id, std::nullopt));
    }

    void processIdentity()
    {
        const tb::ProcessIdentity self = tb::ProcessIdentity::current();
        QVERIFY(self.pid > 0);
        QVERIFY(!self.startMarker.empty()); // Linux: /proc is there
        QVERIFY(tb::ProcessIdentity::isAlive(self.pid, self.startMarker));
        QVERIFY(tb::ProcessIdentity::isAlive(self.pid, ""));
        QVERIFY(!tb::ProcessIdentity::isAlive(self.pid, self.startMarker + "0"));
        QVERIFY(!tb::ProcessIdentity::isAlive(kDeadPid, ""));
        QVERIFY(tb::ProcessIdentity::startMarkerOf(kDeadPid).empty());
    }

    void deleteRemovesRowsAndOnlyAllowedFiles()
    {
        const std::string db = freshDb();
        tb::RunStore store(db);
        const QString ws = QString::fromStdString(store.workspace());
        const std::string runDir = tb::StorePaths::runFolder(store.workspace(), 1, "del me");
        const QString rd = QString::fromStdString(runDir);
        writeText(rd + "/train_config.json", "{}");
        writeText(rd + "/checkpoints/step-00000010/trainable.safetensors", "weights");
        writeText(rd + "/adapter/adapter_model.safetensors", "adapter");
        const QString outside = m_dir.path() + "/exports/model.gguf";
        writeText(outside, "export");

        tb::NewRun run = sampleRun("del me");
        run.runDir = runDir;
        const int64_t id = store.createRun(run);
        const int64_t other = store.createRun(sampleRun("keeps"));
        {
            tb::MetricBuffer buffer(store.database(), id);
            recordStep(buffer, 1);
            tb::MetricBuffer otherBuffer(store.database(), other);
            recordStep(otherBuffer, 1);
        }
        store.recordCheckpoint(id, 10, (rd + "/checkpoints/step-00000010").toStdString());
        store.addArtifact(id, tb::ArtifactKind::Adapter, (rd + "/adapter").toStdString());
        store.addArtifact(id, tb::ArtifactKind::Export, outside.toStdString());
        store.addTag(id, "x");

        tb::RunQueries queries(store.database());
        const auto artifacts = queries.getRun(id).artifacts;
        QCOMPARE(artifacts.size(), size_t(3));
        QCOMPARE(*artifacts[1].sizeBytes, int64_t(7)); // the folder's files summed
        QVERIFY(!artifacts[1].missing);

        const tb::DeleteReport report = store.deleteRun(id, true);
        QCOMPARE(report.kept, std::vector<std::string>{outside.toStdString()});
        QVERIFY(report.failed.empty());
        QCOMPARE(report.removed.back(), runDir); // the run folder, inside the workspace
        QVERIFY(!QFileInfo::exists(rd));
        QVERIFY(QFileInfo::exists(outside));
        QVERIFY(QFileInfo::exists(ws));
        RawDb raw(db);
        for (const char* table : {"metrics", "memory_samples", "artifacts", "tags", "runs"})
            QCOMPARE(raw.integer(std::string("SELECT count(*) FROM ") + table + " WHERE " +
                                 (std::string(table) == "runs" ? "id" : "run_id") + " = " + std::to_string(id)), 0LL);
        QCOMPARE(raw.integer("SELECT count(*) FROM metrics WHERE run_id = " + std::to_string(other)), 8LL);
        QVERIFY_THROWS_EXCEPTION(tb::StoreError, store.deleteRun(id));
    }

    void deleteKeepsFilesOfForeignRunFolders()
    {
        const std::string db = freshDb();
        tb::RunStore store(db);
        // A run folder outside the workspace without train_config.json (say output_dir was a
        // user's own folder): its artifacts are not ours to delete.
        const QString folder = m_dir.path() + "/my-folder";
        writeText(folder + "/precious.txt", "keep");
        tb::NewRun run = sampleRun("foreign");
        run.runDir = folder.toStdString();
        const int64_t id = store.createRun(run);
        store.addArtifact(id, tb::ArtifactKind::Report, (folder + "/precious.txt").toStdString());
        // A path that climbs out of the workspace with "..".
        store.addArtifact(id, tb::ArtifactKind::Report, store.workspace() + "/../my-folder/precious.txt");
        const tb::DeleteReport report = store.deleteRun(id, true);
        QCOMPARE(report.kept.size(), size_t(2));
        QVERIFY(report.removed.empty());
        QVERIFY(QFileInfo::exists(folder + "/precious.txt"));

        // Without deleteFiles nothing on disk is touched even inside the workspace.
        const std::string inside = store.workspace() + "/5-x/report.txt";
        writeText(QString::fromStdString(inside), "r");
        const int64_t second = store.createRun(sampleRun("x"));
        store.addArtifact(second, tb::ArtifactKind::Report, inside);
        QVERIFY(store.deleteRun(second).removed.empty());
        QVERIFY(QFileInfo::exists(QString::fromStdString(inside)));
    }

    void missingArtifactsAreFlagged()
    {
        tb::RunStore store(freshDb());
        const QString file = m_dir.path() + "/adapter.safetensors";
        writeText(file, "12345");
        const int64_t id = store.createRun(sampleRun("a"));
        store.addArtifact(id, tb::ArtifactKind::Adapter, file.toStdString());
        store.addArtifact(id, tb::ArtifactKind::Merged, "/does/not/exist");
        QVERIFY(QFile::remove(file));
        const auto artifacts = tb::RunQueries(store.database()).getRun(id).artifacts;
        QCOMPARE(artifacts.size(), size_t(2));
        QVERIFY(artifacts[0].missing);
        QCOMPARE(*artifacts[0].sizeBytes, int64_t(5)); // measured when it was added
        QVERIFY(artifacts[1].missing);
        QVERIFY(!artifacts[1].sizeBytes);
    }

    void insideRule()
    {
        const std::string base = m_dir.path().toStdString();
        QVERIFY(tb::ArtifactFiles::isInside(base + "/runs/1/a", base + "/runs"));
        QVERIFY(!tb::ArtifactFiles::isInside(base + "/runs", base + "/runs"));
        QVERIFY(!tb::ArtifactFiles::isInside(base + "/runs2/a", base + "/runs"));
        QVERIFY(!tb::ArtifactFiles::isInside(base + "/runs/../etc", base + "/runs"));
        QVERIFY(!tb::ArtifactFiles::isInside("/etc/passwd", "/"));
        QVERIFY(!tb::ArtifactFiles::isInside("", base));
    }

    void pathsFollowEnvironment()
    {
        const QByteArray oldDb = qgetenv("TUNEBENCH_DB");
        const QByteArray oldXdg = qgetenv("XDG_DATA_HOME");
        const QByteArray oldHome = qgetenv("HOME");
        qunsetenv("TUNEBENCH_DB");
        qputenv("HOME", "/home/u");
        qunsetenv("XDG_DATA_HOME");
        QCOMPARE(tb::StorePaths::resolve().database, std::string("/home/u/.local/share/Tunebench/tunebench.db"));
        QCOMPARE(tb::StorePaths::resolve().workspace, std::string("/home/u/.local/share/Tunebench/runs"));
        qputenv("XDG_DATA_HOME", "relative/ignored");
        QCOMPARE(tb::StorePaths::resolve().database, std::string("/home/u/.local/share/Tunebench/tunebench.db"));
        qputenv("XDG_DATA_HOME", "/xdg");
        QCOMPARE(tb::StorePaths::resolve().database, std::string("/xdg/Tunebench/tunebench.db"));
        qputenv("TUNEBENCH_DB", "/env/my.db");
        QCOMPARE(tb::StorePaths::resolve().database, std::string("/env/my.db"));
        QCOMPARE(tb::StorePaths::resolve().workspace, std::string("/env/runs"));
        QCOMPARE(tb::StorePaths::resolve("/arg/x.db").database, std::string("/arg/x.db"));
        qunsetenv("TUNEBENCH_DB");
        qunsetenv("XDG_DATA_HOME");
        qunsetenv("HOME");
        QVERIFY_THROWS_EXCEPTION(tb::StoreError, tb::StorePaths::resolve());
        QCOMPARE(tb::StorePaths::runFolder("/ws", 7, "../my run/é"), std::string("/ws/7-_my_run___"));
        QCOMPARE(tb::StorePaths::runFolder("/ws", 8, ""), std::string("/ws/8"));
        auto restore = [](const char* name, const QByteArray& value) {
            if (value.isNull())
                qunsetenv(name);
            else
                qputenv(name, value);
        };
        restore("TUNEBENCH_DB", oldDb);
        restore("XDG_DATA_HOME", oldXdg);
        restore("HOME", oldHome);
    }

    void contentHashes()
    {
        const QString base = m_dir.path() + "/hash";
        writeText(base + "/a.jsonl", "{\"text\": \"hello\"}\n");
        writeText(base + "/copy/a.jsonl", "{\"text\": \"hello\"}\n");
        writeText(base + "/b.jsonl", "{\"text\": \"hellp\"}\n");
        const std::string a = tb::contentHash((base + "/a.jsonl").toStdString());
        QCOMPARE(a.size(), size_t(8 + 16));
        QVERIFY(a.rfind("fnv1a64:", 0) == 0);
        QCOMPARE(tb::contentHash((base + "/copy/a.jsonl").toStdString()), a); // content, not name or mtime
        QVERIFY(tb::contentHash((base + "/b.jsonl").toStdString()) != a);

        // A model folder: file names and contents count, hidden files do not.
        writeText(base + "/m1/config.json", "{}");
        writeText(base + "/m1/model.safetensors", "w");
        writeText(base + "/m2/model.safetensors", "w");
        writeText(base + "/m2/config.json", "{}");
        writeText(base + "/m2/.cache/x", "junk");
        QCOMPARE(tb::contentHash((base + "/m2").toStdString()), tb::contentHash((base + "/m1").toStdString()));
        writeText(base + "/m2/extra.txt", "");
        QVERIFY(tb::contentHash((base + "/m2").toStdString()) != tb::contentHash((base + "/m1").toStdString()));

        // Beyond 64 MiB only the size and three 1 MiB windows (start, middle, end) count.
        const qint64 size = (64 << 20) + 4096;
        QByteArray big(size, 'w');
        writeText(base + "/big", big);
        const std::string h = tb::contentHash((base + "/big").toStdString());
        big[size / 2] = 'x'; // inside the middle window
        writeText(base + "/big", big);
        const std::string hMiddle = tb::contentHash((base + "/big").toStdString());
        QVERIFY(hMiddle != h);
        big[size / 4] = 'x'; // between windows: not seen, by design
        writeText(base + "/big", big);
        QCOMPARE(tb::contentHash((base + "/big").toStdString()), hMiddle);
        QFile::remove(base + "/big");

        QVERIFY_THROWS_EXCEPTION(tb::FormatError, tb::contentHash((base + "/nope").toStdString()));
    }
};

QTEST_GUILESS_MAIN(TestRunStore)
#include "tst_runstore.moc"
