// The new-run form's memory estimate (MemoryEstimateBar), offscreen, on a real tiny demo model:
// the bar shows exactly what tb::estimateMemory computes for the same settings (peak and every
// category), off the GUI thread and debounced (a burst of edits gives one estimate, for the
// last settings); the Train tab's fields feed it (larger batch or sequence -> larger peak,
// gradient checkpointing -> smaller, QLoRA -> smaller base weights than LoRA); a free memory
// below the peak gives the red "will not fit" warning, one just above it the amber one; an
// impossible setting or a folder without config.json shows the estimator's message, no bar.
#include "MemoryEstimateBar.h"
#include "ModelChooser.h"
#include "RunForm.h"
#include "TrainPanel.h"

#include "core/DeviceMemory.h"
#include "demo/DemoModelMaker.h"
#include "memory/MemoryEstimator.h"

#include <QApplication>
#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QLabel>
#include <QPushButton>
#include <QSignalSpy>
#include <QSpinBox>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>

#include <stdexcept>

class TestEstimateBar : public QObject {
    Q_OBJECT
private:
    QTemporaryDir m_tmp;
    QString m_model;

    tb::TrainConfig loraConfig() const
    {
        tb::TrainConfig c;
        c.modelDir = m_model.toStdString();
        c.dataPath = TB_SOURCE_DIR "/resources/datasets/reviews-train.jsonl";
        c.outputDir = m_tmp.filePath("never-started").toStdString();
        c.maxSteps = 10;
        c.batchSize = 4;
        c.data.maxSeqLen = 64;
        c.lora.rank = 8;
        return c;
    }

    // What the bar must show, computed here from the engine alone.
    static tb::MemoryEstimate direct(const QString& modelDir, const tb::TrainConfig& c)
    {
        const tb::MemoryEstimateRequest folder = tb::requestForModelFolder(modelDir.toStdString());
        tb::MemoryEstimateRequest r = tb::MemoryEstimateRequest::fromTrainConfig(c, folder.model);
        r.checkpointFileBytes = folder.checkpointFileBytes;
        if (c.method == tb::TrainMethod::Qlora)
            r.quantizedCacheExists = tb::quantizedCacheExists(modelDir.toStdString(), c.quant, c.quantCacheDir);
        return tb::estimateMemory(r);
    }

    static QString directError(const QString& modelDir, const tb::TrainConfig& c)
    {
        try {
            direct(modelDir, c);
        } catch (const std::exception& e) {
            return QString::fromStdString(e.what());
        }
        return QString();
    }

    static void compareSegments(const MemoryEstimateBar& bar, const tb::MemoryBreakdown& b)
    {
        QCOMPARE(bar.segmentBytes(MemoryEstimateBar::BaseWeights), qint64(b.baseWeights));
        QCOMPARE(bar.segmentBytes(MemoryEstimateBar::Adapters), qint64(b.adapters));
        QCOMPARE(bar.segmentBytes(MemoryEstimateBar::Gradients), qint64(b.gradients));
        QCOMPARE(bar.segmentBytes(MemoryEstimateBar::Optimizer), qint64(b.optimizer));
        QCOMPARE(bar.segmentBytes(MemoryEstimateBar::Activations), qint64(b.activations));
        QCOMPARE(bar.segmentBytes(MemoryEstimateBar::AllocatorSlack), qint64(b.allocatorSlack));
        QCOMPARE(bar.segmentBytes(MemoryEstimateBar::Transient), qint64(b.transient));
        QCOMPARE(bar.segmentBytes(MemoryEstimateBar::Overhead), qint64(b.overhead));
    }

    // The form's field in the row labelled `label` (QFormLayout makes the field the label's buddy).
    template <typename Field>
    static Field* fieldOf(const TrainPanel& panel, const QString& label)
    {
        for (QLabel* l : panel.findChildren<QLabel*>())
            if (l->text() == label && l->buddy())
                return qobject_cast<Field*>(l->buddy()) ? qobject_cast<Field*>(l->buddy()) : l->buddy()->findChild<Field*>();
        return nullptr;
    }

