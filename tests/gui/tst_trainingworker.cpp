// TrainingWorker and LiveMonitor, offscreen: each run is a real `tunebench-cli train` child
// process (the build's, through TUNEBENCH_CLI). A 6-step LoRA run of the tiny demo model on the
// shipped reviews dataset goes through the worker thread into the monitor while the GUI thread
// keeps processing events; a run is paused, resumed and cancelled through signals to its
// process; a run killed with SIGKILL leaves this process running, is recorded as interrupted
// with the reason and resumes; LoRA then QLoRA of the small demo in one process each report
// their own peak memory (QLoRA the lower); a run kept training in the background when its panel
// goes finishes on its own; a data-parallel run followed from the database gives each worker's
// memory samples; the Train tab's form refuses an invalid run at its field. Runs are recorded in
// a temporary database.
#include "LiveMonitor.h"
#include "StallMeter.h"
#include "MainWindow.h"
#include "RunForm.h"
#include "TrainPanel.h"
#include "TrainingWorker.h"

#include "demo/DemoModelMaker.h"
#include "store/MetricBuffer.h"
#include "store/RunQueries.h"
#include "store/RunStore.h"
#include "train/Trainer.h"

#include "QCustomPlotCompat.h"

#include <QApplication>
#include <QElapsedTimer>
#include <QLineEdit>
#include <QMessageBox>
#include <QPushButton>
#include <QScrollBar>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>
#include <QThread>
#include <QTimer>

#include <atomic>
#include <csignal>
#include <memory>

#include <sys/wait.h>
#include <unistd.h>

namespace {

// The worker on its own thread, started and stopped like TrainPanel does.
struct WorkerOnThread {
    QThread thread;
    TrainingWorker* worker = new TrainingWorker;
    WorkerOnThread()
    {
        worker->moveToThread(&thread);
        QObject::connect(&thread, &QThread::finished, worker, &QObject::deleteLater);
        thread.start();
    }
    ~WorkerOnThread()
    {
        worker->cancel();
        thread.quit();
        thread.wait();
    }
    void start(const tb::TrainConfig& c, bool resume = false)
    {
        TrainingWorker* target = worker;
        worker->prepareRun(); // as TrainPanel does
        QMetaObject::invokeMethod(target, [target, c, resume] { target->start(c, resume); }, Qt::QueuedConnection);
    }
};

tb::TrainStatus statusOf(const QSignalSpy& finished, int i = 0)
{
    return finished.at(i).at(0).value<tb::TrainStatus>();
}

} // namespace

class TestTrainingWorker : public QObject {
    Q_OBJECT
private:
    QTemporaryDir m_tmp;
    QString m_model;
    QString m_small;

    tb::RunSummary runIn(const QString& database, const QString& runDir)
    {
        tb::RunStore store(database.toStdString());
        tb::RunQueries queries(store.database());
        const auto id = queries.findRunByDir(QFileInfo(runDir).absoluteFilePath().toStdString());
        if (!id)
            throw std::runtime_error("no run recorded for " + runDir.toStdString());
        for (const tb::RunSummary& s : queries.listRuns())
            if (s.id == *id)
                return s;
        throw std::runtime_error("run vanished");
    }

    tb::TrainConfig config(const QString& run, int steps)
    {
        tb::TrainConfig c;
        c.modelDir = m_model.toStdString();
        c.dataPath = TB_SOURCE_DIR "/resources/datasets/reviews-train.jsonl";
        c.outputDir = m_tmp.filePath(run).toStdString();
        c.maxSteps = steps;
        c.batchSize = 4;
        c.data.maxSeqLen = 64;
        c.lora.rank = 4;
        c.lora.alpha = 8;
        c.threads = 1; // leave the other core to the GUI thread on a small CI machine
        return c;
    }

private Q_SLOTS:
    void initTestCase()
    {
        QStandardPaths::setTestModeEnabled(true); // the Train tab's remembered form: not the user's settings
        QVERIFY(m_tmp.isValid());
        m_model = m_tmp.filePath("demo");
        tb::makeDemoModel(m_model.toStdString(), "tiny", 0);
        m_small = m_tmp.filePath("small");
        tb::makeDemoModel(m_small.toStdString(), "small", 0);
        QVERIFY2(QFileInfo(TB_CLI_PATH).isExecutable(), TB_CLI_PATH);
        QCOMPARE(qEnvironmentVariable("TUNEBENCH_CLI"), QString(TB_CLI_PATH));
    }

