// "From Hugging Face..." in the new-run form's model chooser, offscreen, against
// tests/hub/fake_hub.py on 127.0.0.1 (HF_ENDPOINT, HF_HOME in a temporary folder): the look-up
// shows the architecture, the files with their sizes and the LoRA / QLoRA / full estimates
// having fetched config.json alone; opened from the form, the estimates are the form's
// settings' (each equal to tb::estimateMemory) against the free memory, fitting or not;
// Download shows bytes of total, speed and time left, fills the shared cache, the chooser
// selects the snapshot and lists it as a cached model (architecture, parameters, size; an
// unsupported snapshot says why), and a run trains on it; an architecture Tunebench cannot
// train is refused at the look-up, before any weight is downloaded.
#include "FakeHub.h"
#include "HubRepoDialog.h"
#include "ModelChooser.h"
#include "RunForm.h"

#include "ModelFolderFacts.h"

#include "core/DeviceMemory.h"
#include "core/ThreadSettings.h"
#include "demo/DemoModelMaker.h"
#include "formats/ModelConfig.h"
#include "formats/SafetensorsReader.h"
#include "hub/HubDownload.h"
#include "hub/HubEnvironment.h"
#include "memory/MemoryEstimator.h"
#include "train/Trainer.h"
#include "train/TrainerCallbacks.h"

#include <QApplication>
#include <QComboBox>
#include <QDir>
#include <QElapsedTimer>
#include <QLabel>
#include <QLocale>
#include <QPushButton>
#include <QRegularExpression>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include <cmath>
#include <fstream>

namespace {

// "7.54 MiB" (QLocale::formattedDataSize, IEC units) back to bytes; -1 when it is not one.
double parseDataSize(const QString& text)
{
    const QStringList parts = text.split(' ');
    bool ok = false;
    const double value = parts.value(0).toDouble(&ok);
    const QStringList units = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB"};
    const int unit = units.indexOf(parts.value(1));
    return ok && parts.size() == 2 && unit >= 0 ? value * std::pow(1024.0, unit) : -1;
}

} // namespace

