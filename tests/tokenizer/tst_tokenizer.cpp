// Unit tests of the tokenizer on the hand-written fixtures of tests/data/tokenizer. Expected ids
// and strings were produced by the Hugging Face tokenizers library (0.22) on the same files; the
// parity test re-checks the fixtures on the whole corpus. No Torch: this also runs under ASan.
#include <QElapsedTimer>
#include <QTemporaryDir>
#include <QTest>

#include <fstream>
#include <sstream>
#include <thread>

#include "formats/FormatError.h"
#include "tokenizer/BpeTrainer.h"
#include "tokenizer/Regex.h"
#include "tokenizer/Tokenizer.h"
#include "tokenizer/TokenizerConfig.h"
#include "tokenizer/Utf8.h"

using Ids = std::vector<int32_t>;
Q_DECLARE_METATYPE(Ids)

namespace {

const QString kData = QStringLiteral(TB_TEST_DATA_DIR) + "/tokenizer/";

tb::Tokenizer fixture(const char* name)
{
    return tb::Tokenizer::fromFile((kData + name).toStdString());
}

std::string readFile(const QString& path)
{
    std::ifstream in(path.toStdString(), std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

std::vector<std::string> demoCorpusLines()
{
    std::istringstream in(readFile(QStringLiteral(TB_SOURCE_DIR) + "/resources/demo/corpus.txt"));
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);)
        lines.push_back(line + "\n");
    return lines;
}

} // namespace

class TestTokenizer : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void encodeFixture_data();
    void encodeFixture();
    void truncationShorterThanTemplate();
    void decodeFixture();
    void vocabularyQueries();
    void regexUsesOnigurumaClasses();
    void invalidUtf8IsReplaced();
    void concurrentEncode();
    void trainerIsDeterministic();
    void trainerOutputLoads();
    void trainerRejectsBadArguments();
    void tokenizerConfig();
    void brokenFiles_data();
    void brokenFiles();
    void brokenFixtureFiles_data();
    void brokenFixtureFiles();
};

