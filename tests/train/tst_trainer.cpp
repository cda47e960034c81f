// The Trainer end to end on the real demo model folder and the shipped review dataset: the
// loss falls, an interrupted run resumes to the same losses, cancel/pause act within a step,
// non-finite losses stop the run, and what it saves loads again.
#include "demo/DemoModelMaker.h"
#include "formats/SafetensorsReader.h"
#include "generate/ChatPrompt.h"
#include "generate/TextGenerator.h"
#include "tokenizer/Tokenizer.h"
#include "tokenizer/TokenizerConfig.h"
#include "formats/SafetensorsWriter.h"
#include "lora/LoraInjector.h"
#include "lora/PeftAdapter.h"
#include "model/ModelLoader.h"
#include "model/TensorIO.h"
#include "train/Trainer.h"
#include "train/TrainingCheckpoint.h"
#include "train/TrainingSession.h"

#include <nlohmann/json.hpp>

#include <QTemporaryDir>
#include <QTest>

#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

using namespace tb;
namespace fs = std::filesystem;

namespace {

struct Recorder : TrainerCallbacks {
    std::vector<StepReport> steps;
    std::vector<EvalReport> evals;
    std::vector<MemorySample> memory;
    std::vector<std::string> logs;
    std::vector<StartReport> starts;
    std::function<void(const StepReport&)> onStepHook;
    std::function<void(const std::string&)> onLogHook;

    void onStart(const StartReport& r) override { starts.push_back(r); }
    void onStep(const StepReport& r) override
    {
        steps.push_back(r);
        if (onStepHook)
            onStepHook(r);
    }
    void onEval(const EvalReport& r) override { evals.push_back(r); }
    void onMemory(const MemorySample& m) override { memory.push_back(m); }
    void onLog(LogLevel, const std::string& m) override
    {
        logs.push_back(m);
        if (onLogHook)
            onLogHook(m);
    }
};

std::string dataset(const char* name)
{
    return std::string(TB_SOURCE_DIR) + "/resources/datasets/" + name;
}

} // namespace

class TestTrainer : public QObject {
    Q_OBJECT
private:
    QTemporaryDir m_tmp;
    std::string m_model;

    TrainConfig baseConfig(const std::string& runName)
    {
        TrainConfig c;
        c.modelDir = m_model;
        c.dataPath = dataset("reviews-train.jsonl");
        c.validationPath = dataset("reviews-val.jsonl");
        c.outputDir = m_tmp.filePath(QString::fromStdString(runName)).toStdString();
        c.data.maxSeqLen = 96;
        c.batchSize = 8;
        c.learningRate = 3e-3;
        c.maxSteps = 12;
        c.warmupSteps = 2;
        c.lora.rank = 8;
        c.lora.alpha = 16;
        c.seed = 7;
        return c;
    }

private Q_SLOTS:
    void initTestCase()
    {
        m_model = m_tmp.filePath("demo").toStdString();
        makeDemoModel(m_model, "tiny", 0);
    }