    void runReportsInOrderFromTheWorkerThread()
    {
        WorkerOnThread w;
        w.worker->setDatabasePath(m_tmp.filePath("experiments.db"));
        LiveMonitor monitor;
        monitor.show();
        QThread* workerThread = &w.thread;

        // Every report in arrival order, with the thread it was emitted from.
        QStringList order;
        bool allFromWorker = true;
        auto note = [&](const QString& what) {
            order << what;
            allFromWorker = allFromWorker && QThread::currentThread() == workerThread;
        };
        connect(w.worker, &TrainingWorker::stepReported, w.worker,
                [&](const tb::StepReport& r) { note(QString("step %1").arg(r.step)); }, Qt::DirectConnection);
        connect(w.worker, &TrainingWorker::evalReported, w.worker,
                [&](const tb::EvalReport& r) { note(QString("eval %1").arg(r.step)); }, Qt::DirectConnection);
        connect(w.worker, &TrainingWorker::memorySampled, w.worker,
                [&](const tb::MemorySample& m) { note(QString("memory %1").arg(m.step)); }, Qt::DirectConnection);
        // And the GUI side, queued, as the window connects them.
        connect(w.worker, &TrainingWorker::started, &monitor, [&](qint64, qint64 total) { monitor.beginRun(total); });
        connect(w.worker, &TrainingWorker::stepReported, &monitor, &LiveMonitor::addStep);
        connect(w.worker, &TrainingWorker::evalReported, &monitor, &LiveMonitor::addEval);
        connect(w.worker, &TrainingWorker::memorySampled, &monitor, &LiveMonitor::addMemory);
        connect(w.worker, &TrainingWorker::logged, &monitor, &LiveMonitor::addLog);
        connect(w.worker, &TrainingWorker::finished, &monitor, &LiveMonitor::endRun);
        QSignalSpy steps(w.worker, &TrainingWorker::stepReported);
        QSignalSpy finished(w.worker, &TrainingWorker::finished);

        StallMeter stalls;
        w.start(config("six-steps", 6));
        QVERIFY(finished.wait(240000));
        QCoreApplication::processEvents(); // deliver what was queued just before finished
        const qint64 longestGap = stalls.longest();

        QCOMPARE(statusOf(finished), tb::TrainStatus::Finished);
        QVERIFY2(finished.first().at(1).toString().isEmpty(), qPrintable(finished.first().at(1).toString()));
        QVERIFY(QFileInfo::exists(finished.first().at(2).toString() + "/adapter_config.json"));
        QCOMPARE(steps.count(), 6);
        QVERIFY(allFromWorker);
        // A memory sample and the validation before the first step, then for each step its
        // memory sample (taken while gradients are alive) before the step report, then the
        // final validation.
        QCOMPARE(order.at(0), QString("memory 0"));
        QCOMPARE(order.at(1), QString("eval 0"));
        QCOMPARE(order.last(), QString("eval 6"));
        qint64 lastStep = 0;
        for (int i = 0; i < order.size(); ++i) {
            if (!order[i].startsWith("step "))
                continue;
            const qint64 step = order[i].mid(5).toLongLong();
            QCOMPARE(step, lastStep + 1);
            QCOMPARE(order[i - 1], QString("memory %1").arg(step));
            lastStep = step;
        }
        QCOMPARE(monitor.lossGraph()->dataCount(), 6);
        QCOMPARE(monitor.validationGraph()->dataCount(), 2);
        QVERIFY(monitor.memoryPlot()->graph(0)->dataCount() >= 6);
        QCOMPARE(monitor.progressBar()->value(), 6);
        QVERIFY(monitor.speedLabel()->text().contains("tokens/s"));
        QVERIFY(monitor.logView()->toPlainText().contains("recorded as run"));
        // The log follows its newest line.
        QCOMPARE(monitor.logView()->verticalScrollBar()->value(), monitor.logView()->verticalScrollBar()->maximum());
        QVERIFY(!monitor.stopButton()->isEnabled());
        QVERIFY2(longestGap < 500, qPrintable(QString("GUI thread stalled for %1 ms").arg(longestGap)));
    }