class TestHubRepoDialog : public QObject {
    Q_OBJECT
private:
    QTemporaryDir m_tmp;
    FakeHub m_hub;

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_tmp.isValid());
        tb::configureThreads(1);
        const QString demo = m_tmp.filePath("repo-demo");
        tb::makeDemoModel(demo.toStdString(), "tiny", 0);
        const QString gpt2 = m_tmp.filePath("repo-gpt2");
        QDir().mkpath(gpt2);
        std::ofstream(gpt2.toStdString() + "/config.json") << R"({"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2"})";
        std::ofstream(gpt2.toStdString() + "/model.safetensors") << std::string(4096, 'x');
        // Llama 3.1 405B's shape: its config.json alone is looked up (the weights file here is a
        // stand-in that is never fetched).
        const QString huge = m_tmp.filePath("repo-huge");
        QDir().mkpath(huge);
        std::ofstream(huge.toStdString() + "/config.json")
            << R"({"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 128256, "hidden_size": 16384,
                 "intermediate_size": 53248, "num_hidden_layers": 126, "num_attention_heads": 128, "num_key_value_heads": 8,
                 "rms_norm_eps": 1e-05, "rope_theta": 500000.0, "max_position_embeddings": 131072, "torch_dtype": "bfloat16"})";
        std::ofstream(huge.toStdString() + "/model.safetensors") << std::string(4096, 'x');
        const QString reviews = m_tmp.filePath("repo-reviews");
        QDir().mkpath(reviews + "/data");
        QFile::copy(TB_SOURCE_DIR "/resources/datasets/reviews-train.jsonl", reviews + "/data/train.jsonl");
        QFile::copy(TB_SOURCE_DIR "/resources/datasets/reviews-val.jsonl", reviews + "/data/validation.jsonl");
        QString error;
        QVERIFY2(m_hub.start({"--model", "org/demo=" + demo, "--model", "org/gpt2=" + gpt2, "--model", "org/huge=" + huge,
                              "--dataset", "org/reviews=" + reviews},
                             &error),
                 qPrintable(error));
        qputenv("HF_ENDPOINT", m_hub.endpoint().toUtf8());
        qputenv("HF_HOME", m_tmp.filePath("hf-home").toUtf8());
        qunsetenv("HF_HUB_CACHE");
        qunsetenv("HF_TOKEN");
        qunsetenv("HF_HUB_OFFLINE");
    }

    void looksUpDownloadsAndTrains()
    {
        ModelChooser chooser;
        chooser.show();
        HubRepoDialog* dialog = chooser.openHubDialog();
        dialog->setRepoId("org/demo");
        QSignalSpy lookedUp(dialog, &HubRepoDialog::lookedUp);
        dialog->lookUp();
        QVERIFY(lookedUp.wait(60000));
        QVERIFY2(lookedUp.first().at(0).toBool(), qPrintable(dialog->statusLabel()->text()));
        QVERIFY2(dialog->factsLabel()->text().contains("LlamaForCausalLM"), qPrintable(dialog->factsLabel()->text()));
        for (const char* method : {"lora:", "qlora:", "full:"})
            QVERIFY2(dialog->estimateLabel()->text().contains(method), qPrintable(dialog->estimateLabel()->text()));
        QVERIFY(dialog->lookUpResult().files.contains("model.safetensors"));
        QVERIFY(dialog->lookUpResult().totalBytes > 1000000);
        // Only config.json is in the cache so far.
        const QString snapshots = m_tmp.filePath("hf-home/hub/models--org--demo/snapshots/") + dialog->lookUpResult().commit;
        QVERIFY(QFileInfo::exists(snapshots + "/config.json"));
        QVERIFY(!QFileInfo::exists(snapshots + "/model.safetensors"));

        QSignalSpy downloaded(dialog, &HubRepoDialog::downloadFinished);
        QSignalSpy changed(&chooser, &ModelChooser::modelChanged);
        QVERIFY(dialog->downloadButton()->isEnabled());
        dialog->downloadButton()->click();
        QVERIFY(downloaded.wait(120000));
        QVERIFY2(downloaded.first().at(0).toBool(), qPrintable(downloaded.first().at(1).toString()));
        QCOMPARE(chooser.modelDir(), QDir::cleanPath(snapshots));
        while (!chooser.isValid() && changed.wait(60000)) {
        }
        QVERIFY2(chooser.isValid(), qPrintable(chooser.error()));
        QSignalSpy listed(&chooser, &ModelChooser::cacheListed);
        if (chooser.cachedModels().isEmpty())
            QVERIFY(listed.wait(30000));
        QCOMPARE(chooser.cachedModels().size(), 1);
        const QString entry = chooser.cachedModels().first().first;
        QVERIFY2(entry.contains("org/demo") && entry.contains("LlamaForCausalLM") && entry.contains("(main)"), qPrintable(entry));
        QVERIFY(chooser.combo()->findText(entry) >= 0);

        tb::TrainConfig c;
        c.modelDir = chooser.modelDir().toStdString();
        c.dataPath = TB_SOURCE_DIR "/resources/datasets/reviews-train.jsonl";
        c.outputDir = m_tmp.filePath("run").toStdString();
        c.maxSteps = 2;
        c.batchSize = 2;
        c.data.maxSeqLen = 64;
        c.threads = 1;
        tb::TrainerCallbacks none;
        const tb::TrainResult result = tb::Trainer(c).run(none);
        QCOMPARE(int(result.status), int(tb::TrainStatus::Finished));
    }

    // The form's "From Hugging Face..." beside the dataset: a dataset repository's files become
    // the training and validation files.
    void datasetFromTheHub()
    {
        RunForm form(m_tmp.filePath("workspace"));
        HubRepoDialog* dialog = form.openHubDataset();
        dialog->setRepoId("org/reviews");
        QSignalSpy lookedUp(dialog, &HubRepoDialog::lookedUp);
        dialog->lookUp();
        QVERIFY(lookedUp.wait(60000));
        QVERIFY2(lookedUp.first().at(0).toBool(), qPrintable(dialog->statusLabel()->text()));
        QSignalSpy downloaded(dialog, &HubRepoDialog::downloadFinished);
        dialog->download();
        QVERIFY(downloaded.wait(60000));
        QVERIFY2(downloaded.first().at(0).toBool(), qPrintable(downloaded.first().at(1).toString()));
        const tb::TrainConfig c = form.config();
        QVERIFY2(QString::fromStdString(c.dataPath).endsWith("datasets--org--reviews/snapshots/" + dialog->lookUpResult().commit
                                                             + "/data/train.jsonl"),
                 c.dataPath.c_str());
        QVERIFY2(QString::fromStdString(c.validationPath).endsWith("/data/validation.jsonl"), c.validationPath.c_str());
        QVERIFY(QFileInfo(QString::fromStdString(c.dataPath)).size() > 1000);
    }

    // Cancel mid-file: the dialog says so, the partial blob stays as .incomplete, and the next
    // Download resumes it to a complete, verified snapshot.
    void cancelLeavesAResumableDownload()
    {
        const QString home = m_tmp.filePath("hf-home-cancel");
        qputenv("HF_HOME", home.toUtf8());
        m_hub.fault("model.safetensors", {{"rate", 200000}}, 1); // about 10 s for the first attempt
        HubRepoDialog dialog{tb::TrainConfig()};
        dialog.setRepoId("org/demo");
        QSignalSpy lookedUp(&dialog, &HubRepoDialog::lookedUp);
        dialog.lookUp();
        QVERIFY(lookedUp.wait(60000));
        QVERIFY(lookedUp.first().at(0).toBool());
        QSignalSpy finished(&dialog, &HubRepoDialog::downloadFinished);
        dialog.download();
        const QString blobs = home + "/hub/models--org--demo/blobs";
        QElapsedTimer waited;
        waited.start();
        while (waited.elapsed() < 60000) { // until some bytes of the weights are on disk
            const QStringList partial = QDir(blobs).entryList({"*.incomplete"}, QDir::Files);
            if (!partial.isEmpty() && QFileInfo(blobs + "/" + partial.first()).size() > 100000)
                break;
            QTest::qWait(50);
        }
        dialog.cancelDownload();
        QVERIFY(finished.wait(60000));
        QVERIFY(!finished.first().at(0).toBool());
        QVERIFY2(finished.first().at(1).toString().contains("cancel", Qt::CaseInsensitive), qPrintable(finished.first().at(1).toString()));
        const QStringList partial = QDir(blobs).entryList({"*.incomplete"}, QDir::Files);
        QCOMPARE(partial.size(), 1);
        const qint64 kept = QFileInfo(blobs + "/" + partial.first()).size();
        QVERIFY(kept > 100000);

        finished.clear();
        dialog.download();
        QVERIFY(finished.wait(120000));
        QVERIFY2(finished.first().at(0).toBool(), qPrintable(finished.first().at(1).toString()));
        QVERIFY(QDir(blobs).entryList({"*.incomplete"}, QDir::Files).isEmpty());
        QVERIFY(QFileInfo(dialog.snapshotDir() + "/model.safetensors").size() > kept);
        qputenv("HF_HOME", m_tmp.filePath("hf-home").toUtf8());
    }

    // Opened from the form's model chooser ("From Hugging Face..."), the dialog estimates at the
    // form's settings: each method's peak is tb::estimateMemory of the form's config with that
    // method, each compared with the device's free memory, which the line names.
    void estimatesAtTheFormsSettingsAgainstFreeMemory()
    {
        const QString home = m_tmp.filePath("hf-home-estimate");
        qputenv("HF_HOME", home.toUtf8());
        RunForm form(m_tmp.filePath("workspace-estimate"));
        tb::TrainConfig c = form.config();
        c.method = tb::TrainMethod::Qlora;
        c.lora.rank = 64;
        c.data.maxSeqLen = 1024;
        c.batchSize = 3;
        c.device = "cpu";
        form.setConfig(c);
        const tb::TrainConfig settings = form.config();
        QCOMPARE(settings.lora.rank, int64_t(64));
        QCOMPARE(settings.data.maxSeqLen, int64_t(1024));

        QComboBox* combo = form.modelChooser()->combo();
        const int fromHub = combo->findText("From Hugging Face...");
        QVERIFY(fromHub >= 0);
        Q_EMIT combo->activated(fromHub); // as a click on the entry
        auto* dialog = form.findChild<HubRepoDialog*>();
        QVERIFY(dialog);
        dialog->setRepoId("org/demo");
        QSignalSpy lookedUp(dialog, &HubRepoDialog::lookedUp);
        dialog->lookUp();
        QVERIFY(lookedUp.wait(60000));
        QVERIFY2(lookedUp.first().at(0).toBool(), qPrintable(dialog->statusLabel()->text()));

        const tb::DeviceMemoryInfo cpu = tb::deviceMemory("cpu");
        QVERIFY(cpu.freeBytes > 0);
        const QString snapshot = home + "/hub/models--org--demo/snapshots/" + dialog->lookUpResult().commit;
        const tb::ModelConfig model = tb::ModelConfig::fromFile((snapshot + "/config.json").toStdString());
        const auto peakOf = [&](tb::TrainConfig config, tb::TrainMethod method) {
            config.method = method;
            return tb::estimateMemory(tb::MemoryEstimateRequest::fromTrainConfig(config, model)).peakBytes();
        };
        const QStringList lines = dialog->estimateLabel()->text().split('\n');
        QCOMPARE(lines.size(), 4);
        QCOMPARE(lines[0], QString("At batch 3, sequence length 1024, LoRA rank 64 on %1:").arg(QString::fromStdString(cpu.name)));
        const QRegularExpression line("^(lora|qlora|full): (.+) peak \\((fits|does not fit): (.+) free\\)$");
        const tb::TrainMethod methods[] = {tb::TrainMethod::Lora, tb::TrainMethod::Qlora, tb::TrainMethod::Full};
        for (int i = 0; i < 3; ++i) {
            const QRegularExpressionMatch m = line.match(lines[i + 1]);
            QVERIFY2(m.hasMatch(), qPrintable(lines[i + 1]));
            QCOMPARE(m.captured(1), QString(tb::trainMethodName(methods[i])));
            const qint64 peak = peakOf(settings, methods[i]);
            QCOMPARE(m.captured(2), QLocale().formattedDataSize(peak));
            // The free memory shown is this machine's (it moves a little between the two reads).
            const double free = parseDataSize(m.captured(4));
            QVERIFY2(free > 0.5 * double(cpu.freeBytes) && free < 1.5 * double(cpu.freeBytes), qPrintable(lines[i + 1]));
            QCOMPARE(m.captured(3), QString(double(peak) <= free ? "fits" : "does not fit"));
        }
        QVERIFY2(lines[1].contains("(fits: "), qPrintable(lines[1])); // a 4 M-parameter model fits anywhere
        // Not vacuous: at the default settings (what a chooser without the form gets) LoRA's
        // peak is another figure.
        QVERIFY(QLocale().formattedDataSize(peakOf(tb::TrainConfig(), tb::TrainMethod::Lora))
                != QLocale().formattedDataSize(peakOf(settings, tb::TrainMethod::Lora)));

        // Llama 3.1 405B at the same settings: no method fits (full fine-tuning alone is
        // terabytes), and the dialog says so before any weight is downloaded.
        dialog->setRepoId("org/huge");
        lookedUp.clear();
        dialog->lookUp();
        QVERIFY(lookedUp.wait(60000));
        QVERIFY2(lookedUp.first().at(0).toBool(), qPrintable(dialog->statusLabel()->text()));
        const QStringList huge = dialog->estimateLabel()->text().split('\n');
        QCOMPARE(huge.size(), 4);
        QVERIFY2(huge[3].startsWith("full: ") && huge[3].contains("(does not fit: "), qPrintable(huge[3]));
        QVERIFY2(huge[1].startsWith("lora: ") && huge[1].contains("(does not fit: "), qPrintable(huge[1]));
        QVERIFY2(dialog->factsLabel()->text().contains("LlamaForCausalLM"), qPrintable(dialog->factsLabel()->text()));
        QCOMPARE(QDir(home + "/hub/models--org--huge/blobs").entryList(QDir::Files).size(), 1); // config.json's
        dialog->close();
        qputenv("HF_HOME", m_tmp.filePath("hf-home").toUtf8());
    }

    // While the weights trickle in (500 kB/s), the status line reads "X of TOTAL, SPEED/s,
    // M:SS left; N of M files": TOTAL what is still to fetch (config.json came with the
    // look-up), the speed the server's pace, the time left what remains at that speed.
    void downloadShowsBytesSpeedAndTimeLeft()
    {
        const QString home = m_tmp.filePath("hf-home-progress");
        qputenv("HF_HOME", home.toUtf8());
        const int rate = 500000;
        m_hub.fault("model.safetensors", {{"rate", rate}}, 1);
        HubRepoDialog dialog{tb::TrainConfig()};
        dialog.setRepoId("org/demo");
        QSignalSpy lookedUp(&dialog, &HubRepoDialog::lookedUp);
        dialog.lookUp();
        QVERIFY(lookedUp.wait(60000));
        QVERIFY(lookedUp.first().at(0).toBool());
        const HubRepoDialog::LookUp& found = dialog.lookUpResult();
        qint64 toFetch = 0;
        for (int i = 0; i < found.files.size(); ++i)
            toFetch += found.files[i] == "config.json" ? 0 : found.sizes[i];

        QSignalSpy finished(&dialog, &HubRepoDialog::downloadFinished);
        dialog.download();
        QElapsedTimer clock;
        clock.start();
        const QRegularExpression status("^(\\S+ \\S+) of (\\S+ \\S+), (\\S+ \\S+)/s, (\\d+):(\\d\\d) left; (\\d+) of (\\d+) files$");
        QRegularExpressionMatch m;
        QString text;
        // After 3.5 s the speed (over the last 3 s) is the weights' pace alone.
        while (clock.elapsed() < 30000 && finished.isEmpty()) {
            text = dialog.statusLabel()->text();
            m = status.match(text);
            if (m.hasMatch() && clock.elapsed() > 3500)
                break;
            QTest::qWait(50);
        }
        dialog.cancelDownload();
        QVERIFY(finished.wait(30000) || !finished.isEmpty());
        QVERIFY2(m.hasMatch(), qPrintable(text));
        QCOMPARE(m.captured(2), QLocale().formattedDataSize(toFetch));
        QCOMPARE(m.captured(7).toInt(), found.files.size());
        QVERIFY(m.captured(6).toInt() < found.files.size()); // the weights are not in yet
        const double done = parseDataSize(m.captured(1)), total = parseDataSize(m.captured(2));
        const double speed = parseDataSize(m.captured(3));
        QVERIFY2(done > 0 && done < total, qPrintable(text));
        QVERIFY2(speed > rate / 2.0 && speed < rate * 2.0, qPrintable(text));
        const double left = m.captured(4).toInt() * 60 + m.captured(5).toInt();
        const double expected = (total - done) / speed;
        QVERIFY2(std::abs(left - expected) <= 1 + 0.1 * expected, qPrintable(QString("%1 (expected %2 s left)").arg(text).arg(expected)));
        qputenv("HF_HOME", m_tmp.filePath("hf-home").toUtf8());
    }

    // The chooser's cached entries: for a supported snapshot its architecture, parameters (the
    // safetensors' tensors) and size on disk; for GPT-2's config.json (what a refused look-up
    // leaves in the cache) "not supported" with the key and the architecture.
    void cachedEntriesSayWhatTheModelIs()
    {
        const QString home = m_tmp.filePath("hf-home-cached");
        qputenv("HF_HOME", home.toUtf8());
        const tb::HubEnvironment env = tb::HubEnvironment::fromProcess();
        const tb::HubDownloadResult demo = tb::HubDownload(env).run({tb::HubRepoId::parse("org/demo"), "main", {}});
        const tb::HubDownloadResult gpt2 = tb::HubDownload(env).run({tb::HubRepoId::parse("org/gpt2"), "main", {"config.json"}});
        int64_t parameters = 0;
        const tb::SafetensorsReader weights(demo.snapshotPath + "/model.safetensors");
        for (const auto& t : weights.tensors())
            parameters += t.numel();
        qint64 bytes = 0;
        for (const auto& f : demo.files)
            bytes += f.size;

        ModelChooser chooser;
        QSignalSpy listed(&chooser, &ModelChooser::cacheListed);
        QVERIFY(listed.wait(30000));
        QCOMPARE(chooser.cachedModels().size(), 2);
        QMap<QString, QString> labelOf; // snapshot folder -> label
        for (const auto& [label, dir] : chooser.cachedModels())
            labelOf[QDir::cleanPath(dir)] = label;
        const QString demoLabel = labelOf.value(QDir::cleanPath(QString::fromStdString(demo.snapshotPath)));
        QCOMPARE(demoLabel, QString("org/demo (main) \u2014 LlamaForCausalLM, %1 M parameters, %2, Hugging Face cache")
                                .arg(QString::number(parameters / 1e6, 'f', 1), QLocale().formattedDataSize(bytes)));
        const QString gpt2Label = labelOf.value(QDir::cleanPath(QString::fromStdString(gpt2.snapshotPath)));
        QVERIFY2(gpt2Label.startsWith("org/gpt2 (main) \u2014 not supported: key \"architectures\"") && gpt2Label.contains("GPT2LMHeadModel")
                     && !gpt2Label.contains(home),
                 qPrintable(gpt2Label));
        QVERIFY(chooser.combo()->findText(demoLabel) >= 0);
        const int refused = chooser.combo()->findText(gpt2Label);
        QVERIFY(refused >= 0);

        // Choosing the unsupported entry shows why in the chooser's facts line.
        QSignalSpy changed(&chooser, &ModelChooser::modelChanged);
        Q_EMIT chooser.combo()->activated(refused);
        while (chooser.isChecking() && changed.wait(30000)) {
        }
        QVERIFY(!chooser.isValid());
        QVERIFY2(chooser.error().contains("GPT2LMHeadModel"), qPrintable(chooser.error()));
        qputenv("HF_HOME", m_tmp.filePath("hf-home").toUtf8());
    }

    void refusesAnArchitectureBeforeAnyWeight()
    {
        HubRepoDialog dialog{tb::TrainConfig()};
        dialog.setRepoId("org/gpt2");
        QSignalSpy lookedUp(&dialog, &HubRepoDialog::lookedUp);
        dialog.lookUp();
        QVERIFY(lookedUp.wait(60000));
        QVERIFY(!lookedUp.first().at(0).toBool());
        QVERIFY2(dialog.statusLabel()->text().contains("GPT2LMHeadModel"), qPrintable(dialog.statusLabel()->text()));
        QVERIFY(!dialog.downloadButton()->isEnabled());
        QDir blobs(m_tmp.filePath("hf-home/hub/models--org--gpt2/blobs"));
        QCOMPARE(blobs.entryList(QDir::Files).size(), 1); // config.json's blob alone
    }
};

QTEST_MAIN(TestHubRepoDialog)
#include "tst_hubrepodialog.moc"