    void loraLearnsTheShippedTask()
    {
        TrainConfig c = baseConfig("lora");
        c.maxSteps = 120;
        c.evalEvery = 40;
        Recorder rec;
        Trainer trainer(c);
        const TrainResult r = trainer.run(rec);
        QVERIFY2(r.status == TrainStatus::Finished, r.reason.c_str());
        QCOMPARE(r.step, int64_t(120));
        QCOMPARE(int(rec.steps.size()), 120);
        QCOMPARE(int(rec.evals.size()), 4); // before training, at steps 40 and 80, at the end
        const double before = rec.evals.front().loss, after = rec.evals.back().loss;
        QVERIFY2(after < 0.6 * before, qPrintable(QString("validation loss %1 -> %2").arg(before).arg(after)));
        QCOMPARE(r.bestValidationLoss, std::min_element(rec.evals.begin(), rec.evals.end(), [](auto& a, auto& b) { return a.loss < b.loss; })->loss);
        QVERIFY(rec.steps.back().tokensPerSecond > 0);
        QVERIFY(rec.steps[5].learningRate > rec.steps.back().learningRate); // cosine decay

        // Memory samples: measured categories.
        QVERIFY(rec.memory.size() >= 120);
        const MemorySample& m = rec.memory.back();
        QCOMPARE(m.adapterBytes, r.trainableParameters * 4);          // fp32 adapters
        QCOMPARE(m.optimizerBytes, r.trainableParameters * 2 * 4);    // two fp32 moments
        QCOMPARE(m.gradientBytes, r.trainableParameters * 4);         // sampled while gradients live
        QCOMPARE(m.baseWeightBytes, int64_t(3950848) * 2);            // the bf16 base, untouched
        QVERIFY(m.residentBytes > 0 && m.peakResidentBytes >= m.residentBytes);

        // The saved PEFT adapter, loaded onto a fresh base, answers validation reviews with the
        // label, in the format it was trained on.
        LoadedModel fresh = loadModel(m_model);
        loadPeftAdapter(*fresh.model, r.adapterDir);
        QCOMPARE(int64_t(loraParameterCount(*fresh.model)), r.trainableParameters);
        QVERIFY(fs::exists(r.lastCheckpoint + "/trainable.safetensors"));
        const Tokenizer tokenizer = Tokenizer::fromFile(m_model + "/tokenizer.json");
        const TokenizerConfig tc = TokenizerConfig::fromFile(m_model + "/tokenizer_config.json");
        GenerationOptions options;
        options.maxNewTokens = 8;
        options.eosTokenIds = defaultEosTokenIds(fresh.config, tokenizer, tc);
        std::ifstream val(dataset("reviews-val.jsonl"));
        std::string line;
        int correct = 0, asked = 0;
        while (asked < 20 && std::getline(val, line)) {
            const auto record = nlohmann::json::parse(line);
            const std::string prompt = renderChatPrompt(tc, "tokenizer_config.json",
                                                        record["instruction"].get<std::string>() + "\n\n" + record["input"].get<std::string>());
            const auto ids = tokenizer.encode(prompt, true);
            const GenerationResult g = TextGenerator(*fresh.model, tokenizer).generate(std::vector<int64_t>(ids.begin(), ids.end()), options);
            QVERIFY2(g.text == "positive" || g.text == "negative", g.text.c_str());
            QCOMPARE(g.stopReason, StopReason::Eos);
            correct += g.text == record["output"].get<std::string>();
            ++asked;
        }
        QVERIFY2(correct >= 16, qPrintable(QString("%1 of 20 validation reviews classified correctly").arg(correct)));
    }

    void interruptedRunResumesExactly_data()
    {
        QTest::addColumn<double>("dropout");
        QTest::addColumn<int>("accum");
        QTest::newRow("plain") << 0.0 << 1;
        QTest::newRow("accum") << 0.0 << 2;
        QTest::newRow("dropout") << 0.1 << 1;
        QTest::newRow("dropout+accum") << 0.1 << 2;
    }

    void interruptedRunResumesExactly()
    {
        QFETCH(double, dropout);
        QFETCH(int, accum);
        TrainConfig c = baseConfig("straight" + std::to_string(accum) + std::to_string(dropout));
        c.gradAccum = accum;
        c.lora.dropout = dropout; // exercises the RNG state in the checkpoint
        c.saveEvery = 100;
        Recorder straight;
        QVERIFY(Trainer(c).run(straight).status == TrainStatus::Finished);

        c.outputDir = m_tmp.filePath(QString::fromStdString("interrupted" + std::to_string(accum) + std::to_string(dropout))).toStdString();
        Recorder first;
        Trainer interrupted(c);
        first.onStepHook = [&](const StepReport& r) {
            if (r.step == 5)
                interrupted.cancel();
        };
        const TrainResult stopped = interrupted.run(first);
        QCOMPARE(stopped.status, TrainStatus::Cancelled);
        QCOMPARE(stopped.step, int64_t(5)); // cancel takes effect within one step
        QVERIFY(fs::exists(latestCheckpoint(c.outputDir) + "/training_state.safetensors"));

        Recorder second;
        const TrainResult resumed = Trainer(c).run(second, /*resume=*/true);
        QVERIFY2(resumed.status == TrainStatus::Finished, resumed.reason.c_str());
        QCOMPARE(int(second.steps.size()), 12 - 5);
        for (size_t i = 0; i < second.steps.size(); ++i) {
            const double a = straight.steps[5 + i].loss, b = second.steps[i].loss;
            QCOMPARE(second.steps[i].step, straight.steps[5 + i].step);
            QVERIFY2(std::abs(a - b) <= 1e-5 * std::abs(a), qPrintable(QString("step %1: %2 vs %3").arg(second.steps[i].step).arg(a).arg(b)));
        }
        QCOMPARE(resumed.tokensSeen, straight.steps.back().tokensSeen);
    }

