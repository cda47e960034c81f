// The llama.cpp oracle (tests/llamacpp/llama_oracle, through tests/common/LlamaOracle.h) on a tiny
// llama-architecture GGUF that this test writes byte by byte: 2 layers, n_embd 64, 2 heads, f32
// weights from a fixed generator, and a byte-level GPT-2 tokenizer (256 byte tokens, merges for
// a few " word"s, one control token). Checks that llama.cpp loads it and reports it, that the
// subcommands agree with each other (greedy and perplexity against logits, --all against
// prefixes), that LoRA adapters apply, and that broken files fail in the child, with llama.cpp's
// reason in the error, while this process carries on.
#include <QDir>
#include <QFile>
#include <QTemporaryDir>
#include <QTest>
#include <QtEndian>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "LlamaOracle.h"

namespace {

// ---- a GGUF v3 file, byte by byte ---------------------------------------------------------------
// Layout (little-endian): "GGUF", u32 version 3, u64 tensor count, u64 kv count, the kv pairs
// (gguf string key = u64 length + bytes, u32 type, value), the tensor infos (name, u32 n_dims,
// u64 ne[n_dims] innermost first, u32 ggml type, u64 offset into the data section), zero padding
// to 32 bytes, then the data: each tensor at its offset, offsets contiguous up to 32-byte padding.
class GgufWriter {
public:
    enum Type : quint32 { U32 = 4, I32 = 5, F32 = 6, String = 8, Array = 9 };

    void addU32(const QByteArray& key, quint32 v) { keyType(key, U32); put(m_kv, v); }
    void addF32(const QByteArray& key, float v) { keyType(key, F32); putF32(m_kv, v); }
    void addString(const QByteArray& key, const QByteArray& v) { keyType(key, String); putString(m_kv, v); }
    void addStrings(const QByteArray& key, const QList<QByteArray>& v)
    {
        keyType(key, Array);
        put(m_kv, quint32(String));
        put(m_kv, quint64(v.size()));
        for (const QByteArray& s : v)
            putString(m_kv, s);
    }
    void addI32s(const QByteArray& key, const std::vector<qint32>& v)
    {
        keyType(key, Array);
        put(m_kv, quint32(I32));
        put(m_kv, quint64(v.size()));
        for (qint32 x : v)
            put(m_kv, x);
    }
    // ne innermost first (ggml order): a PyTorch (rows, cols) weight is ne {cols, rows}.
    void addTensor(const QByteArray& name, std::vector<quint64> ne, std::vector<float> data)
    {
        m_tensors.push_back({ name, std::move(ne), std::move(data) });
    }

    QByteArray bytes() const
    {
        QByteArray out("GGUF");
        put(out, quint32(3));
        put(out, quint64(m_tensors.size()));
        put(out, quint64(m_nKv));
        out += m_kv;
        quint64 offset = 0;
        for (const Tensor& t : m_tensors) {
            putString(out, t.name);
            put(out, quint32(t.ne.size()));
            for (quint64 n : t.ne)
                put(out, n);
            put(out, quint32(0)); // GGML_TYPE_F32
            put(out, offset);
            offset += padded(t.data.size() * sizeof(float));
        }
        out.append(int(padded(out.size()) - out.size()), '\0');
        for (const Tensor& t : m_tensors) {
            for (float f : t.data)
                putF32(out, f);
            out.append(int(padded(t.data.size() * sizeof(float)) - t.data.size() * sizeof(float)), '\0');
        }
        return out;
    }

private:
    struct Tensor {
        QByteArray name;
        std::vector<quint64> ne;
        std::vector<float> data;
    };
    static quint64 padded(quint64 n) { return (n + 31) / 32 * 32; }
    template <typename T>
    static void put(QByteArray& b, T v)
    {
        const T le = qToLittleEndian(v);
        b.append(reinterpret_cast<const char*>(&le), sizeof le);
    }
    static void putF32(QByteArray& b, float f)
    {
        quint32 bits;
        std::memcpy(&bits, &f, sizeof bits);
        put(b, bits);
    }
    static void putString(QByteArray& b, const QByteArray& s)
    {
        put(b, quint64(s.size()));
        b += s;
    }
    void keyType(const QByteArray& key, Type t)
    {
        putString(m_kv, key);
        put(m_kv, quint32(t));
        ++m_nKv;
    }

