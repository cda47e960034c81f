// The "Compare methods" dialog, offscreen, with the real tunebench-cli as the training child:
// LoRA and QLoRA trained for 2 steps each on the tiny demo model and the shipped reviews
// dataset, recorded in a temporary database; the report folder, the table (a column per
// method, the peak-memory row), the embedded Compare view's curves; a missing dataset and a
// missing model refused before any run; a cancel mid-way that leaves no child process behind;
// the GUI thread never stalling over 100 ms meanwhile.
#include "CompareView.h"
#include "StallMeter.h"
#include "MethodComparisonDialog.h"
#include "ModelChooser.h"

#include "QCustomPlotCompat.h"

#include "demo/DemoModelMaker.h"
#include "report/MethodComparisonRequest.h"
#include "store/RunQueries.h"
#include "store/RunStore.h"

#include <QApplication>
#include <QCheckBox>
#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QFileInfo>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QTest>
#include <QTimer>

#include <memory>

#include <unistd.h>

namespace {

// Every process whose parent is this one (running or a zombie not yet reaped), from /proc.
QStringList childProcesses()
{
    QStringList children;
    const QString self = QString::number(::getpid());
    for (const QString& entry : QDir("/proc").entryList(QDir::Dirs | QDir::NoDotAndDotDot)) {
        bool numeric = false;
        entry.toInt(&numeric);
        if (!numeric)
            continue;
        QFile stat("/proc/" + entry + "/stat");
        if (!stat.open(QIODevice::ReadOnly))
            continue;
        const QByteArray text = stat.readAll();
        // "pid (comm) state ppid ...": comm may hold spaces, so split after its ')'.
        const QList<QByteArray> fields = text.mid(text.lastIndexOf(')') + 2).split(' ');
        if (fields.size() > 1 && fields[1] == self.toLatin1())
            children << QString("%1 (state %2)").arg(entry, QString::fromLatin1(fields[0]));
    }
    return children;
}

int tableRow(QTableWidget* table, const QString& property)
{
    for (int r = 0; r < table->rowCount(); ++r)
        if (table->item(r, 0) && table->item(r, 0)->text() == property)
            return r;
    return -1;
}

} // namespace

class TestMethodComparison : public QObject {
    Q_OBJECT
private:
    QTemporaryDir m_tmp;
    QString m_model;
    const QString m_data = TB_SOURCE_DIR "/resources/datasets/reviews-train.jsonl";
    const QString m_cli = TB_BINARY_DIR "/app/tunebench-cli";

    QString database() const { return m_tmp.filePath("db/tunebench.db"); }

    tb::MethodComparisonRequest request(int64_t steps) const
    {
        tb::MethodComparisonRequest r;
        r.modelDir = m_model.toStdString();
        r.dataPath = m_data.toStdString();
        r.methods = {"lora", "qlora"};
        r.steps = steps;
        r.seqLen = 64;
        r.batchSize = 2;
        r.rank = 4;
        r.seed = 7;
        r.threads = 1; // one core for the child, one for the GUI thread on a small machine
        r.fit = tb::FitMode::Off;
        return r;
    }

    std::vector<tb::RunSummary> recordedRuns() const
    {
        if (!QFileInfo::exists(database()))
            return {};
        tb::StoreOptions options;
        options.recoverInterruptedRuns = false;
        tb::RunStore store(database().toStdString(), options);
        return tb::RunQueries(store.database()).listRuns();
    }

private Q_SLOTS:
    void initTestCase()
    {
        QStandardPaths::setTestModeEnabled(true); // the remembered recent models: not the user's
        QVERIFY(m_tmp.isValid());
        QVERIFY2(QFileInfo(m_cli).isExecutable(), qPrintable(m_cli + " is not built"));
        m_model = m_tmp.filePath("demo");
        tb::makeDemoModel(m_model.toStdString(), "tiny", 0);
        QVERIFY(QDir().mkpath(m_tmp.filePath("db")));
    }

