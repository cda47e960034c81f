// The Memory tab, offscreen: runs recorded in a temporary experiment database through the
// store's real API (RunStore, RunRecorder, MetricBuffer) and one real 3-step training run of the
// tiny demo model, shown by MemoryInspector: the table's peak and current bytes, the peak step,
// the stacked graphs, the device rows, the capacity line, the seconds axis of a resumed run,
// superseded loads, errors, and live samples appended and merged with what the database holds;
// a data-parallel run's workers (one sample per worker per step): the live monitor's worker
// table and the inspector's worker choice and rows, live and from the database.
#include "LiveMonitor.h"
#include "MemoryInspector.h"
#include "StackedMemoryPlot.h"

#include "QCustomPlotCompat.h"

#include "core/DeviceMemory.h"
#include "demo/DemoModelMaker.h"
#include "store/MetricBuffer.h"
#include "store/RunQueries.h"
#include "store/RunStore.h"
#include "train/RunRecorder.h"
#include "train/RunRegistration.h"
#include "train/Trainer.h"

#include <QCheckBox>
#include <QComboBox>
#include <QLabel>
#include <QLocale>
#include <QSignalSpy>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QTest>

#include <algorithm>

namespace {

constexpr int64_t kMiB = int64_t(1) << 20;

// step, elapsed seconds (a second session starts at step 3), then MiB: base, adapters,
// gradients, optimizer, rss, peak_rss.
struct KnownSample {
    int64_t step;
    double elapsed;
    int64_t base, adapters, gradients, optimizer, rss, peakRss;
};
const KnownSample kKnown[] = {
    {0, 0.0, 100, 2, 0, 0, 200, 200}, {1, 1.0, 100, 2, 2, 4, 300, 300}, {2, 2.0, 100, 2, 2, 4, 450, 450},
    {3, 0.5, 100, 2, 2, 4, 350, 450}, {4, 1.5, 100, 2, 2, 4, 320, 450},
};
constexpr int kKnownCount = 5;

tb::MemorySample toSample(const KnownSample& k)
{
    tb::MemorySample s;
    s.step = k.step;
    s.elapsedSeconds = k.elapsed;
    s.baseWeightBytes = k.base * kMiB;
    s.adapterBytes = k.adapters * kMiB;
    s.gradientBytes = k.gradients * kMiB;
    s.optimizerBytes = k.optimizer * kMiB;
    s.residentBytes = k.rss * kMiB;
    s.peakResidentBytes = k.peakRss * kMiB;
    return s;
}

// A finished run with the known samples recorded through RunRecorder (the trainer's path),
// plus a category only a MetricBuffer writes.
int64_t recordKnownRun(tb::RunStore& store)
{
    tb::NewRun run;
    run.name = "known";
    run.device = "cpu";
    run.totalSteps = 4;
    const int64_t id = store.createRun(run);
    tb::RunRecorder recorder(store, id, tb::TrainMethod::Lora, nullptr);
    for (const KnownSample& k : kKnown)
        recorder.onMemory(toSample(k));
    tb::TrainResult result;
    result.status = tb::TrainStatus::Finished;
    result.step = 4;
    recorder.finish(result);
    tb::MetricBuffer buffer(store.database(), id);
    buffer.appendMemory(2, 2.0, "pinned_host", 3 * kMiB);
    buffer.appendMemory(4, 1.5, "pinned_host", 1 * kMiB);
    buffer.flush();
    return id;
}

int64_t recordSmallRun(tb::RunStore& store)
{
    tb::NewRun run;
    run.name = "small";
    const int64_t id = store.createRun(run); // no device recorded: the inspector assumes the CPU
    tb::MetricBuffer buffer(store.database(), id);
    buffer.appendMemory(1, 1.0, "rss", 10 * kMiB);
    buffer.appendMemory(1, 1.0, "peak_rss", 12 * kMiB);
    buffer.appendMemory(2, 2.0, "rss", 11 * kMiB);
    buffer.appendMemory(2, 2.0, "peak_rss", 12 * kMiB);
    buffer.flush();
    store.finishRun(id, {tb::RunStatus::Finished, "", -1, "", std::nullopt, 1.0});
    return id;
}

qint64 bytesAt(MemoryInspector& inspector, const QString& key, int column)
{
    const int row = inspector.tableRow(key);
    if (row < 0)
        return -2;
    return inspector.table()->item(row, column)->data(MemoryInspector::BytesRole).toLongLong();
}

QString textAt(MemoryInspector& inspector, const QString& key, int column)
{
    const int row = inspector.tableRow(key);
    return row < 0 ? QString() : inspector.table()->item(row, column)->text();
}

QString human(int64_t bytes)
{
    return QLocale().formattedDataSize(bytes, 2, QLocale::DataSizeIecFormat);
}

// Worker `worker`'s sample of step `step` in a CPU run of two workers: worker 1 holds 50 MiB more
// (its own share of the activations), and its peak RSS is 80 MiB above worker 0's.
tb::MemorySample workerSample(int worker, int64_t step)
{
    tb::MemorySample s = toSample(kKnown[step]);
    s.worker = worker;
    s.residentBytes += worker * 50 * kMiB;
    s.peakResidentBytes += worker * 80 * kMiB;
    return s;
}

double lastValue(QCPGraph* graph)
{
    return (graph->data()->constEnd() - 1)->value;
}

double lastKey(QCPGraph* graph)
{
    return (graph->data()->constEnd() - 1)->key;
}

} // namespace