void TestTokenizer::encodeFixture_data()
{
    QTest::addColumn<QString>("file");
    QTest::addColumn<QString>("text");
    QTest::addColumn<Ids>("withSpecial");
    QTest::addColumn<Ids>("plain");

    // ByteLevel with prefix space; <mask> takes the spaces around it (lstrip/rstrip).
    QTest::newRow("bytelevel lstrip/rstrip") << "gpt2_bytelevel.json" << "Hello world, the model<mask> is learning!"
                                             << Ids{333, 32, 72, 101, 108, 108, 111, 280, 44, 258, 285, 335, 297, 290, 303, 33, 334}
                                             << Ids{32, 72, 101, 108, 108, 111, 280, 44, 258, 285, 335, 297, 290, 303, 33};
    // [WORD] is single_word: matched alone, not inside "y[WORD]".
    QTest::newRow("single_word") << "gpt2_bytelevel.json" << "x [WORD] y[WORD]"
                                 << Ids{333, 32, 120, 32, 336, 32, 121, 91, 87, 79, 82, 68, 93, 334}
                                 << Ids{32, 120, 32, 336, 32, 121, 91, 87, 79, 82, 68, 93};
    // Metaspace "first", byte fallback for H, merges across the CJK pair.
    QTest::newRow("byte fallback") << "sentencepiece_metaspace.json" << "Hello world 日本語"
                                   << Ids{1, 285, 75, 263, 270, 270, 273, 314, 285, 366, 288}
                                   << Ids{285, 75, 263, 270, 270, 273, 314, 285, 366, 288};
    // Only the piece at the start of the text gets the prefix: "the" after <s> does not.
    QTest::newRow("prepend first") << "sentencepiece_metaspace.json" << "the<s>the" << Ids{1, 292, 1, 333}
                                   << Ids{292, 1, 333};
    QTest::newRow("metaspace split") << "metaspace_split.json" << "the  model ok" << Ids{36, 29, 63, 72, 13}
                                     << Ids{36, 29, 63, 72, 13};
    QTest::newRow("empty text") << "metaspace_split.json" << "" << Ids{} << Ids{};
    // NFKD + StripAccents + Lowercase + Strip + Replace + Prepend, Whitespace/Punctuation/Digits,
    // ## prefix and </w> suffix, [MASK] with lstrip, RobertaProcessing.
    QTest::newRow("normalizers") << "normalizers_words.json" << "  Héllo   WORLD, New York! 123 [MASK]"
                                 << Ids{176, 170, 191, 195, 150, 52, 17, 91, 96, 57, 69, 43, 154, 110, 114, 118, 205, 180}
                                 << Ids{170, 191, 195, 150, 52, 17, 91, 96, 57, 69, 43, 154, 110, 114, 118, 205};
    QTest::newRow("split behaviors") << "split_behaviors.json" << "ab, cd;; 12 ef...gh!\nthe"
                                     << Ids{97, 98, 44, 99, 100, 59, 59, 49, 50, 101, 102, 46, 46, 46, 103, 104, 33, 299}
                                     << Ids{97, 98, 44, 99, 100, 59, 59, 49, 50, 101, 102, 46, 46, 46, 103, 104, 33, 299};
    // Left truncation keeps room for <|bos|> <|eos|>; left padding to a multiple of 4.
    QTest::newRow("truncation+padding") << "truncation_padding.json" << "Hello world, the model is learning!"
                                        << Ids{0, 0, 0, 333, 44, 258, 285, 297, 290, 303, 33, 334}
                                        << Ids{0, 0, 0, 111, 280, 44, 258, 285, 297, 290, 303, 33};
    QTest::newRow("padding only") << "truncation_padding.json" << "hi" << Ids{333, 271, 105, 334} << Ids{0, 0, 271, 105};
    // ignore_merges emits "hello" and "tokenizer" whole; BertProcessing inside a Sequence.
    QTest::newRow("ignore_merges") << "ignore_merges_regex.json" << "hello world tokenizer"
                                   << Ids{335, 312, 32, 316, 32, 334, 336} << Ids{312, 32, 316, 32, 334};
}

void TestTokenizer::encodeFixture()
{
    QFETCH(QString, file);
    QFETCH(QString, text);
    QFETCH(Ids, withSpecial);
    QFETCH(Ids, plain);
    const tb::Tokenizer t = tb::Tokenizer::fromFile((kData + file).toStdString());
    QCOMPARE(t.encode(text.toStdString(), true), withSpecial);
    QCOMPARE(t.encode(text.toStdString(), false), plain);
}

// max_length below the number of ids the template adds: tokenizers does not truncate at all.
void TestTokenizer::truncationShorterThanTemplate()
{
    std::string json = readFile(kData + "gpt2_bytelevel.json");
    const std::string key = "\"truncation\": null";
    const size_t at = json.find(key);
    QVERIFY(at != std::string::npos);
    json.replace(at, key.size(), R"("truncation": {"direction": "Right", "max_length": 1, "strategy": "LongestFirst", "stride": 0})");
    const tb::Tokenizer t = tb::Tokenizer::fromJson(json, "truncated-template");
    const std::string text = "Hello world, the model is learning!";
    QCOMPARE(t.encode(text, true), (Ids{333, 32, 72, 101, 108, 108, 111, 280, 44, 258, 285, 297, 290, 303, 33, 334}));
    QCOMPARE(t.encode(text, false), (Ids{32}));
}