    void formReadsBackAndRefusesAtTheField()
    {
        MethodComparisonDialog dialog(database(), m_cli);
        tb::MethodComparisonRequest r = request(3);
        r.budgetBytes = int64_t(1) << 30;
        r.watts = 65;
        r.pricePerHour = 0.4;
        dialog.setRequest(r);
        QString error;
        const tb::MethodComparisonRequest back = dialog.request(&error);
        QVERIFY2(error.isEmpty(), qPrintable(error));
        tb::MethodComparisonRequest expected = r;
        expected.databasePath = database().toStdString();
        QCOMPARE(QString::fromStdString(back.toJson().dump()), QString::fromStdString(expected.toJson().dump()));
        QVERIFY(!dialog.methodBox("full")->isChecked());

        // Refused at once, nothing started, no signal.
        QSignalSpy finished(&dialog, &MethodComparisonDialog::comparisonFinished);
        dialog.methodBox("lora")->setChecked(false);
        dialog.methodBox("qlora")->setChecked(false);
        QVERIFY(!dialog.startButton()->isEnabled());
        QVERIFY(!dialog.startComparison());
        QVERIFY(dialog.messageLabel()->text().startsWith("Methods:"));
        dialog.methodBox("lora")->setChecked(true);
        dialog.dataEdit()->clear();
        QVERIFY(!dialog.startComparison());
        QVERIFY(dialog.messageLabel()->text().startsWith("Dataset:"));
        dialog.dataEdit()->setText(m_data);
        dialog.budgetEdit()->setText("lots");
        QVERIFY(!dialog.startComparison());
        QVERIFY2(dialog.messageLabel()->text().startsWith("Memory budget:"), qPrintable(dialog.messageLabel()->text()));
        dialog.budgetEdit()->setText("512MiB");
        QCOMPARE(dialog.request().budgetBytes.value_or(0), int64_t(512) << 20);
        QVERIFY(!dialog.isRunning());
        QCOMPARE(finished.count(), 0);
    }

