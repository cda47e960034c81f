// The whole workbench, offscreen, as a user drives it with the mouse: the real MainWindow on a
// tiny demo model made for the test and a temporary experiment database. A LoRA run and a QLoRA
// run are started from the Train tab and watched to the end; both are in the Runs tab and the
// database with their metrics, the live plot holds their points, comparing them overlays both
// curves, exporting the LoRA run writes a PEFT folder, and closing the window during a third run
// asks, then stops it cleanly (cancelled, with a checkpoint), which Resume continues and
// Re-run copies into the form. Throughout, the GUI thread keeps
// answering a 5 ms timer within 100 ms.
#include "CompareView.h"
#include "StallMeter.h"
#include "DatasetPreview.h"
#include "ExportDialog.h"
#include "LiveMonitor.h"
#include "MainWindow.h"
#include "RunForm.h"
#include "RunListModel.h"
#include "RunListPanel.h"
#include "TrainPanel.h"
#include "TrainingWorker.h"

#include "demo/DemoModelMaker.h"
#include "store/RunQueries.h"
#include "store/RunStore.h"

#include "QCustomPlotCompat.h"

#include <QApplication>
#include <QElapsedTimer>
#include <QFileInfo>
#include <QItemSelectionModel>
#include <QLabel>
#include <QLineEdit>
#include <QMessageBox>
#include <QPushButton>
#include <QScrollArea>
#include <QScrollBar>
#include <QSignalSpy>
#include <QSortFilterProxyModel>
#include <QStandardPaths>
#include <QTabWidget>
#include <QTableView>
#include <QTemporaryDir>
#include <QTest>
#include <QTimer>

class TestWorkbench : public QObject {
    Q_OBJECT
private:
    QTemporaryDir m_tmp;
    QString m_model, m_db;
    qint64 m_cancelledRun = 0;
    int64_t m_cancelledAtStep = 0;

    // Fills the form for a short run of `method` and presses Start.
    void startRun(MainWindow& window, tb::TrainMethod method, int steps)
    {
        TrainPanel* panel = window.trainPanel();
        window.tabs()->setCurrentWidget(panel);
        QTRY_VERIFY_WITH_TIMEOUT(panel->startButton()->isEnabled() && panel->config().modelDir == m_model.toStdString(), 60000);
        tb::TrainConfig c = panel->config();
        c.method = method;
        c.maxSteps = steps;
        c.batchSize = 2;
        c.data.maxSeqLen = 64;
        c.evalEvery = 2;
        c.threads = 1; // leaves the other core to the GUI thread on a 2-core machine
        c.outputDir.clear();
        panel->setConfig(c);
        panel->form()->datasetEdit()->setText(TB_SOURCE_DIR "/resources/datasets/reviews-train.jsonl");
        panel->form()->stepsSpin()->setValue(steps);
        QTest::mouseClick(panel->startButton(), Qt::LeftButton);
        QVERIFY2(panel->running(), qPrintable(panel->fieldError("")));
    }

private Q_SLOTS:
    void initTestCase()
    {
        QStandardPaths::setTestModeEnabled(true); // the form's settings go to a test location
        QVERIFY(m_tmp.isValid());
        m_model = m_tmp.filePath("demo");
        tb::makeDemoModel(m_model.toStdString(), "tiny", 0);
        m_db = m_tmp.filePath("experiments.db");
    }

    void theFormFitsItsPaneWithThePreview()
    {
        // The dataset preview inside the form must not widen it past its pane (Browse, the
        // messages and the model summary were cut off), and Start with a bad field scrolls to
        // it vertically only.
        MainWindow window(m_model, nullptr, m_db);
        window.resize(1100, 760);
        window.show();
        TrainPanel* panel = window.trainPanel();
        window.tabs()->setCurrentWidget(panel);
        QTRY_VERIFY_WITH_TIMEOUT(panel->startButton()->isEnabled(), 60000);
        auto* scroll = qobject_cast<QScrollArea*>(panel->form()->parentWidget()->parentWidget());
        QVERIFY(scroll);
        QSignalSpy ready(window.datasetPreview(), &DatasetPreview::previewReady);
        panel->form()->datasetEdit()->setText(TB_SOURCE_DIR "/resources/datasets/reviews-train.jsonl");
        QVERIFY(ready.wait(60000));
        QCoreApplication::processEvents();
        QVERIFY2(panel->form()->width() <= scroll->viewport()->width(),
                 qPrintable(QString("form %1 px in a %2 px pane").arg(panel->form()->width()).arg(scroll->viewport()->width())));
        QCOMPARE(scroll->horizontalScrollBar()->maximum(), 0);
        // A very long model folder name does not widen it either.
        panel->form()->seedEdit()->setText("not a seed");
        QTest::mouseClick(panel->startButton(), Qt::LeftButton);
        QVERIFY(!panel->running());
        QVERIFY(!panel->fieldError("seed").isEmpty());
        QCOMPARE(scroll->horizontalScrollBar()->value(), 0);
        QVERIFY(panel->form()->width() <= scroll->viewport()->width());
    }