    void resumeRefusesOtherSettings()
    {
        TrainConfig c = baseConfig("other");
        c.maxSteps = 2;
        Recorder rec;
        QVERIFY(Trainer(c).run(rec).status == TrainStatus::Finished);
        c.learningRate = 1e-2;
        const TrainResult r = Trainer(c).run(rec, true);
        QCOMPARE(r.status, TrainStatus::Failed);
        QVERIFY2(QString::fromStdString(r.reason).contains("other settings"), r.reason.c_str());
        TrainConfig none = baseConfig("never-ran");
        QVERIFY(QString::fromStdString(Trainer(none).run(rec, true).reason).contains("no checkpoint"));
    }

    void pauseAndResumeFromAnotherThread()
    {
        TrainConfig c = baseConfig("paused");
        c.maxSteps = 4;
        Trainer trainer(c);
        Recorder rec;
        std::thread resumer;
        rec.onStepHook = [&](const StepReport& r) {
            if (r.step == 2) {
                trainer.pause();
                resumer = std::thread([&] {
                    std::this_thread::sleep_for(std::chrono::milliseconds(300));
                    QVERIFY(trainer.paused());
                    trainer.resume();
                });
            }
        };
        const auto start = std::chrono::steady_clock::now();
        const TrainResult r = trainer.run(rec);
        resumer.join();
        QCOMPARE(r.status, TrainStatus::Finished);
        QCOMPARE(r.step, int64_t(4));
        QVERIFY(std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(300));
    }

    void nonFiniteLossStopsTheRun()
    {
        // A checkpoint with a NaN in one norm weight: every loss is NaN.
        const std::string broken = m_tmp.filePath("nan-model").toStdString();
        fs::copy(m_model, broken);
        {
            std::map<std::string, at::Tensor> tensors;
            {
                SafetensorsReader reader(broken + "/model.safetensors");
                for (const auto& info : reader.tensors())
                    tensors[info.name] = readTensor(reader, info);
            }
            tensors["model.norm.weight"][3] = std::numeric_limits<float>::quiet_NaN();
            SafetensorsWriter w;
            for (const auto& [name, t] : tensors)
                addTensor(w, name, t);
            w.write(broken + "/model.safetensors");
        }
        TrainConfig c = baseConfig("nan");
        c.modelDir = broken;
        c.maxBadSteps = 3;
        Recorder rec;
        const TrainResult r = Trainer(c).run(rec);
        QCOMPARE(r.status, TrainStatus::Failed);
        QVERIFY2(QString::fromStdString(r.reason).contains("not finite for 3 steps"), r.reason.c_str());
        QCOMPARE(int(rec.steps.size()), 3);
        for (const auto& s : rec.steps)
            QVERIFY(s.skipped);
    }

    void gradientCheckpointingChangesNothingButMemory()
    {
        TrainConfig c = baseConfig("no-ckpt");
        c.maxSteps = 3;
        c.lora.dropout = 0.1;
        Recorder plain, checkpointed;
        QVERIFY(Trainer(c).run(plain).status == TrainStatus::Finished);
        c.outputDir = m_tmp.filePath("ckpt").toStdString();
        c.gradientCheckpointing = true;
        QVERIFY(Trainer(c).run(checkpointed).status == TrainStatus::Finished);
        for (int i = 0; i < 3; ++i) {
            QVERIFY2(std::abs(plain.steps[i].loss - checkpointed.steps[i].loss) < 1e-5 * plain.steps[i].loss,
                     qPrintable(QString("%1 vs %2").arg(plain.steps[i].loss).arg(checkpointed.steps[i].loss)));
            QVERIFY(std::abs(plain.steps[i].gradNorm - checkpointed.steps[i].gradNorm) < 1e-3 * plain.steps[i].gradNorm);
        }
    }

    void fullFineTuningTrainsEveryWeight()
    {
        TrainConfig c = baseConfig("full");
        c.method = TrainMethod::Full;
        c.learningRate = 1e-3;
        c.maxSteps = 10;
        Recorder rec;
        const TrainResult r = Trainer(c).run(rec);
        QVERIFY2(r.status == TrainStatus::Finished, r.reason.c_str());
        QCOMPARE(r.trainableParameters, int64_t(3950848));
        QVERIFY(rec.evals.back().loss < rec.evals.front().loss);
        QCOMPARE(rec.memory.back().baseWeightBytes, int64_t(0));
        LoadOptions fp32;
        fp32.dtype = at::kFloat;
        const LoadedModel saved = loadModel(r.adapterDir, fp32);
        QVERIFY(fs::exists(r.adapterDir + "/tokenizer.json"));
        QCOMPARE(saved.config.parameterCount(), int64_t(3950848));
    }