    QByteArray m_kv;
    qint64 m_nKv = 0;
    std::vector<Tensor> m_tensors;
};

// ---- the tiny model -----------------------------------------------------------------------------

constexpr int kEmbd = 64;
constexpr int kHeads = 2;
constexpr int kFf = 128;
constexpr int kLayers = 2;
const QByteArray kChatTemplate = "{% for m in messages %}<|endoftext|>{{ m.content }}{% endfor %}";
const QList<QByteArray> kMergedWords = { "the", "and", "of", "to", "in", "is", "it", "that", "was", "for",
                                         "on", "with", "as", "he", "be", "at", "by", "this", "had", "not" };

// GPT-2's byte-to-unicode table: printable bytes stand for themselves, the others for U+0100 on.
QByteArray byteToken(int byte)
{
    const bool printable = (byte >= 0x21 && byte <= 0x7e) || (byte >= 0xa1 && byte <= 0xac) || (byte >= 0xae && byte <= 0xff);
    if (printable)
        return QString(QChar(byte)).toUtf8();
    int n = 0;
    for (int b = 0; b < byte; ++b)
        if (!((b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff)))
            ++n;
    return QString(QChar(0x100 + n)).toUtf8();
}

struct TinyVocab {
    QList<QByteArray> tokens; // id = index; ids 0..255 are the bytes
    QList<QByteArray> merges;
    std::vector<qint32> types; // 1 normal, 3 control
    int endOfText = -1;
};

TinyVocab tinyVocab()
{
    TinyVocab v;
    for (int b = 0; b < 256; ++b)
        v.tokens << byteToken(b);
    const QByteArray space = byteToken(' ');
    for (const QByteArray& word : kMergedWords) {
        QByteArray prefix = space;
        for (char c : word) {
            const QByteArray merged = prefix + c;
            const QByteArray merge = prefix + ' ' + c;
            if (!v.merges.contains(merge))
                v.merges << merge;
            if (!v.tokens.contains(merged))
                v.tokens << merged;
            prefix = merged;
        }
    }
    v.types.assign(size_t(v.tokens.size()), 1);
    v.endOfText = int(v.tokens.size());
    v.tokens << "<|endoftext|>";
    v.types.push_back(3);
    return v;
}

// Uniform in [-scale, scale) from a fixed LCG: the same file on every run and machine.
std::vector<float> weights(size_t n, quint32& state, float scale)
{
    std::vector<float> w(n);
    for (float& x : w) {
        state = state * 1664525u + 1013904223u;
        x = scale * (float(state >> 8) / float(1u << 24) * 2.0f - 1.0f);
    }
    return w;
}

quint64 g_nParams = 0;

void addWeight(GgufWriter& g, const QByteArray& name, std::vector<quint64> ne, quint32& state, float scale)
{
    quint64 n = 1;
    for (quint64 d : ne)
        n *= d;
    g_nParams += n;
    g.addTensor(name, std::move(ne), weights(size_t(n), state, scale));
}

void addOnes(GgufWriter& g, const QByteArray& name, quint64 n)
{
    g_nParams += n;
    g.addTensor(name, { n }, std::vector<float>(size_t(n), 1.0f));
}

GgufWriter tinyModel(const TinyVocab& v)
{
    GgufWriter g;
    g.addString("general.architecture", "llama");
    g.addString("general.name", "tunebench tiny");
    g.addU32("general.alignment", 32);
    g.addU32("llama.context_length", 256);
    g.addU32("llama.embedding_length", kEmbd);
    g.addU32("llama.block_count", kLayers);
    g.addU32("llama.feed_forward_length", kFf);
    g.addU32("llama.attention.head_count", kHeads);
    g.addU32("llama.attention.head_count_kv", kHeads);
    g.addU32("llama.rope.dimension_count", kEmbd / kHeads);
    g.addF32("llama.rope.freq_base", 10000.0f);
    g.addF32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
    g.addString("tokenizer.ggml.model", "gpt2");
    g.addString("tokenizer.ggml.pre", "gpt-2");
    g.addStrings("tokenizer.ggml.tokens", v.tokens);
    g.addI32s("tokenizer.ggml.token_type", v.types);
    g.addStrings("tokenizer.ggml.merges", v.merges);
    g.addU32("tokenizer.ggml.bos_token_id", quint32(v.endOfText));
    g.addU32("tokenizer.ggml.eos_token_id", quint32(v.endOfText));
    g.addString("tokenizer.chat_template", kChatTemplate);

    const quint64 nVocab = quint64(v.tokens.size());
    quint32 state = 12345;
    g_nParams = 0;
    addWeight(g, "token_embd.weight", { kEmbd, nVocab }, state, 0.5f);
    for (int i = 0; i < kLayers; ++i) {
        const QByteArray blk = "blk." + QByteArray::number(i) + ".";
        addOnes(g, blk + "attn_norm.weight", kEmbd);
        addWeight(g, blk + "attn_q.weight", { kEmbd, kEmbd }, state, 0.2f);
        addWeight(g, blk + "attn_k.weight", { kEmbd, kEmbd }, state, 0.2f);
        addWeight(g, blk + "attn_v.weight", { kEmbd, kEmbd }, state, 0.2f);
        addWeight(g, blk + "attn_output.weight", { kEmbd, kEmbd }, state, 0.2f);
        addOnes(g, blk + "ffn_norm.weight", kEmbd);
        addWeight(g, blk + "ffn_gate.weight", { kEmbd, kFf }, state, 0.2f);
        addWeight(g, blk + "ffn_up.weight", { kEmbd, kFf }, state, 0.2f);
        addWeight(g, blk + "ffn_down.weight", { kFf, kEmbd }, state, 0.2f);
    }
    addOnes(g, "output_norm.weight", kEmbd);
    addWeight(g, "output.weight", { kEmbd, nVocab }, state, 0.5f);
    return g;
}

// A LoRA adapter on blk.0.attn_q.weight, rank 4: lora_a ne {64, 4} (PEFT's lora_A, (4, 64)),
// lora_b ne {4, 64} (lora_B, (64, 4)); llama.cpp scales B·A by scale * alpha / rank.
QByteArray tinyAdapter(bool zeroB)
{
    GgufWriter g;
    g.addString("general.architecture", "llama");
    g.addString("general.type", "adapter");
    g.addString("adapter.type", "lora");
    g.addF32("adapter.lora.alpha", 8.0f);
    quint32 state = 777;
    g.addTensor("blk.0.attn_q.weight.lora_a", { kEmbd, 4 }, weights(kEmbd * 4, state, 0.5f));
    g.addTensor("blk.0.attn_q.weight.lora_b", { 4, kEmbd },
                zeroB ? std::vector<float>(kEmbd * 4, 0.0f) : weights(kEmbd * 4, state, 0.5f));
    return g.bytes();
}

bool writeFile(const QString& path, const QByteArray& data)
{
    QFile f(path);
    return f.open(QIODevice::WriteOnly) && f.write(data) == data.size();
}

int argmax(const std::vector<float>& v)
{
    int best = 0;
    for (int i = 1; i < int(v.size()); ++i)
        if (v[size_t(i)] > v[size_t(best)])
            best = i;
    return best;
}

float maxAbsDiff(const std::vector<float>& a, const std::vector<float>& b)
{
    float d = 0.0f;
    for (size_t i = 0; i < a.size() && i < b.size(); ++i)
        d = std::max(d, std::abs(a[i] - b[i]));
    return d;
}

} // namespace