void TestTokenizer::decodeFixture()
{
    const tb::Tokenizer gpt2 = fixture("gpt2_bytelevel.json");
    const Ids ids{333, 32, 72, 101, 108, 108, 111, 280, 44, 258, 285, 335, 297, 290, 303, 33, 334};
    QCOMPARE(gpt2.decode(ids, false), std::string("<|bos|> Hello world, the model<mask> is learning!<|eos|>"));
    QCOMPARE(gpt2.decode(ids, true), std::string(" Hello world, the model<mask> is learning!"));

    // Replace + ByteFallback + Fuse + Strip: added tokens pass through the chain too.
    const tb::Tokenizer sp = fixture("sentencepiece_metaspace.json");
    QCOMPARE(sp.decode({1, 285, 75, 263, 270, 270, 273, 314, 285, 366, 288}, false), std::string("<s> Hello world 日本語"));
    QCOMPARE(sp.decode({1, 292, 1, 333}, false), std::string("<s> the<s>the"));
    QCOMPARE(sp.decode({1, 292, 1, 333}, true), std::string("thethe"));
    // An invalid byte run becomes one U+FFFD per byte token; unknown ids are dropped.
    const int32_t xE6 = sp.tokenToId("<0xE6>");
    QVERIFY(xE6 >= 0);
    QCOMPARE(sp.decode({xE6, 263, 99999}, false), std::string("\xEF\xBF\xBD" "e"));

    const tb::Tokenizer words = fixture("normalizers_words.json");
    QCOMPARE(words.decode({176, 170, 191, 195, 150, 52, 17, 91, 96, 57, 69, 43, 154, 110, 114, 118, 205, 180}, true),
             std::string("# hello world , n##e##w y##o##r##k ! 1 2 3"));
    const tb::Tokenizer meta = fixture("metaspace_split.json");
    QCOMPARE(meta.decode({36, 29, 63, 72, 13}, false), std::string("the  model ok"));
}

void TestTokenizer::vocabularyQueries()
{
    const tb::Tokenizer gpt2 = fixture("gpt2_bytelevel.json");
    QCOMPARE(gpt2.vocabSize(), size_t(337));
    QCOMPARE(gpt2.tokenToId("<|bos|>"), 333);
    QCOMPARE(gpt2.tokenToId("\xC4\xA0world"), 280); // "Ġworld"
    QCOMPARE(gpt2.tokenToId("no such token"), -1);
    QCOMPARE(gpt2.idToToken(334), std::string("<|eos|>"));
    QCOMPARE(gpt2.idToToken(-1), std::string());
    QCOMPARE(gpt2.idToToken(100000), std::string());
    QVERIFY(gpt2.isSpecial(333));
    QVERIFY(!gpt2.isSpecial(335)); // <mask> is added but not special
    QVERIFY(!gpt2.isSpecial(32));
    QCOMPARE(fixture("sentencepiece_metaspace.json").vocabSize(), size_t(367));

    // Ids the post-processor or padding insert count too, even past the vocabulary (tokenizers
    // emits them as written; fuzz_tokenizer_json found a file whose [SEP] id was past it).
    const tb::Tokenizer bert = tb::Tokenizer::fromJson(
        R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": []},
            "post_processor": {"type": "BertProcessing", "cls": ["[CLS]", 7], "sep": ["[SEP]", 9]}})",
        "bert.json");
    QCOMPARE(bert.encode("ab", true), (std::vector<int32_t>{7, 0, 1, 9}));
    QCOMPARE(bert.vocabSize(), size_t(10));
    const tb::Tokenizer padded = tb::Tokenizer::fromJson(
        R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []},
            "padding": {"strategy": {"Fixed": 3}, "pad_id": 41}})",
        "padded.json");
    QCOMPARE(padded.encode("a", false), (std::vector<int32_t>{0, 41, 41}));
    QCOMPARE(padded.vocabSize(), size_t(42));
}