    // Waits until the panel's bar shows the estimate of the form as it is now; returns it.
    tb::MemoryEstimate waitForFormEstimate(TrainPanel& panel)
    {
        const tb::MemoryEstimate expected = direct(m_model, panel.config());
        MemoryEstimateBar* bar = panel.memoryEstimate();
        [&] { QTRY_COMPARE_WITH_TIMEOUT(bar->peakBytes(), qint64(expected.peakBytes()), 15000); }();
        return expected;
    }

private Q_SLOTS:
    void initTestCase()
    {
        QStandardPaths::setTestModeEnabled(true);
        QLocale::setDefault(QLocale::c());
        QVERIFY(m_tmp.isValid());
        m_model = m_tmp.filePath("demo");
        tb::makeDemoModel(m_model.toStdString(), "tiny", 0);
    }

    void peakEqualsTheEstimatorsOffTheGuiThread()
    {
        MemoryEstimateBar bar;
        bar.show();
        QSignalSpy estimated(&bar, &MemoryEstimateBar::estimated);
        QSignalSpy failed(&bar, &MemoryEstimateBar::estimateFailed);
        QCOMPARE(bar.state(), MemoryEstimateBar::State::Empty);

        // A burst of edits: nothing is estimated on the GUI thread, and only the last counts.
        tb::TrainConfig c = loraConfig();
        for (int batch = 1; batch <= 8; ++batch) {
            c.batchSize = batch;
            bar.setRun(m_model, c);
        }
        QCOMPARE(estimated.count(), 0);
        QCOMPARE(bar.state(), MemoryEstimateBar::State::Estimating);
        QVERIFY(estimated.wait(15000));
        QTest::qWait(2 * MemoryEstimateBar::kDebounceMs);
        QCOMPARE(estimated.count(), 1);
        QCOMPARE(failed.count(), 0);

        const tb::MemoryEstimate e = direct(m_model, c);
        QVERIFY(e.peakBytes() > 0);
        QCOMPARE(bar.peakBytes(), qint64(e.peakBytes()));
        QCOMPARE(estimated.first().at(0).toLongLong(), qint64(e.peakBytes()));
        compareSegments(bar, e.peak().bytes);
        QCOMPARE(bar.peakPhase(), QString::fromStdString(e.peak().name));

        // Compared with this machine's free RAM: the tiny model fits easily.
        const tb::DeviceMemoryInfo cpu = tb::deviceMemory("cpu");
        QVERIFY(bar.freeBytes() > 0);
        QVERIFY(bar.totalBytes() == cpu.totalBytes);
        QVERIFY(bar.fits());
        QCOMPARE(bar.state(), MemoryEstimateBar::State::Fits);
        QCOMPARE(estimated.first().at(1).toLongLong(), bar.freeBytes());
        QCOMPARE(estimated.first().at(2).toBool(), true);
        const QString summary = bar.summaryLabel()->text();
        QVERIFY2(summary.startsWith("Estimated peak ") && summary.contains("(" + bar.peakPhase() + ")")
                     && summary.contains(" free on " + QString::fromStdString(cpu.name)),
                 qPrintable(summary));
        QVERIFY(bar.warningLabel()->isHidden());
    }

