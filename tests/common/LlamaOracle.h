// llama.cpp itself as the reference for the GGUF export tests: runs tests/llamacpp/llama_oracle as
// a child process (llama.cpp aborts on some malformed files; the child dies, not the test) and
// reads its JSON. The test target needs tunebench_use_llama_oracle(<target>) in its CMakeLists.txt
// (tests/llamacpp/CMakeLists.txt), which defines TB_LLAMA_ORACLE.
//
// Every helper returns an error string, empty on success, that carries the oracle's stderr:
// what failed and llama.cpp's own log of the call. A missing oracle is an error ("llama.cpp oracle
// not built: run installer/setup.sh test"), so tests QFAIL rather than skip. Timeouts are long
// on purpose: the test machines are shared, and a slow run is not a wrong one.
//
//   auto r = oracleLogits(gguf, {1, 2, 3});
//   QVERIFY2(r.ok(), qPrintable(r.error));   // r.value: n_vocab floats, last position
#pragma once

#include <QByteArray>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QProcessEnvironment>
#include <QString>
#include <QStringList>
#include <QTemporaryDir>

#include <cmath>
#include <cstdint>
#include <vector>

#ifndef TB_LLAMA_ORACLE
#error "TB_LLAMA_ORACLE is not defined: call tunebench_use_llama_oracle(<test target>) in CMake"
#endif

struct LlamaOracleResult {
    bool ok = false;     // exit code 0 and, when JSON was expected, stdout parsed as one document
    int exitCode = -1;   // -1 when it did not start, crashed or timed out
    QJsonDocument json;  // stdout as one JSON document (null for JSON Lines output)
    QByteArray out;      // raw stdout
    QString error;       // empty when ok
};

// One answer of a typed helper: value is meaningful only when error is empty.
template <typename T>
struct LlamaOracleAnswer {
    T value{};
    QString error;
    bool ok() const { return error.isEmpty(); }
};

struct OracleGreedy {
    std::vector<int32_t> ids;     // one per step
    std::vector<double> margins;  // top1 - top2 raw logit per step
};

struct OraclePerplexity {
    double nll = 0.0;     // natural log, summed over every scored token
    qint64 count = 0;     // tokens scored: sum of (length - 1) over the sequences
    double ppl = 0.0;     // exp(nll / count)
};

inline QString llamaOraclePath()
{
    return QStringLiteral(TB_LLAMA_ORACLE);
}

inline LlamaOracleResult runLlamaOracle(const QStringList& args, int timeoutMs = 600000, bool expectJson = true)
{
    LlamaOracleResult r;
    const QString program = llamaOraclePath();
    if (program.isEmpty() || !QFileInfo(program).isExecutable()) {
        r.error = QStringLiteral("llama.cpp oracle not built: run installer/setup.sh test (then rebuild)");
        return r;
    }
    const QString call = QStringLiteral("llama_oracle ") + args.join(QLatin1Char(' '));

    QProcess p;
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("GGML_NO_BACKTRACE"), QStringLiteral("1")); // no gdb on an abort
    p.setProcessEnvironment(env);
    p.start(program, args);
    if (!p.waitForStarted(60000)) {
        r.error = call + QStringLiteral(": did not start: ") + p.errorString();
        return r;
    }
    if (!p.waitForFinished(timeoutMs)) {
        p.kill();
        p.waitForFinished(10000);
        r.error = call + QStringLiteral(": timed out after %1 s").arg(timeoutMs / 1000);
        return r;
    }
    r.out = p.readAllStandardOutput();
    const QString err = QString::fromUtf8(p.readAllStandardError());
    if (p.exitStatus() == QProcess::CrashExit) {
        r.error = call + QStringLiteral(": crashed\n") + err;
        return r;
    }
    r.exitCode = p.exitCode();
    if (r.exitCode != 0) {
        r.error = call + QStringLiteral(": exit code %1\n").arg(r.exitCode) + err;
        return r;
    }
    if (expectJson) {
        QJsonParseError pe;
        r.json = QJsonDocument::fromJson(r.out, &pe);
        if (pe.error != QJsonParseError::NoError) {
            r.error = call + QStringLiteral(": stdout is not one JSON document: ") + pe.errorString();
            return r;
        }
    }
    r.ok = true;
    return r;
}

namespace llamaoracle_detail {

inline QString tokenList(const std::vector<int32_t>& tokens)
{
    QStringList s;
    s.reserve(static_cast<int>(tokens.size()));
    for (int32_t t : tokens)
        s << QString::number(t);
    return s.join(QLatin1Char(','));
}

inline QStringList loraArgs(const QString& loraPath, double loraScale)
{
    if (loraPath.isEmpty())
        return {};
    return { QStringLiteral("--lora"), loraPath, QStringLiteral("--lora-scale"), QString::number(loraScale, 'g', 17) };
}

// A JSON array of numbers as floats; null (a non-finite logit) or a non-number is an error.
inline bool toFloats(const QJsonValue& v, int expected, std::vector<float>& out, QString& error)
{
    const QJsonArray a = v.toArray();
    if (!v.isArray() || (expected >= 0 && a.size() != expected)) {
        error = QStringLiteral("oracle: expected an array of %1 numbers").arg(expected);
        return false;
    }
    out.clear();
    out.reserve(static_cast<size_t>(a.size()));
    for (int i = 0; i < a.size(); ++i) {
        if (!a[i].isDouble()) {
            error = QStringLiteral("oracle: value %1 is not a finite number").arg(i);
            return false;
        }
        out.push_back(static_cast<float>(a[i].toDouble()));
    }
    return true;
}

inline bool writeFile(const QString& path, const QByteArray& data, QString& error)
{
    QFile f(path);
    if (!f.open(QIODevice::WriteOnly) || f.write(data) != data.size()) {
        error = QStringLiteral("cannot write ") + path;
        return false;
    }
    return true;
}

} // namespace llamaoracle_detail