void TestTokenizer::regexUsesOnigurumaClasses()
{
    auto matches = [](const char* pattern, const std::string& text) {
        return tb::Regex::fromPattern(pattern).findAll(text).size();
    };
    // Answers from tokenizers' Split (Oniguruma) on the same characters.
    QCOMPARE(matches("\\s", "\xC2\x85"), size_t(1));     // U+0085 NEXT LINE is White_Space
    QCOMPARE(matches("\\s", "\xE1\xA0\x8E"), size_t(0)); // U+180E is not (PCRE2 alone says it is)
    QCOMPARE(matches("\\s", "\x1C"), size_t(0));
    QCOMPARE(matches("[^\\s\\p{L}]", "\xE1\xA0\x8E"), size_t(1));
    QCOMPARE(matches("\\w", "\xCC\x81"), size_t(1));     // combining acute accent
    QCOMPARE(matches("\\w", "\xC2\xB2"), size_t(1));     // superscript two
    QCOMPARE(matches("\\w", "\xE2\x92\xB6"), size_t(1)); // circled A
    QCOMPARE(matches("\\w", "\xE2\x80\x8D"), size_t(0)); // zero width joiner
    QCOMPARE(matches("\\d", "\xD9\xA0"), size_t(1));     // Arabic-Indic zero
    QCOMPARE(matches("^a", "a\na\na"), size_t(3));       // ^ is a line anchor in Oniguruma
    QCOMPARE(matches("\\h+", "00ff zz"), size_t(1));     // \h is a hex digit in Oniguruma
    // Empty matches advance one character at a time, and none follows a match directly
    // (Oniguruma's find_iter; tokenizers then drops the empty pieces).
    const auto empty = tb::Regex::fromPattern("x*").findAll("axxb");
    const std::vector<std::pair<size_t, size_t>> expectedSpans{{0, 0}, {1, 3}, {4, 4}};
    QCOMPARE(empty, expectedSpans);
    QVERIFY_THROWS_EXCEPTION(std::invalid_argument, tb::Regex::fromPattern("(unclosed"));
}

void TestTokenizer::invalidUtf8IsReplaced()
{
    QCOMPARE(tb::utf8::sanitize("ok"), std::string("ok"));
    QCOMPARE(tb::utf8::sanitize("a\xFF" "b"), std::string("a\xEF\xBF\xBD" "b"));
    // A truncated sequence is one maximal subpart: one U+FFFD.
    QCOMPARE(tb::utf8::sanitize("\xE2\x82"), std::string("\xEF\xBF\xBD"));
    // F0 80: F0 needs 90..BF next, so each byte is its own subpart.
    QCOMPARE(tb::utf8::sanitize("\xF0\x80"), std::string("\xEF\xBF\xBD\xEF\xBF\xBD"));
    // Surrogates (ED A0 80) and overlongs (C0 AF) are invalid byte by byte.
    QCOMPARE(tb::utf8::sanitize("\xED\xA0\x80"), std::string("\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"));
    QCOMPARE(tb::utf8::sanitize("\xC0\xAF"), std::string("\xEF\xBF\xBD\xEF\xBF\xBD"));

    const tb::Tokenizer gpt2 = fixture("gpt2_bytelevel.json");
    QCOMPARE(gpt2.encode("x\xFF\xFEy", false), gpt2.encode("x\xEF\xBF\xBD\xEF\xBF\xBDy", false));
    const tb::Tokenizer sp = fixture("sentencepiece_metaspace.json");
    // U+0000 is text, not an end of string: it falls back to its byte token.
    QCOMPARE(sp.encode(std::string("a\0b", 3), false),
             (Ids{sp.tokenToId("\xE2\x96\x81" "a"), sp.tokenToId("<0x00>"), sp.tokenToId("b")}));
}

void TestTokenizer::concurrentEncode()
{
    const tb::Tokenizer t = fixture("gpt2_bytelevel.json");
    const std::string text = "the model is learning the tokenizer and the world <mask> hello";
    const Ids expected = t.encode(text, true);
    std::vector<Ids> results(4);
    std::vector<std::thread> threads;
    for (size_t i = 0; i < results.size(); ++i)
        threads.emplace_back([&, i] {
            for (int k = 0; k < 200; ++k)
                results[i] = t.encode(text, true);
        });
    for (auto& th : threads)
        th.join();
    for (const auto& r : results)
        QCOMPARE(r, expected);
}