class TestLlamaOracle : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void info();
    void logitsAreFiniteAndDeterministic();
    void allPositionsMatchPrefixes();
    void greedyFollowsLogits();
    void perplexityMatchesLogits();
    void tokenize();
    void loraAdapter();
    void quantize();
    void truncatedFileFailsInTheChild();
    void abortInLlamaCppFailsInTheChild();

private:
    QTemporaryDir m_dir;
    TinyVocab m_vocab;
    QByteArray m_modelBytes;
    QString m_model;
    const std::vector<int32_t> m_tokens = { 256, 84, 104, 260, 33, 290 }; // ids < 295 + 1 tokens
};

void TestLlamaOracle::initTestCase()
{
    QVERIFY(m_dir.isValid());
    m_vocab = tinyVocab();
    m_modelBytes = tinyModel(m_vocab).bytes();
    m_model = m_dir.filePath("tiny.gguf");
    QVERIFY(writeFile(m_model, m_modelBytes));
    const LlamaOracleResult r = runLlamaOracle({ "--help" }, 60000, false);
    QVERIFY2(r.ok, qPrintable(r.error));
}

void TestLlamaOracle::info()
{
    const auto r = oracleInfo(m_model);
    QVERIFY2(r.ok(), qPrintable(r.error));
    const QJsonObject& o = r.value;
    QCOMPARE(o["arch"].toString(), QString("llama"));
    QCOMPARE(o["n_vocab"].toInt(), int(m_vocab.tokens.size()));
    QCOMPARE(o["n_embd"].toInt(), kEmbd);
    QCOMPARE(o["n_layer"].toInt(), kLayers);
    QCOMPARE(o["n_head"].toInt(), kHeads);
    QCOMPARE(o["n_ctx_train"].toInt(), 256);
    QCOMPARE(quint64(o["n_params"].toDouble()), g_nParams);
    QCOMPARE(quint64(o["size"].toDouble()), g_nParams * 4);
    QCOMPARE(o["meta"].toObject()["general.name"].toString(), QString("tunebench tiny"));
    QCOMPARE(o["chat_template"].toString().toUtf8(), kChatTemplate);
    // The special tokens as llama.cpp's vocabulary takes them: bos and eos from the file, eot
    // guessed from "<|endoftext|>"'s text (the file names none), which also ends generation.
    QCOMPARE(o["bos"].toInt(), m_vocab.endOfText);
    QCOMPARE(o["eos"].toInt(), m_vocab.endOfText);
    QCOMPARE(o["eot"].toInt(), m_vocab.endOfText);
    QCOMPARE(o["eog"].toArray(), QJsonArray({ m_vocab.endOfText }));
}