    void continuesAPeftAdapter()
    {
        TrainConfig c = baseConfig("first");
        c.maxSteps = 6;
        c.lora.rank = 4;
        c.lora.alpha = 12;
        c.lora.targets = {"q_proj", "v_proj"};
        Recorder first;
        const TrainResult a = Trainer(c).run(first);
        QVERIFY2(a.status == TrainStatus::Finished, a.reason.c_str());

        TrainConfig next = baseConfig("continued");
        next.maxSteps = 2;
        next.initialAdapter = a.adapterDir; // rank, alpha and targets come from its adapter_config.json
        Recorder second;
        const TrainResult b = Trainer(next).run(second);
        QVERIFY2(b.status == TrainStatus::Finished, b.reason.c_str());
        QCOMPARE(b.trainableParameters, a.trainableParameters);
        // The continued run starts where the first one ended.
        QVERIFY(std::abs(second.evals.front().loss - first.evals.back().loss) < 1e-6 * first.evals.back().loss);
        const PeftAdapterInfo saved = readPeftAdapterConfig(b.adapterDir);
        QCOMPARE(saved.settings.rank, int64_t(4));
        QCOMPARE(saved.settings.alpha, 12.0);
    }

    void qloraMatchesLoraAtAQuarterOfTheBase()
    {
        // The same run with the base in NF4 + double quantization (QLoRA) instead of bf16.
        TrainConfig c = baseConfig("lora-ref");
        c.maxSteps = 40;
        Recorder lora, qlora;
        const TrainResult loraResult = Trainer(c).run(lora);
        QVERIFY(loraResult.status == TrainStatus::Finished);
        c.outputDir = m_tmp.filePath("qlora").toStdString();
        c.method = TrainMethod::Qlora;
        c.quantCacheDir = m_tmp.filePath("quant-cache").toStdString();
        const TrainResult r = Trainer(c).run(qlora);
        QVERIFY2(r.status == TrainStatus::Finished, r.reason.c_str());
        const double a = lora.evals.back().loss, b = qlora.evals.back().loss;
        QVERIFY2(std::abs(b - a) <= 0.05 * a, qPrintable(QString("validation loss: LoRA %1, QLoRA %2").arg(a).arg(b)));
        QVERIFY(b < 0.6 * qlora.evals.front().loss);
        // Memory samples count the quantized base at its real size: the decoder's 2.9 M linear
        // weights in ~4.5 bits (small layers: the code tables weigh more than at 4.127) plus
        // the bf16 embeddings and norms.
        const int64_t loraBase = lora.memory.back().baseWeightBytes, qloraBase = qlora.memory.back().baseWeightBytes;
        const int64_t unquantized = (int64_t(3950848) - int64_t(2899968)) * 2;
        const double bits = 8.0 * double(qloraBase - unquantized) / 2899968.0;
        QVERIFY2(bits > 4.1 && bits < 4.7, qPrintable(QString("%1 bits per quantized weight").arg(bits)));
        QCOMPARE(loraBase, int64_t(3950848) * 2);
        QCOMPARE(r.trainableParameters, loraResult.trainableParameters); // the same adapters
        // The quantized base was cached: a second QLoRA run reads it.
        Recorder again;
        c.outputDir = m_tmp.filePath("qlora2").toStdString();
        c.maxSteps = 1;
        QVERIFY(Trainer(c).run(again).status == TrainStatus::Finished);
        bool fromCache = false;
        for (const auto& line : again.logs)
            fromCache = fromCache || line.find(", from ") != std::string::npos;
        QVERIFY(fromCache);
        // The adapter is a plain PEFT adapter: it loads onto the unquantized base.
        LoadedModel fresh = loadModel(m_model);
        loadPeftAdapter(*fresh.model, r.adapterDir);
    }

