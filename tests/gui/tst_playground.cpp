// PlaygroundPanel, offscreen: a real tiny demo model and a real PEFT adapter from a 3-step LoRA
// run (TrainingWorker, recorded in a temporary experiment database). The adapter chooser lists
// exactly the finished runs of the loaded model; greedy generation streams the base and the
// base + adapter side by side, each equal to what the engine's TextGenerator gives for that
// model alone (computed here without the panel); broken adapter folders give errors that name
// the file and leave the base usable.
#include "PlaygroundPanel.h"
#include "StallMeter.h"
#include "TrainingWorker.h"

#include "demo/DemoModelMaker.h"
#include "generate/ChatPrompt.h"
#include "generate/TextGenerator.h"
#include "lora/PeftAdapter.h"
#include "model/ModelLoader.h"
#include "store/RunStore.h"
#include "tokenizer/Tokenizer.h"
#include "tokenizer/TokenizerConfig.h"
#include "train/TrainConfig.h"

#include <QCheckBox>
#include <QApplication>
#include <QComboBox>
#include <QDir>
#include <QDoubleSpinBox>
#include <QElapsedTimer>
#include <QFile>
#include <QFileInfo>
#include <QGroupBox>
#include <QLabel>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTemporaryDir>
#include <QTest>
#include <QThread>
#include <QTimer>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

namespace {

constexpr int kNewTokens = 24;
const QString kPrompt = QStringLiteral("This product is");

// What TextGenerator streams for the prompt, greedily, on the model as it is.
QString referenceContinuation(tb::LoadedModel& loaded, const std::string& dir, bool chat = false)
{
    const tb::Tokenizer tokenizer = tb::Tokenizer::fromFile(dir + "/tokenizer.json");
    const tb::TokenizerConfig tokenizerConfig = tb::TokenizerConfig::fromFile(dir + "/tokenizer_config.json");
    tb::GenerationOptions options;
    options.maxNewTokens = kNewTokens;
    options.temperature = 0.0;
    options.eosTokenIds = tb::defaultEosTokenIds(loaded.config, tokenizer, tokenizerConfig);
    const tb::GenerationPrompt prompt = tb::generationPrompt(tokenizerConfig, dir + "/tokenizer_config.json", kPrompt.toStdString(), chat);
    const std::vector<int32_t> encoded = tokenizer.encode(prompt.text, prompt.addSpecialTokens);
    tb::TextGenerator generator(*loaded.model, tokenizer);
    std::string text;
    generator.generate(std::vector<int64_t>(encoded.begin(), encoded.end()), options, [&](const std::string& piece) {
        text += piece;
        return true;
    });
    return QString::fromStdString(text);
}

int64_t recordOtherRun(tb::RunStore& store, const std::string& name, const std::string& modelPath, tb::RunStatus status,
                       const std::string& adapterDir)
{
    tb::ModelRecord model;
    model.path = modelPath;
    model.architecture = "LlamaForCausalLM";
    model.contentHash = "hash-" + name;
    tb::NewRun run;
    run.name = name;
    run.modelId = store.registerModel(model);
    const int64_t id = store.createRun(run);
    store.addArtifact(id, tb::ArtifactKind::Adapter, adapterDir);
    store.finishRun(id, {status, status == tb::RunStatus::Finished ? "" : "stopped", -1, "", {}, 1.0});
    return id;
}

} // namespace

class TestPlayground : public QObject {
    Q_OBJECT
private:
    QTemporaryDir m_tmp;
    QString m_model;
    QString m_db;
    QString m_adapter; // the trained run's adapter folder
    QString m_runName;
    QString m_baseText;    // references: continuation only
    QString m_adapterText;