    void cancelEndsWithinOneStep()
    {
        WorkerOnThread w;
        w.worker->setDatabasePath(m_tmp.filePath("experiments.db"));
        std::atomic<int> steps{0}; // counted on the worker thread, as they are emitted
        connect(w.worker, &TrainingWorker::stepReported, w.worker, [&] { ++steps; }, Qt::DirectConnection);
        QSignalSpy finished(w.worker, &TrainingWorker::finished);
        StallMeter stalls;
        w.start(config("cancelled", 200));
        QTRY_VERIFY_WITH_TIMEOUT(steps.load() >= 2, 240000);
        w.worker->pause(); // pause then cancel: a paused run must still end
        w.worker->cancel();
        const int stepsAtCancel = steps.load();
        QVERIFY(finished.wait(120000));
        QCOMPARE(statusOf(finished), tb::TrainStatus::Cancelled);
        // Within one step: the child finishes the step it is on; one more step's event may be
        // on its way through the pipe when the signal is sent.
        QVERIFY2(steps.load() <= stepsAtCancel + 2, qPrintable(QString("%1 steps after cancel").arg(steps.load() - stepsAtCancel)));
        QVERIFY(steps.load() < 200);
        QVERIFY2(stalls.longest() < 500, qPrintable(QString("GUI thread stalled for %1 ms").arg(stalls.longest())));
    }

    void pauseAndResumeReachTheChild()
    {
        WorkerOnThread w;
        w.worker->setDatabasePath(m_tmp.filePath("experiments.db"));
        LiveMonitor monitor;
        connect(w.worker, &TrainingWorker::pauseChanged, &monitor, &LiveMonitor::setPaused);
        std::atomic<int> steps{0};
        connect(w.worker, &TrainingWorker::stepReported, w.worker, [&] { ++steps; }, Qt::DirectConnection);
        QSignalSpy paused(w.worker, &TrainingWorker::pauseChanged);
        QSignalSpy finished(w.worker, &TrainingWorker::finished);
        w.start(config("paused", 200));
        QTRY_VERIFY_WITH_TIMEOUT(steps.load() >= 2, 240000);
        w.worker->pause();
        QTRY_VERIFY_WITH_TIMEOUT(paused.count() >= 1, 60000); // within one step
        QCOMPARE(paused.at(0).at(0).toBool(), true);
        const qint64 pausedAfter = paused.at(0).at(1).toLongLong();
        QVERIFY(pausedAfter >= 2);
        QTRY_VERIFY(monitor.etaLabel()->text().contains("paused after step"));
        QVERIFY(monitor.resumeButton()->isEnabled());
        const int stepsWhilePaused = steps.load();
        QTest::qWait(1500); // several tiny steps' time: none may come
        QCOMPARE(steps.load(), stepsWhilePaused);
        QCOMPARE(qint64(stepsWhilePaused), pausedAfter);

        w.worker->resume();
        QTRY_VERIFY_WITH_TIMEOUT(paused.count() >= 2, 60000);
        QCOMPARE(paused.at(1).at(0).toBool(), false);
        QTRY_VERIFY_WITH_TIMEOUT(steps.load() > stepsWhilePaused, 60000);
        w.worker->cancel();
        QVERIFY(finished.wait(120000));
        QCOMPARE(statusOf(finished), tb::TrainStatus::Cancelled);
    }