    void aSessionStepsAsTheTrainerDoes()
    {
        // The recipe's pieces driven by hand give the Trainer's run, step for step.
        TrainConfig c = baseConfig("by-hand");
        c.maxSteps = 3;
        Recorder byHand;
        TrainingSession session(c, byHand, [] { return false; });
        session.setup();
        const StartReport start = session.begin();
        QCOMPARE(start.totalSteps, int64_t(3));
        std::vector<double> losses;
        while (!session.done()) {
            const std::optional<StepReport> r = session.step();
            QVERIFY(r);
            QCOMPARE(r->step, int64_t(losses.size() + 1));
            losses.push_back(r->loss);
        }
        session.evaluate();
        QCOMPARE(byHand.evals.size(), size_t(1));
        QCOMPARE(byHand.evals.front().step, int64_t(3));
        QCOMPARE(byHand.memory.size(), size_t(3)); // one per step, while the gradients are alive

        c.outputDir = m_tmp.filePath("by-trainer").toStdString();
        Recorder byTrainer;
        QCOMPARE(Trainer(c).run(byTrainer).status, TrainStatus::Finished);
        QCOMPARE(byTrainer.steps.size(), size_t(3));
        for (size_t i = 0; i < 3; ++i)
            QCOMPARE(byTrainer.steps[i].loss, losses[i]);
        // A session cancelled before its micro-batch applies nothing.
        TrainingSession cancelled(c, byHand, [] { return true; });
        try {
            cancelled.setup();
            QFAIL("setup ignored the cancel");
        } catch (const SetupCancelled& e) {
            QCOMPARE(e.phase, std::string("before loading the model"));
        }
    }

    void startReportsTheStepsOfAnEpochsRun()
    {
        // maxSteps 0: the run is sized by epochs, and onStart says how many steps that is.
        TrainConfig c = baseConfig("epochs");
        c.maxSteps = 0;
        c.epochs = 0.25;
        Recorder rec;
        const TrainResult r = Trainer(c).run(rec);
        QCOMPARE(r.status, TrainStatus::Finished);
        QCOMPARE(rec.starts.size(), size_t(1));
        QVERIFY(rec.starts.front().totalSteps > 0);
        QCOMPARE(rec.starts.front().totalSteps, r.totalSteps);
        QCOMPARE(rec.starts.front().startStep, int64_t(0));
        QCOMPARE(rec.starts.front().trainableParameters, r.trainableParameters);
        QCOMPARE(rec.starts.front().device, std::string("cpu"));
        QCOMPARE(int64_t(rec.steps.size()), r.totalSteps);
    }

    void cancelWhileQuantizingEndsWithinTwoSeconds()
    {
        // The small demo's base takes a while to quantize; cancel comes once the data is
        // prepared (the log line before quantizing), from another thread, as the GUI's does.
        const std::string small = m_tmp.filePath("small").toStdString();
        makeDemoModel(small, "small", 0);
        TrainConfig c = baseConfig("cancel-quantizing");
        c.modelDir = small;
        c.method = TrainMethod::Qlora;
        c.quantCacheDir = m_tmp.filePath("cancel-cache").toStdString(); // empty: it really quantizes
        Trainer trainer(c);
        Recorder rec;
        std::thread canceller;
        std::chrono::steady_clock::time_point cancelledAt;
        rec.onLogHook = [&](const std::string& m) {
            if (m.rfind("Dataset format", 0) == 0)
                canceller = std::thread([&] {
                    std::this_thread::sleep_for(std::chrono::milliseconds(100));
                    cancelledAt = std::chrono::steady_clock::now();
                    trainer.cancel();
                });
        };
        const TrainResult r = trainer.run(rec);
        const auto returnedAt = std::chrono::steady_clock::now();
        QVERIFY(canceller.joinable());
        canceller.join();
        QCOMPARE(r.status, TrainStatus::Cancelled);
        QVERIFY2(r.reason.find("cancelled while quantizing the base") != std::string::npos
                     || r.reason.find("cancelled before the first step") != std::string::npos,
                 r.reason.c_str());
        QVERIFY(rec.steps.empty());
        const double seconds = std::chrono::duration<double>(returnedAt - cancelledAt).count();
        QVERIFY2(seconds < 2.0, qPrintable(QString("%1 s from cancel to return").arg(seconds)));
    }

    void badConfigFailsWithReason()
    {
        TrainConfig c = baseConfig("bad");
        c.dataPath = m_tmp.filePath("missing.jsonl").toStdString();
        Recorder rec;
        const TrainResult r = Trainer(c).run(rec);
        QCOMPARE(r.status, TrainStatus::Failed);
        QVERIFY2(QString::fromStdString(r.reason).contains("missing.jsonl"), r.reason.c_str());
        c = baseConfig("bad2");
        c.lora.targets = {"attn"};
        QVERIFY(QString::fromStdString(Trainer(c).run(rec).reason).contains("attn"));
    }
};

QTEST_GUILESS_MAIN(TestTrainer)
#include "tst_trainer.moc"