    void trainCompareExport()
    {
        MainWindow window(m_model, nullptr, m_db);
        window.show();
        StallMeter stalls;
        TrainPanel* panel = window.trainPanel();
        QSignalSpy finished(panel->worker(), &TrainingWorker::finished);
        QSignalSpy preview(window.datasetPreview(), &DatasetPreview::previewReady);

        startRun(window, tb::TrainMethod::Lora, 4);
        QVERIFY(finished.wait(240000));
        QCOMPARE(finished.last().at(0).value<tb::TrainStatus>(), tb::TrainStatus::Finished);
        QCOMPARE(panel->monitor()->lossGraph()->dataCount(), 4);
        QCOMPARE(panel->monitor()->learningRateGraph()->dataCount(), 4);
        QVERIFY(panel->monitor()->learningRateLabel()->text().startsWith("lr "));
        // Memory against the device's capacity (CPU: system RAM).
        QVERIFY2(panel->monitor()->capacityLabel()->text().contains("GiB total"),
                 qPrintable(panel->monitor()->capacityLabel()->text()));
        // The dataset chosen in the form is previewed (off the GUI thread).
        QTRY_VERIFY_WITH_TIMEOUT(!preview.isEmpty(), 60000);

        startRun(window, tb::TrainMethod::Qlora, 4);
        QVERIFY(finished.wait(240000));
        QCOMPARE(finished.last().at(0).value<tb::TrainStatus>(), tb::TrainStatus::Finished);

        // Both runs are in the Runs tab and in the database with their metrics.
        RunListPanel* runs = window.runListPanel();
        QTRY_COMPARE(runs->proxy()->rowCount(), 2);
        std::vector<tb::RunSummary> recorded;
        {
            tb::RunStore store(m_db.toStdString());
            tb::RunQueries queries(store.database());
            recorded = queries.listRuns();
            QCOMPARE(recorded.size(), size_t(2));
            for (const tb::RunSummary& run : recorded) {
                QCOMPARE(run.status, tb::RunStatus::Finished);
                QCOMPARE(queries.metricSeries(run.id, "loss").size(), size_t(4));
                QVERIFY(queries.metricSeries(run.id, "val_loss").size() >= 2);
            }
        }
        QStringList methods;
        for (int row = 0; row < 2; ++row)
            methods << runs->proxy()->index(row, RunListModel::Method).data().toString();
        methods.sort();
        QCOMPARE(methods, QStringList({"lora", "qlora"}));

        // Select both, Compare: the Compare tab overlays both runs' curves.
        window.tabs()->setCurrentWidget(runs);
        runs->view()->selectAll();
        QSignalSpy compared(window.compareView(), &CompareView::loaded);
        QTest::mouseClick(runs->compareButton(), Qt::LeftButton);
        QVERIFY(compared.wait(30000));
        QCOMPARE(compared.last().at(0).toInt(), 2);
        QCOMPARE(window.tabs()->currentWidget(), static_cast<QWidget*>(window.compareView()));
        QCOMPARE(window.compareView()->lossGraph(0)->dataCount(), 4);
        QCOMPARE(window.compareView()->lossGraph(1)->dataCount(), 4);

        // Export the LoRA run's adapter as a PEFT folder.
        qint64 loraId = 0;
        for (const tb::RunSummary& run : recorded)
            if (run.method == "lora")
                loraId = run.id;
        window.exportRun(loraId);
        ExportDialog* dialog = window.findChild<ExportDialog*>();
        QVERIFY(dialog);
        QTRY_VERIFY_WITH_TIMEOUT(dialog->isVisible(), 5000);
        QSignalSpy exported(dialog, &ExportDialog::exportFinished);
        const QString out = m_tmp.filePath("exported-adapter");
        QTRY_VERIFY_WITH_TIMEOUT([&] {
            dialog->setFormat(ExportDialog::Format::PeftAdapter);
            dialog->setDestination(out);
            dialog->startExport();
            return !exported.isEmpty() || QFileInfo::exists(out);
        }(), 30000);
        QTRY_VERIFY_WITH_TIMEOUT(!exported.isEmpty(), 60000);
        QVERIFY2(exported.last().at(0).toBool(), qPrintable(exported.last().at(1).toString()));
        QVERIFY(QFileInfo::exists(out + "/adapter_config.json"));
        QVERIFY(QFileInfo::exists(out + "/adapter_model.safetensors"));

        QVERIFY2(stalls.longest() < 100, qPrintable(QString("GUI thread stalled for %1 ms").arg(stalls.longest())));
    }