void TestTokenizer::trainerIsDeterministic()
{
    const auto texts = demoCorpusLines();
    QVERIFY(texts.size() > 10);
    const std::vector<std::string> specials{"<|begin_of_text|>", "<|end_of_text|>", "<|pad|>"};
    QElapsedTimer timer;
    timer.start();
    const std::string first = tb::trainByteLevelBpeTokenizerJson(texts, 1024, specials, "<|begin_of_text|>");
    qInfo("trained 1024 tokens on %zu lines in %lld ms", texts.size(), static_cast<long long>(timer.elapsed()));
    const std::string second = tb::trainByteLevelBpeTokenizerJson(texts, 1024, specials, "<|begin_of_text|>");
    QCOMPARE(first, second);
    // The order of the texts does not matter: words are counted, then sorted.
    std::vector<std::string> reversed(texts.rbegin(), texts.rend());
    QCOMPARE(tb::trainByteLevelBpeTokenizerJson(reversed, 1024, specials, "<|begin_of_text|>"), first);
}

void TestTokenizer::trainerOutputLoads()
{
    const auto texts = demoCorpusLines();
    const std::string json =
        tb::trainByteLevelBpeTokenizerJson(texts, 1024, {"<|begin_of_text|>", "<|end_of_text|>"}, "<|begin_of_text|>");
    const tb::Tokenizer t = tb::Tokenizer::fromJson(json, "trained");
    QCOMPARE(t.vocabSize(), size_t(1024));
    QCOMPARE(t.tokenToId("<|begin_of_text|>"), 1022);
    QCOMPARE(t.tokenToId("<|end_of_text|>"), 1023);
    QVERIFY(t.isSpecial(1022));
    QCOMPARE(t.tokenToId("a"), int32_t('a')); // byte tokens first, id = byte value
    size_t bytes = 0;
    size_t tokens = 0;
    for (const auto& line : texts) {
        const Ids ids = t.encode(line, true);
        QCOMPARE(ids.front(), 1022);
        QCOMPARE(t.decode(ids, true), line);
        bytes += line.size();
        tokens += ids.size();
    }
    qInfo("%zu bytes -> %zu tokens", bytes, tokens);
    QVERIFY2(tokens * 2 < bytes, "the merges should compress the text they were learned from");
    const std::string mixed = "Unicode: 東京 🙂 café<|end_of_text|>";
    const Ids ids = t.encode(mixed, false);
    QCOMPARE(ids.back(), 1023);
    QCOMPARE(t.decode(ids, false), mixed);

    // Too few pairs to reach the requested size: the vocab stops where the data runs out.
    const tb::Tokenizer tiny = tb::Tokenizer::fromJson(
        tb::trainByteLevelBpeTokenizerJson({"abab"}, 4096, {"<s>"}, "<s>"), "tiny");
    QCOMPARE(tiny.vocabSize(), size_t(256 + 2 + 1)); // "ab", "abab", then <s>
    QCOMPARE(tiny.encode("abab", true), (Ids{258, 257}));
}

void TestTokenizer::trainerRejectsBadArguments()
{
    QVERIFY_THROWS_EXCEPTION(std::invalid_argument, tb::trainByteLevelBpeTokenizerJson({"a"}, 200, {}, ""));
    QVERIFY_THROWS_EXCEPTION(std::invalid_argument, tb::trainByteLevelBpeTokenizerJson({"a"}, 300, {"<s>"}, "<bos>"));
    // No texts, no bos: still a valid tokenizer of the 256 bytes.
    const tb::Tokenizer bytesOnly = tb::Tokenizer::fromJson(tb::trainByteLevelBpeTokenizerJson({}, 300, {}, ""), "bytes");
    QCOMPARE(bytesOnly.vocabSize(), size_t(256));
    QCOMPARE(bytesOnly.encode("hi", true), (Ids{'h', 'i'}));
}