    void comparesLoraAndQloraIntoAReport()
    {
        MethodComparisonDialog dialog(database(), m_cli);
        dialog.setRequest(request(2));
        dialog.show();
        QSignalSpy finished(&dialog, &MethodComparisonDialog::comparisonFinished);
        const size_t runsBefore = recordedRuns().size();

        StallMeter stalls;
        QVERIFY(dialog.startComparison()); // the model may still be being checked: it starts when it passes
        QVERIFY(finished.wait(240000));
        const qint64 longestGap = stalls.longest();

        const bool ok = finished.first().at(0).toBool();
        const QString reportDir = finished.first().at(1).toString();
        const QList<qint64> runIds = finished.first().at(2).value<QList<qint64>>();
        QVERIFY2(ok, qPrintable(dialog.messageLabel()->text() + "\n" + dialog.logView()->toPlainText()));

        // The default folder: a new report-<UTC time> folder in the database's workspace.
        QCOMPARE(QFileInfo(reportDir).absolutePath(), QDir(m_tmp.filePath("db/runs")).absolutePath());
        QVERIFY(QFileInfo(reportDir).fileName().startsWith("report-"));
        QCOMPARE(dialog.reportDir(), reportDir);
        for (const char* file : {"report.md", "report.html", "report.json", "loss.png", "memory.png"})
            QVERIFY2(QFileInfo(QDir(reportDir).filePath(file)).size() > 0, file);
        QVERIFY(dialog.openReportButton()->isEnabled());
        QVERIFY(dialog.openFolderButton()->isEnabled());
        QVERIFY(!dialog.cancelButton()->isEnabled());

        // Two ordinary runs in the database, one per method.
        QCOMPARE(runIds.size(), 2);
        QCOMPARE(recordedRuns().size(), runsBefore + 2);
        {
            tb::StoreOptions options;
            options.recoverInterruptedRuns = false;
            tb::RunStore store(database().toStdString(), options);
            tb::RunQueries queries(store.database());
            const tb::RunDetails lora = queries.getRun(runIds[0]);
            const tb::RunDetails qlora = queries.getRun(runIds[1]);
            QCOMPARE(QString::fromStdString(lora.summary.method), QString("lora"));
            QCOMPARE(QString::fromStdString(qlora.summary.method), QString("qlora"));
            QCOMPARE(QString::fromStdString(lora.summary.name), QString("report-lora"));
            QVERIFY(lora.summary.status == tb::RunStatus::Finished);
            QVERIFY(qlora.summary.status == tb::RunStatus::Finished);
            QCOMPARE(queries.metricSeries(runIds[0], "loss").size(), size_t(2));
        }

        // Progress: both bars full, both rows finished with their run.
        for (const QString method : {"lora", "qlora"}) {
            QCOMPARE(dialog.progressBar(method)->value(), 2);
            QCOMPARE(dialog.progressBar(method)->maximum(), 2);
            QVERIFY2(dialog.methodStatus(method)->text().startsWith("finished (run #"),
                     qPrintable(dialog.methodStatus(method)->text()));
        }
        QVERIFY(dialog.logView()->toPlainText().contains("tunebench-cli report"));

        // The table: a column per method after "Property", the peak-memory row filled.
        QTableWidget* table = dialog.reportTable();
        QCOMPARE(table->columnCount(), 3);
        QVERIFY(table->horizontalHeaderItem(1)->text().startsWith("LoRA"));
        QVERIFY(table->horizontalHeaderItem(2)->text().startsWith("QLoRA"));
        QVERIFY(table->horizontalHeaderItem(1)->text().contains(QString("run #%1").arg(runIds[0])));
        const int peak = tableRow(table, "peak memory");
        QVERIFY(peak >= 0);
        for (int c = 1; c <= 2; ++c)
            QVERIFY2(table->item(peak, c)->text().contains("iB"), qPrintable(table->item(peak, c)->text()));
        // QLoRA stores its base in NF4: the base-weight row differs and is highlighted.
        const int base = tableRow(table, "base-weight bytes");
        QVERIFY(base >= 0);
        QVERIFY(table->item(base, 0)->data(CompareView::DiffersRole).toBool());

        // The embedded Compare view: the two runs' loss curves overlaid.
        CompareView* view = dialog.compareView();
        StallMeter loadStalls; // the view reads the database and plots while the GUI keeps going
        QTRY_VERIFY_WITH_TIMEOUT(view->shownRuns() == runIds && !view->isLoading(), 30000);
        QVERIFY2(loadStalls.longest() < 100, qPrintable(QString("GUI thread stalled for %1 ms").arg(loadStalls.longest())));
        QVERIFY(view->lossGraph(0) && view->lossGraph(1));
        QVERIFY(!view->lossGraph(2));
        QCOMPARE(view->lossGraph(0)->dataCount(), 2);
        QCOMPARE(view->lossGraph(1)->dataCount(), 2);

        qInfo("longest gap between 5 ms GUI timer ticks: %lld ms", longestGap);
        QVERIFY2(longestGap < 100, qPrintable(QString("GUI thread stalled for %1 ms").arg(longestGap)));
        QVERIFY2(childProcesses().isEmpty(), qPrintable(childProcesses().join(", ")));
    }

    void missingInputsAreShownBeforeAnyRun()
    {
        MethodComparisonDialog dialog(database(), m_cli);
        const size_t runsBefore = recordedRuns().size();

        // A dataset that does not exist: the engine's check, before any child starts.
        tb::MethodComparisonRequest r = request(2);
        r.dataPath = m_tmp.filePath("no-such-data.jsonl").toStdString();
        dialog.setRequest(r);
        QSignalSpy finished(&dialog, &MethodComparisonDialog::comparisonFinished);
        QVERIFY(dialog.startComparison());
        QVERIFY(finished.wait(60000));
        QCOMPARE(finished.first().at(0).toBool(), false);
        QVERIFY(finished.first().at(1).toString().isEmpty());
        QVERIFY(finished.first().at(2).value<QList<qint64>>().isEmpty());
        const QString message = dialog.messageLabel()->text();
        QVERIFY2(message.contains("no-such-data.jsonl") && message.contains("no such file"), qPrintable(message));
        QVERIFY(dialog.messageLabel()->styleSheet().contains("#b00020"));
        QCOMPARE(dialog.progressBar("lora")->value(), 0);
        QCOMPARE(dialog.methodStatus("lora")->text(), QString("not started"));
        QVERIFY(!dialog.isRunning());
        QVERIFY(dialog.startButton()->isEnabled()); // still usable
        QVERIFY(!dialog.openReportButton()->isEnabled());

        // A model folder without config.json: the chooser's check refuses it, naming the file.
        const QString noModel = m_tmp.filePath("not-a-model");
        QVERIFY(QDir().mkpath(noModel));
        dialog.setInputs(noModel, m_data);
        QVERIFY(dialog.startComparison()); // waits for the check
        QVERIFY(finished.wait(60000));
        QCOMPARE(finished.at(1).at(0).toBool(), false);
        QVERIFY2(dialog.messageLabel()->text().contains("config.json"), qPrintable(dialog.messageLabel()->text()));
        QVERIFY(!dialog.isRunning());
        // Once the check has failed, Start is refused at once.
        QVERIFY(!dialog.startButton()->isEnabled());
        QVERIFY(!dialog.startComparison());
        QVERIFY(dialog.messageLabel()->text().startsWith("Base model:"));

        QCOMPARE(recordedRuns().size(), runsBefore);
        QVERIFY(childProcesses().isEmpty());
    }