    void freeMemoryBelowThePeakWarns()
    {
        MemoryEstimateBar bar;
        bar.show();
        QSignalSpy estimated(&bar, &MemoryEstimateBar::estimated);
        tb::TrainConfig c = loraConfig();
        bar.setRun(m_model, c);
        QVERIFY(estimated.wait(15000));
        const qint64 peak = bar.peakBytes();
        QVERIFY(bar.fits());

        // A budget of half the peak: red, the figures named, each remedy offered.
        bar.setFreeMemoryOverride(peak / 2);
        QCOMPARE(estimated.count(), 2);
        QCOMPARE(bar.state(), MemoryEstimateBar::State::WillNotFit);
        QVERIFY(!bar.fits());
        QCOMPARE(bar.freeBytes(), peak / 2);
        QCOMPARE(estimated.last().at(2).toBool(), false);
        QLabel* warning = bar.warningLabel();
        QVERIFY(!warning->isHidden());
        QVERIFY2(warning->text().startsWith("Will not fit: needs ")
                     && warning->text().contains(QLocale().formattedDataSize(peak, 2, QLocale::DataSizeIecFormat))
                     && warning->text().contains("lower the batch size / sequence length")
                     && warning->text().contains("gradient checkpointing") && warning->text().contains("QLoRA"),
                 qPrintable(warning->text()));
        QVERIFY2(warning->styleSheet().contains("#c0392b"), qPrintable(warning->styleSheet()));
        QVERIFY2(bar.summaryLabel()->text().contains(" budget"), qPrintable(bar.summaryLabel()->text()));

        // With checkpointing already on and QLoRA chosen, those remedies are not offered again.
        c.gradientCheckpointing = true;
        c.method = tb::TrainMethod::Qlora;
        bar.setRun(m_model, c);
        QTRY_VERIFY_WITH_TIMEOUT(estimated.count() == 3, 15000);
        QCOMPARE(bar.peakBytes(), qint64(direct(m_model, c).peakBytes()));
        bar.setFreeMemoryOverride(bar.peakBytes() - 1);
        QCOMPARE(bar.state(), MemoryEstimateBar::State::WillNotFit);
        QVERIFY2(!warning->text().contains("checkpointing") && !warning->text().contains("QLoRA"), qPrintable(warning->text()));

        // Just above the peak: fits, with the softer warning.
        bar.setFreeMemoryOverride(bar.peakBytes() + bar.peakBytes() / 20);
        QCOMPARE(bar.state(), MemoryEstimateBar::State::Tight);
        QVERIFY(bar.fits());
        QVERIFY(!warning->isHidden());
        QVERIFY2(warning->text().startsWith("Tight: "), qPrintable(warning->text()));

        // Back to the machine's own free memory: no warning.
        bar.setFreeMemoryOverride(-1);
        QCOMPARE(bar.state(), MemoryEstimateBar::State::Fits);
        QVERIFY(bar.freeBytes() > bar.peakBytes());
        QVERIFY(warning->isHidden());

        // A device this machine lacks: still estimated, its free memory unknown, no warning.
        c.device = "cuda:7";
        bar.setRun(m_model, c);
        QTRY_COMPARE_WITH_TIMEOUT(bar.freeBytes(), qint64(-1), 15000);
        QCOMPARE(bar.peakBytes(), qint64(direct(m_model, c).peakBytes()));
        QVERIFY(bar.fits());
        QCOMPARE(estimated.last().at(1).toLongLong(), qint64(-1));
        QVERIFY2(bar.summaryLabel()->text().contains("cuda:7 is not on this machine"), qPrintable(bar.summaryLabel()->text()));
        QVERIFY(warning->isHidden());
    }

    void impossibleSettingsShowTheEstimatorsMessage()
    {
        MemoryEstimateBar bar;
        bar.show();
        QSignalSpy estimated(&bar, &MemoryEstimateBar::estimated);
        QSignalSpy failed(&bar, &MemoryEstimateBar::estimateFailed);
        tb::TrainConfig c = loraConfig();
        bar.setRun(m_model, c);
        QVERIFY(estimated.wait(15000));

        // Longer than the model's context: the estimator's own words, and no stale bar.
        c.data.maxSeqLen = 1 << 16;
        const QString expected = directError(m_model, c);
        QVERIFY2(expected.contains("max_position_embeddings"), qPrintable(expected));
        bar.setRun(m_model, c);
        QVERIFY(failed.wait(15000));
        QCOMPARE(failed.first().at(0).toString(), expected);
        QCOMPARE(bar.state(), MemoryEstimateBar::State::Failed);
        QCOMPARE(bar.warningLabel()->text(), expected);
        QVERIFY(!bar.warningLabel()->isHidden());
        QCOMPARE(bar.peakBytes(), qint64(-1));
        QCOMPARE(bar.segmentBytes(MemoryEstimateBar::BaseWeights), qint64(0));
        QVERIFY(!bar.fits());

        // A folder without config.json is named.
        const QString empty = m_tmp.filePath("no-model");
        QVERIFY(QDir().mkpath(empty));
        bar.setRun(empty, loraConfig());
        QTRY_COMPARE_WITH_TIMEOUT(failed.count(), 2, 15000);
        QVERIFY2(bar.warningLabel()->text().contains(empty + "/config.json"), qPrintable(bar.warningLabel()->text()));

        // Fixed: the bar is back.
        bar.setRun(m_model, loraConfig());
        QTRY_COMPARE_WITH_TIMEOUT(estimated.count(), 2, 15000);
        QCOMPARE(bar.state(), MemoryEstimateBar::State::Fits);
        QVERIFY(bar.warningLabel()->isHidden());

        // clear() drops an estimate still on its way.
        bar.setRun(m_model, c);
        bar.clear("no model");
        QTest::qWait(4 * MemoryEstimateBar::kDebounceMs);
        QCOMPARE(failed.count(), 2);
        QCOMPARE(bar.state(), MemoryEstimateBar::State::Empty);
        QCOMPARE(bar.summaryLabel()->text(), QString("no model"));
    }