void TestTokenizer::tokenizerConfig()
{
    const auto llama2 = tb::TokenizerConfig::fromFile((kData + "config/llama2_style.json").toStdString());
    QCOMPARE(llama2.bosToken, std::string("<s>"));
    QCOMPARE(llama2.eosToken, std::string("</s>"));
    QCOMPARE(llama2.unkToken, std::string("<unk>"));
    QCOMPARE(llama2.padToken, std::string());
    QVERIFY(llama2.addBosToken);
    QVERIFY(!llama2.addEosToken);
    QCOMPARE(llama2.modelMaxLength, 0LL); // 1e30 means "no limit"
    QVERIFY(llama2.chatTemplate.find("[INST]") != std::string::npos);

    const auto list = tb::TokenizerConfig::fromFile((kData + "config/template_list.json").toStdString());
    QCOMPARE(list.bosToken, std::string("<|begin_of_text|>"));
    QCOMPARE(list.eosToken, std::string("<|eot_id|>"));
    QCOMPARE(list.padToken, std::string("<|finetune_pad|>"));
    QCOMPARE(list.modelMaxLength, 8192LL);
    QCOMPARE(list.chatTemplate, std::string("{% for m in messages %}{{ m['content'] }}{% endfor %}"));

    const auto missing = tb::TokenizerConfig::fromFile((kData + "config/does_not_exist.json").toStdString());
    QCOMPARE(missing.bosToken, std::string());
    QCOMPARE(missing.modelMaxLength, 0LL);

    const std::string bad = (kData + "config/bad_bos.json").toStdString();
    try {
        tb::TokenizerConfig::fromFile(bad);
        QFAIL("expected a FormatError");
    } catch (const tb::FormatError& e) {
        QCOMPARE(e.file(), bad);
        QVERIFY2(e.detail().rfind("bos_token:", 0) == 0, e.what());
    }
}

