// The Compare view, offscreen: a LoRA and a QLoRA run recorded in a temporary database through
// RunStore and MetricBuffer (the trainer's recording path), shown side by side. Checks the
// curves (one loss graph per run, point counts, keys on the step / tokens / wall-time axes,
// memory in MiB; a data-parallel run's memory as its largest worker's), the table's highlighted
// rows, the three exports read back, errors, and that a newer request supersedes an older one.
#include "CompareView.h"

#include "QCustomPlotCompat.h"

#include "store/MetricBuffer.h"
#include "store/RunStore.h"

#include <QApplication>
#include <QComboBox>
#include <QFile>
#include <QImage>
#include <QLabel>
#include <QSignalSpy>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QTest>

namespace {

struct RunShape {
    std::string name;
    std::string method;
    std::string quant;
    int64_t steps;
    int64_t tokensPerStep;
    double secondsPerStep;
    int64_t peakBytesPerStep;
    bool cuda;
};

int64_t recordRun(tb::RunStore& store, const RunShape& shape)
{
    tb::NewRun run;
    run.name = shape.name;
    run.method = shape.method;
    run.quant = shape.quant;
    run.config = {{"method", shape.method}, {"lora", {{"rank", 8}, {"alpha", 16}}}, {"batch_size", 4}};
    run.loraRank = 8;
    run.loraAlpha = 16;
    run.batchSize = 4;
    run.seqLen = 64;
    run.learningRate = 1e-3;
    run.seed = 7;
    run.totalSteps = shape.steps;
    run.device = "cpu";
    const int64_t id = store.createRun(run);
    {
        tb::MetricBuffer buffer(store.database(), id);
        for (int64_t step = 1; step <= shape.steps; ++step) {
            const double seconds = shape.secondsPerStep * static_cast<double>(step);
            buffer.appendMetric(step, step * shape.tokensPerStep, seconds, "loss", 4.0 / static_cast<double>(step));
            buffer.appendMetric(step, step * shape.tokensPerStep, seconds, "tokens_per_second", 1000.0);
            if (step % 2 == 0)
                buffer.appendMetric(step, step * shape.tokensPerStep, seconds, "val_loss", 5.0 / static_cast<double>(step));
            buffer.appendMemory(step, seconds, "peak_rss", step * shape.peakBytesPerStep);
            if (shape.cuda)
                buffer.appendMemory(step, seconds, "cuda_allocated", int64_t(64) << 20);
        }
        buffer.flush();
    }
    store.finishRun(id, {tb::RunStatus::Finished, "", -1, "", 1000, shape.secondsPerStep * static_cast<double>(shape.steps)});
    return id;
}

QVector<double> keysOf(QCPGraph* graph)
{
    QVector<double> keys;
    for (auto it = graph->data()->constBegin(); it != graph->data()->constEnd(); ++it)
        keys.push_back(it->key);
    return keys;
}

// The table row whose first cell reads `property`, or -1.
int tableRow(QTableWidget* table, const QString& property)
{
    for (int r = 0; r < table->rowCount(); ++r)
        if (table->item(r, 0) && table->item(r, 0)->text() == property)
            return r;
    return -1;
}

QByteArray readAll(const QString& path)
{
    QFile f(path);
    return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

} // namespace

class TestCompareView : public QObject {
    Q_OBJECT
private:
    QTemporaryDir m_tmp;
    QString m_db;
    qint64 m_lora = 0, m_qlora = 0;

