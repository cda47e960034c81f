// GgufVocabulary (tokenizer.ggml.* of a Hugging Face tokenizer) on small tokenizer.json files the
// test writes: a byte-level BPE vocabulary (GPT-2's 256 byte symbols, one merge, a few added
// tokens) under each pre-tokenizer llama.cpp can name, known answers for tokenizer.ggml.pre
// ("llama-bpe", "smaug-bpe", "qwen2", "smollm", "gpt-2") and for the refusals (a split regex
// llama.cpp has no name for, Digits without individual digits), and the end-of-turn / end-of-
// message ids (tokenizer.ggml.eot_token_id, eom_token_id) chosen from the turn ends present.
// tst_ggufexport checks real tokenizers through llama.cpp itself. Torch-free.
#include "formats/FormatError.h"
#include "gguf/GgufVocabulary.h"

#include <QTemporaryDir>
#include <QtTest>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>

using namespace tb;
using nlohmann::json;

namespace {

// The split regexes as Llama 3 and Qwen 2 write them in tokenizer.json.
const char* const kLlama3Regex =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const char* const kQwen2Regex =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

// GPT-2's byte-to-unicode table: printable bytes stand for themselves, the others for U+0100 on.
std::string byteSymbol(int byte)
{
    auto printable = [](int b) { return (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff); };
    int code = byte;
    if (!printable(byte)) {
        code = 0x100;
        for (int b = 0; b < byte; ++b)
            code += !printable(b);
    }
    return QString(QChar(code)).toStdString();
}

json byteLevel(bool useRegex)
{
    return {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", useRegex}};
}

json splitThenByteLevel(const std::string& regex)
{
    return {{"type", "Sequence"},
            {"pretokenizers",
             {{{"type", "Split"}, {"pattern", {{"Regex", regex}}}, {"behavior", "Isolated"}, {"invert", false}}, byteLevel(false)}}};
}

json digitsThenByteLevel(bool individual)
{
    return {{"type", "Sequence"}, {"pretokenizers", {{{"type", "Digits"}, {"individual_digits", individual}}, byteLevel(true)}}};
}

struct Fixture {
    json preTokenizer;
    bool ignoreMerges = false;
    std::vector<std::string> added = {"<|endoftext|>"}; // special added tokens, ids after the vocabulary
    std::string chatTemplate;
    int64_t vocabSize = 0; // 0: exactly the tokens written
};

// Writes tokenizer.json and tokenizer_config.json into dir; returns config.json's vocab_size.
// Ids: 0..255 the bytes, 256 "Ġt" (the one merge), then the added tokens in order.
int64_t writeFixture(const std::string& dir, const Fixture& f)
{
    std::filesystem::create_directories(dir);
    json vocab = json::object();
    for (int b = 0; b < 256; ++b)
        vocab[byteSymbol(b)] = b;
    vocab[byteSymbol(' ') + "t"] = 256;
    json added = json::array();
    int64_t id = 257;
    for (const auto& t : f.added)
        added.push_back({{"id", id++}, {"content", t}, {"single_word", false}, {"lstrip", false}, {"rstrip", false},
                         {"normalized", false}, {"special", true}});
    const json tokenizer = {{"version", "1.0"},
                            {"added_tokens", added},
                            {"normalizer", nullptr},
                            {"pre_tokenizer", f.preTokenizer},
                            {"post_processor", nullptr},
                            {"decoder", byteLevel(true)},
                            {"model",
                             {{"type", "BPE"},
                              {"dropout", nullptr},
                              {"unk_token", nullptr},
                              {"continuing_subword_prefix", nullptr},
                              {"end_of_word_suffix", nullptr},
                              {"fuse_unk", false},
                              {"byte_fallback", false},
                              {"ignore_merges", f.ignoreMerges},
                              {"vocab", vocab},
                              {"merges", json::array({byteSymbol(' ') + " t"})}}}};
    std::ofstream(dir + "/tokenizer.json") << tokenizer.dump(1);
    json config = {{"eos_token", "<|endoftext|>"}};
    if (!f.chatTemplate.empty())
        config["chat_template"] = f.chatTemplate;
    std::ofstream(dir + "/tokenizer_config.json") << config.dump(1);
    return f.vocabSize > 0 ? f.vocabSize : id;
}

// Every tokenizer.* key as "type value", like `tunebench-cli inspect` shows it.
std::map<std::string, std::string> keysOf(const GgufVocabulary& v)
{
    std::map<std::string, std::string> m;
    for (const auto& kv : v.metadata)
        m[kv.key] = std::string(ggufTypeName(kv.value.type)) + " " + kv.value.display();
    return m;
}

} // namespace

class TestGgufVocabulary : public QObject {
    Q_OBJECT
private:
    QTemporaryDir m_tmp;
    int m_fixtures = 0;