void TestTokenizer::brokenFiles_data()
{
    QTest::addColumn<QByteArray>("json");
    QTest::addColumn<QString>("expected"); // the start of FormatError::detail()

    const QByteArray model = R"("model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]})";
    auto with = [&model](const char* extra) { return "{" + model + ", " + QByteArray(extra) + "}"; };

    QTest::newRow("malformed") << QByteArray(R"({"model": {"type": "BPE",, }})") << "invalid JSON at byte";
    QTest::newRow("number overflow") << with(R"("truncation": {"max_length": 1e400})") << "invalid JSON: ";
    QTest::newRow("empty") << QByteArray() << "file is empty";
    QTest::newRow("whitespace") << QByteArray(" \n\t ") << "file is empty";
    QTest::newRow("not utf8") << QByteArray("{\"model\": \"\xFF\xFE\"}") << "invalid JSON";
    QTest::newRow("binary") << QByteArray("\x00\x01\x02\x03", 4) << "invalid JSON";
    QTest::newRow("top-level array") << QByteArray("[1, 2]") << "expected an object, got an array";
    QTest::newRow("missing model") << QByteArray(R"({"normalizer": null})") << "model: missing";
    QTest::newRow("model null") << QByteArray(R"({"model": null})") << "model: expected an object, got null";
    QTest::newRow("unknown model type") << QByteArray(R"({"model": {"type": "Unigram", "vocab": []}})")
                                        << "model.type: unsupported model \"Unigram\"";
    QTest::newRow("untagged non-BPE") << QByteArray(R"({"model": {"vocab": {}}})") << "model.type: missing";
    QTest::newRow("missing vocab") << QByteArray(R"({"model": {"type": "BPE", "merges": []}})") << "model.vocab: missing";
    QTest::newRow("vocab wrong type") << QByteArray(R"({"model": {"type": "BPE", "vocab": [1], "merges": []}})")
                                      << "model.vocab: expected an object, got an array";
    QTest::newRow("id as string") << QByteArray(R"({"model": {"type": "BPE", "vocab": {"a": "0"}}})")
                                  << "model.vocab[\"a\"]: expected an integer, got a string";
    QTest::newRow("negative id") << QByteArray(R"({"model": {"type": "BPE", "vocab": {"a": -1}}})")
                                 << "model.vocab[\"a\"]: -1 is out of range";
    QTest::newRow("huge id") << QByteArray(R"({"model": {"type": "BPE", "vocab": {"a": 18446744073709551615}}})")
                             << "model.vocab[\"a\"]: 18446744073709551615 is out of range";
    QTest::newRow("huge float id") << QByteArray(R"({"model": {"type": "BPE", "vocab": {"a": 1e300}}})")
                                   << "model.vocab[\"a\"]: 1e+300 is out of range";
    QTest::newRow("fractional id") << QByteArray(R"({"model": {"type": "BPE", "vocab": {"a": 0.5}}})")
                                   << "model.vocab[\"a\"]: expected an integer, got 0.5";
    QTest::newRow("merge unknown token")
        << QByteArray(R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b", "a c"]}})")
        << "model.merges[1]: token \"c\" is not in model.vocab";
    QTest::newRow("merge result missing") << QByteArray(R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": [["a", "b"]]}})")
                                          << "model.merges[0]: merged token \"ab\" is not in model.vocab";
    QTest::newRow("merge no space") << QByteArray(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["ab"]}})")
                                    << "model.merges[0]: expected \"a b\" string or [a, b] pair";
    QTest::newRow("merge two spaces") << QByteArray(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b c"]}})")
                                      << "model.merges[0]: expected \"a b\" string or [a, b] pair";
    QTest::newRow("merge number") << QByteArray(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [7]}})")
                                  << "model.merges[0]: expected \"a b\" string or [a, b] pair, got an integer";
    QTest::newRow("merge triple") << QByteArray(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [["a", "a", "a"]]}})")
                                  << "model.merges[0]: expected \"a b\" string or [a, b] pair";
    QTest::newRow("merges object") << QByteArray(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": {}}})")
                                   << "model.merges: expected an array, got an object";
    QTest::newRow("unk not in vocab") << QByteArray(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "unk_token": "<unk>"}})")
                                      << "model.unk_token: \"<unk>\" is not in model.vocab";
    QTest::newRow("fuse_unk wrong type") << QByteArray(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "fuse_unk": "yes"}})")
                                         << "model.fuse_unk: expected true or false, got a string";
    QTest::newRow("dropout") << QByteArray(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "dropout": 0.1}})")
                             << "model.dropout: BPE dropout is random";
    QTest::newRow("unknown normalizer") << with(R"("normalizer": {"type": "Precompiled", "precompiled_charsmap": ""})")
                                        << "normalizer.type: unsupported normalizer \"Precompiled\"";
    QTest::newRow("normalizer item wrong type") << with(R"("normalizer": {"type": "Sequence", "normalizers": [{"type": "NFC"}, 3]})")
                                                << "normalizer.normalizers[1]: expected an object, got an integer";
    QTest::newRow("bad regex") << with(R"("pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "(a"}, "behavior": "Isolated"}]})")
                               << "pre_tokenizer.pretokenizers[0].pattern.Regex: invalid regex";
    QTest::newRow("bad pattern") << with(R"("pre_tokenizer": {"type": "Split", "pattern": "a", "behavior": "Isolated"})")
                                 << "pre_tokenizer.pattern: expected an object, got a string";
    QTest::newRow("bad behavior") << with(R"("pre_tokenizer": {"type": "Split", "pattern": {"String": " "}, "behavior": "Sideways"})")
                                  << "pre_tokenizer.behavior: unknown behavior \"Sideways\"";
    QTest::newRow("metaspace replacement") << with(R"("pre_tokenizer": {"type": "Metaspace", "replacement": "ab"})")
                                           << "pre_tokenizer.replacement: expected a single character";
    QTest::newRow("unknown pre-tokenizer") << with(R"("pre_tokenizer": {"type": "UnicodeScripts"})")
                                           << "pre_tokenizer.type: unsupported pre-tokenizer \"UnicodeScripts\"";
    QTest::newRow("unknown decoder") << with(R"("decoder": {"type": "WordPiece", "prefix": "##"})")
                                     << "decoder.type: unsupported decoder \"WordPiece\"";
    QTest::newRow("strip decoder") << with(R"("decoder": {"type": "Strip", "content": " ", "start": "1", "stop": 0})")
                                   << "decoder.start: expected an integer, got a string";
    QTest::newRow("template unknown special")
        << with(R"("post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}], "special_tokens": {}})")
        << "post_processor.single[0].SpecialToken.id: special token \"<s>\" is not in post_processor.special_tokens";
    QTest::newRow("template huge id")
        << with(R"("post_processor": {"type": "TemplateProcessing", "single": "<s> $A", "special_tokens": {"<s>": {"id": "<s>", "ids": [4294967296], "tokens": ["<s>"]}}})")
        << "post_processor.special_tokens[\"<s>\"].ids[0]: 4294967296 is out of range";
    QTest::newRow("unknown post-processor") << with(R"("post_processor": {"type": "Magic"})")
                                            << "post_processor.type: unsupported post-processor \"Magic\"";
    QTest::newRow("added_tokens object") << with(R"("added_tokens": {"content": "<s>"})")
                                         << "added_tokens: expected an array, got an object";
    QTest::newRow("added token no content") << with(R"("added_tokens": [{"id": 3, "special": true}])")
                                            << "added_tokens[0].content: missing";
    QTest::newRow("added token huge id") << with(R"("added_tokens": [{"id": 99999999999, "content": "<s>"}])")
                                         << "added_tokens[0].id: 99999999999 is out of range";
    QTest::newRow("added token special string") << with(R"("added_tokens": [{"id": 3, "content": "<s>", "special": "true"}])")
                                                << "added_tokens[0].special: expected true or false, got a string";
    QTest::newRow("deep nesting") << QByteArray(20000, '[') + QByteArray(20000, ']') << "expected an object, got an array";
}

