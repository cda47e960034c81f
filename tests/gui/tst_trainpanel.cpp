// The Train tab's new-run form, offscreen: every TrainConfig field round-trips through
// setConfig()/config(); impossible values are refused at the field they name; QLoRA and LoRA
// options follow the method; the form is remembered in a settings file between panels; the
// model chooser checks a real demo model folder off the GUI thread (and names config.json for a
// folder without one); the Processes field (data-parallel workers) is bounded by this
// machine's usable cores and reaches the config; a real 2-step run started from the form ends
// finished.
// QStandardPaths' test mode keeps the user's settings and data folders untouched.
#include "ModelChooser.h"
#include "RunForm.h"
#include "RunFormSettings.h"
#include "TrainPanel.h"
#include "TrainingWorker.h"

#include "core/UsableCores.h"
#include "demo/DemoModelMaker.h"
#include "train/Trainer.h"

#include <QApplication>
#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QFile>
#include <QGroupBox>
#include <QLabel>
#include <QLineEdit>
#include <QProcess>
#include <QPushButton>
#include <QSignalSpy>
#include <QSpinBox>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>

#include <functional>

#include <nlohmann/json.hpp>

class TestTrainPanel : public QObject {
    Q_OBJECT
private:
    QTemporaryDir m_tmp;
    QString m_model;
    QString m_data = QStringLiteral(TB_SOURCE_DIR "/resources/datasets/reviews-train.jsonl");

    QString settingsFile(const QString& name) const { return m_tmp.filePath(name + ".ini"); }

    // A valid config whose every field differs from TrainConfig's defaults.
    tb::TrainConfig unusualConfig() const
    {
        tb::TrainConfig c;
        c.name = "unusual run";
        c.modelDir = m_model.toStdString();
        c.dataPath = m_data.toStdString();
        c.validationPath = m_data.toStdString();
        c.outputDir = m_tmp.filePath("round-trip").toStdString();
        c.method = tb::TrainMethod::Qlora;
        c.lora.rank = 16;
        c.lora.alpha = 32.5;
        c.lora.dropout = 0.05;
        c.lora.rslora = true;
        c.lora.targets = {"v_proj", "q_proj", "down_proj"};
        c.quant.type = tb::QuantSettings::Type::Int8;
        c.quant.doubleQuant = false;
        c.quant.blockSize = 128;
        c.quantCacheDir = m_tmp.filePath("quant-cache").toStdString();
        c.data.format = tb::DatasetFormat::Instruction;
        c.data.maxSeqLen = 256;
        c.data.trainOnPrompt = true;
        c.data.pack = true;
        c.data.validationFraction = 0.25;
        c.data.splitSeed = 7;
        c.learningRate = 3e-5;
        c.schedule = tb::LrScheduleKind::Linear;
        c.warmupSteps = 10;
        c.maxSteps = 50;
        c.epochs = 2.5;
        c.batchSize = 8;
        c.gradAccum = 4;
        c.maxGradNorm = 0.5;
        c.weightDecay = 0.01;
        c.adamBeta1 = 0.8;
        c.adamBeta2 = 0.95;
        c.adamEps = 1e-6;
        c.gradientCheckpointing = true;
        c.evalEvery = 5;
        c.saveEvery = 10;
        c.maxBadSteps = 3;
        c.seed = 12345678901234ull; // beyond a 32-bit spin box
        c.threads = 2;
        c.processes = 3; // kept even on a machine with fewer cores (refused only at Start)
        c.distTimeoutSeconds = 90; // not on the form: kept from setConfig
        c.device = "cpu";
        c.baseDtype = "fp32";
        return c;
    }

    tb::TrainConfig validLoraConfig() const
    {
        tb::TrainConfig c;
        c.modelDir = m_model.toStdString();
        c.dataPath = m_data.toStdString();
        c.outputDir = m_tmp.filePath("never-started").toStdString();
        c.maxSteps = 10;
        return c;
    }

    static QString dump(const tb::TrainConfig& c) { return QString::fromStdString(c.toJson().dump()); }