    void cancelStopsTheRunningChild()
    {
        MethodComparisonDialog dialog(database(), m_cli);
        dialog.setRequest(request(500));
        const QString out = m_tmp.filePath("cancelled-report");
        dialog.setOutputDir(out);
        dialog.show();
        QSignalSpy finished(&dialog, &MethodComparisonDialog::comparisonFinished);

        StallMeter stalls;
        QVERIFY(dialog.startComparison());
        QTRY_VERIFY_WITH_TIMEOUT(dialog.progressBar("lora") && dialog.progressBar("lora")->value() >= 1, 120000);
        QVERIFY(!childProcesses().isEmpty()); // the training child is running
        QTest::mouseClick(dialog.cancelButton(), Qt::LeftButton);
        QVERIFY(finished.wait(120000));
        const qint64 longestGap = stalls.longest();

        QCOMPARE(finished.first().at(0).toBool(), false);
        QVERIFY(finished.first().at(1).toString().isEmpty());
        const QList<qint64> runIds = finished.first().at(2).value<QList<qint64>>();
        QCOMPARE(runIds.size(), 1); // QLoRA never started
        QVERIFY(dialog.progressBar("lora")->value() < 500);
        QVERIFY2(dialog.methodStatus("lora")->text().startsWith("cancelled"), qPrintable(dialog.methodStatus("lora")->text()));
        QCOMPARE(dialog.methodStatus("qlora")->text(), QString("not run: cancelled"));
        QVERIFY(dialog.messageLabel()->text().contains("Cancelled"));
        QVERIFY(!QFileInfo::exists(out)); // no report
        {
            tb::StoreOptions options;
            options.recoverInterruptedRuns = false;
            tb::RunStore store(database().toStdString(), options);
            const tb::RunDetails run = tb::RunQueries(store.database()).getRun(runIds[0]);
            QVERIFY(run.summary.status == tb::RunStatus::Cancelled);
        }
        QVERIFY2(childProcesses().isEmpty(), qPrintable(childProcesses().join(", "))); // reaped: no zombie
        QVERIFY(dialog.startButton()->isEnabled());
        qInfo("longest gap between 5 ms GUI timer ticks: %lld ms", longestGap);
        QVERIFY2(longestGap < 100, qPrintable(QString("GUI thread stalled for %1 ms").arg(longestGap)));
    }

    void destroyingTheDialogStopsTheComparison()
    {
        const size_t runsBefore = recordedRuns().size();
        auto dialog = std::make_unique<MethodComparisonDialog>(database(), m_cli);
        dialog->setRequest(request(500));
        QVERIFY(dialog->startComparison());
        QTRY_VERIFY_WITH_TIMEOUT(dialog->progressBar("lora") && dialog->progressBar("lora")->value() >= 1, 120000);
        QElapsedTimer destroying;
        destroying.start();
        dialog.reset(); // cancels and waits for the running child
        QVERIFY2(destroying.elapsed() < 30000, qPrintable(QString("%1 ms").arg(destroying.elapsed())));
        QVERIFY2(childProcesses().isEmpty(), qPrintable(childProcesses().join(", ")));
        const std::vector<tb::RunSummary> runs = recordedRuns();
        QCOMPARE(runs.size(), runsBefore + 1);
        QVERIFY(runs.front().status == tb::RunStatus::Cancelled); // newest first
    }
};

QTEST_MAIN(TestMethodComparison)
#include "tst_methodcomparison.moc"