    static bool waitLoaded(QSignalSpy& loaded)
    {
        return loaded.count() > 0 || loaded.wait(10000);
    }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_tmp.isValid());
        m_db = m_tmp.filePath("tunebench.db");
        tb::RunStore store(m_db.toStdString());
        m_lora = recordRun(store, {"lora-run", "lora", "", 5, 256, 0.5, int64_t(100) << 20, false});
        m_qlora = recordRun(store, {"qlora-run", "qlora", "nf4", 7, 512, 0.25, int64_t(40) << 20, true});
    }

    void curvesOnEachAxis()
    {
        CompareView view(m_db);
        view.resize(1000, 700);
        view.show();
        QSignalSpy loaded(&view, &CompareView::loaded);
        view.showRuns({m_lora, m_qlora});
        QVERIFY(view.isLoading());
        QVERIFY(waitLoaded(loaded));
        QCOMPARE(loaded.first().first().toInt(), 2);
        QVERIFY(!view.isLoading());

        // One loss and one validation graph per run, named after it, in its own colour.
        QCOMPARE(view.lossPlot()->graphCount(), 4);
        QCOMPARE(view.lossGraph(0)->dataCount(), 5);
        QCOMPARE(view.lossGraph(1)->dataCount(), 7);
        QCOMPARE(view.validationGraph(0)->dataCount(), 2);
        QCOMPARE(view.validationGraph(1)->dataCount(), 3);
        QVERIFY(!view.lossGraph(2));
        QCOMPARE(view.lossGraph(0)->name(), QString("lora-run"));
        QCOMPARE(view.lossGraph(1)->name(), QString("qlora-run"));
        QVERIFY(view.validationGraph(1)->name().contains("qlora-run"));
        QVERIFY(view.lossGraph(0)->pen().color() != view.lossGraph(1)->pen().color());
        QCOMPARE(view.validationGraph(0)->pen().color(), view.lossGraph(0)->pen().color());
        QCOMPARE(view.validationGraph(0)->pen().style(), Qt::DashLine);
        QCOMPARE(view.lossGraph(0)->pen().style(), Qt::SolidLine);
        QCOMPARE(keysOf(view.lossGraph(1)), (QVector<double>{1, 2, 3, 4, 5, 6, 7}));
        QCOMPARE(view.lossGraph(1)->data()->at(3)->value, 1.0); // 4 / step 4
        QCOMPARE(keysOf(view.validationGraph(0)), (QVector<double>{2, 4}));
        QCOMPARE(view.lossPlot()->xAxis->label(), QString("step"));

        // Memory in MiB; CUDA only where it was recorded.
        QVERIFY(view.hostMemoryGraph(0) && view.hostMemoryGraph(1));
        QVERIFY(!view.cudaMemoryGraph(0));
        QVERIFY(view.cudaMemoryGraph(1));
        QCOMPARE(view.memoryPlot()->graphCount(), 3);
        QCOMPARE(view.hostMemoryGraph(0)->data()->at(2)->value, 300.0); // step 3 x 100 MiB
        QCOMPARE(view.cudaMemoryGraph(1)->data()->at(0)->value, 64.0);

        // Tokens: the metric points' token counts; memory samples take their step's tokens.
        view.xAxisChooser()->setCurrentIndex(view.xAxisChooser()->findText("Tokens"));
        QCOMPARE(view.xAxis(), CompareView::XAxis::Tokens);
        QCOMPARE(keysOf(view.lossGraph(0)), (QVector<double>{256, 512, 768, 1024, 1280}));
        QCOMPARE(keysOf(view.validationGraph(1)), (QVector<double>{1024, 2048, 3072}));
        QCOMPARE(keysOf(view.hostMemoryGraph(1)).last(), 7.0 * 512);
        QCOMPARE(view.lossPlot()->xAxis->label(), QString("tokens"));
        QCOMPARE(view.memoryPlot()->xAxis->label(), QString("tokens"));
        QCOMPARE(view.lossGraph(0)->dataCount(), 5);

        // Wall time: the seconds recorded with each point.
        view.xAxisChooser()->setCurrentIndex(view.xAxisChooser()->findText("Wall time"));
        QCOMPARE(keysOf(view.lossGraph(0)), (QVector<double>{0.5, 1.0, 1.5, 2.0, 2.5}));
        QCOMPARE(keysOf(view.lossGraph(1)).last(), 1.75);
        QCOMPARE(keysOf(view.hostMemoryGraph(0)).first(), 0.5);
        QCOMPARE(view.lossPlot()->xAxis->label(), QString("wall time (s)"));

        view.setXAxis(CompareView::XAxis::Step);
        QCOMPARE(view.xAxisChooser()->currentText(), QString("Step"));
        QCOMPARE(keysOf(view.lossGraph(0)), (QVector<double>{1, 2, 3, 4, 5}));

        view.logScaleBox()->setChecked(true);
        QCOMPARE(view.lossPlot()->yAxis->scaleType(), QCPAxis::stLogarithmic);
        view.logScaleBox()->setChecked(false);
        QCOMPARE(view.lossPlot()->yAxis->scaleType(), QCPAxis::stLinear);
    }

    void aDataParallelRunShowsItsLargestWorker()
    {
        // Two workers' peak RSS per step (MiB); the run's curve is the larger of the two at
        // each step, one point per step, at worker 0's seconds.
        const int64_t worker0[] = {100, 300, 200};
        const int64_t worker1[] = {150, 250, 260};
        int64_t id = 0;
        {
            tb::RunStore store(m_db.toStdString());
            tb::NewRun run;
            run.name = "two-workers";
            run.config = {{"processes", 2}};
            id = store.createRun(run);
            tb::MetricBuffer buffer(store.database(), id);
            for (int64_t step = 1; step <= 3; ++step) {
                buffer.appendMetric(step, step * 100, 0.5 * double(step), "loss", 1.0);
                buffer.appendMemory(step, 0.5 * double(step), "peak_rss", worker0[step - 1] << 20, 0);
                buffer.appendMemory(step, 0.5 * double(step) + 0.01, "peak_rss", worker1[step - 1] << 20, 1);
            }
            buffer.flush();
        }
        CompareView view(m_db);
        QSignalSpy loaded(&view, &CompareView::loaded);
        view.showRuns({id, m_lora});
        QVERIFY(waitLoaded(loaded));
        QCOMPARE(view.hostMemoryGraph(0)->dataCount(), 3);
        QCOMPARE(keysOf(view.hostMemoryGraph(0)), (QVector<double>{1, 2, 3}));
        QVector<double> values;
        for (auto it = view.hostMemoryGraph(0)->data()->constBegin(); it != view.hostMemoryGraph(0)->data()->constEnd(); ++it)
            values.push_back(it->value);
        QCOMPARE(values, (QVector<double>{150, 300, 260}));
        view.setXAxis(CompareView::XAxis::WallTime);
        QCOMPARE(keysOf(view.hostMemoryGraph(0)), (QVector<double>{0.5, 1.0, 1.5}));
        QCOMPARE(view.hostMemoryGraph(1)->dataCount(), 5); // a one-process run as it was
    }

    void tableMarksDifferences()
    {
        CompareView view(m_db);
        QSignalSpy loaded(&view, &CompareView::loaded);
        view.showRuns({m_lora, m_qlora});
        QVERIFY(waitLoaded(loaded));
        QTableWidget* table = view.table();
        QCOMPARE(table->columnCount(), 3);
        QVERIFY(table->horizontalHeaderItem(1)->text().contains("lora-run"));
        QVERIFY(table->horizontalHeaderItem(2)->text().contains("qlora"));

        const int method = tableRow(table, "method");
        QVERIFY(method >= 0);
        QCOMPARE(table->item(method, 1)->text(), QString("lora"));
        QCOMPARE(table->item(method, 2)->text(), QString("qlora"));
        for (int c = 0; c < 3; ++c) {
            QVERIFY(table->item(method, c)->data(CompareView::DiffersRole).toBool());
            QCOMPARE(table->item(method, c)->background().color(), QColor(0xff, 0xf2, 0xb3));
        }
        QVERIFY(table->item(method, 0)->font().bold());
        for (const char* same : {"rank", "alpha", "batch size", "learning rate", "seed", "device", "tokens/s"}) {
            const int r = tableRow(table, same);
            QVERIFY2(r >= 0, same);
            QVERIFY2(!table->item(r, 1)->data(CompareView::DiffersRole).toBool(), same);
            QCOMPARE(table->item(r, 1)->background().style(), Qt::NoBrush);
            QCOMPARE(table->item(r, 1)->text(), table->item(r, 2)->text());
        }
        // Results that differ: the validation loss (5/4 vs 5/6) and the steps.
        const int val = tableRow(table, "final validation loss");
        QCOMPARE(table->item(val, 1)->text(), QString("1.2500"));
        QCOMPARE(table->item(val, 2)->text(), QString("0.8333"));
        QVERIFY(table->item(val, 1)->data(CompareView::DiffersRole).toBool());
        QVERIFY(table->item(tableRow(table, "perplexity"), 0)->toolTip().contains("exp"));
        QVERIFY(tableRow(table, "Settings") >= 0 && tableRow(table, "Results") > tableRow(table, "Settings"));
        QCOMPARE(view.comparisonTable().rows().size() + 2, size_t(table->rowCount()));
    }

    void exportsWriteFiles()
    {
        CompareView view(m_db);
        QSignalSpy loaded(&view, &CompareView::loaded);
        QSignalSpy errors(&view, &CompareView::errorOccurred);
        // Nothing shown yet: nothing to export.
        QVERIFY(!view.exportMarkdown(m_tmp.filePath("early.md")));
        QCOMPARE(errors.count(), 1);
        QVERIFY(!QFile::exists(m_tmp.filePath("early.md")));
        QVERIFY(!view.exportPngButton()->isEnabled());

        view.showRuns({m_lora, m_qlora});
        QVERIFY(waitLoaded(loaded));
        QVERIFY(view.exportCsvButton()->isEnabled());

        const QString md = m_tmp.filePath("compare.md");
        QVERIFY(view.exportMarkdown(md));
        const QByteArray markdown = readAll(md);
        QVERIFY2(markdown.contains("| **method** | lora | qlora |"), markdown.constData());
        QVERIFY2(markdown.contains("| rank | 8 | 8 |"), markdown.constData());
        QVERIFY(markdown.contains("lora-run (#"));

        const QString csv = m_tmp.filePath("compare.csv");
        QVERIFY(view.exportCsv(csv));
        const QByteArray text = readAll(csv);
        QVERIFY2(text.startsWith("section,property,differs,\"lora-run (#"), text.constData()); // the label has a comma
        QVERIFY2(text.contains("\r\nSettings,method,yes,lora,qlora,\r\n"), text.constData());
        QVERIFY2(text.contains("\r\nSettings,rank,no,8,8,\r\n"), text.constData());

        const QString png = m_tmp.filePath("compare.png");
        QVERIFY(view.exportPng(png));
        const QImage image(png);
        QVERIFY(!image.isNull());
        QCOMPARE(image.width(), 1200);
        QVERIFY(image.height() > 1000); // title, two 500 px plots, the table
        // Not a blank page: the plots drew coloured curves.
        int coloured = 0;
        for (int y = 48; y < 1048; y += 3)
            for (int x = 0; x < image.width(); x += 3) {
                const QColor c = image.pixelColor(x, y);
                coloured += (c.saturation() > 100) ? 1 : 0;
            }
        QVERIFY2(coloured > 100, qPrintable(QString::number(coloured)));

        // A folder that does not exist: false, the error names the path, nothing written.
        const QString bad = m_tmp.filePath("no/such/folder/compare.csv");
        QVERIFY(!view.exportCsv(bad));
        QCOMPARE(errors.count(), 2);
        QVERIFY(errors.last().first().toString().contains(bad));
        QVERIFY(view.messageLabel()->text().contains(bad));
        QVERIFY(!view.exportPng(m_tmp.filePath("no/such/folder/compare.png")));
        QCOMPARE(errors.count(), 3);
    }

    void newerRequestWins()
    {
        CompareView view(m_db);
        QSignalSpy loaded(&view, &CompareView::loaded);
        view.showRuns({m_lora});
        view.showRuns({m_qlora, m_lora});
        QVERIFY(waitLoaded(loaded));
        QCOMPARE(loaded.first().first().toInt(), 2);
        QTest::qWait(300); // the older request's result, whenever it lands, is dropped
        QCOMPARE(loaded.count(), 1);
        QCOMPARE(view.lossGraph(0)->name(), QString("qlora-run"));
        QCOMPARE(view.shownRuns(), (QList<qint64>{m_qlora, m_lora}));

        view.showRuns({});
        QCOMPARE(loaded.count(), 2);
        QCOMPARE(loaded.last().first().toInt(), 0);
        QCOMPARE(view.lossPlot()->graphCount(), 0);
        QCOMPARE(view.table()->rowCount(), 0);
    }

    void errorsAreReported()
    {
        CompareView view(m_db);
        QSignalSpy errors(&view, &CompareView::errorOccurred);
        view.showRuns({m_lora, 999999});
        QVERIFY(errors.wait(10000));
        QVERIFY2(errors.first().first().toString().contains("999999"), qPrintable(errors.first().first().toString()));
        QVERIFY(view.messageLabel()->text().contains("999999"));
        QCOMPARE(view.lossPlot()->graphCount(), 0);

        // A database that does not exist is reported, not created.
        const QString missing = m_tmp.filePath("elsewhere/tunebench.db");
        CompareView nowhere(missing);
        QSignalSpy missingErrors(&nowhere, &CompareView::errorOccurred);
        nowhere.showRuns({1});
        QVERIFY(missingErrors.wait(10000));
        QVERIFY(missingErrors.first().first().toString().contains(missing));
        QVERIFY(!QFile::exists(missing));
    }
};

QTEST_MAIN(TestCompareView)
#include "tst_compareview.moc"