    void closingDuringARunAsksThenStopsCleanly()
    {
        auto* window = new MainWindow(m_model, nullptr, m_db);
        window->setAttribute(Qt::WA_DeleteOnClose, false);
        window->show();
        TrainPanel* panel = window->trainPanel();
        QSignalSpy steps(panel->worker(), &TrainingWorker::stepReported);
        QSignalSpy started(panel->worker(), &TrainingWorker::started);
        QSignalSpy finished(panel->worker(), &TrainingWorker::finished);
        startRun(*window, tb::TrainMethod::Lora, 500);
        QVERIFY(steps.wait(120000));
        const qint64 runId = started.first().at(0).toLongLong();

        // The first close only asks; answering "Cancel" keeps the window and the run going
        // ("Keep training in the background" is tst_trainingworker's).
        window->close();
        QVERIFY(window->isVisible());
        QMessageBox* question = window->closeQuestion();
        QVERIFY(question);
        QPushButton* keep = nullptr;
        QPushButton* stop = nullptr;
        QPushButton* background = nullptr;
        for (QAbstractButton* b : question->buttons()) {
            if (b->text() == "Cancel")
                keep = qobject_cast<QPushButton*>(b);
            if (b->text() == "Stop and quit")
                stop = qobject_cast<QPushButton*>(b);
            if (b->text() == "Keep training in the background")
                background = qobject_cast<QPushButton*>(b);
        }
        QVERIFY(keep && stop && background);
        keep->click();
        QTRY_VERIFY(!window->closeQuestion());
        QVERIFY(panel->running());

        window->close();
        QVERIFY(window->closeQuestion());
        for (QAbstractButton* b : window->closeQuestion()->buttons())
            if (b->text() == "Stop and quit")
                b->click();
        QVERIFY(finished.wait(120000) || !finished.isEmpty());
        QCOMPARE(finished.last().at(0).value<tb::TrainStatus>(), tb::TrainStatus::Cancelled);
        QTRY_VERIFY(!window->isVisible());

        tb::RunStore store(m_db.toStdString());
        const tb::RunDetails run = tb::RunQueries(store.database()).getRun(runId);
        QCOMPARE(run.summary.status, tb::RunStatus::Cancelled);
        QVERIFY(!run.lastCheckpoint.empty());
        QVERIFY(QFileInfo::exists(QString::fromStdString(run.lastCheckpoint)));
        QVERIFY(run.summary.lastStep < 500);
        delete window;
        m_cancelledRun = runId;
        m_cancelledAtStep = run.summary.lastStep;
    }

    // Resume continues the cancelled run (same database row, from its checkpoint); re-run
    // fills the form with a recorded run's settings in a new run folder.
    void resumeAndRerunFromTheRunsTab()
    {
        QVERIFY(m_cancelledRun > 0);
        MainWindow window(m_model, nullptr, m_db);
        window.show();
        TrainPanel* panel = window.trainPanel();
        QTRY_VERIFY_WITH_TIMEOUT(panel->startButton()->isEnabled(), 60000);
        QSignalSpy started(panel->worker(), &TrainingWorker::started);
        QSignalSpy steps(panel->worker(), &TrainingWorker::stepReported);
        QSignalSpy finished(panel->worker(), &TrainingWorker::finished);
        QVERIFY(window.resumeRun(m_cancelledRun));
        QVERIFY(steps.wait(120000));
        QCOMPARE(started.first().at(0).toLongLong(), m_cancelledRun);
        QCOMPARE(steps.first().at(0).value<tb::StepReport>().step, m_cancelledAtStep + 1);
        // The Runs tab says it trains again, not "cancelled", while it does.
        QAbstractItemModel* runs = window.runListPanel()->proxy();
        auto statusOf = [&](qint64 id) {
            for (int row = 0; row < runs->rowCount(); ++row)
                if (runs->index(row, 0).data(RunListModel::RunIdRole).toLongLong() == id)
                    return runs->index(row, RunListModel::Status).data().toString();
            return QString();
        };
        QTRY_COMPARE(statusOf(m_cancelledRun), QString("running"));
        panel->worker()->cancel();
        QVERIFY(finished.wait(120000) || !finished.isEmpty());

        tb::RunDetails recorded;
        {
            tb::RunStore store(m_db.toStdString());
            recorded = tb::RunQueries(store.database()).getRun(m_cancelledRun);
        }
        QVERIFY(recorded.summary.lastStep > m_cancelledAtStep);
        QVERIFY(window.rerun(m_cancelledRun));
        QCOMPARE(window.tabs()->currentWidget(), static_cast<QWidget*>(panel));
        tb::TrainConfig expected = tb::TrainConfig::fromJson(recorded.config, "recorded");
        tb::TrainConfig shown = panel->config();
        QVERIFY(shown.outputDir != expected.outputDir);
        expected.outputDir = shown.outputDir;
        QCOMPARE(QString::fromStdString(shown.toJson().dump()), QString::fromStdString(expected.toJson().dump()));
    }
};

QTEST_MAIN(TestWorkbench)
#include "tst_workbench.moc"