    // `tunebench-cli train OPTIONS --print-config --no-db`: the run the CLI would start.
    static QString cliConfig(QStringList options)
    {
        QProcess p;
        p.start(TB_CLI_PATH, QStringList{"train"} + options + QStringList{"--print-config", "--no-db"});
        if (!p.waitForFinished(60000) || p.exitCode() != 0)
            return "failed: " + QString::fromUtf8(p.readAllStandardError());
        return QString::fromStdString(nlohmann::json::parse(p.readAllStandardOutput().toStdString()).dump());
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

    void modelChooserChecksAFolderOffTheGuiThread()
    {
        ModelChooser chooser;
        QSignalSpy changed(&chooser, &ModelChooser::modelChanged);
        chooser.setModelDir(m_model);
        QCOMPARE(changed.count(), 1); // at once: being checked
        QCOMPARE(changed.at(0).at(1).toBool(), false);
        QVERIFY(chooser.isChecking());
        QTRY_COMPARE_WITH_TIMEOUT(changed.count(), 2, 30000);
        QCOMPARE(changed.at(1).at(0).toString(), m_model);
        QCOMPARE(changed.at(1).at(1).toBool(), true);
        QVERIFY(chooser.isValid());
        QCOMPARE(chooser.facts().parameters, qint64(3950848));
        QCOMPARE(chooser.facts().architecture, QString("LlamaForCausalLM"));
        QCOMPARE(chooser.facts().dtype, QString("BF16"));
        QCOMPARE(chooser.facts().diskBytes, QFileInfo(m_model + "/model.safetensors").size());
        const QString shown = chooser.factsLabel()->text();
        QVERIFY2(shown.contains("3,950,848") && shown.contains("LlamaForCausalLM") && shown.contains("BF16"), qPrintable(shown));
        QCOMPARE(chooser.recentModels(), QStringList{m_model});
        QCOMPARE(chooser.combo()->currentData().toString(), m_model);

        // A folder without config.json: refused, naming the file.
        const QString empty = m_tmp.filePath("not-a-model");
        QVERIFY(QDir().mkpath(empty));
        chooser.setModelDir(empty);
        QTRY_COMPARE_WITH_TIMEOUT(changed.count(), 4, 30000);
        QCOMPARE(changed.last().at(1).toBool(), false);
        QVERIFY(!chooser.isValid());
        QVERIFY2(chooser.error().contains(empty + "/config.json"), qPrintable(chooser.error()));
        QCOMPARE(chooser.factsLabel()->text(), chooser.error());
        QCOMPARE(chooser.recentModels(), QStringList{m_model}); // refused folders are not recent

        // A checkpoint that is not there is named too.
        const QString noWeights = m_tmp.filePath("no-weights");
        QVERIFY(QDir().mkpath(noWeights));
        QVERIFY(QFile::copy(m_model + "/config.json", noWeights + "/config.json"));
        chooser.setModelDir(noWeights);
        QTRY_VERIFY_WITH_TIMEOUT(!chooser.isChecking(), 30000);
        QVERIFY(!chooser.isValid());
        QVERIFY2(chooser.error().contains(noWeights), qPrintable(chooser.error()));

        // A check overtaken by a newer choice is dropped: the last choice wins.
        chooser.setModelDir(empty);
        chooser.setModelDir(m_model);
        QTRY_VERIFY_WITH_TIMEOUT(!chooser.isChecking(), 30000);
        QTest::qWait(100); // the overtaken check's result, if it came late, must change nothing
        QVERIFY(chooser.isValid());
        QCOMPARE(chooser.modelDir(), m_model);

        // Recent models: most recent first, at most 10.
        QStringList many;
        for (int i = 0; i < 12; ++i)
            many << m_tmp.filePath(QString("m%1").arg(i));
        chooser.setRecentModels(many);
        QCOMPARE(chooser.recentModels(), many.mid(0, ModelChooser::kMaxRecent));
    }

    void setConfigRoundTripsEveryField()
    {
        TrainPanel panel(m_tmp.filePath("experiments.db"), nullptr, settingsFile("round-trip"));
        const tb::TrainConfig steps = unusualConfig();
        panel.setConfig(steps);
        QCOMPARE(dump(panel.config()), dump(steps));

        tb::TrainConfig epochs = unusualConfig();
        epochs.maxSteps = 0;
        epochs.epochs = 3;
        epochs.method = tb::TrainMethod::Full;
        epochs.data.format = tb::DatasetFormat::Chat;
        epochs.schedule = tb::LrScheduleKind::Constant;
        epochs.learningRate = 1.5e-6;
        epochs.validationPath.clear();
        panel.setConfig(epochs);
        QCOMPARE(dump(panel.config()), dump(epochs));
        QVERIFY(!panel.form()->stepsSpin()->isEnabled());
    }

    void processesStartWorkersUpToTheUsableCores()
    {
        TrainPanel panel(m_tmp.filePath("experiments.db"), nullptr, settingsFile("processes"));
        QSpinBox* processes = panel.form()->processesSpin();
        const int cores = std::max(1, tb::usableCores().usable);
        QCOMPARE(processes->minimum(), 1);
        QCOMPARE(processes->maximum(), cores);
        QCOMPARE(processes->value(), 1); // TrainConfig's default: one process
        const QString tip = processes->toolTip();
        QVERIFY2(tip.contains("worker processes") && tip.contains("global batch = batch size x gradient accumulation x processes") &&
                     tip.contains("one process per device"),
                 qPrintable(tip));

        panel.setConfig(validLoraConfig());
        QTRY_VERIFY_WITH_TIMEOUT(panel.form()->modelChooser()->isValid(), 30000);
        processes->setValue(cores);
        QCOMPARE(panel.config().processes, cores);
        QVERIFY2(panel.validateForm(), qPrintable(panel.fieldError("processes")));
        // The config the child `tunebench-cli train --config` reads carries it.
        QCOMPARE(panel.config().toJson().at("processes").get<int>(), cores);

        // A config from a larger machine keeps its value, refused at the field with the reason.
        tb::TrainConfig bigger = validLoraConfig();
        bigger.processes = cores + 1;
        panel.setConfig(bigger);
        QCOMPARE(processes->value(), cores + 1);
        QCOMPARE(panel.config().processes, cores + 1);
        QVERIFY(!panel.validateForm());
        QCOMPARE(panel.fieldError("processes"), QString("at most %1 on this machine (the cores Tunebench may use)").arg(cores));
        // Back to a config of this machine: the field's range is this machine's again.
        panel.setConfig(validLoraConfig());
        QCOMPARE(processes->maximum(), cores);
        QVERIFY(panel.validateForm());
    }

    void methodEnablesItsOptions()
    {
        TrainPanel panel(QString(), nullptr, settingsFile("method"));
        QComboBox* method = panel.form()->methodCombo();
        method->setCurrentIndex(method->findData(int(tb::TrainMethod::Qlora)));
        QVERIFY(panel.form()->qloraBox()->isEnabled());
        QVERIFY(panel.form()->loraBox()->isEnabled());
        method->setCurrentIndex(method->findData(int(tb::TrainMethod::Lora)));
        QVERIFY(!panel.form()->qloraBox()->isEnabled());
        QVERIFY(panel.form()->loraBox()->isEnabled());
        method->setCurrentIndex(method->findData(int(tb::TrainMethod::Full)));
        QVERIFY(!panel.form()->qloraBox()->isEnabled());
        QVERIFY(!panel.form()->loraBox()->isEnabled());
        // setConfig sets the states too.
        tb::TrainConfig c = validLoraConfig();
        c.method = tb::TrainMethod::Qlora;
        panel.setConfig(c);
        QVERIFY(panel.form()->qloraBox()->isEnabled());
    }

    void datasetPreviewIsRequestedWithTheFormsOptions()
    {
        TrainPanel panel(QString(), nullptr, settingsFile("preview"));
        QVERIFY(panel.datasetPreviewSlot()->layout());
        int requests = 0;
        QString model, data;
        tb::DatasetOptions options;
        connect(&panel, &TrainPanel::datasetPreviewRequested, this,
                [&](const QString& m, const QString& d, const tb::DatasetOptions& o) {
                    ++requests;
                    model = m;
                    data = d;
                    options = o;
                });
        tb::TrainConfig c = validLoraConfig();
        c.data.format = tb::DatasetFormat::Instruction;
        c.data.maxSeqLen = 128;
        c.data.trainOnPrompt = true;
        panel.setConfig(c);
        QTRY_VERIFY_WITH_TIMEOUT(requests > 0, 30000);
        QCOMPARE(model, m_model);
        QCOMPARE(data, m_data);
        QCOMPARE(options.format, tb::DatasetFormat::Instruction);
        QCOMPARE(options.maxSeqLen, int64_t(128));
        QVERIFY(options.trainOnPrompt);
        // Several quick edits give one request, with the last value.
        QTest::qWait(500);
        requests = 0;
        panel.form()->datasetEdit()->setText(m_data + "x");
        panel.form()->datasetEdit()->setText(m_data);
        QTRY_COMPARE_WITH_TIMEOUT(requests, 1, 5000);
        QTest::qWait(500);
        QCOMPARE(requests, 1);
        QCOMPARE(data, m_data);
    }

    void invalidValuesAreRefusedAtTheirField()
    {
        TrainPanel panel(m_tmp.filePath("experiments.db"), nullptr, settingsFile("invalid"));
        panel.setConfig(validLoraConfig());
        QTRY_VERIFY_WITH_TIMEOUT(panel.form()->modelChooser()->isValid(), 30000);
        QVERIFY2(panel.validateForm(), qPrintable(panel.fieldError("")));

        struct Case {
            const char* field;
            const char* error; // the whole message, or a part of it when `partial`
            bool partial;
            std::function<void(tb::TrainConfig&)> change;
        };
        const QString used = m_tmp.filePath("used-run");
        QVERIFY(QDir().mkpath(used));
        QFile marker(used + "/train_config.json");
        QVERIFY(marker.open(QIODevice::WriteOnly));
        marker.close();
        const std::vector<Case> cases = {
            {"lora.rank", "must be between 1 and 4096", false, [](tb::TrainConfig& c) { c.lora.rank = 0; }},
            {"lora.dropout", "must be at least 0 and below 1", false, [](tb::TrainConfig& c) { c.lora.dropout = 1.0; }},
            {"data", "required", false, [](tb::TrainConfig& c) { c.dataPath.clear(); }},
            {"data", "missing.jsonl: no such file", true, [this](tb::TrainConfig& c) { c.dataPath = m_tmp.filePath("missing.jsonl").toStdString(); }},
            {"validation_data", "missing-val.jsonl: no such file", true,
             [this](tb::TrainConfig& c) { c.validationPath = m_tmp.filePath("missing-val.jsonl").toStdString(); }},
            {"quant", "power of two", true,
             [](tb::TrainConfig& c) {
                 c.method = tb::TrainMethod::Qlora;
                 c.quant.blockSize = 48;
             }},
            {"dataset.seq_len", "must be at least 2 tokens", false, [](tb::TrainConfig& c) { c.data.maxSeqLen = 1; }},
            {"batch_size", "must be at least 1", false, [](tb::TrainConfig& c) { c.batchSize = 0; }},
            {"grad_accum", "must be at least 1", false, [](tb::TrainConfig& c) { c.gradAccum = 0; }},
            {"learning_rate", "must be above 0 and at most 1", false, [](tb::TrainConfig& c) { c.learningRate = 2.0; }},
            {"epochs", "must be positive when max_steps is 0", false,
             [](tb::TrainConfig& c) {
                 c.maxSteps = 0;
                 c.epochs = 0;
             }},
            {"lora.targets", "choose at least one", true, [](tb::TrainConfig& c) { c.lora.targets.clear(); }},
            {"output_dir", "already holds a run", true, [used](tb::TrainConfig& c) { c.outputDir = used.toStdString(); }},
        };
        for (const Case& k : cases) {
            tb::TrainConfig c = validLoraConfig();
            k.change(c);
            panel.setConfig(c);
            QVERIFY2(!panel.validateForm(), k.field);
            const QString shown = panel.fieldError(k.field);
            QVERIFY2(k.partial ? shown.contains(k.error) : shown == k.error, qPrintable(QString("%1: \"%2\"").arg(k.field, shown)));
            QVERIFY2(panel.fieldError("").isEmpty(), qPrintable(panel.fieldError("")));
        }

        // Text fields: an unreadable learning rate or seed.
        panel.setConfig(validLoraConfig());
        QCOMPARE(panel.form()->learningRateEdit()->text(), QString("2e-4"));
        panel.form()->learningRateEdit()->setText("fast");
        QVERIFY(!panel.validateForm());
        QCOMPARE(panel.fieldError("learning_rate"), QString("must be a number")); // not a range "fast" is outside of
        panel.setConfig(validLoraConfig());
        panel.form()->seedEdit()->clear();
        QVERIFY(!panel.validateForm());
        QVERIFY2(panel.fieldError("seed").startsWith("must be a whole number"), qPrintable(panel.fieldError("seed")));

        // A device this machine does not have, once the device list has arrived.
        QTRY_VERIFY_WITH_TIMEOUT(panel.form()->deviceCombo()->itemText(0) != "CPU", 30000);
        tb::TrainConfig elsewhere = validLoraConfig();
        elsewhere.device = "cuda:7";
        panel.setConfig(elsewhere);
        QCOMPARE(panel.form()->deviceCombo()->currentData().toString(), QString("cuda:7"));
        QVERIFY(!panel.validateForm());
        QVERIFY2(panel.fieldError("device").startsWith("not on this machine"), qPrintable(panel.fieldError("device")));

        // A model folder the chooser refused.
        tb::TrainConfig noModel = validLoraConfig();
        noModel.modelDir = m_tmp.filePath("not-a-model-either").toStdString();
        QVERIFY(QDir().mkpath(QString::fromStdString(noModel.modelDir)));
        panel.setConfig(noModel);
        QVERIFY(!panel.startButton()->isEnabled());
        QTRY_VERIFY_WITH_TIMEOUT(!panel.form()->modelChooser()->isChecking(), 30000);
        QVERIFY(!panel.startButton()->isEnabled());
        QVERIFY(!panel.validateForm());
        QVERIFY2(panel.fieldError("model").contains("config.json"), qPrintable(panel.fieldError("model")));

        // Fixed: every error is gone.
        panel.setConfig(validLoraConfig());
        QTRY_VERIFY_WITH_TIMEOUT(panel.form()->modelChooser()->isValid(), 30000);
        QVERIFY(panel.validateForm());
        for (const char* field : {"", "model", "data", "lora.rank", "quant", "device", "output_dir"})
            QVERIFY2(panel.fieldError(field).isEmpty(), field);
    }

    void formIsRememberedBetweenPanels()
    {
        const QString file = settingsFile("remembered");
        tb::TrainConfig c = unusualConfig();
        {
            TrainPanel first(m_tmp.filePath("experiments.db"), nullptr, file);
            first.setConfig(c);
            QTRY_VERIFY_WITH_TIMEOUT(first.form()->modelChooser()->isValid(), 30000); // a valid folder becomes recent
        } // saved on destruction
        TrainPanel second(m_tmp.filePath("experiments.db"), nullptr, file);
        tb::TrainConfig shown = second.config();
        // The output folder is not remembered: a new run folder in the workspace instead.
        QVERIFY2(QString::fromStdString(shown.outputDir).contains("/run-"), shown.outputDir.c_str());
        QVERIFY(second.form()->outputEdit()->text().isEmpty());
        shown.outputDir = c.outputDir;
        QVERIFY(shown.name.empty()); // nor the run's name: each run is named anew
        shown.name = c.name;
        QCOMPARE(dump(shown), dump(c));
        QCOMPARE(second.form()->modelChooser()->recentModels(), QStringList{m_model});
        QVERIFY(second.form()->modelChooser()->combo()->findData(m_model) >= 0);
        QTRY_VERIFY_WITH_TIMEOUT(second.form()->modelChooser()->isValid(), 30000);
    }

    void everyProblemIsShownAndAnEditClearsItsOwn()
    {
        TrainPanel panel(m_tmp.filePath("experiments.db"), nullptr, settingsFile("all-problems"));
        tb::TrainConfig c = validLoraConfig();
        c.lora.rank = 0;
        c.batchSize = 0;
        c.data.maxSeqLen = 1;
        panel.setConfig(c);
        QTRY_VERIFY_WITH_TIMEOUT(panel.form()->modelChooser()->isValid(), 30000);
        QVERIFY(!panel.validateForm());
        // All three at once, not one per press of Start.
        QVERIFY(!panel.fieldError("lora.rank").isEmpty());
        QVERIFY(!panel.fieldError("batch_size").isEmpty());
        QVERIFY(!panel.fieldError("dataset.seq_len").isEmpty());
        // Fixing one value hides that error at once; the others stay until they are fixed.
        QSpinBox* rank = nullptr;
        for (QSpinBox* spin : panel.form()->loraBox()->findChildren<QSpinBox*>())
            if (spin->value() == 0)
                rank = spin;
        QVERIFY(rank);
        rank->setValue(8);
        QVERIFY(panel.fieldError("lora.rank").isEmpty());
        QVERIFY(!panel.fieldError("batch_size").isEmpty());
    }

    void aDatasetThePreviewRejectedIsRefusedAtStart()
    {
        TrainPanel panel(m_tmp.filePath("experiments.db"), nullptr, settingsFile("rejected"));
        panel.setConfig(validLoraConfig());
        QTRY_VERIFY_WITH_TIMEOUT(panel.form()->modelChooser()->isValid(), 30000);
        QVERIFY(panel.validateForm());
        panel.form()->setDatasetProblem(m_data, "reviews-train.jsonl: line 3: not valid JSON");
        QVERIFY(!panel.validateForm());
        QCOMPARE(panel.fieldError("data"), QString("reviews-train.jsonl: line 3: not valid JSON"));
        QTest::mouseClick(panel.startButton(), Qt::LeftButton);
        QVERIFY(!panel.running());
        // About another file, or cleared by a good preview: no longer in the way.
        panel.form()->setDatasetProblem(m_tmp.filePath("other.jsonl"), "other.jsonl: line 1: not valid JSON");
        QVERIFY(panel.validateForm());
        panel.form()->setDatasetProblem(QString(), QString());
        QVERIFY(panel.validateForm());
    }

    void runNameNamesTheFolderAndTheRun()
    {
        TrainPanel panel(m_tmp.filePath("named.db"), nullptr, settingsFile("named"));
        tb::TrainConfig c = validLoraConfig();
        c.outputDir.clear(); // a new folder in the workspace
        panel.setConfig(c);
        panel.form()->nameEdit()->setText("lora r16");
        const tb::TrainConfig shown = panel.config();
        QCOMPARE(shown.name, std::string("lora r16"));
        QVERIFY2(QFileInfo(QString::fromStdString(shown.outputDir)).fileName().startsWith("lora-r16-"), shown.outputDir.c_str());
    }

    void learningRateFollowsTheMethodUntilTyped()
    {
        TrainPanel panel(QString(), nullptr, settingsFile("method-lr"));
        panel.setConfig(validLoraConfig());
        QComboBox* method = panel.form()->methodCombo();
        method->setCurrentIndex(method->findData(int(tb::TrainMethod::Full)));
        QCOMPARE(panel.config().learningRate, tb::TrainConfig::defaultLearningRate(tb::TrainMethod::Full));
        method->setCurrentIndex(method->findData(int(tb::TrainMethod::Qlora)));
        QCOMPARE(panel.config().learningRate, tb::TrainConfig::defaultLearningRate(tb::TrainMethod::Qlora));
        panel.form()->learningRateEdit()->setText("1e-3"); // typed: kept
        method->setCurrentIndex(method->findData(int(tb::TrainMethod::Full)));
        QCOMPARE(panel.config().learningRate, 1e-3);
    }

    void defaultsAreTheSameEverywhere()
    {
        // A first start (nothing remembered): the form shows TrainConfig's defaults.
        TrainPanel panel(m_tmp.filePath("experiments.db"), nullptr, settingsFile("fresh-defaults"));
        tb::TrainConfig shown = panel.config();
        tb::TrainConfig expected = tb::TrainConfig::defaults(tb::TrainMethod::Lora);
        expected.modelDir = shown.modelDir; // the built-in demo
        expected.outputDir = shown.outputDir; // a new folder in the workspace
        QCOMPARE(dump(shown), dump(expected));
        // The CLI with only what it requires describes the same run.
        const QString data = m_data;
        expected.modelDir = m_model.toStdString();
        expected.dataPath = data.toStdString();
        expected.outputDir = m_tmp.filePath("cli-defaults").toStdString();
        QCOMPARE(cliConfig({"--model", m_model, "--data", data, "--out", m_tmp.filePath("cli-defaults")}), dump(expected));
        for (tb::TrainMethod method : {tb::TrainMethod::Qlora, tb::TrainMethod::Full}) {
            tb::TrainConfig m = tb::TrainConfig::defaults(method);
            m.modelDir = expected.modelDir;
            m.dataPath = expected.dataPath;
            m.outputDir = expected.outputDir;
            QCOMPARE(cliConfig({"--model", m_model, "--data", data, "--out", m_tmp.filePath("cli-defaults"), "--method",
                                QString::fromLatin1(tb::trainMethodName(method))}),
                     dump(m));
        }
    }

    void formAndCliGiveTheSameRun()
    {
        // The same settings typed into the form and given as options: equal descriptions, so
        // the same validation split (it follows the seed in both).
        TrainPanel panel(m_tmp.filePath("experiments.db"), nullptr, settingsFile("same-run"));
        tb::TrainConfig c = validLoraConfig();
        c.outputDir = m_tmp.filePath("same-run").toStdString();
        panel.setConfig(c);
        RunForm* form = panel.form();
        form->methodCombo()->setCurrentIndex(form->methodCombo()->findData(int(tb::TrainMethod::Qlora)));
        form->stepsSpin()->setValue(30);
        form->seedEdit()->setText("7");
        form->learningRateEdit()->setText("5e-4");
        for (QSpinBox* spin : form->loraBox()->findChildren<QSpinBox*>())
            spin->setValue(4); // the rank
        const tb::TrainConfig fromForm = panel.config();
        QCOMPARE(fromForm.seed, uint64_t(7));
        QCOMPARE(fromForm.datasetOptions().splitSeed, uint64_t(7));
        const QString fromCli = cliConfig({"--model", m_model, "--data", m_data, "--out", m_tmp.filePath("same-run"), "--method",
                                           "qlora", "--steps", "30", "--seed", "7", "--lr", "5e-4", "--rank", "4", "--alpha", "16"});
        QCOMPARE(dump(fromForm), fromCli);
    }

    void shortRunFromTheFormEndsFinished()
    {
        const QString file = settingsFile("run");
        TrainPanel panel(m_tmp.filePath("experiments.db"), nullptr, file);
        panel.show();
        tb::TrainConfig c = validLoraConfig();
        c.outputDir = m_tmp.filePath("form-run").toStdString();
        c.maxSteps = 2;
        c.batchSize = 4;
        c.data.maxSeqLen = 64;
        c.lora.rank = 4;
        c.threads = 1;
        panel.setConfig(c);
        QTRY_VERIFY_WITH_TIMEOUT(panel.startButton()->isEnabled(), 30000);
        QSignalSpy finished(panel.worker(), &TrainingWorker::finished);
        QSignalSpy refused(&panel, &TrainPanel::runRefused);
        QTest::mouseClick(panel.startButton(), Qt::LeftButton);
        QVERIFY2(panel.running(), qPrintable(panel.fieldError("")));
        QVERIFY(!panel.startButton()->isEnabled());
        // Start remembered the form.
        const std::optional<tb::TrainConfig> saved = RunFormSettings(file).loadForm();
        QVERIFY(saved);
        QCOMPARE(saved->maxSteps, int64_t(2));
        // One run at a time, also for a resume.
        QVERIFY(!panel.startRun(c, true));
        QCOMPARE(refused.count(), 1);
        QVERIFY(finished.wait(240000));
        QVERIFY2(finished.first().at(1).toString().isEmpty(), qPrintable(finished.first().at(1).toString()));
        QCOMPARE(finished.first().at(0).value<tb::TrainStatus>(), tb::TrainStatus::Finished);
        QVERIFY(QFileInfo::exists(finished.first().at(2).toString() + "/adapter_config.json"));
        QTRY_VERIFY(!panel.running());
        QVERIFY(panel.startButton()->isEnabled());
    }
};

QTEST_MAIN(TestTrainPanel)
#include "tst_trainpanel.moc"