// The model's metadata and sizes as llama.cpp sees them: {arch, n_vocab, n_ctx_train, n_embd,
// n_layer, n_head, n_head_kv, n_params, size, ftype, desc, meta: {key: string}, chat_template}.
inline LlamaOracleAnswer<QJsonObject> oracleInfo(const QString& model)
{
    LlamaOracleAnswer<QJsonObject> a;
    const LlamaOracleResult r = runLlamaOracle({ QStringLiteral("info"), model });
    if (!r.ok)
        a.error = r.error;
    else
        a.value = r.json.object();
    return a;
}

// Raw logits (n_vocab floats) at the last of tokens, with an optional LoRA adapter GGUF.
inline LlamaOracleAnswer<std::vector<float>> oracleLogits(const QString& model, const std::vector<int32_t>& tokens,
                                                          const QString& loraPath = {}, double loraScale = 1.0)
{
    LlamaOracleAnswer<std::vector<float>> a;
    const LlamaOracleResult r = runLlamaOracle(QStringList{ QStringLiteral("logits"), model, QStringLiteral("--tokens"),
                                                            llamaoracle_detail::tokenList(tokens) }
                                               + llamaoracle_detail::loraArgs(loraPath, loraScale));
    if (!r.ok) {
        a.error = r.error;
        return a;
    }
    const QJsonObject o = r.json.object();
    llamaoracle_detail::toFloats(o.value(QStringLiteral("logits")), o.value(QStringLiteral("n_vocab")).toInt(-1), a.value, a.error);
    return a;
}

// Raw logits at every position: [tokens.size()][n_vocab].
inline LlamaOracleAnswer<std::vector<std::vector<float>>> oracleLogitsAll(const QString& model, const std::vector<int32_t>& tokens,
                                                                          const QString& loraPath = {}, double loraScale = 1.0)
{
    LlamaOracleAnswer<std::vector<std::vector<float>>> a;
    const LlamaOracleResult r = runLlamaOracle(QStringList{ QStringLiteral("logits"), model, QStringLiteral("--tokens"),
                                                            llamaoracle_detail::tokenList(tokens), QStringLiteral("--all") }
                                               + llamaoracle_detail::loraArgs(loraPath, loraScale));
    if (!r.ok) {
        a.error = r.error;
        return a;
    }
    const QJsonObject o = r.json.object();
    const int nVocab = o.value(QStringLiteral("n_vocab")).toInt(-1);
    const QJsonArray rows = o.value(QStringLiteral("logits")).toArray();
    if (rows.size() != static_cast<int>(tokens.size())) {
        a.error = QStringLiteral("oracle: %1 rows of logits for %2 tokens").arg(rows.size()).arg(tokens.size());
        return a;
    }
    a.value.resize(tokens.size());
    for (int i = 0; i < rows.size(); ++i)
        if (!llamaoracle_detail::toFloats(rows[i], nVocab, a.value[static_cast<size_t>(i)], a.error))
            return a;
    return a;
}

// n steps of argmax decoding from the prompt (no sampler), with each step's top1-top2 margin.
inline LlamaOracleAnswer<OracleGreedy> oracleGreedy(const QString& model, const std::vector<int32_t>& prompt, int n,
                                                    const QString& loraPath = {}, double loraScale = 1.0)
{
    LlamaOracleAnswer<OracleGreedy> a;
    const LlamaOracleResult r = runLlamaOracle(QStringList{ QStringLiteral("greedy"), model, QStringLiteral("--tokens"),
                                                            llamaoracle_detail::tokenList(prompt), QStringLiteral("--n"),
                                                            QString::number(n) }
                                               + llamaoracle_detail::loraArgs(loraPath, loraScale));
    if (!r.ok) {
        a.error = r.error;
        return a;
    }
    const QJsonObject o = r.json.object();
    for (const QJsonValue& v : o.value(QStringLiteral("ids")).toArray())
        a.value.ids.push_back(static_cast<int32_t>(v.toInt()));
    for (const QJsonValue& v : o.value(QStringLiteral("margins")).toArray())
        a.value.margins.push_back(v.toDouble(std::nan("")));
    if (a.value.ids.size() != static_cast<size_t>(n) || a.value.margins.size() != static_cast<size_t>(n))
        a.error = QStringLiteral("oracle: greedy returned %1 ids for %2 steps").arg(a.value.ids.size()).arg(n);
    return a;
}

