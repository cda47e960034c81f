// ExportDialog, offscreen: a real 2-step LoRA run of the tiny demo model recorded in a
// temporary experiment database is exported as a PEFT folder (identical files, recorded as an
// export artifact) and as a merged model (recorded as merged, the GUI thread answering a 5 ms
// timer throughout); a non-empty destination is refused and left as it was; a full
// fine-tuning run has no adapter to export and says so. GGUF / Ollama: sizes per type before
// writing, progress updates per tensor during the export, a chat template of no known family
// named in the dialog, cancel leaving nothing.
#include "ExportDialog.h"
#include "StallMeter.h"

#include "core/ThreadSettings.h"
#include "demo/DemoModelMaker.h"
#include "store/RunQueries.h"
#include "store/RunStore.h"
#include "train/RunRecorder.h"
#include "train/RunRegistration.h"
#include "train/Trainer.h"

#include <QApplication>
#include <QDir>
#include <QElapsedTimer>
#include <QComboBox>
#include <QFile>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QProgressBar>
#include <QPushButton>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <QTimer>

#include <filesystem>

namespace {

QByteArray bytesOf(const QString& path)
{
    QFile f(path);
    return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

QStringList entriesOf(const QString& dir)
{
    return QDir(dir).entryList(QDir::AllEntries | QDir::Hidden | QDir::NoDotAndDotDot, QDir::Name);
}

} // namespace

class TestExport : public QObject {
    Q_OBJECT
private:
    QTemporaryDir m_tmp;
    QString m_db, m_model, m_adapter;
    qint64 m_loraRun = -1, m_fullRun = -1;

    std::vector<tb::ArtifactInfo> artifacts(qint64 runId)
    {
        tb::RunStore store(m_db.toStdString());
        return tb::RunQueries(store.database()).getRun(runId).artifacts;
    }

    const tb::ArtifactInfo* artifactAt(const std::vector<tb::ArtifactInfo>& all, const QString& path)
    {
        for (const auto& a : all)
            if (QString::fromStdString(a.path) == path)
                return &a;
        return nullptr;
    }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_tmp.isValid());
        tb::configureThreads(1); // leave the other core to the GUI thread on a small CI machine
        m_db = m_tmp.filePath("experiments.db");
        m_model = m_tmp.filePath("demo");
        tb::makeDemoModel(m_model.toStdString(), "tiny", 0);

        tb::TrainConfig c;
        c.modelDir = m_model.toStdString();
        c.dataPath = TB_SOURCE_DIR "/resources/datasets/reviews-train.jsonl";
        c.outputDir = m_tmp.filePath("lora-run").toStdString();
        c.maxSteps = 2;
        c.batchSize = 4;
        c.data.maxSeqLen = 64;
        c.lora.rank = 4;
        c.lora.alpha = 8;
        c.threads = 1;
        c.makePathsAbsolute();
        tb::RunStore store(m_db.toStdString());
        m_loraRun = tb::registerTrainingRun(store, c, false, "export-me");
        tb::RunRecorder recorder(store, m_loraRun, c.method, nullptr);
        tb::Trainer trainer(c);
        const tb::TrainResult result = trainer.run(recorder);
        recorder.finish(result);
        QCOMPARE(int(result.status), int(tb::TrainStatus::Finished));
        m_adapter = QString::fromStdString(result.adapterDir);