    // A panel with the model loaded and the database's adapter list read.
    void loadPanel(PlaygroundPanel& panel)
    {
        panel.setDatabasePath(m_db);
        panel.loadModel(m_model);
        QTRY_VERIFY_WITH_TIMEOUT(panel.isModelLoaded(), 30000);
        QTRY_VERIFY_WITH_TIMEOUT(panel.adapterChooser()->count() == 3, 10000); // none, the run, Browse...
        panel.maxTokensBox()->setValue(kNewTokens);
        panel.temperatureBox()->setValue(0.0);
        panel.promptEdit()->setPlainText(kPrompt);
        // The demo has a chat template: the switch is offered and on. These checks send the
        // plain prompt; chatTemplateSendsAUserTurn sends a turn.
        QVERIFY(panel.chatCheck()->isEnabled() && panel.chatCheck()->isChecked());
        panel.chatCheck()->setChecked(false);
    }

    void generate(PlaygroundPanel& panel)
    {
        QSignalSpy done(&panel, &PlaygroundPanel::generationFinished);
        QTest::mouseClick(panel.generateButton(), Qt::LeftButton);
        QCOMPARE(panel.generateButton()->text(), QString("Stop"));
        QVERIFY(!panel.adapterChooser()->isEnabled());
        QVERIFY(done.wait(60000));
        QCOMPARE(panel.generateButton()->text(), QString("Generate"));
    }