    void pauseAndStopRightAfterStartWaitForTheProcess()
    {
        // Pressed before the child has its signal handlers (or even exists): kept, then acted
        // on; never a kill by an unhandled SIGUSR1.
        WorkerOnThread w;
        w.worker->setDatabasePath(m_tmp.filePath("experiments.db"));
        QSignalSpy paused(w.worker, &TrainingWorker::pauseChanged);
        QSignalSpy finished(w.worker, &TrainingWorker::finished);
        std::atomic<int> steps{0};
        connect(w.worker, &TrainingWorker::stepReported, w.worker, [&] { ++steps; }, Qt::DirectConnection);
        w.start(config("paused-at-once", 200));
        w.worker->pause(); // the queued start() has not even spawned the process yet
        QTRY_VERIFY_WITH_TIMEOUT(paused.count() >= 1, 120000);
        QCOMPARE(paused.at(0).at(0).toBool(), true);
        QCOMPARE(paused.at(0).at(1).toLongLong(), qint64(0)); // before its first step
        QCOMPARE(steps.load(), 0);
        w.worker->cancel();
        QVERIFY(finished.wait(120000));
        QCOMPARE(statusOf(finished), tb::TrainStatus::Cancelled);

        // Stop at once: cancelled, not killed by a signal.
        finished.clear();
        w.start(config("stopped-at-once", 200));
        QTRY_VERIFY_WITH_TIMEOUT(w.worker->childPid() > 0, 60000);
        w.worker->cancel(); // the child is still starting: LibTorch loads, no handler yet
        QVERIFY(finished.wait(120000));
        QVERIFY2(statusOf(finished) == tb::TrainStatus::Cancelled, qPrintable(finished.first().at(1).toString()));
    }

    void aKilledRunLeavesThisProcessAndResumes()
    {
        const QString database = m_tmp.filePath("experiments.db");
        WorkerOnThread w;
        w.worker->setDatabasePath(database);
        std::atomic<int> steps{0};
        connect(w.worker, &TrainingWorker::stepReported, w.worker, [&] { ++steps; }, Qt::DirectConnection);
        QSignalSpy finished(w.worker, &TrainingWorker::finished);
        tb::TrainConfig c = config("killed", 8);
        c.saveEvery = 2;
        w.start(c);
        QTRY_VERIFY_WITH_TIMEOUT(steps.load() >= 3, 240000); // past the checkpoint of step 2
        const qint64 pid = w.worker->childPid();
        QVERIFY(pid > 0);
        QVERIFY(pid != QCoreApplication::applicationPid());
        QCOMPARE(::kill(static_cast<pid_t>(pid), SIGKILL), 0); // as the kernel's out-of-memory killer does
        QVERIFY(finished.wait(60000));
        QCOMPARE(statusOf(finished), tb::TrainStatus::Failed);
        const QString reason = finished.first().at(1).toString();
        QVERIFY2(reason.contains("signal 9"), qPrintable(reason));

        const tb::RunSummary killed = runIn(database, QString::fromStdString(c.outputDir));
        QCOMPARE(killed.status, tb::RunStatus::Interrupted);
        QVERIFY2(killed.reason.find("signal 9") != std::string::npos, killed.reason.c_str());

        // Resumable from its last checkpoint, as the Runs tab's Resume does.
        finished.clear();
        w.start(c, true);
        QVERIFY(finished.wait(240000));
        QCOMPARE(statusOf(finished), tb::TrainStatus::Finished);
        const tb::RunSummary resumed = runIn(database, QString::fromStdString(c.outputDir));
        QCOMPARE(resumed.id, killed.id);
        QCOMPARE(resumed.status, tb::RunStatus::Finished);
        QCOMPARE(resumed.lastStep, int64_t(8));
    }