class TestMemoryInspector : public QObject {
    Q_OBJECT
private:
    QTemporaryDir m_tmp;
    QString m_db;
    qint64 m_known = 0, m_small = 0;

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_tmp.isValid());
        m_db = m_tmp.filePath("experiments.db");
        tb::RunStore store(m_db.toStdString());
        m_known = recordKnownRun(store);
        m_small = recordSmallRun(store);
    }

    void showsTheRecordedRun()
    {
        MemoryInspector inspector(m_db);
        inspector.show();
        QSignalSpy loaded(&inspector, &MemoryInspector::loaded);
        inspector.showRun(m_known);
        QVERIFY(loaded.wait(10000));
        QCOMPARE(loaded.first().at(0).toLongLong(), m_known);
        QCOMPARE(loaded.first().at(1).toInt(), kKnownCount);
        QCOMPARE(inspector.sampleCount(), kKnownCount);

        // Peak and current (last sample) per category.
        QCOMPARE(bytesAt(inspector, "base_weights", MemoryInspector::PeakColumn), 100 * kMiB);
        QCOMPARE(bytesAt(inspector, "base_weights", MemoryInspector::CurrentColumn), 100 * kMiB);
        QCOMPARE(bytesAt(inspector, "gradients", MemoryInspector::PeakColumn), 2 * kMiB);
        QCOMPARE(bytesAt(inspector, "optimizer", MemoryInspector::CurrentColumn), 4 * kMiB);
        QCOMPARE(bytesAt(inspector, "rss", MemoryInspector::PeakColumn), 450 * kMiB);
        QCOMPARE(bytesAt(inspector, "rss", MemoryInspector::CurrentColumn), 320 * kMiB);
        QCOMPARE(bytesAt(inspector, "peak_rss", MemoryInspector::PeakColumn), 450 * kMiB);
        QCOMPARE(textAt(inspector, "peak_rss", MemoryInspector::PeakColumn), human(450 * kMiB));
        QVERIFY(textAt(inspector, "peak_rss", MemoryInspector::PeakColumn).contains("MiB"));
        // Activations and the rest = RSS - (base + adapters + gradients + optimizer).
        QCOMPARE(bytesAt(inspector, "activations", MemoryInspector::PeakColumn), (450 - 108) * kMiB);
        QCOMPARE(bytesAt(inspector, "activations", MemoryInspector::CurrentColumn), (320 - 108) * kMiB);
        // A category the inspector does not stack still gets its row; a CPU run has no CUDA rows.
        QCOMPARE(bytesAt(inspector, "pinned_host", MemoryInspector::PeakColumn), 3 * kMiB);
        QCOMPARE(bytesAt(inspector, "pinned_host", MemoryInspector::CurrentColumn), 1 * kMiB);
        QCOMPARE(inspector.tableRow("cuda_allocated"), -1);
        QCOMPARE(inspector.peakBytes(), 450 * kMiB);
        QCOMPARE(inspector.peakStep(), qint64(2)); // peak RSS first reached 450 MiB at step 2

        // The device rows: this machine's RAM, as DeviceMemory reports it.
        QVERIFY(inspector.deviceInfo().has_value());
        QCOMPARE(QString::fromStdString(inspector.deviceInfo()->device), QString("cpu"));
        const qint64 total = bytesAt(inspector, "device_total", MemoryInspector::PeakColumn);
        QVERIFY(total > 0);
        QVERIFY(bytesAt(inspector, "device_free", MemoryInspector::PeakColumn) > 0);
        QVERIFY(textAt(inspector, "device_total", MemoryInspector::CategoryColumn).contains("CPU"));
        const int shareRow = inspector.tableRow("peak_share");
        const double share = inspector.table()->item(shareRow, MemoryInspector::PeakColumn)->data(MemoryInspector::ShareRole).toDouble();
        QVERIFY(std::abs(share - 100.0 * 450 * kMiB / total) < 1e-9);
        QVERIFY(inspector.summaryLabel()->text().contains("step 2"));

        // The stack: one point per sample in each graph, running sums in MiB, RSS on top.
        for (int i = 0; i < 5; ++i)
            QCOMPARE(inspector.stackGraph(i)->dataCount(), kKnownCount);
        QCOMPARE(inspector.stackGraph(0)->data()->constBegin()->value, 100.0);
        QCOMPARE(inspector.stackGraph(3)->data()->constBegin()->value, 102.0);
        QCOMPARE(lastValue(inspector.stackGraph(3)), 108.0);
        QCOMPARE(lastValue(inspector.stackGraph(4)), 320.0);
        QCOMPARE(inspector.peakLineGraph()->dataCount(), kKnownCount);
        QCOMPARE(lastValue(inspector.peakLineGraph()), 450.0);
        QCOMPARE(inspector.peakMarkerGraph()->dataCount(), 1);
        QCOMPARE(inspector.peakMarkerGraph()->data()->constBegin()->key, 2.0);
        QCOMPARE(inspector.peakMarkerGraph()->data()->constBegin()->value, 450.0);

        // The capacity line: on by itself only when the peak is within a quarter of the
        // capacity; the toggle forces it and the axis grows to hold it.
        QCOMPARE(inspector.capacityCheck()->isChecked(), total <= 4 * 450 * kMiB);
        QCOMPARE(inspector.capacityLineShown(), inspector.capacityCheck()->isChecked());
        inspector.setShowCapacity(true);
        QVERIFY(inspector.capacityLineShown());
        QVERIFY(inspector.plot()->yAxis->range().upper * inspector.unitBytes() >= double(total));
        QCOMPARE(inspector.peakMarkerGraph()->data()->constBegin()->value * inspector.unitBytes(), 450.0 * kMiB);
        inspector.setShowCapacity(false);
        QVERIFY(!inspector.capacityLineShown());
        QCOMPARE(inspector.unitBytes(), double(kMiB));
        QVERIFY(inspector.plot()->yAxis->range().upper < 600.0);

        // Seconds: the second session (from step 3) continues after the first one's 2 s.
        inspector.setSecondsAxis(true);
        QCOMPARE(inspector.stackGraph(4)->dataCount(), kKnownCount);
        QCOMPARE(lastKey(inspector.stackGraph(4)), 3.5);
        QCOMPARE(inspector.peakMarkerGraph()->data()->constBegin()->key, 2.0);
        inspector.setSecondsAxis(false);
        QCOMPARE(lastKey(inspector.stackGraph(4)), 4.0);
    }

    void newerRequestSupersedesOlder()
    {
        MemoryInspector inspector(m_db);
        QSignalSpy loaded(&inspector, &MemoryInspector::loaded);
        inspector.showRun(m_known);
        inspector.showRun(m_small); // before the first load can come back
        QVERIFY(loaded.wait(10000));
        QTest::qWait(200); // the superseded result, had it been shown, would have arrived by now
        QCOMPARE(loaded.count(), 1);
        QCOMPARE(loaded.first().at(0).toLongLong(), m_small);
        QCOMPARE(inspector.runId(), m_small);
        QCOMPARE(inspector.sampleCount(), 2);
        QCOMPARE(inspector.peakBytes(), 12 * kMiB);
        QCOMPARE(inspector.peakStep(), qint64(1));
        QCOMPARE(inspector.tableRow("base_weights"), -1); // never recorded for this run
        QCOMPARE(bytesAt(inspector, "rss", MemoryInspector::CurrentColumn), 11 * kMiB);
        QCOMPARE(QString::fromStdString(inspector.deviceInfo()->device), QString("cpu"));
    }

    void reportsErrors()
    {
        MemoryInspector inspector(m_db);
        QSignalSpy errors(&inspector, &MemoryInspector::errorOccurred);
        inspector.showRun(987654);
        QVERIFY(errors.wait(10000));
        QVERIFY2(errors.first().at(0).toString().contains("987654"), qPrintable(errors.first().at(0).toString()));
        QCOMPARE(inspector.sampleCount(), 0);
        QCOMPARE(inspector.peakStep(), qint64(-1));

        MemoryInspector nowhere(m_tmp.filePath("missing/experiments.db"));
        QSignalSpy missing(&nowhere, &MemoryInspector::errorOccurred);
        nowhere.showRun(1);
        QVERIFY(missing.wait(10000));
        QVERIFY(missing.first().at(0).toString().contains("missing/experiments.db"));
        QVERIFY(!QFileInfo::exists(m_tmp.filePath("missing"))); // a viewer creates nothing
    }

    void theLiveMonitorDrawsWhatTheMemoryTabDraws()
    {
        // One plot, one derivation: the same samples give the same stacked values in the Train
        // tab's live monitor and the Memory tab. On a GPU both stack the tensors against the
        // CUDA allocator, not against host memory.
        LiveMonitor monitor;
        MemoryInspector inspector(m_db);
        inspector.followLive(-1);
        monitor.beginRun(3);
        for (int step = 0; step < 3; ++step) {
            tb::MemorySample s;
            s.step = step;
            s.elapsedSeconds = step;
            s.baseWeightBytes = 100 * kMiB;
            s.adapterBytes = 2 * kMiB;
            s.gradientBytes = step > 0 ? 2 * kMiB : 0;
            s.optimizerBytes = step > 0 ? 4 * kMiB : 0;
            s.residentBytes = 900 * kMiB;           // the host process: not the basis on a GPU
            s.peakResidentBytes = 950 * kMiB;
            s.cudaAllocatedBytes = (150 + 10 * step) * kMiB;
            s.cudaReservedBytes = 300 * kMiB;
            s.cudaPeakAllocatedBytes = (200 + 10 * step) * kMiB;
            QCOMPARE(s.basisBytes(), s.cudaAllocatedBytes);
            QCOMPARE(s.restBytes(), s.cudaAllocatedBytes - s.tensorBytes());
            monitor.addMemory(s);
            inspector.addSample(s);
        }
        QCustomPlot* live = monitor.memoryPlot();
        QCustomPlot* tab = inspector.plot();
        QCOMPARE(live->graphCount(), tab->graphCount());
        for (int g = 0; g < tab->graphCount(); ++g) {
            QCOMPARE(live->graph(g)->dataCount(), tab->graph(g)->dataCount());
            QCOMPARE(live->graph(g)->name(), tab->graph(g)->name());
            if (tab->graph(g)->dataCount() > 0)
                QCOMPARE(lastValue(live->graph(g)), lastValue(tab->graph(g)));
        }
        QCOMPARE(lastValue(inspector.stackGraph(4)), 170.0); // the allocator's 170 MiB, not 900 MiB of RSS
        QCOMPARE(inspector.peakLineGraph()->name(), QString("CUDA peak allocated"));
        QCOMPARE(bytesAt(inspector, "activations", MemoryInspector::CurrentColumn), (170 - 108) * kMiB);
    }

    void liveSamplesAppendAndMerge()
    {
        // Not recorded: live samples only.
        MemoryInspector live(m_db);
        live.followLive(-1);
        QVERIFY(live.following());
        for (int i = 0; i < 3; ++i)
            live.addSample(toSample(kKnown[i]));
        QCOMPARE(live.sampleCount(), 3);
        QCOMPARE(live.stackGraph(4)->dataCount(), 3);
        QCOMPARE(live.peakStep(), qint64(2));
        QCOMPARE(bytesAt(live, "rss", MemoryInspector::CurrentColumn), 450 * kMiB);
        live.addSample(toSample(kKnown[3]));
        QCOMPARE(live.stackGraph(4)->dataCount(), 4);
        QCOMPARE(live.peakStep(), qint64(2));
        QCOMPARE(bytesAt(live, "rss", MemoryInspector::CurrentColumn), 350 * kMiB);
        QTRY_VERIFY_WITH_TIMEOUT(bytesAt(live, "device_total", MemoryInspector::PeakColumn) > 0, 10000);
        // Showing a recorded run leaves live mode: live samples no longer land here.
        QSignalSpy loaded(&live, &MemoryInspector::loaded);
        live.showRun(m_small);
        QVERIFY(!live.following());
        live.addSample(toSample(kKnown[4]));
        QVERIFY(loaded.wait(10000));
        QCOMPARE(live.sampleCount(), 2);

        // Recorded: what the database holds before the first live sample, then the live ones.
        MemoryInspector merged(m_db);
        QSignalSpy mergedLoaded(&merged, &MemoryInspector::loaded);
        merged.followLive(m_known);
        tb::MemorySample later = toSample(kKnown[4]);
        later.step = 5;
        later.peakResidentBytes = later.residentBytes = 600 * kMiB;
        merged.addSample(toSample(kKnown[3])); // arrives before the database answers
        merged.addSample(later);
        QVERIFY(mergedLoaded.wait(10000));
        QCOMPARE(merged.sampleCount(), 5); // database steps 0-2, live steps 3 and 5
        QCOMPARE(merged.stackGraph(0)->dataCount(), 5);
        QCOMPARE(merged.peakStep(), qint64(5));
        QCOMPARE(merged.peakBytes(), 600 * kMiB);
        QCOMPARE(bytesAt(merged, "pinned_host", MemoryInspector::PeakColumn), 3 * kMiB);
        QVERIFY(merged.following());
    }

    void theLiveMonitorShowsEachWorker()
    {
        LiveMonitor monitor;
        monitor.show();
        monitor.beginRun(3);
        monitor.setDeviceCapacity(int64_t(16) << 30, "CPU");
        tb::StepReport step;
        step.step = 1;
        step.totalSteps = 3;
        step.loss = 2.0;
        step.tokensPerSecond = 1234; // the whole run's (all workers), as the trainer reports it
        monitor.addMemory(workerSample(0, 0));
        monitor.addStep(step);
        // One process so far: no worker table, tokens/s as it is.
        QVERIFY(!monitor.workerPanel()->isVisible());
        QCOMPARE(monitor.speedLabel()->text(), QString("1234 tokens/s"));
        QVERIFY(monitor.speedLabel()->toolTip().contains("all worker processes"));

        monitor.addMemory(workerSample(1, 0));
        for (int64_t s = 1; s < 3; ++s)
            for (int worker = 0; worker < 2; ++worker)
                monitor.addMemory(workerSample(worker, s));
        QCOMPARE(monitor.workerCount(), 2);
        QVERIFY(monitor.workerPanel()->isVisible());
        QCOMPARE(monitor.speedLabel()->text(), QString("1234 tokens/s (2 workers)"));
        // The stacked plot holds worker 0's samples only, and its values.
        QCOMPARE(monitor.memory()->samples().size(), size_t(3));
        QCOMPARE(monitor.memory()->stackGraph(4)->dataCount(), 3);
        QCOMPARE(lastValue(monitor.memory()->stackGraph(4)), 450.0);
        // A row per worker, then their sum: current RSS (step 2) and the peak RSS.
        QTableWidget* table = monitor.workerTable();
        QCOMPARE(table->rowCount(), 3);
        auto bytes = [table](int row, int column) { return table->item(row, column)->data(Qt::UserRole).toLongLong(); };
        QCOMPARE(table->item(0, 0)->text(), QString("Worker 0"));
        QCOMPARE(table->item(1, 0)->text(), QString("Worker 1"));
        QCOMPARE(bytes(0, 1), 450 * kMiB);
        QCOMPARE(bytes(0, 2), 450 * kMiB);
        QCOMPARE(bytes(1, 1), 500 * kMiB);
        QCOMPARE(bytes(1, 2), 530 * kMiB);
        QCOMPARE(bytes(2, 1), 950 * kMiB);
        QCOMPARE(bytes(2, 2), 980 * kMiB);
        QCOMPARE(table->horizontalHeaderItem(1)->text(), QString("Process RSS"));
        QCOMPARE(table->item(1, 1)->text(), QLocale().formattedDataSize(500 * kMiB, 1, QLocale::DataSizeIecFormat));
        // On the CPU the workers share the machine: the capacity line adds their RSS up.
        QVERIFY2(monitor.capacityLabel()->text().contains("process RSS of 2 workers 950 MiB"), qPrintable(monitor.capacityLabel()->text()));

        // A new run starts with no workers.
        monitor.beginRun(3);
        QCOMPARE(monitor.workerCount(), 0);
        QVERIFY(!monitor.workerPanel()->isVisible());
        QCOMPARE(monitor.workerTable()->rowCount(), 0);
    }

    void theInspectorShowsEachWorker()
    {
        // Live: worker 0 is shown first; the Worker box and a row per worker appear once a
        // second worker reports.
        MemoryInspector live(m_db);
        live.show();
        live.followLive(-1);
        live.addSample(workerSample(0, 0));
        QVERIFY(!live.workerCombo()->isVisible());
        QCOMPARE(live.tableRow("worker_0"), -1);
        for (int64_t step = 0; step < 3; ++step)
            for (int worker = step == 0 ? 1 : 0; worker < 2; ++worker)
                live.addSample(workerSample(worker, step));
        QCOMPARE(live.sampleCount(), 6);
        QCOMPARE(live.workers(), (std::vector<int>{0, 1}));
        QCOMPARE(live.selectedWorker(), 0);
        QVERIFY(live.workerCombo()->isVisible());
        QCOMPARE(live.workerCombo()->count(), 2);
        QCOMPARE(live.stackGraph(4)->dataCount(), 3);
        QCOMPARE(bytesAt(live, "rss", MemoryInspector::CurrentColumn), 450 * kMiB);
        QCOMPARE(bytesAt(live, "worker_0", MemoryInspector::PeakColumn), 450 * kMiB);
        QCOMPARE(bytesAt(live, "worker_1", MemoryInspector::PeakColumn), 530 * kMiB);
        QCOMPARE(bytesAt(live, "worker_1", MemoryInspector::CurrentColumn), 500 * kMiB);
        QVERIFY(textAt(live, "worker_0", MemoryInspector::CategoryColumn).contains("(shown)"));
        QVERIFY(live.summaryLabel()->text().contains("worker 0 of 2"));
        // Worker 1 chosen in the box: its samples in the plot and the category rows.
        live.workerCombo()->setCurrentIndex(1);
        QCOMPARE(live.selectedWorker(), 1);
        QCOMPARE(live.stackGraph(4)->dataCount(), 3);
        QCOMPARE(lastValue(live.stackGraph(4)), 500.0);
        QCOMPARE(live.peakBytes(), 530 * kMiB);
        QCOMPARE(bytesAt(live, "rss", MemoryInspector::PeakColumn), 500 * kMiB);
        QVERIFY(textAt(live, "worker_1", MemoryInspector::CategoryColumn).contains("(shown)"));
        QVERIFY(live.summaryLabel()->text().contains("worker 1 of 2"));
        // Live samples of the shown worker append; the other's only update its row.
        tb::MemorySample later = workerSample(1, 2);
        later.step = 3;
        live.addSample(later);
        live.addSample(workerSample(0, 2));
        QCOMPARE(live.stackGraph(4)->dataCount(), 4);

        // From the database: recorded through RunRecorder (the trainer's path), each worker's
        // samples come back as they were reported.
        int64_t runId = -1;
        {
            tb::RunStore store(m_db.toStdString());
            tb::NewRun run;
            run.name = "two workers";
            run.device = "cpu";
            runId = store.createRun(run);
            tb::RunRecorder recorder(store, runId, tb::TrainMethod::Lora, nullptr);
            for (int64_t step = 0; step < 3; ++step)
                for (int worker = 0; worker < 2; ++worker)
                    recorder.onMemory(workerSample(worker, step));
            tb::TrainResult result;
            result.status = tb::TrainStatus::Finished;
            result.step = 2;
            recorder.finish(result);
        }
        MemoryInspector recorded(m_db);
        QSignalSpy loaded(&recorded, &MemoryInspector::loaded);
        recorded.setWorker(1); // not a worker of any run yet: ignored
        QCOMPARE(recorded.selectedWorker(), 0);
        recorded.showRun(runId);
        QVERIFY(loaded.wait(10000));
        QCOMPARE(recorded.sampleCount(), 6);
        QCOMPARE(recorded.workers(), (std::vector<int>{0, 1}));
        QCOMPARE(recorded.selectedWorker(), 0);
        QCOMPARE(recorded.stackGraph(0)->dataCount(), 3);
        QCOMPARE(recorded.peakBytes(), 450 * kMiB);
        QCOMPARE(bytesAt(recorded, "worker_1", MemoryInspector::PeakColumn), 530 * kMiB);
        QCOMPARE(bytesAt(recorded, "base_weights", MemoryInspector::PeakColumn), 100 * kMiB);
        recorded.setWorker(1);
        QCOMPARE(recorded.peakBytes(), 530 * kMiB);
        QCOMPARE(recorded.peakStep(), qint64(2));
        QCOMPARE(recorded.workerCombo()->currentData().toInt(), 1);
        // A one-process run has no worker rows.
        recorded.showRun(m_small);
        QVERIFY(loaded.wait(10000));
        QCOMPARE(recorded.tableRow("worker_0"), -1);
        QCOMPARE(recorded.workers(), std::vector<int>{0});
        QCOMPARE(recorded.selectedWorker(), 0);
    }

    void realTrainingRun()
    {
        const QString model = m_tmp.filePath("demo");
        tb::makeDemoModel(model.toStdString(), "tiny", 0);
        tb::TrainConfig c;
        c.modelDir = model.toStdString();
        c.dataPath = TB_SOURCE_DIR "/resources/datasets/reviews-train.jsonl";
        c.outputDir = m_tmp.filePath("real-run").toStdString();
        c.maxSteps = 3;
        c.batchSize = 4;
        c.data.maxSeqLen = 64;
        c.lora.rank = 4;
        c.lora.alpha = 8;

        // The samples as the trainer reported them, to feed a live inspector afterwards.
        struct Collector : tb::TrainerCallbacks {
            std::vector<tb::MemorySample> samples;
            void onMemory(const tb::MemorySample& m) override { samples.push_back(m); }
        } collector;
        int64_t runId = -1;
        {
            tb::RunStore store(m_db.toStdString());
            runId = tb::registerTrainingRun(store, c, false, "real");
            tb::RunRecorder recorder(store, runId, c.method, &collector);
            tb::Trainer trainer(c);
            const tb::TrainResult result = trainer.run(recorder);
            recorder.finish(result);
            QCOMPARE(int(result.status), int(tb::TrainStatus::Finished));
        }
        QVERIFY(collector.samples.size() >= 4); // before the first step, then one per step

        // What the database holds, read independently of the inspector.
        tb::RunStore store(m_db.toStdString());
        tb::RunQueries queries(store.database());
        const std::vector<tb::MemoryPoint> peaks = queries.memorySeries(runId, "peak_rss");
        QCOMPARE(peaks.size(), collector.samples.size());
        const auto maxPeak = std::max_element(peaks.begin(), peaks.end(),
                                              [](const tb::MemoryPoint& a, const tb::MemoryPoint& b) { return a.bytes < b.bytes; });
        QVERIFY(maxPeak->bytes > 0);

        MemoryInspector inspector(m_db);
        QSignalSpy loaded(&inspector, &MemoryInspector::loaded);
        inspector.showRun(runId);
        QVERIFY(loaded.wait(10000));
        QCOMPARE(inspector.sampleCount(), int(peaks.size()));
        QCOMPARE(inspector.peakBytes(), qint64(maxPeak->bytes));
        QCOMPARE(inspector.peakStep(), qint64(maxPeak->step)); // max_element: the first at the max
        QCOMPARE(bytesAt(inspector, "peak_rss", MemoryInspector::PeakColumn), qint64(maxPeak->bytes));
        QVERIFY(bytesAt(inspector, "adapters", MemoryInspector::PeakColumn) > 0);
        QVERIFY(bytesAt(inspector, "base_weights", MemoryInspector::PeakColumn) > bytesAt(inspector, "adapters", MemoryInspector::PeakColumn));
        QVERIFY(bytesAt(inspector, "optimizer", MemoryInspector::CurrentColumn) > 0);
        QVERIFY(bytesAt(inspector, "device_total", MemoryInspector::PeakColumn) >= maxPeak->bytes);
        QCOMPARE(inspector.stackGraph(4)->dataCount(), int(peaks.size()));

        // The same samples fed live give the same peak.
        MemoryInspector live(m_db);
        live.followLive(-1);
        for (const tb::MemorySample& s : collector.samples)
            live.addSample(s);
        QCOMPARE(live.sampleCount(), int(collector.samples.size()));
        QCOMPARE(live.peakBytes(), qint64(maxPeak->bytes));
        QCOMPARE(live.peakStep(), qint64(maxPeak->step));
    }
};

QTEST_MAIN(TestMemoryInspector)
#include "tst_memoryinspector.moc"