        // A full fine-tuning run as the store records one (its model/ folder is a Merged
        // artifact); no training needed to check that it has no adapter.
        tb::NewRun full;
        full.name = "full-ft";
        full.method = "full";
        full.runDir = m_tmp.filePath("full-run").toStdString();
        m_fullRun = store.createRun(full);
        QDir().mkpath(m_tmp.filePath("full-run/model"));
        store.addArtifact(m_fullRun, tb::ArtifactKind::Merged, m_tmp.filePath("full-run/model").toStdString(), 2, 0);
        store.finishRun(m_fullRun, {tb::RunStatus::Finished, "", 2, "", 1000, 1.0});
    }

    void exportsThePeftFolderAndRecordsIt()
    {
        ExportDialog dialog(m_db, m_loraRun);
        dialog.open();
        const QString out = m_tmp.filePath("exported/peft");
        dialog.setFormat(ExportDialog::Format::PeftAdapter);
        dialog.setDestination(out);
        QSignalSpy finished(&dialog, &ExportDialog::exportFinished);
        dialog.startExport(); // may be before the run's details arrive: it starts when they do
        QVERIFY(finished.wait(60000));
        const QString message = finished.first().at(1).toString();
        QVERIFY2(finished.first().at(0).toBool(), qPrintable(message));
        QCOMPARE(finished.first().at(2).toString(), out);
        QVERIFY2(message.contains(out) && message.contains("Recorded"), qPrintable(message));
        QCOMPARE(dialog.statusLabel()->text(), message);
        QCOMPARE(dialog.progressBar()->value(), dialog.progressBar()->maximum());
        QVERIFY(dialog.exportButton()->isEnabled());
        QCOMPARE(dialog.source().adapterDir, m_adapter);

        QCOMPARE(entriesOf(out), QStringList({"adapter_config.json", "adapter_model.safetensors"}));
        for (const char* f : {"adapter_config.json", "adapter_model.safetensors"})
            QVERIFY2(bytesOf(out + "/" + f) == bytesOf(m_adapter + "/" + f) && !bytesOf(out + "/" + f).isEmpty(), f);
        QCOMPARE(entriesOf(m_tmp.filePath("exported")), QStringList({"peft"})); // no staging folder left

        const auto all = artifacts(m_loraRun);
        const tb::ArtifactInfo* row = artifactAt(all, out);
        QVERIFY2(row, "the export is an artifact of the run");
        QVERIFY(row->kind == tb::ArtifactKind::Export);
        QCOMPARE(row->sizeBytes.value_or(-1), QFileInfo(out + "/adapter_config.json").size() + QFileInfo(out + "/adapter_model.safetensors").size());
        QCOMPARE(row->step.value_or(-1), int64_t(2));
    }

    void aNonEmptyDestinationIsRefusedAndUntouched()
    {
        const QString out = m_tmp.filePath("occupied");
        QDir().mkpath(out);
        {
            QFile keep(out + "/keep.txt");
            QVERIFY(keep.open(QIODevice::WriteOnly));
            keep.write("mine");
        }
        const size_t artifactsBefore = artifacts(m_loraRun).size();
        ExportDialog dialog(m_db, m_loraRun);
        dialog.open();
        QSignalSpy loaded(&dialog, &ExportDialog::sourceLoaded);
        QVERIFY(loaded.wait(30000));
        dialog.setFormat(ExportDialog::Format::MergedModel);
        dialog.setDestination(out);
        QSignalSpy finished(&dialog, &ExportDialog::exportFinished);
        QTest::mouseClick(dialog.exportButton(), Qt::LeftButton);
        QVERIFY(finished.wait(60000));
        const QString message = finished.first().at(1).toString();
        QVERIFY2(!finished.first().at(0).toBool(), qPrintable(message));
        QVERIFY2(message.contains(out) && message.contains("not empty"), qPrintable(message));
        QCOMPARE(dialog.statusLabel()->text(), message);
        QCOMPARE(entriesOf(out), QStringList({"keep.txt"}));
        QCOMPARE(bytesOf(out + "/keep.txt"), QByteArray("mine"));
        QCOMPARE(entriesOf(m_tmp.path()).filter(".occupied").size(), 0); // no staging folder left
        QCOMPARE(artifacts(m_loraRun).size(), artifactsBefore);
    }

    void mergedExportKeepsTheGuiResponsive()
    {
        ExportDialog dialog(m_db, m_loraRun);
        dialog.open();
        QSignalSpy loaded(&dialog, &ExportDialog::sourceLoaded);
        QVERIFY(loaded.wait(30000));
        const QString out = m_tmp.filePath("merged-fp32");
        dialog.setFormat(ExportDialog::Format::MergedModel);
        dialog.setMergedDtype("fp32");
        dialog.setDestination(out);
        QSignalSpy finished(&dialog, &ExportDialog::exportFinished);
        QStringList stages;
        connect(dialog.progressBar(), &QProgressBar::valueChanged, this,
                [&](int) { stages << dialog.statusLabel()->text(); });

        StallMeter stalls;
        dialog.startExport();
        QVERIFY(dialog.exporting());
        QVERIFY(!dialog.exportButton()->isEnabled());
        QVERIFY(finished.wait(120000));
        const qint64 longestGap = stalls.longest();
        qInfo("merged export: %d progress updates, longest GUI-thread gap %lld ms", int(stages.size()), longestGap);

        const QString message = finished.first().at(1).toString();
        QVERIFY2(finished.first().at(0).toBool(), qPrintable(message));
        QVERIFY2(message.contains(out) && message.contains("float32"), qPrintable(message));
        for (const char* f : {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"})
            QVERIFY2(QFileInfo::exists(out + "/" + f), f);
        QVERIFY2(stages.join('|').contains("Loading the base model"), qPrintable(stages.join('|')));

        const auto all = artifacts(m_loraRun);
        const tb::ArtifactInfo* row = artifactAt(all, out);
        QVERIFY2(row, "the merged model is an artifact of the run");
        QVERIFY(row->kind == tb::ArtifactKind::Merged);
        QVERIFY(row->sizeBytes.value_or(0) >= QFileInfo(out + "/model.safetensors").size());
        QVERIFY2(longestGap < 100, qPrintable(QString("GUI thread stalled for %1 ms").arg(longestGap)));
    }

    // GGUF formats: the type list shows each type's size (computed off the GUI thread before
    // anything is written), the Ollama choice shows the chat family, and an Ollama export with
    // the adapter kept apart writes base + adapter GGUF + Modelfile, each GGUF recorded.
    void ggufAndOllamaExports()
    {
        ExportDialog dialog(m_db, m_loraRun);
        dialog.open();
        QSignalSpy loaded(&dialog, &ExportDialog::sourceLoaded);
        QVERIFY(loaded.wait(30000));
        QSignalSpy preview(&dialog, &ExportDialog::previewLoaded);
        dialog.setFormat(ExportDialog::Format::GgufModel); // the preview is read when a GGUF format is chosen
        QVERIFY(preview.wait(60000));
        QVERIFY2(dialog.ggufPreview().error.isEmpty(), qPrintable(dialog.ggufPreview().error));
        QCOMPARE(dialog.typeBox()->count(), 8);
        const int q4 = dialog.typeBox()->findData("q4_k_m");
        QVERIFY(q4 >= 0);
        QVERIFY2(dialog.typeBox()->itemText(q4).contains("MiB") || dialog.typeBox()->itemText(q4).contains("KiB"),
                 qPrintable(dialog.typeBox()->itemText(q4)));
        QVERIFY(dialog.ggufPreview().bytes["q4_k_m"] < dialog.ggufPreview().bytes["f16"]);

        dialog.setFormat(ExportDialog::Format::Ollama);
        QVERIFY2(dialog.chatLabel()->text().contains("ChatML"), qPrintable(dialog.chatLabel()->text()));
        dialog.setMergedDtype("q8_0");
        dialog.setSeparateAdapter(true);
        const QString out = m_tmp.filePath("ollama");
        dialog.setDestination(out);
        QSignalSpy finished(&dialog, &ExportDialog::exportFinished);
        // Progress as the user sees it: the bar's value and the status line with it.
        QList<QPair<int, QString>> progress;
        connect(dialog.progressBar(), &QProgressBar::valueChanged, this,
                [&](int value) { progress.append({value, dialog.statusLabel()->text()}); });
        StallMeter stalls;
        dialog.startExport();
        QVERIFY(dialog.cancelButton()->isVisible());
        QVERIFY(finished.wait(120000));
        QVERIFY2(finished.first().at(0).toBool(), qPrintable(finished.first().at(1).toString()));

        // Updates arrive while the export runs (not only the jump to the end), in order, naming the
        // tensor written: the base GGUF first, then the adapter's.
        const int full = dialog.progressBar()->maximum();
        QStringList during;
        int last = 0;
        for (const auto& [value, status] : progress) {
            QVERIFY2(value >= last, qPrintable(QString("progress went back from %1 to %2").arg(last).arg(value)));
            last = value;
            if (value > 0 && value < full)
                during << status;
        }
        qInfo("GGUF export: %d progress updates, %d between start and end", int(progress.size()), int(during.size()));
        QVERIFY2(during.size() >= 10, qPrintable(during.join('|')));
        QVERIFY2(during.filter("Wrote blk.0.attn_q.weight").size() >= 1, qPrintable(during.join('|')));
        QVERIFY2(during.filter(".lora_").size() >= 1, qPrintable(during.join('|'))); // the adapter's tensors
        QCOMPARE(dialog.progressBar()->value(), full);
        const QStringList files = QDir(out).entryList(QDir::Files, QDir::Name);
        QCOMPARE(files, QStringList({"Modelfile", "demo-q8_0.gguf", "export-me-lora-f16.gguf"}));
        const auto all = artifacts(m_loraRun);
        for (const QString& f : {out, out + "/demo-q8_0.gguf", out + "/export-me-lora-f16.gguf"})
            QVERIFY2(artifactAt(all, f), qPrintable(f + " is not recorded"));
        QVERIFY2(stalls.longest() < 100, qPrintable(QString("GUI thread stalled for %1 ms").arg(stalls.longest())));
    }

    // A model whose chat template is none of the known families: the dialog says so before the
    // export, with the reason (the nearest family and how it differs), and so does the end
    // message; the Modelfile has no TEMPLATE and the GGUF keeps the original template.
    void anUnrecognizedChatTemplateIsNamed()
    {
        const QString odd = m_tmp.filePath("demo-odd-template");
        std::filesystem::copy(m_model.toStdString(), odd.toStdString(), std::filesystem::copy_options::recursive);
        const QString oddTemplate = "{% for m in messages %}[[{{ m.role }}]] {{ m.content }}\n{% endfor %}"
                                    "{% if add_generation_prompt %}[[assistant]] {% endif %}";
        {
            QFile f(odd + "/tokenizer_config.json");
            QVERIFY(f.open(QIODevice::ReadOnly));
            QJsonObject config = QJsonDocument::fromJson(f.readAll()).object();
            f.close();
            QVERIFY(config.contains("chat_template"));
            config["chat_template"] = oddTemplate;
            QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
            f.write(QJsonDocument(config).toJson());
        }
        qint64 run = -1;
        {
            tb::RunStore store(m_db.toStdString());
            tb::ModelRecord model;
            model.path = odd.toStdString();
            model.architecture = "LlamaForCausalLM";
            model.contentHash = "odd-template";
            tb::NewRun r;
            r.name = "odd-template";
            r.method = "lora";
            r.modelId = store.registerModel(model);
            r.runDir = m_tmp.filePath("odd-run").toStdString();
            run = store.createRun(r);
            store.addArtifact(run, tb::ArtifactKind::Adapter, m_adapter.toStdString(), 2, 0);
            store.finishRun(run, {tb::RunStatus::Finished, "", 2, "", 1000, 1.0});
        }

        ExportDialog dialog(m_db, run);
        dialog.open();
        QSignalSpy loaded(&dialog, &ExportDialog::sourceLoaded);
        QVERIFY(loaded.wait(30000));
        QCOMPARE(dialog.source().modelDir, odd);
        QSignalSpy preview(&dialog, &ExportDialog::previewLoaded);
        dialog.setFormat(ExportDialog::Format::Ollama);
        QVERIFY(preview.wait(60000));
        QVERIFY(!dialog.ggufPreview().chatRecognized);
        const QString label = dialog.chatLabel()->text();
        QVERIFY2(label.contains("chat template was not recognized") && label.contains("no known family renders the probe conversations")
                     && label.contains("nearest is") && label.contains("no TEMPLATE"),
                 qPrintable(label));
        QVERIFY(dialog.chatLabel()->isVisibleTo(&dialog));

        dialog.setMergedDtype("q8_0");
        const QString out = m_tmp.filePath("ollama-odd");
        dialog.setDestination(out);
        QSignalSpy finished(&dialog, &ExportDialog::exportFinished);
        dialog.startExport();
        QVERIFY(finished.wait(120000));
        const QString message = finished.first().at(1).toString();
        QVERIFY2(finished.first().at(0).toBool(), qPrintable(message));
        QVERIFY2(message.contains("chat template was not recognized") && message.contains("no known family"), qPrintable(message));
        const QString modelfile = QString::fromUtf8(bytesOf(out + "/Modelfile"));
        QVERIFY2(!modelfile.contains("TEMPLATE \"\"\"") && modelfile.contains("not recognized"), qPrintable(modelfile));
    }

    void cancellingAGgufExportLeavesNothing()
    {
        ExportDialog dialog(m_db, m_loraRun);
        dialog.open();
        QSignalSpy loaded(&dialog, &ExportDialog::sourceLoaded);
        QVERIFY(loaded.wait(30000));
        dialog.setFormat(ExportDialog::Format::GgufModel);
        dialog.setMergedDtype("q4_k_m");
        const QString out = m_tmp.filePath("cancelled-gguf");
        dialog.setDestination(out);
        QSignalSpy finished(&dialog, &ExportDialog::exportFinished);
        dialog.startExport();
        QVERIFY(dialog.cancelButton()->isVisible());
        dialog.cancelButton()->click();
        QVERIFY(finished.wait(120000));
        QVERIFY(!finished.first().at(0).toBool());
        QVERIFY2(finished.first().at(1).toString().contains("cancelled"), qPrintable(finished.first().at(1).toString()));
        QVERIFY(!QFileInfo::exists(out));
        for (const QString& e : entriesOf(m_tmp.path()))
            QVERIFY2(!e.contains(".partial-"), qPrintable(e));
    }

    void aFullFineTuningRunHasNoAdapterToExport()
    {
        ExportDialog dialog(m_db, m_fullRun);
        dialog.open();
        const QString out = m_tmp.filePath("from-full");
        dialog.setDestination(out);
        QSignalSpy finished(&dialog, &ExportDialog::exportFinished);
        dialog.startExport();
        QVERIFY(finished.wait(30000));
        const QString message = finished.first().at(1).toString();
        QVERIFY(!finished.first().at(0).toBool());
        QVERIFY2(message.contains("full fine-tuning") && message.contains("full-run/model"), qPrintable(message));
        QVERIFY(!dialog.exportButton()->isEnabled());
        QVERIFY(!QFileInfo::exists(out));
    }
};

QTEST_MAIN(TestExport)
#include "tst_export.moc"