void TestLlamaOracle::logitsAreFiniteAndDeterministic()
{
    const auto a = oracleLogits(m_model, m_tokens);
    QVERIFY2(a.ok(), qPrintable(a.error));
    QCOMPARE(int(a.value.size()), int(m_vocab.tokens.size()));
    double sum = 0, sumSq = 0;
    for (float x : a.value) {
        QVERIFY(std::isfinite(x));
        sum += x;
        sumSq += double(x) * x;
    }
    const double var = sumSq / a.value.size() - (sum / a.value.size()) * (sum / a.value.size());
    QVERIFY2(var > 1e-4, "logits should differ between tokens");

    const auto b = oracleLogits(m_model, m_tokens);
    QVERIFY2(b.ok(), qPrintable(b.error));
    QVERIFY(a.value == b.value);
}

void TestLlamaOracle::allPositionsMatchPrefixes()
{
    const auto all = oracleLogitsAll(m_model, m_tokens);
    QVERIFY2(all.ok(), qPrintable(all.error));
    for (size_t n : { size_t(1), size_t(3), m_tokens.size() }) {
        const auto prefix = oracleLogits(m_model, std::vector<int32_t>(m_tokens.begin(), m_tokens.begin() + long(n)));
        QVERIFY2(prefix.ok(), qPrintable(prefix.error));
        QVERIFY2(maxAbsDiff(all.value[n - 1], prefix.value) < 1e-4f, qPrintable(QString("position %1").arg(n - 1)));
    }
}

