// TrainingWorker and LiveMonitor, offscreen: a real 6-step LoRA run of the tiny demo model on
// the shipped reviews dataset goes through the worker thread into the monitor while the GUI
// thread keeps processing events; a run is cancelled mid-way; the Train tab's form refuses
// an invalid run at its field. Runs are recorded in a temporary database.
#include "LiveMonitor.h"
#include "StallMeter.h"
#include "MainWindow.h"
#include "RunForm.h"
#include "TrainPanel.h"
#include "TrainingWorker.h"

#include "demo/DemoModelMaker.h"
#include "train/Trainer.h"

#include "QCustomPlotCompat.h"

#include <QApplication>
#include <QElapsedTimer>
#include <QLineEdit>
#include <QPushButton>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>
#include <QThread>
#include <QTimer>

#include <atomic>
#include <memory>

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
    void start(const tb::TrainConfig& c)
    {
        TrainingWorker* target = worker;
        QMetaObject::invokeMethod(target, [target, c] { target->start(c, false); }, Qt::QueuedConnection);
    }
};

} // namespace

class TestTrainingWorker : public QObject {
    Q_OBJECT
private:
    QTemporaryDir m_tmp;
    QString m_model;

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

        QCOMPARE(finished.first().at(0).toInt(), int(tb::TrainStatus::Finished));
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
        QCOMPARE(finished.first().at(0).toInt(), int(tb::TrainStatus::Cancelled));
        QVERIFY2(steps.load() <= stepsAtCancel + 1, qPrintable(QString("%1 steps after cancel").arg(steps.load() - stepsAtCancel)));
        QVERIFY(steps.load() < 200);
        QVERIFY2(stalls.longest() < 500, qPrintable(QString("GUI thread stalled for %1 ms").arg(stalls.longest())));
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
        QCOMPARE(panel->fieldError("data"), QString("no such file"));

        // A valid form starts; a second start is refused while it runs.
        panel->form()->datasetEdit()->setText(TB_SOURCE_DIR "/resources/datasets/reviews-train.jsonl");
        panel->form()->stepsSpin()->setValue(2);
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
