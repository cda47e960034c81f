// TrainConfig as the one description of a run: the defaults it owns (per method), the rules it
// reports as {field, message} pairs (every problem, not the first), what the files on disk say
// (missing inputs, an output folder that already holds a run), RUN.json files read back with
// errors naming the file and key, and the validation split that follows the seed.
#include "formats/FormatError.h"
#include "train/TrainConfig.h"

#include <QTemporaryDir>
#include <QTest>

#include <cmath>
#include <filesystem>
#include <fstream>

using namespace tb;

namespace {

bool hasProblem(const std::vector<ConfigProblem>& problems, const std::string& field, const std::string& words)
{
    for (const ConfigProblem& p : problems)
        if (p.field == field && p.message.find(words) != std::string::npos)
            return true;
    return false;
}

void writeFile(const std::string& path, const std::string& text)
{
    std::ofstream(path) << text;
}

std::string readError(const std::string& path)
{
    try {
        TrainConfig::fromFile(path);
    } catch (const FormatError& e) {
        return e.what();
    }
    return "no error";
}

} // namespace

class TestTrainConfig : public QObject {
    Q_OBJECT
private:
    QTemporaryDir m_tmp;

    TrainConfig runnable() const
    {
        TrainConfig c;
        c.modelDir = "/models/demo";
        c.dataPath = "/data/train.jsonl";
        c.outputDir = "/runs/a";
        return c;
    }

private Q_SLOTS:
    void defaultsArePerMethod()
    {
        const TrainConfig lora;
        QCOMPARE(lora.method, TrainMethod::Lora);
        QCOMPARE(lora.learningRate, 2e-4);
        QCOMPARE(lora.lora.rank, int64_t(8));
        QCOMPARE(lora.lora.alpha, 16.0); // 2 x rank
        QCOMPARE(lora.maxSteps, int64_t(0));
        QCOMPARE(lora.epochs, 1.0);
        QCOMPARE(lora.seed, uint64_t(42));
        QCOMPARE(TrainConfig::defaults(TrainMethod::Lora).toJson().dump(), lora.toJson().dump());
        QCOMPARE(TrainConfig::defaults(TrainMethod::Qlora).learningRate, 2e-4);
        QCOMPARE(TrainConfig::defaults(TrainMethod::Full).learningRate, 2e-5);
        QCOMPARE(TrainConfig::defaultAlpha(32), 64.0);
    }

    void missingJsonKeysTakeTheDefaultsOfMethodAndRank()
    {
        const TrainConfig full = TrainConfig::fromJson({{"method", "full"}}, "x.json");
        QCOMPARE(full.learningRate, 2e-5);
        const TrainConfig rank32 = TrainConfig::fromJson({{"lora", {{"rank", 32}}}}, "x.json");
        QCOMPARE(rank32.lora.alpha, 64.0);
        const TrainConfig given = TrainConfig::fromJson({{"method", "full"}, {"learning_rate", 1e-3}, {"lora", {{"rank", 32}, {"alpha", 8}}}}, "x.json");
        QCOMPARE(given.learningRate, 1e-3);
        QCOMPARE(given.lora.alpha, 8.0);
        // Every field round-trips.
        TrainConfig c = runnable();
        c.method = TrainMethod::Qlora;
        c.quant.blockSize = 128;
        c.lora.rank = 4;
        c.lora.alpha = 3;
        c.lora.targets = {"q_proj", "v_proj"};
        c.learningRate = 5e-5;
        c.maxSteps = 30;
        c.seed = 9;
        c.data.pack = true;
        QCOMPARE(TrainConfig::fromJson(c.toJson(), "x.json").toJson().dump(), c.toJson().dump());
    }

    void theSplitFollowsTheSeed()
    {
        TrainConfig c = runnable();
        c.seed = 1234;
        c.data.splitSeed = 99; // not used: the seed decides, in every front end
        QCOMPARE(c.datasetOptions().splitSeed, uint64_t(1234));
        QCOMPARE(c.toJson()["dataset"]["split_seed"].get<uint64_t>(), uint64_t(1234));
        // A config written before the rule (the form kept split seed 0) keeps its split, so
        // that run still resumes with the validation set it had.
        nlohmann::json old = c.toJson();
        old["seed"] = 7;
        old["dataset"]["split_seed"] = 0;
        const TrainConfig back = TrainConfig::fromJson(old, "old.json");
        QCOMPARE(back.datasetOptions().splitSeed, uint64_t(0));
        QCOMPARE(back.toJson().dump(), old.dump());
        old["dataset"]["split_seed"] = 7;
        QVERIFY(!TrainConfig::fromJson(old, "new.json").splitSeedOverride);
    }