    std::string newDir() { return m_tmp.filePath(QString("fixture-%1").arg(++m_fixtures)).toStdString(); }

private Q_SLOTS:
    void preTokenizerNames_data()
    {
        QTest::addColumn<QByteArray>("preTokenizer");
        QTest::addColumn<bool>("ignoreMerges");
        QTest::addColumn<QString>("pre");
        auto row = [](const char* name, const json& p, bool ignoreMerges, const char* pre) {
            QTest::newRow(name) << QByteArray::fromStdString(p.dump()) << ignoreMerges << QString(pre);
        };
        row("Llama 3 regex, ignore_merges", splitThenByteLevel(kLlama3Regex), true, "llama-bpe");
        row("Llama 3 regex, merges", splitThenByteLevel(kLlama3Regex), false, "smaug-bpe");
        row("Qwen 2 regex", splitThenByteLevel(kQwen2Regex), false, "qwen2");
        row("Digits(individual) + ByteLevel (SmolLM)", digitsThenByteLevel(true), false, "smollm");
        row("ByteLevel's own regex (GPT-2)", byteLevel(true), false, "gpt-2");
    }

    void preTokenizerNames()
    {
        QFETCH(QByteArray, preTokenizer);
        QFETCH(bool, ignoreMerges);
        QFETCH(QString, pre);
        Fixture f;
        f.preTokenizer = json::parse(preTokenizer.toStdString());
        f.ignoreMerges = ignoreMerges;
        const std::string dir = newDir();
        const int64_t vocabSize = writeFixture(dir, f);
        const GgufVocabulary v = ggufVocabularyFor(dir, vocabSize);
        QCOMPARE(QString::fromStdString(v.model), QString("gpt2"));
        QCOMPARE(QString::fromStdString(v.pre), pre);
        const auto k = keysOf(v);
        QCOMPARE(k.at("tokenizer.ggml.model"), std::string("string \"gpt2\""));
        QCOMPARE(k.at("tokenizer.ggml.pre"), "string \"" + pre.toStdString() + "\"");
        QCOMPARE(k.at("tokenizer.ggml.eos_token_id"), std::string("u32 257"));
    }

    // A wrong pre name loads without complaint and tokenizes differently, so anything else is
    // refused, naming tokenizer.json and what it holds.
    void refusesPreTokenizersLlamaCppCannotName_data()
    {
        QTest::addColumn<QByteArray>("preTokenizer");
        QTest::addColumn<bool>("ignoreMerges");
        QTest::addColumn<QString>("named");
        auto row = [](const char* name, const json& p, bool ignoreMerges, const QString& named) {
            QTest::newRow(name) << QByteArray::fromStdString(p.dump()) << ignoreMerges << named;
        };
        const std::string words = "\\p{L}+|\\p{N}+|\\s+|[^\\s\\p{L}\\p{N}]+";
        row("unknown split regex", splitThenByteLevel(words), false, QString::fromStdString("the split regex \"" + words + "\""));
        row("Qwen 2 regex with ignore_merges", splitThenByteLevel(kQwen2Regex), true, "with ignore_merges");
        row("Digits, not individual", digitsThenByteLevel(false), false, "[Digits, ByteLevel]");
        row("ByteLevel with ignore_merges", byteLevel(true), true, "[ByteLevel]");
    }

    void refusesPreTokenizersLlamaCppCannotName()
    {
        QFETCH(QByteArray, preTokenizer);
        QFETCH(bool, ignoreMerges);
        QFETCH(QString, named);
        Fixture f;
        f.preTokenizer = json::parse(preTokenizer.toStdString());
        f.ignoreMerges = ignoreMerges;
        const std::string dir = newDir();
        const int64_t vocabSize = writeFixture(dir, f);
        try {
            ggufVocabularyFor(dir, vocabSize);
            QFAIL("accepted");
        } catch (const FormatError& e) {
            const QString what = QString::fromUtf8(e.what());
            QVERIFY2(what.contains(QString::fromStdString(dir + "/tokenizer.json")) && what.contains("pre_tokenizer")
                         && what.contains(named),
                     e.what());
        }
    }