    void eachRunsMemoryIsItsOwn()
    {
        // The case: LoRA then QLoRA of the same settings on the small demo (batch 4,
        // sequence 128, rank 8) in one workbench process. In-process, QLoRA inherited LoRA's
        // freed heap and read larger; each in its own process, QLoRA's peak is the lower.
        const QString database = m_tmp.filePath("memory.db");
        WorkerOnThread w;
        w.worker->setDatabasePath(database);
        QSignalSpy finished(w.worker, &TrainingWorker::finished);
        tb::RunSummary peaks[2];
        int i = 0;
        for (tb::TrainMethod method : {tb::TrainMethod::Lora, tb::TrainMethod::Qlora}) {
            tb::TrainConfig c = tb::TrainConfig::defaults(method);
            c.modelDir = m_small.toStdString();
            c.dataPath = TB_SOURCE_DIR "/resources/datasets/reviews-train.jsonl";
            c.outputDir = m_tmp.filePath(QString("memory-%1").arg(tb::trainMethodName(method))).toStdString();
            c.quantCacheDir = m_tmp.filePath("quant-cache").toStdString();
            c.maxSteps = 2;
            c.batchSize = 4;
            c.data.maxSeqLen = 128;
            c.data.pack = true;
            c.threads = 1;
            finished.clear();
            w.start(c);
            QVERIFY(finished.wait(300000));
            QCOMPARE(statusOf(finished), tb::TrainStatus::Finished);
            peaks[i++] = runIn(database, QString::fromStdString(c.outputDir));
        }
        QVERIFY(peaks[0].peakResidentBytes && peaks[1].peakResidentBytes);
        QVERIFY2(*peaks[1].peakResidentBytes < *peaks[0].peakResidentBytes,
                 qPrintable(QString("QLoRA %1 MiB, LoRA %2 MiB").arg(*peaks[1].peakResidentBytes >> 20).arg(*peaks[0].peakResidentBytes >> 20)));
    }

