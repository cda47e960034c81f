// engine/store: a real writer process (store_writer_child) is SIGKILLed in the middle of a
// run. The database must pass integrity_check, hold every metric of the batches committed
// before the kill (whole steps, with runs.last_step matching them), and the next open must
// mark the run interrupted, keeping its step and checkpoint; resuming continues the same row.
#include "StoreTestSupport.h"

#include "store/RunQueries.h"
#include "store/RunStore.h"

#include <QElapsedTimer>
#include <QProcess>
#include <QTemporaryDir>
#include <QTest>

#include <thread>

using namespace tbtest;

class TestStoreCrash : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void killedWriterLeavesAConsistentDatabase()
    {
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        const std::string db = (dir.path() + "/tunebench.db").toStdString();

        QProcess child;
        child.setProcessChannelMode(QProcess::ForwardedErrorChannel);
        child.start(QStringLiteral(TB_STORE_CHILD), {"write", QString::fromStdString(db)});
        QVERIFY(child.waitForStarted(10000));
        QVERIFY(child.waitForReadyRead(30000));
        const QByteArray line = child.readLine().trimmed();
        QVERIFY2(line.startsWith("run "), line.constData());
        const int64_t runId = line.mid(4).toLongLong();
        const std::string run = std::to_string(runId);

        // Poll from another connection until enough batches (past the step-10 checkpoint)
        // are committed, as the GUI would watch a run.
        int64_t seenStep = 0;
        {
            RawDb watcher(db);
            QElapsedTimer timer;
            timer.start();
            while (seenStep < 60 && timer.elapsed() < 60000) {
                seenStep = watcher.integer("SELECT COALESCE(MAX(step), 0) FROM metrics WHERE run_id = " + run);
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
            }
            QVERIFY2(seenStep >= 60, "the child did not commit 60 steps within 60 s");
            QCOMPARE(watcher.text("SELECT status FROM runs WHERE id = " + run), std::string("running"));
        }
        child.kill(); // SIGKILL: no destructor, no flush
        QVERIFY(child.waitForFinished(10000));
        QCOMPARE(child.exitStatus(), QProcess::CrashExit);

        int64_t lastStep = 0;
        {
            RawDb raw(db);
            QCOMPARE(raw.text("PRAGMA integrity_check"), std::string("ok"));
            QCOMPARE(raw.text("PRAGMA foreign_key_check"), std::string());
            lastStep = raw.integer("SELECT MAX(step) FROM metrics WHERE run_id = " + run);
            QVERIFY(lastStep >= seenStep); // nothing committed was lost
            // Batches end anywhere inside a step, but every committed batch is whole: all
            // steps before the last have their 8 metrics and 6 memory samples...
            QCOMPARE(raw.integer("SELECT count(*) FROM (SELECT step FROM metrics WHERE run_id = " + run +
                                 " AND step < " + std::to_string(lastStep) + " GROUP BY step HAVING count(*) <> 8)"),
                     0LL);
            QCOMPARE(raw.integer("SELECT count(DISTINCT step) FROM metrics WHERE run_id = " + run), (long long)lastStep);
            QCOMPARE(raw.integer("SELECT count(*) FROM memory_samples WHERE run_id = " + run +
                                 " AND step < " + std::to_string(lastStep)),
                     6LL * (lastStep - 1));
            // ...and the run row was updated in the same transactions as the metrics.
            QCOMPARE(raw.integer("SELECT last_step FROM runs WHERE id = " + run),
                     std::max((long long)lastStep, raw.integer("SELECT MAX(step) FROM memory_samples WHERE run_id = " + run)));
            QCOMPARE(raw.text("SELECT status FROM runs WHERE id = " + run), std::string("running"));
        }

        // The next open recovers the run: the owner pid is gone.
        tb::RunStore store(db);
        tb::RunQueries queries(store.database());
        tb::RunDetails d = queries.getRun(runId);
        QCOMPARE(d.summary.status, tb::RunStatus::Interrupted);
        QVERIFY(d.summary.lastStep >= lastStep);
        QCOMPARE(d.lastCheckpoint, db + ".run/checkpoints/step-00000010");
        QVERIFY(d.summary.reason.find(std::to_string(child.processId())) != std::string::npos ||
                d.summary.reason.find("pid") != std::string::npos);
        QVERIFY(d.results.wallSeconds > 0);
        QVERIFY(!d.summary.endedAt.empty());
        QCOMPARE(queries.metricSeries(runId, "loss").size(), size_t(lastStep));

        // `--resume` from the checkpoint: the same row runs again in this process.
        store.resumeRun(runId, 10);
        d = queries.getRun(runId);
        QCOMPARE(d.summary.status, tb::RunStatus::Running);
        QCOMPARE(d.summary.lastStep, int64_t(10));
        QCOMPARE(queries.metricSeries(runId, "loss").size(), size_t(10));
        {
            tb::MetricBuffer buffer(store.database(), runId);
            for (int64_t step = 11; step <= 15; ++step)
                recordStep(buffer, step);
        }
        store.finishRun(runId, {tb::RunStatus::Finished});
        d = queries.getRun(runId);
        QCOMPARE(d.summary.status, tb::RunStatus::Finished);
        QCOMPARE(d.summary.lastStep, int64_t(15));
        QCOMPARE(queries.listRuns().size(), size_t(1));
    }
};

QTEST_GUILESS_MAIN(TestStoreCrash)
#include "tst_storecrash.moc"