    // tokenizer.ggml.eot_token_id: the chat turn end the vocabulary has (the chat template's own
    // first); tokenizer.ggml.eom_token_id: "<|eom_id|>" where it exists. Neither for a vocabulary
    // whose only end is the document's.
    void endOfTurnAndEndOfMessage_data()
    {
        QTest::addColumn<QStringList>("added"); // ids 257, 258, ...
        QTest::addColumn<QString>("chatTemplate");
        QTest::addColumn<int>("eot"); // -1: no key
        QTest::addColumn<int>("eom");
        const QString chatml = "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}";
        const QString llama3 = "{% for m in messages %}<|start_header_id|>{{ m.role }}<|end_header_id|>\n\n{{ m.content }}<|eot_id|>{% endfor %}";
        QTest::newRow("document end only") << QStringList{"<|endoftext|>"} << QString() << -1 << -1;
        QTest::newRow("Qwen: <|im_end|> beside <|endoftext|>")
            << QStringList{"<|endoftext|>", "<|im_start|>", "<|im_end|>"} << chatml << 259 << -1;
        QTest::newRow("ChatML without a template") << QStringList{"<|endoftext|>", "<|im_start|>", "<|im_end|>"} << QString() << 259 << -1;
        QTest::newRow("Llama 3.1: <|eot_id|> and <|eom_id|>")
            << QStringList{"<|endoftext|>", "<|start_header_id|>", "<|end_header_id|>", "<|eom_id|>", "<|eot_id|>"} << llama3 << 261 << 260;
        QTest::newRow("Llama 3 vocabulary, ChatML template")
            << QStringList{"<|endoftext|>", "<|eot_id|>", "<|im_start|>", "<|im_end|>"} << chatml << 260 << -1;
        QTest::newRow("Llama 3 vocabulary and ChatML tokens, no template")
            << QStringList{"<|endoftext|>", "<|im_end|>", "<|eot_id|>"} << QString() << 259 << -1;
        QTest::newRow("Phi-3") << QStringList{"<|endoftext|>", "<|user|>", "<|end|>"} << QString() << 259 << -1;
        QTest::newRow("Gemma") << QStringList{"<|endoftext|>", "<start_of_turn>", "<end_of_turn>"} << QString() << 259 << -1;
    }

    void endOfTurnAndEndOfMessage()
    {
        QFETCH(QStringList, added);
        QFETCH(QString, chatTemplate);
        QFETCH(int, eot);
        QFETCH(int, eom);
        Fixture f;
        f.preTokenizer = digitsThenByteLevel(true);
        f.added.clear();
        for (const QString& t : added)
            f.added.push_back(t.toStdString());
        f.chatTemplate = chatTemplate.toStdString();
        f.vocabSize = 272; // padded past the added tokens, as config.json's vocab_size often is
        const std::string dir = newDir();
        const GgufVocabulary v = ggufVocabularyFor(dir, writeFixture(dir, f));
        const auto k = keysOf(v);
        auto expected = [](int id) { return id < 0 ? std::string("none") : "u32 " + std::to_string(id); };
        auto actual = [&](const char* key) { return k.count(key) ? k.at(key) : std::string("none"); };
        QCOMPARE(actual("tokenizer.ggml.eot_token_id"), expected(eot));
        QCOMPARE(actual("tokenizer.ggml.eom_token_id"), expected(eom));
        QCOMPARE(actual("tokenizer.ggml.eos_token_id"), std::string("u32 257"));
        // Each id names the token it is for, and is a control token (type 3) there.
        const GgufValue* tokens = nullptr;
        const GgufValue* types = nullptr;
        for (const auto& kv : v.metadata) {
            if (kv.key == "tokenizer.ggml.tokens")
                tokens = &kv.value;
            if (kv.key == "tokenizer.ggml.token_type")
                types = &kv.value;
        }
        QVERIFY(tokens && types);
        QCOMPARE(tokens->items.size(), size_t(272));
        for (int id : {eot, eom})
            if (id >= 0) {
                QVERIFY(QStringList({"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|eom_id|>"})
                            .contains(QString::fromStdString(tokens->items[size_t(id)].text)));
                QCOMPARE(types->items[size_t(id)].asInt(), int64_t(3));
            }
        // The Modelfile's stop tokens come from the same list.
        for (int id : {eot, eom})
            if (id >= 0)
                QVERIFY(std::find(v.endOfTurnTokens.begin(), v.endOfTurnTokens.end(), tokens->items[size_t(id)].text)
                        != v.endOfTurnTokens.end());
    }
};

QTEST_GUILESS_MAIN(TestGgufVocabulary)
#include "tst_ggufvocabulary.moc"