    void aRunKeptTrainingIsFollowedAtTheNextStart()
    {
        // Close the window mid-run with "Keep training in the background": the process goes
        // on; the next window finds it through the database and follows it to its end.
        const QString database = m_tmp.filePath("background.db");
        tb::TrainConfig c = config("background", 40);
        qint64 pid = 0;
        {
            MainWindow window(m_model, nullptr, database);
            window.show();
            TrainPanel* panel = window.trainPanel();
            QSignalSpy registered(panel->worker(), &TrainingWorker::runRegistered);
            QSignalSpy steps(panel->worker(), &TrainingWorker::stepReported);
            QVERIFY(panel->startRun(c, false));
            QTRY_VERIFY_WITH_TIMEOUT(steps.count() >= 2, 240000);
            pid = registered.first().at(1).toLongLong();
            QTimer::singleShot(0, [&window] {
                window.close(); // asks
            });
            QTRY_VERIFY(window.findChild<QMessageBox*>());
            QMessageBox* question = window.findChild<QMessageBox*>();
            QAbstractButton* background = nullptr;
            for (QAbstractButton* b : question->buttons())
                if (b->text().contains("background"))
                    background = b;
            QVERIFY(background);
            background->click();
            QTRY_VERIFY(!window.isVisible());
            QVERIFY(!panel->running());
        }
        QVERIFY(pid > 0);
        QVERIFY2(::kill(static_cast<pid_t>(pid), 0) == 0, "the run's process ended with its window");
        QCOMPARE(runIn(database, QString::fromStdString(c.outputDir)).status, tb::RunStatus::Running);

        TrainPanel next(database, nullptr, m_tmp.filePath("next.ini"));
        QSignalSpy attached(&next, &TrainPanel::liveRunAttached);
        QSignalSpy finished(next.worker(), &TrainingWorker::finished);
        QTRY_VERIFY_WITH_TIMEOUT(attached.count() == 1, 30000);
        QVERIFY(next.running());
        QTRY_COMPARE(next.worker()->childPid(), pid); // follow() runs queued on the worker thread
        QVERIFY(finished.wait(240000));
        QCOMPARE(statusOf(finished), tb::TrainStatus::Finished);
        QVERIFY(QFileInfo::exists(finished.first().at(2).toString() + "/adapter_config.json"));
        QCoreApplication::processEvents();
        QCOMPARE(next.monitor()->lossGraph()->dataCount(), 40); // from the database, earlier steps too
        QVERIFY(next.monitor()->validationGraph()->dataCount() >= 2);
        QTRY_VERIFY(!next.running());
        int status = 0;
        QCOMPARE(::waitpid(static_cast<pid_t>(pid), &status, 0), static_cast<pid_t>(pid)); // reaped: still this test's child
        QVERIFY(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }

    void aFollowedDataParallelRunKeepsItsWorkers()
    {
        // A run recorded with two workers' memory, followed from the database (as a run kept
        // training is): one memorySampled per worker per step, each with its rank and bytes.
        const QString database = m_tmp.filePath("workers.db");
        int64_t id = 0;
        {
            tb::RunStore store(database.toStdString());
            tb::NewRun run;
            run.name = "two workers";
            run.totalSteps = 2;
            id = store.createRun(run);
            {
                tb::MetricBuffer buffer(store.database(), id);
                for (int64_t step = 1; step <= 2; ++step) {
                    buffer.appendMetric(step, std::nullopt, double(step), "loss", 1.0);
                    for (int worker = 0; worker < 2; ++worker) {
                        buffer.appendMemory(step, double(step), "rss", (100 * step + worker) << 20, worker);
                        buffer.appendMemory(step, double(step), "peak_rss", (200 * step + worker) << 20, worker);
                    }
                }
            }
            store.finishRun(id, {tb::RunStatus::Finished, "", 2, "", std::nullopt, 2.0});
        }
        TrainingWorker worker;
        worker.setDatabasePath(database);
        QSignalSpy memory(&worker, &TrainingWorker::memorySampled);
        QSignalSpy finished(&worker, &TrainingWorker::finished);
        worker.follow(id, ::getpid(), QString()); // ends at once: the run has finished
        QCOMPARE(finished.count(), 1);
        QCOMPARE(memory.count(), 4);
        for (int i = 0; i < 4; ++i) {
            const auto m = memory.at(i).at(0).value<tb::MemorySample>();
            const int64_t step = 1 + i / 2;
            QCOMPARE(m.step, step);
            QCOMPARE(m.worker, i % 2);
            QCOMPARE(m.residentBytes, (100 * step + m.worker) << 20);
            QCOMPARE(m.peakResidentBytes, (200 * step + m.worker) << 20);
        }
    }

    void trainTabValidatesAtTheField()
    {
        MainWindow window(m_model, nullptr, m_tmp.filePath("experiments.db"));
        TrainPanel* panel = window.trainPanel();
        // Start is enabled once the chooser has checked the window's model.
        QTRY_VERIFY_WITH_TIMEOUT(panel->startButton()->isEnabled() && panel->config().modelDir == m_model.toStdString(), 60000);
        panel->form()->outputEdit()->setText(m_tmp.filePath("from-tab"));
        panel->form()->datasetEdit()->clear();
        QTest::mouseClick(panel->startButton(), Qt::LeftButton);
        QVERIFY(!panel->running());
        QCOMPARE(panel->fieldError("data"), QString("required"));
        panel->form()->datasetEdit()->setText(m_tmp.filePath("missing.jsonl"));
        QVERIFY(!panel->validateForm());
        QVERIFY2(panel->fieldError("data").endsWith("missing.jsonl: no such file"), qPrintable(panel->fieldError("data")));

        // A valid form starts; a second start is refused while it runs.
        tb::TrainConfig shortRun = panel->config();
        shortRun.dataPath = TB_SOURCE_DIR "/resources/datasets/reviews-train.jsonl";
        shortRun.maxSteps = 2; // the form's default is one epoch
        shortRun.data.maxSeqLen = 64;
        shortRun.threads = 1;
        panel->setConfig(shortRun);
        QSignalSpy finished(panel->worker(), &TrainingWorker::finished);
        QTest::mouseClick(panel->startButton(), Qt::LeftButton);
        QVERIFY(panel->running());
        QVERIFY(panel->fieldError("data").isEmpty());
        QVERIFY(!panel->startButton()->isEnabled());
        QVERIFY(finished.wait(240000));
        QTRY_VERIFY(!panel->running());
        QVERIFY(panel->startButton()->isEnabled());
    }
};

QTEST_MAIN(TestTrainingWorker)
#include "tst_trainingworker.moc"