void TestTokenizer::brokenFiles()
{
    QFETCH(QByteArray, json);
    QFETCH(QString, expected);
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const std::string path = dir.filePath("tokenizer.json").toStdString();
    std::ofstream(path, std::ios::binary).write(json.constData(), json.size());
    try {
        tb::Tokenizer::fromFile(path);
        QFAIL("expected a FormatError");
    } catch (const tb::FormatError& e) {
        QCOMPARE(e.file(), path);
        QVERIFY2(std::string(e.what()).rfind(path + ": ", 0) == 0, e.what());
        QVERIFY2(e.detail().rfind(expected.toStdString(), 0) == 0, e.what());
    }
}

void TestTokenizer::brokenFixtureFiles_data()
{
    QTest::addColumn<QString>("file");
    QTest::addColumn<QString>("expected");
    QTest::newRow("empty") << "broken/empty.json" << "file is empty";
    QTest::newRow("truncated") << "broken/truncated.json" << "invalid JSON at byte";
    QTest::newRow("merge unknown token") << "broken/merge_unknown_token.json" << "model.merges[1]: token \"c\"";
    QTest::newRow("huge id") << "broken/huge_id.json" << "model.vocab[\"b\"]: 99999999999 is out of range";
    QTest::newRow("missing file") << "broken/does_not_exist.json" << "cannot open file";
}

void TestTokenizer::brokenFixtureFiles()
{
    QFETCH(QString, file);
    QFETCH(QString, expected);
    const std::string path = (kData + file).toStdString();
    try {
        tb::Tokenizer::fromFile(path);
        QFAIL("expected a FormatError");
    } catch (const tb::FormatError& e) {
        QCOMPARE(e.file(), path);
        QVERIFY2(e.detail().rfind(expected.toStdString(), 0) == 0, e.what());
    }
}

QTEST_GUILESS_MAIN(TestTokenizer)
#include "tst_tokenizer.moc"
