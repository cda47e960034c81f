// "From Hugging Face..." in the new-run form's model chooser, offscreen, against
// tests/hub/fake_hub.py on 127.0.0.1 (HF_ENDPOINT, HF_HOME in a temporary folder): the look-up
// shows the architecture, the files with their sizes and the LoRA / QLoRA / full estimates
// having fetched config.json alone; Download fills the shared cache, the chooser selects the
// snapshot and lists it as a cached model, and a run trains on it; an architecture Tunebench
// cannot train is refused at the look-up, before any weight is downloaded.
#include "FakeHub.h"
#include "HubRepoDialog.h"
#include "ModelChooser.h"
#include "RunForm.h"

#include "core/ThreadSettings.h"
#include "demo/DemoModelMaker.h"
#include "train/Trainer.h"
#include "train/TrainerCallbacks.h"

#include <QApplication>
#include <QComboBox>
#include <QDir>
#include <QElapsedTimer>
#include <QLabel>
#include <QPushButton>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include <fstream>

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
        const QString reviews = m_tmp.filePath("repo-reviews");
        QDir().mkpath(reviews + "/data");
        QFile::copy(TB_SOURCE_DIR "/resources/datasets/reviews-train.jsonl", reviews + "/data/train.jsonl");
        QFile::copy(TB_SOURCE_DIR "/resources/datasets/reviews-val.jsonl", reviews + "/data/validation.jsonl");
        QString error;
        QVERIFY2(m_hub.start({"--model", "org/demo=" + demo, "--model", "org/gpt2=" + gpt2, "--dataset", "org/reviews=" + reviews},
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