void TestLlamaOracle::greedyFollowsLogits()
{
    const auto g = oracleGreedy(m_model, m_tokens, 3);
    QVERIFY2(g.ok(), qPrintable(g.error));
    std::vector<int32_t> context = m_tokens;
    for (int step = 0; step < 3; ++step) {
        const auto l = oracleLogits(m_model, context);
        QVERIFY2(l.ok(), qPrintable(l.error));
        const int best = argmax(l.value);
        QCOMPARE(g.value.ids[size_t(step)], best);
        std::vector<float> rest = l.value;
        rest[size_t(best)] = -INFINITY;
        QVERIFY(std::abs(g.value.margins[size_t(step)] - double(l.value[size_t(best)] - rest[size_t(argmax(rest))])) < 1e-4);
        context.push_back(best);
    }
}

void TestLlamaOracle::perplexityMatchesLogits()
{
    const std::vector<int32_t> other = { 290, 262, 10, 256 };
    const auto p = oraclePerplexity(m_model, { m_tokens, other, { 42 } });
    QVERIFY2(p.ok(), qPrintable(p.error));
    QCOMPARE(p.value.count, qint64(m_tokens.size() - 1 + other.size() - 1));

    double nll = 0;
    for (const auto& seq : { m_tokens, other }) {
        const auto all = oracleLogitsAll(m_model, seq);
        QVERIFY2(all.ok(), qPrintable(all.error));
        for (size_t i = 0; i + 1 < seq.size(); ++i) {
            const auto& row = all.value[i];
            const double m = *std::max_element(row.begin(), row.end());
            double s = 0;
            for (float x : row)
                s += std::exp(double(x) - m);
            nll -= double(row[size_t(seq[i + 1])]) - m - std::log(s);
        }
    }
    QVERIFY2(std::abs(p.value.nll - nll) < 1e-4 * std::max(1.0, nll), qPrintable(QString("%1 vs %2").arg(p.value.nll).arg(nll)));
    QVERIFY(std::abs(p.value.ppl - std::exp(p.value.nll / double(p.value.count))) < 1e-9 * p.value.ppl);

    const auto cut = oraclePerplexity(m_model, { m_tokens }, 3);
    QVERIFY2(cut.ok(), qPrintable(cut.error));
    QCOMPARE(cut.value.count, qint64(2));
}

void TestLlamaOracle::tokenize()
{
    const int the = int(m_vocab.tokens.indexOf(byteToken(' ') + "the"));
    QVERIFY(the >= 256);
    const auto r = oracleTokenize(m_model, { " the", "the", "<|endoftext|>" }, false, true);
    QVERIFY2(r.ok(), qPrintable(r.error));
    QCOMPARE(r.value[0], std::vector<int32_t>({ the }));
    QCOMPARE(r.value[1], std::vector<int32_t>({ 't', 'h', 'e' }));
    QCOMPARE(r.value[2], std::vector<int32_t>({ m_vocab.endOfText }));

    const auto plain = oracleTokenize(m_model, { "<|endoftext|>" }, false, false);
    QVERIFY2(plain.ok(), qPrintable(plain.error));
    QVERIFY(plain.value[0].size() > 1); // not parsed as the control token

    // A whole corpus file, one answer per non-blank line.
    const QString corpus = QStringLiteral(TB_PARITY_DIR) + "/corpus.jsonl";
    QFile f(corpus);
    QVERIFY(f.open(QIODevice::ReadOnly));
    int lines = 0;
    for (const QByteArray& line : f.readAll().split('\n'))
        lines += line.trimmed().isEmpty() ? 0 : 1;
    const auto all = oracleTokenizeFile(m_model, corpus, true, false);
    QVERIFY2(all.ok(), qPrintable(all.error));
    QCOMPARE(int(all.value.size()), lines);
}