    void everyProblemIsNamedByItsField()
    {
        QVERIFY(runnable().problems().empty());
        TrainConfig c;
        c.learningRate = std::nan("");
        c.lora.rank = 0;
        c.data.maxSeqLen = 0;
        c.batchSize = 0;
        c.device = "tpu";
        c.lora.targets.clear();
        const std::vector<ConfigProblem> p = c.problems();
        QVERIFY(hasProblem(p, "model", "required"));
        QVERIFY(hasProblem(p, "data", "required"));
        QVERIFY(hasProblem(p, "output_dir", "required"));
        QVERIFY(hasProblem(p, "learning_rate", "must be a number")); // not a range it is not outside of
        QVERIFY(hasProblem(p, "lora.rank", "between 1 and 4096"));
        QVERIFY(hasProblem(p, "lora.targets", "at least one projection"));
        QVERIFY(hasProblem(p, "dataset.seq_len", "at least 2 tokens"));
        QVERIFY(hasProblem(p, "batch_size", "at least 1"));
        QVERIFY(hasProblem(p, "device", "cpu, cuda or cuda:N"));
        QCOMPARE(p.size(), size_t(9));

        c = runnable();
        c.learningRate = 2;
        QVERIFY(hasProblem(c.problems(), "learning_rate", "above 0 and at most 1"));
        // Full fine-tuning has no adapter: LoRA's fields are not its problems.
        c = runnable();
        c.method = TrainMethod::Full;
        c.lora.rank = 0;
        QVERIFY(c.problems().empty());
        c.method = TrainMethod::Qlora;
        c.lora.rank = 8;
        c.quant.blockSize = 48;
        QVERIFY(hasProblem(c.problems(), "quant", "power of two"));

        try {
            TrainConfig{}.validate();
            QFAIL("validate() accepted an empty config");
        } catch (const ConfigError& e) {
            QCOMPARE(e.problems().size(), size_t(3));
            QVERIFY2(std::string(e.what()).find("model: required; data: required") == 0, e.what());
        }
    }

    void cudaDevicesAreOneWorkerEach()
    {
        TrainConfig c = runnable();
        c.device = "cuda";
        c.devices = {0, 2};
        c.processes = 2;
        QVERIFY(c.problems().empty());
        const TrainConfig back = TrainConfig::fromJson(c.toJson(), "run.json");
        QCOMPARE(back.devices, std::vector<int>({0, 2}));
        c.processes = 3;
        QVERIFY(hasProblem(c.problems(), "processes", "must equal the number of devices (2)"));
        c.processes = 2;
        c.devices = {1, 1};
        QVERIFY(hasProblem(c.problems(), "devices", "lists a device twice"));
        c.devices = {-1, 0};
        QVERIFY(hasProblem(c.problems(), "devices", "indices start at 0"));
        c.devices = {0, 1};
        c.device = "cpu";
        QVERIFY(hasProblem(c.problems(), "devices", "the device must be cuda"));
        // A config without the key (written before it existed) trains on `device` alone.
        nlohmann::json old = runnable().toJson();
        old.erase("devices");
        QVERIFY(TrainConfig::fromJson(old, "old.json").devices.empty());
    }

    void filesOnDiskAreChecked()
    {
        namespace fs = std::filesystem;
        const std::string model = m_tmp.filePath("model").toStdString();
        fs::create_directories(model);
        TrainConfig c;
        c.modelDir = model;
        c.dataPath = m_tmp.filePath("missing.jsonl").toStdString();
        c.validationPath = m_tmp.filePath("missing-val.jsonl").toStdString();
        c.initialAdapter = m_tmp.filePath("no-adapter").toStdString();
        c.outputDir = m_tmp.filePath("used-run").toStdString();
        fs::create_directories(c.outputDir);
        writeFile(c.outputDir + "/train_config.json", "{}");
        std::vector<ConfigProblem> p = c.fileProblems(false);
        QVERIFY(hasProblem(p, "model", "config.json is missing"));
        QVERIFY(hasProblem(p, "data", "missing.jsonl: no such file"));
        QVERIFY(hasProblem(p, "validation_data", "missing-val.jsonl: no such file"));
        QVERIFY(hasProblem(p, "initial_adapter", "adapter_config.json is missing"));
        QVERIFY(hasProblem(p, "output_dir", "already holds a run"));
        // Resuming is what a folder holding a run is for.
        QVERIFY(!hasProblem(c.fileProblems(true), "output_dir", "already holds a run"));
    }

    void runFilesNameTheFileAndKey()
    {
        const std::string dir = m_tmp.filePath("files").toStdString();
        std::filesystem::create_directories(dir);
        QVERIFY(readError(dir + "/absent.json").find("absent.json: cannot read") != std::string::npos);
        writeFile(dir + "/broken.json", "{\"model\": ");
        QVERIFY(readError(dir + "/broken.json").find("broken.json: not valid JSON") != std::string::npos);
        writeFile(dir + "/typo.json", R"({"learnign_rate": 0.1})");
        QVERIFY(readError(dir + "/typo.json").find("typo.json: unknown key \"learnign_rate\"") != std::string::npos);
        writeFile(dir + "/type.json", R"({"lora": {"rank": "eight"}})");
        const std::string type = readError(dir + "/type.json");
        QVERIFY2(type.find("type.json: key \"lora.rank\": wrong type") != std::string::npos, type.c_str());
        writeFile(dir + "/good.json", runnable().toJson().dump(2));
        QCOMPARE(TrainConfig::fromFile(dir + "/good.json").toJson().dump(), runnable().toJson().dump());
    }
};

QTEST_GUILESS_MAIN(TestTrainConfig)
#include "tst_trainconfig.moc"