// llama.cpp's tokenization of each non-blank line {"text": "..."} of a JSON Lines corpus (e.g.
// tests/parity/corpus.jsonl), with a vocabulary-only load.
inline LlamaOracleAnswer<std::vector<std::vector<int32_t>>> oracleTokenizeFile(const QString& model, const QString& corpus,
                                                                               bool addSpecial = false, bool parseSpecial = false)
{
    LlamaOracleAnswer<std::vector<std::vector<int32_t>>> a;
    QStringList args{ QStringLiteral("tokenize"), model, QStringLiteral("--in"), corpus };
    if (addSpecial)
        args << QStringLiteral("--add-special");
    if (parseSpecial)
        args << QStringLiteral("--parse-special");
    const LlamaOracleResult r = runLlamaOracle(args, 600000, false);
    if (!r.ok) {
        a.error = r.error;
        return a;
    }
    for (const QByteArray& line : r.out.split('\n')) {
        if (line.trimmed().isEmpty())
            continue;
        QJsonParseError pe;
        const QJsonDocument doc = QJsonDocument::fromJson(line, &pe);
        if (pe.error != QJsonParseError::NoError || !doc.object().value(QStringLiteral("ids")).isArray()) {
            a.error = QStringLiteral("oracle: tokenize line %1 is not {\"ids\": [...]}").arg(a.value.size() + 1);
            return a;
        }
        std::vector<int32_t> ids;
        for (const QJsonValue& v : doc.object().value(QStringLiteral("ids")).toArray())
            ids.push_back(static_cast<int32_t>(v.toInt()));
        a.value.push_back(std::move(ids));
    }
    return a;
}

// llama.cpp's tokenization of each text (one per entry; a text may hold newlines).
inline LlamaOracleAnswer<std::vector<std::vector<int32_t>>> oracleTokenize(const QString& model, const QStringList& texts,
                                                                           bool addSpecial = false, bool parseSpecial = false)
{
    LlamaOracleAnswer<std::vector<std::vector<int32_t>>> a;
    QTemporaryDir dir;
    const QString corpus = dir.filePath(QStringLiteral("corpus.jsonl"));
    QByteArray lines;
    for (const QString& t : texts)
        lines += QJsonDocument(QJsonObject{ { QStringLiteral("text"), t } }).toJson(QJsonDocument::Compact) + '\n';
    if (!dir.isValid() || !llamaoracle_detail::writeFile(corpus, lines, a.error)) {
        if (a.error.isEmpty())
            a.error = QStringLiteral("cannot make a temporary folder");
        return a;
    }
    a = oracleTokenizeFile(model, corpus, addSpecial, parseSpecial);
    if (a.ok() && a.value.size() != static_cast<size_t>(texts.size()))
        a.error = QStringLiteral("oracle: %1 tokenizations for %2 texts").arg(a.value.size()).arg(texts.size());
    return a;
}

// Summed next-token NLL of each sequence (each cut to ctx tokens when ctx > 0).
inline LlamaOracleAnswer<OraclePerplexity> oraclePerplexity(const QString& model, const std::vector<std::vector<int32_t>>& seqs,
                                                            int ctx = 0)
{
    LlamaOracleAnswer<OraclePerplexity> a;
    QTemporaryDir dir;
    const QString file = dir.filePath(QStringLiteral("tokens.jsonl"));
    QByteArray lines;
    for (const auto& s : seqs)
        lines += "{\"ids\":[" + llamaoracle_detail::tokenList(s).toUtf8() + "]}\n";
    if (!dir.isValid() || !llamaoracle_detail::writeFile(file, lines, a.error)) {
        if (a.error.isEmpty())
            a.error = QStringLiteral("cannot make a temporary folder");
        return a;
    }
    QStringList args{ QStringLiteral("perplexity"), model, QStringLiteral("--in"), file };
    if (ctx > 0)
        args << QStringLiteral("--ctx") << QString::number(ctx);
    const LlamaOracleResult r = runLlamaOracle(args);
    if (!r.ok) {
        a.error = r.error;
        return a;
    }
    const QJsonObject o = r.json.object();
    a.value.nll = o.value(QStringLiteral("nll")).toDouble(std::nan(""));
    a.value.count = static_cast<qint64>(o.value(QStringLiteral("count")).toDouble(-1));
    a.value.ppl = o.value(QStringLiteral("ppl")).toDouble(std::nan(""));
    return a;
}

// llama.cpp's own quantization (llama-quantize): type is f32, f16, bf16, q8_0, q4_0, q4_k_m,
// q5_k_m or q6_k. Returns the seconds it took.
inline LlamaOracleAnswer<double> oracleQuantize(const QString& in, const QString& out, const QString& type)
{
    LlamaOracleAnswer<double> a;
    const LlamaOracleResult r = runLlamaOracle({ QStringLiteral("quantize"), in, out, type });
    if (!r.ok)
        a.error = r.error;
    else
        a.value = r.json.object().value(QStringLiteral("seconds")).toDouble();
    return a;
}