void TestLlamaOracle::loraAdapter()
{
    const QString zero = m_dir.filePath("lora-zero.gguf");
    const QString real = m_dir.filePath("lora.gguf");
    QVERIFY(writeFile(zero, tinyAdapter(true)));
    QVERIFY(writeFile(real, tinyAdapter(false)));

    const auto base = oracleLogits(m_model, m_tokens);
    QVERIFY2(base.ok(), qPrintable(base.error));
    const auto withZero = oracleLogits(m_model, m_tokens, zero);
    QVERIFY2(withZero.ok(), qPrintable(withZero.error));
    QVERIFY(maxAbsDiff(base.value, withZero.value) < 1e-5f);
    const auto withReal = oracleLogits(m_model, m_tokens, real);
    QVERIFY2(withReal.ok(), qPrintable(withReal.error));
    QVERIFY(maxAbsDiff(base.value, withReal.value) > 1e-3f);
    const auto scaledOff = oracleLogits(m_model, m_tokens, real, 0.0);
    QVERIFY2(scaledOff.ok(), qPrintable(scaledOff.error));
    QVERIFY(base.value == scaledOff.value);

    // A model file is not an adapter: llama.cpp's own reason reaches the error.
    const auto wrong = oracleLogits(m_model, m_tokens, m_model);
    QVERIFY(!wrong.ok());
    QVERIFY2(wrong.error.contains("expect general.type to be 'adapter'"), qPrintable(wrong.error));
}

void TestLlamaOracle::quantize()
{
    const QString q8 = m_dir.filePath("tiny-q8_0.gguf");
    const auto q = oracleQuantize(m_model, q8, "q8_0");
    QVERIFY2(q.ok(), qPrintable(q.error));
    const auto info = oracleInfo(q8);
    QVERIFY2(info.ok(), qPrintable(info.error));
    QCOMPARE(info.value["ftype"].toString(), QString("Q8_0"));
    const auto base = oracleLogits(m_model, m_tokens);
    const auto quant = oracleLogits(q8, m_tokens);
    QVERIFY2(base.ok() && quant.ok(), qPrintable(base.error + quant.error));
    // Relative L2 change of the logits: q8_0 rounds weights and activations (~0.4% each), and this
    // random network amplifies it to ~2.5% (f16: ~0.2%).
    double diff = 0, norm = 0;
    for (size_t i = 0; i < base.value.size(); ++i) {
        diff += std::pow(double(base.value[i]) - quant.value[i], 2);
        norm += std::pow(double(base.value[i]), 2);
    }
    const double rel = std::sqrt(diff / norm);
    QVERIFY2(rel > 0.0 && rel < 0.1, qPrintable(QString("q8_0 moved the logits by %1 (relative)").arg(rel)));

    const auto bad = oracleQuantize(m_model, m_dir.filePath("x.gguf"), "q3_xx");
    QVERIFY(!bad.ok());
    QVERIFY2(bad.error.contains("unknown quantization type"), qPrintable(bad.error));
}

void TestLlamaOracle::truncatedFileFailsInTheChild()
{
    const QString cut = m_dir.filePath("truncated.gguf");
    QVERIFY(writeFile(cut, m_modelBytes.left(m_modelBytes.size() / 2)));
    const auto r = oracleInfo(cut);
    QVERIFY(!r.ok());
    QVERIFY2(r.error.contains("llama.cpp log") && r.error.contains("failed to load model"), qPrintable(r.error));

    const QString header = m_dir.filePath("header.gguf");
    QVERIFY(writeFile(header, m_modelBytes.left(20)));
    const auto h = oracleLogits(header, m_tokens);
    QVERIFY(!h.ok());
    QVERIFY2(h.error.contains("failed to read header"), qPrintable(h.error));
}

void TestLlamaOracle::abortInLlamaCppFailsInTheChild()
{
    // Two tokens with the same text: llama.cpp's vocabulary loader asserts (GGML_ASSERT), which
    // aborts the oracle. The abort callback still prints the reason and the log before dying.
    TinyVocab v = m_vocab;
    v.tokens[290] = v.tokens[289];
    const QString dup = m_dir.filePath("duplicate-token.gguf");
    QVERIFY(writeFile(dup, tinyModel(v).bytes()));
    const auto r = oracleTokenize(dup, { "x" });
    QVERIFY(!r.ok());
    QVERIFY2(r.error.contains("GGML_ASSERT") && r.error.contains("llama.cpp log"), qPrintable(r.error));
}

QTEST_GUILESS_MAIN(TestLlamaOracle)
#include "tst_llamaoracle.moc"