    void expectAdapterError(PlaygroundPanel& panel, const QString& dir, const QStringList& mustName)
    {
        QSignalSpy failed(&panel, &PlaygroundPanel::adapterFailed);
        panel.setAdapter(dir);
        QVERIFY(!panel.generateButton()->isEnabled()); // until the worker answers
        QVERIFY(failed.wait(20000));
        const QString message = failed.at(0).at(1).toString();
        for (const QString& word : mustName)
            QVERIFY2(message.contains(word), qPrintable(message + " lacks " + word));
        QCOMPARE(panel.adapterMessage()->text(), message);
        QVERIFY(panel.adapterDir().isEmpty());
        QCOMPARE(panel.adapterChooser()->currentData(PlaygroundPanel::KindRole).toInt(), int(PlaygroundPanel::NoAdapterChoice));
        QCOMPARE(panel.adapterChooser()->findData(QDir::cleanPath(dir), PlaygroundPanel::DirRole), -1);
        QVERIFY(!panel.adapterPaneBox()->isVisible());
        QVERIFY(panel.generateButton()->isEnabled());
    }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_tmp.isValid());
        TrainingWorker::registerMetaTypes();
        m_model = m_tmp.filePath("demo");
        m_db = m_tmp.filePath("experiments.db");
        tb::makeDemoModel(m_model.toStdString(), "tiny", 0);

        // A real adapter with non-zero B: 3 LoRA steps at a high learning rate, recorded.
        tb::TrainConfig c;
        c.modelDir = m_model.toStdString();
        c.dataPath = TB_SOURCE_DIR "/resources/datasets/reviews-train.jsonl";
        c.outputDir = m_tmp.filePath("reviews-run").toStdString();
        c.maxSteps = 3;
        c.batchSize = 4;
        c.data.maxSeqLen = 64;
        c.lora.rank = 4;
        c.lora.alpha = 16;
        c.learningRate = 3e-2;
        c.threads = 1;
        QThread thread;
        auto* worker = new TrainingWorker;
        worker->setDatabasePath(m_db);
        worker->moveToThread(&thread);
        connect(&thread, &QThread::finished, worker, &QObject::deleteLater);
        thread.start();
        QSignalSpy finished(worker, &TrainingWorker::finished);
        worker->prepareRun();
        QMetaObject::invokeMethod(worker, [worker, c] { worker->start(c, false); }, Qt::QueuedConnection);
        QVERIFY(finished.wait(60000));
        thread.quit();
        thread.wait();
        QCOMPARE(finished.at(0).at(0).value<tb::TrainStatus>(), tb::TrainStatus::Finished);
        m_adapter = QDir::cleanPath(finished.at(0).at(2).toString());
        QVERIFY(QFileInfo::exists(m_adapter + "/adapter_model.safetensors"));
        m_runName = "reviews-run";

        // Runs the chooser must not list: another model's, and a cancelled one of this model.
        {
            tb::RunStore store(m_db.toStdString());
            recordOtherRun(store, "other-model", m_tmp.filePath("another-model").toStdString(), tb::RunStatus::Finished,
                           m_adapter.toStdString());
            recordOtherRun(store, "cancelled-run", QFileInfo(m_model).absoluteFilePath().toStdString(), tb::RunStatus::Cancelled,
                           m_adapter.toStdString());
        }

        // References from the engine alone: the base, then the same model with the adapter.
        tb::LoadedModel loaded = tb::loadModel(m_model.toStdString());
        m_baseText = referenceContinuation(loaded, m_model.toStdString());
        tb::loadPeftAdapter(*loaded.model, m_adapter.toStdString());
        loaded.model->eval();
        m_adapterText = referenceContinuation(loaded, m_model.toStdString());
        QVERIFY(!m_baseText.isEmpty());
        QVERIFY2(m_baseText != m_adapterText, qPrintable(m_baseText)); // the adapter changes the continuation
    }

    void chooserListsFinishedRunsOfThisModel()
    {
        PlaygroundPanel panel;
        loadPanel(panel);
        QComboBox* chooser = panel.adapterChooser();
        QCOMPARE(chooser->itemData(0, PlaygroundPanel::KindRole).toInt(), int(PlaygroundPanel::NoAdapterChoice));
        QCOMPARE(chooser->itemText(1), m_runName);
        QCOMPARE(chooser->itemData(1, PlaygroundPanel::KindRole).toInt(), int(PlaygroundPanel::RunChoice));
        QCOMPARE(chooser->itemData(1, PlaygroundPanel::DirRole).toString(), m_adapter);
        QCOMPARE(chooser->itemData(2, PlaygroundPanel::KindRole).toInt(), int(PlaygroundPanel::BrowseChoice));
        QCOMPARE(chooser->currentIndex(), 0);

        // Without a database only browsed folders are offered.
        QSignalSpy listed(&panel, &PlaygroundPanel::adapterListRefreshed);
        panel.setDatabasePath(QString());
        QVERIFY(listed.wait(10000));
        QCOMPARE(chooser->count(), 2);
    }

    void streamsBaseAndAdapterSideBySide()
    {
        PlaygroundPanel panel;
        panel.resize(900, 600);
        panel.show();
        loadPanel(panel);
        QVERIFY(!panel.adapterPaneBox()->isVisible()); // no adapter: one pane
        QCOMPARE(panel.basePaneBox()->title(), QString("Output"));

        QSignalSpy loaded(&panel, &PlaygroundPanel::adapterLoaded);
        panel.chooseAdapter(1);
        QCOMPARE(panel.adapterDir(), m_adapter);
        QVERIFY(loaded.wait(20000));
        QVERIFY(panel.adapterPaneBox()->isVisible());
        QCOMPARE(panel.basePaneBox()->title(), QString("Base"));
        QCOMPARE(panel.adapterPaneBox()->title(), QString("Base + adapter %1").arg(m_runName));
        QVERIFY(panel.adapterMessage()->text().contains("r=4"));

        StallMeter stalls;
        generate(panel);
        QCOMPARE(panel.basePane()->toPlainText(), kPrompt + m_baseText);
        QCOMPARE(panel.adapterPane()->toPlainText(), kPrompt + m_adapterText);
        QVERIFY2(stalls.longest() < 500, qPrintable(QString("GUI thread stalled for %1 ms").arg(stalls.longest())));

        // Generating again gives the same (greedy, and the adapters are back on after the base pass).
        generate(panel);
        QCOMPARE(panel.adapterPane()->toPlainText(), kPrompt + m_adapterText);

        // Back to no adapter: one pane, the base exactly.
        panel.chooseAdapter(0);
        QVERIFY(panel.adapterDir().isEmpty());
        QVERIFY(!panel.adapterPaneBox()->isVisible());
        generate(panel);
        QCOMPARE(panel.basePane()->toPlainText(), kPrompt + m_baseText);
        QVERIFY(panel.adapterPane()->toPlainText().isEmpty());
    }

    void unloadFreesTheWindowsModel()
    {
        // The playground's model is the window's memory, shown apart from any run's, and freed
        // on request.
        PlaygroundPanel panel;
        panel.show();
        loadPanel(panel);
        QVERIFY2(panel.memoryLabel()->text().startsWith("Held in this window:"), qPrintable(panel.memoryLabel()->text()));
        QVERIFY(panel.memoryLabel()->text().contains("not any training run"));
        QVERIFY(panel.unloadButton()->isEnabled());
        QSignalSpy status(&panel, &PlaygroundPanel::status);
        QTest::mouseClick(panel.unloadButton(), Qt::LeftButton);
        QVERIFY(!panel.isModelLoaded());
        QVERIFY(!panel.generateButton()->isEnabled());
        QTRY_VERIFY_WITH_TIMEOUT(panel.memoryLabel()->text().startsWith("No model held"), 10000);
        QVERIFY(!panel.unloadButton()->isEnabled());
        // And back.
        loadPanel(panel);
        generate(panel);
        QCOMPARE(panel.basePane()->toPlainText(), kPrompt + m_baseText);
    }

    void chatTemplateSendsAUserTurn()
    {
        // An adapter trained on chat records sees at inference the format it learned: the
        // prompt as a user turn, exactly as `tunebench-cli generate --chat` renders it.
        tb::LoadedModel loaded = tb::loadModel(m_model.toStdString());
        const QString expected = referenceContinuation(loaded, m_model.toStdString(), true);
        PlaygroundPanel panel;
        panel.show();
        loadPanel(panel);
        panel.chatCheck()->setChecked(true);
        generate(panel);
        QCOMPARE(panel.basePane()->toPlainText(), kPrompt + expected);
        QVERIFY(expected != m_baseText); // a different prompt reached the model
    }

    void brokenAdapterGivesErrorAndKeepsTheBase()
    {
        PlaygroundPanel panel;
        panel.show();
        loadPanel(panel);

        // Not a PEFT folder at all.
        const QString empty = m_tmp.filePath("not-an-adapter");
        QVERIFY(QDir().mkpath(empty));
        expectAdapterError(panel, empty, {"adapter_config.json", "not-an-adapter"});

        // A real adapter first, then one whose shapes do not fit this model (r changed in the
        // config): the error names the weights file and a tensor, and the model drops both.
        QSignalSpy loaded(&panel, &PlaygroundPanel::adapterLoaded);
        panel.setAdapter(m_adapter);
        QVERIFY(loaded.wait(20000));
        const QString wrong = m_tmp.filePath("wrong-rank");
        QVERIFY(QDir().mkpath(wrong));
        QVERIFY(QFile::copy(m_adapter + "/adapter_model.safetensors", wrong + "/adapter_model.safetensors"));
        {
            std::ifstream in((m_adapter + "/adapter_config.json").toStdString());
            nlohmann::json config = nlohmann::json::parse(in);
            config["r"] = 2;
            std::ofstream((wrong + "/adapter_config.json").toStdString()) << config.dump(2);
        }
        expectAdapterError(panel, wrong, {"adapter_model.safetensors", "lora_", "shape"});

        // The base is intact and usable: exactly the base continuation, in one pane.
        generate(panel);
        QCOMPARE(panel.basePane()->toPlainText(), kPrompt + m_baseText);
        QVERIFY(!panel.adapterPaneBox()->isVisible());
    }
};

QTEST_MAIN(TestPlayground)
#include "tst_playground.moc"