    void trainTabFieldsFeedTheBar()
    {
        TrainPanel panel(QString(), nullptr, m_tmp.filePath("panel.ini"));
        panel.show();
        MemoryEstimateBar* bar = panel.memoryEstimate();
        QVERIFY(bar);
        panel.setConfig(loraConfig());
        QTRY_VERIFY_WITH_TIMEOUT(panel.form()->modelChooser()->isValid(), 30000);
        const tb::MemoryEstimate first = waitForFormEstimate(panel);
        compareSegments(*bar, first.peak().bytes);
        // Above Start, outside the scrolling form.
        QVERIFY(bar->isVisible());
        QVERIFY(bar->mapTo(&panel, QPoint(0, 0)).y() < panel.startButton()->mapTo(&panel, QPoint(0, 0)).y());

        // Larger batch -> larger peak; larger sequence -> larger still.
        QSpinBox* batchSpin = fieldOf<QSpinBox>(panel, "Batch size");
        QSpinBox* seqSpin = fieldOf<QSpinBox>(panel, "Sequence length");
        QVERIFY(batchSpin && seqSpin);
        batchSpin->setValue(32);
        QCOMPARE(panel.config().batchSize, int64_t(32));
        const tb::MemoryEstimate bigBatch = waitForFormEstimate(panel);
        QVERIFY2(bigBatch.peakBytes() > first.peakBytes(), qPrintable(QString::number(bigBatch.peakBytes())));
        seqSpin->setValue(512);
        QCOMPARE(panel.config().data.maxSeqLen, int64_t(512));
        const tb::MemoryEstimate longSeq = waitForFormEstimate(panel);
        QVERIFY(longSeq.peakBytes() > bigBatch.peakBytes());

        // Gradient checkpointing (a check box) -> less.
        QCheckBox* checkpointing = nullptr;
        for (QCheckBox* box : panel.findChildren<QCheckBox*>())
            if (box->text() == "Gradient checkpointing")
                checkpointing = box;
        QVERIFY(checkpointing);
        checkpointing->setChecked(true);
        const tb::MemoryEstimate recomputed = waitForFormEstimate(panel);
        QVERIFY(recomputed.peakBytes() < longSeq.peakBytes());
        checkpointing->setChecked(false);
        waitForFormEstimate(panel);
        const qint64 loraBase = bar->segmentBytes(MemoryEstimateBar::BaseWeights);

        // QLoRA: a smaller base-weight segment than LoRA's.
        panel.form()->methodCombo()->setCurrentIndex(panel.form()->methodCombo()->findData(int(tb::TrainMethod::Qlora)));
        const tb::MemoryEstimate qlora = waitForFormEstimate(panel);
        compareSegments(*bar, qlora.peak().bytes);
        QVERIFY2(bar->segmentBytes(MemoryEstimateBar::BaseWeights) < loraBase,
                 qPrintable(QString("%1 vs %2 (%3)").arg(bar->segmentBytes(MemoryEstimateBar::BaseWeights)).arg(loraBase).arg(bar->peakPhase())));

        // An impossible field: the estimator's message under the bar.
        batchSpin->setValue(0);
        const QString expected = directError(m_model, panel.config());
        QVERIFY2(expected.startsWith("batch_size"), qPrintable(expected));
        QTRY_COMPARE_WITH_TIMEOUT(bar->state(), MemoryEstimateBar::State::Failed, 15000);
        QCOMPARE(bar->warningLabel()->text(), expected);

        // A model folder the chooser refuses: no estimate.
        tb::TrainConfig noModel = loraConfig();
        noModel.modelDir = m_tmp.filePath("not-a-model").toStdString();
        QVERIFY(QDir().mkpath(QString::fromStdString(noModel.modelDir)));
        panel.setConfig(noModel);
        QTRY_VERIFY_WITH_TIMEOUT(!panel.form()->modelChooser()->isChecking(), 30000);
        QTRY_COMPARE_WITH_TIMEOUT(bar->state(), MemoryEstimateBar::State::Empty, 15000);
        QCOMPARE(bar->peakBytes(), qint64(-1));
    }
};

QTEST_MAIN(TestEstimateBar)
#include "tst_estimatebar.moc"
