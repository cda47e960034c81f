// engine/data: prepareDataset and renderRecordSegments on real files with a real (small) BPE
// tokenizer. Masks are checked by decoding the targeted tokens back to text.
#include "DatasetTestSupport.h"

#include "formats/FormatError.h"

#include <nlohmann/json.hpp>

#include <QTest>

#include <algorithm>
#include <functional>
#include <optional>
#include <set>

using namespace tbtest;

namespace {

// The FormatError prepareDataset throws, or nullopt when it succeeds.
std::optional<tb::FormatError> formatError(const std::function<void()>& call)
{
    try {
        call();
    } catch (const tb::FormatError& e) {
        return e;
    }
    return std::nullopt;
}

bool contains(const std::string& haystack, const std::string& needle)
{
    return haystack.find(needle) != std::string::npos;
}

std::string chatLine(const std::vector<std::pair<std::string, std::string>>& messages)
{
    nlohmann::json m = nlohmann::json::array();
    for (const auto& [role, content] : messages)
        m.push_back({{"role", role}, {"content", content}});
    return nlohmann::json({{"messages", m}}).dump() + "\n";
}

} // namespace

class TestTrainingDataset : public QObject {
    Q_OBJECT

private:
    std::optional<tb::Tokenizer> m_tokenizer;
    tb::TokenizerConfig m_chatConfig = makeConfig(kChatMl);
    tb::TokenizerConfig m_plainConfig = makeConfig("");
    QTemporaryDir m_dir;
    int32_t m_bosId = -1;
    int32_t m_eosId = -1;
    int32_t m_imEndId = -1;

    const tb::Tokenizer& tok() const { return *m_tokenizer; }

    tb::PreparedDataset prepare(const std::string& path, const tb::DatasetOptions& options,
                                const tb::TokenizerConfig* config = nullptr, const std::string& validation = {})
    {
        return tb::prepareDataset(path, validation, tok(), config ? *config : m_chatConfig, options);
    }

    static tb::DatasetOptions noSplit()
    {
        tb::DatasetOptions o;
        o.validationFraction = 0.0;
        return o;
    }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        m_tokenizer.emplace(makeTokenizer());
        m_bosId = tok().tokenToId(kBos);
        m_eosId = tok().tokenToId(kEos);
        m_imEndId = tok().tokenToId("<|im_end|>");
        QVERIFY(m_bosId >= 0 && m_eosId >= 0 && m_imEndId >= 0);
    }

    void formatNames()
    {
        for (auto f : {tb::DatasetFormat::Auto, tb::DatasetFormat::Text, tb::DatasetFormat::JsonText,
                       tb::DatasetFormat::Instruction, tb::DatasetFormat::Chat})
            QCOMPARE(tb::datasetFormatFromName(tb::datasetFormatName(f)), f);
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, tb::datasetFormatFromName("alpaca"));
    }

    // --- detection -----------------------------------------------------------------------

    void detectsEachFixtureFormat_data()
    {
        QTest::addColumn<QString>("file");
        QTest::addColumn<int>("format");
        QTest::addColumn<int>("records");
        QTest::newRow("txt") << "sample-text.txt" << int(tb::DatasetFormat::Text) << 3;
        QTest::newRow("jsonl text") << "sample-text.jsonl" << int(tb::DatasetFormat::JsonText) << 3;
        QTest::newRow("alpaca json") << "sample-alpaca.json" << int(tb::DatasetFormat::Instruction) << 3;
        QTest::newRow("chat jsonl") << "sample-chat.jsonl" << int(tb::DatasetFormat::Chat) << 3;
    }

    void detectsEachFixtureFormat()
    {
        QFETCH(QString, file);
        QFETCH(int, format);
        QFETCH(int, records);
        const auto d = prepare(fixture(file.toUtf8().constData()), noSplit());
        QCOMPARE(int(d.format), format);
        QCOMPARE(int(d.train.size()), records);
        QCOMPARE(d.trainStats.records, int64_t(records));
        QCOMPARE(d.trainStats.skipped, int64_t(0));
        QVERIFY(d.validation.empty());
    }

    void sourceLinesPointAtRecords()
    {
        const auto text = prepare(fixture("sample-text.txt"), noSplit());
        QCOMPARE(text.train[0].sourceLine, int64_t(1));
        QCOMPARE(text.train[1].sourceLine, int64_t(4));
        QCOMPARE(text.train[2].sourceLine, int64_t(7));
        const auto alpaca = prepare(fixture("sample-alpaca.json"), noSplit());
        QCOMPARE(alpaca.train[0].sourceLine, int64_t(2));
        QCOMPARE(alpaca.train[1].sourceLine, int64_t(7));
        QCOMPARE(alpaca.train[2].sourceLine, int64_t(12));
    }

    void undetectableKeysNameFileAndKeys()
    {
        const std::string path = writeFile(m_dir, "pc.jsonl", "\n{\"prompt\": \"a\", \"completion\": \"b\"}\n");
        const auto e = formatError([&] { prepare(path, noSplit()); });
        QVERIFY(e);
        QCOMPARE(e->file(), path);
        QVERIFY2(contains(e->detail(), "line 2") && contains(e->detail(), "\"prompt\"") && contains(e->detail(), "\"completion\""),
                 e->what());
    }

    void formatOverride()
    {
        // Auto picks chat for "messages"; json-text uses the "text" field of the same records.
        const std::string path = writeFile(m_dir, "both.jsonl",
                                           "{\"text\": \"Snow lies on the roof.\", \"messages\": []}\n");
        tb::DatasetOptions o = noSplit();
        o.format = tb::DatasetFormat::JsonText;
        auto d = prepare(path, o);
        QCOMPARE(d.format, tb::DatasetFormat::JsonText);
        QCOMPARE(decodeAll(tok(), d.train[0]), kBos + "Snow lies on the roof." + kEos);
        // text reads any file as plain text.
        o.format = tb::DatasetFormat::Text;
        d = prepare(path, o);
        QCOMPARE(d.format, tb::DatasetFormat::Text);
        QVERIFY(contains(decodeAll(tok(), d.train[0]), "\"messages\": []"));
        // A JSON format on a plain-text file is an error naming it.
        o.format = tb::DatasetFormat::Chat;
        const auto e = formatError([&] { prepare(fixture("sample-text.txt"), o); });
        QVERIFY(e && contains(e->detail(), "plain-text"));
    }

    void windowsLineEndsAndSingleObjectJson()
    {
        const std::string crlf = writeFile(m_dir, "crlf.txt", "first line\r\nsecond line\r\n\r\nnext document\r\n");
        const auto t = prepare(crlf, noSplit());
        QCOMPARE(t.train.size(), size_t(2));
        QCOMPARE(decodeAll(tok(), t.train[0]), kBos + "first line\nsecond line" + kEos);
        const std::string one = writeFile(m_dir, "one.json", "{\n  \"text\": \"A small boat.\"\n}\n");
        const auto j = prepare(one, noSplit());
        QCOMPARE(j.format, tb::DatasetFormat::JsonText);
        QCOMPARE(j.train.size(), size_t(1));
        const std::string lines = writeFile(m_dir, "lines.json", "{\"text\": \"a\"}\n{\"text\": \"b\"}\n");
        QCOMPARE(prepare(lines, noSplit()).train.size(), size_t(2));
    }

    // --- text ----------------------------------------------------------------------------

    void textHasBosEosAndLossOnEveryToken()
    {
        const auto d = prepare(fixture("sample-text.jsonl"), noSplit());
        for (const auto& ex : d.train) {
            QCOMPARE(ex.ids.front(), m_bosId);
            QCOMPARE(ex.ids.back(), m_eosId);
            QCOMPARE(std::count(ex.ids.begin(), ex.ids.end(), m_bosId), 1L);
            QCOMPARE(ex.lossMask.front(), uint8_t(0)); // nothing precedes the first token
            QCOMPARE(countOnes(ex.lossMask), int64_t(ex.ids.size()) - 1);
        }
        QCOMPARE(decodeAll(tok(), d.train[0]),
                 kBos + "The river runs past the old mill, where the stones are worn smooth by a hundred years of water." + kEos);
        // Plain text: a document's lines stay joined by "\n".
        const auto t = prepare(fixture("sample-text.txt"), noSplit());
        QCOMPARE(decodeAll(tok(), t.train[1]),
                 kBos + "In winter the mill is quiet. Snow lies on the roof and the wheel stands still\nuntil the thaw." + kEos);
    }

    void truncationIsCounted()
    {
        std::string long1(2000, 'x');
        for (size_t i = 0; i < long1.size(); i += 7)
            long1[i] = ' ';
        const std::string path = writeFile(m_dir, "long.jsonl",
                                           nlohmann::json({{"text", long1}}).dump() + "\n{\"text\": \"A small boat.\"}\n");
        tb::DatasetOptions o = noSplit();
        o.maxSeqLen = 64;
        const auto d = prepare(path, o);
        QCOMPARE(d.train.size(), size_t(2));
        QVERIFY(d.train[0].truncated);
        QCOMPARE(int64_t(d.train[0].ids.size()), o.maxSeqLen);
        QVERIFY(!d.train[1].truncated);
        QCOMPARE(d.trainStats.truncated, int64_t(1));
        QCOMPARE(d.trainStats.tokens, int64_t(d.train[0].ids.size() + d.train[1].ids.size()));
        // The histogram counts the length before truncation: the long example is far right.
        const auto full = tok().encode(long1, true).size() + 1;
        const auto& h = d.trainStats.lengthHistogram;
        QCOMPARE(int64_t(h.size()), int64_t(full) / d.trainStats.histogramBucket + 1);
        QCOMPARE(h.back(), int64_t(1));
    }

    // --- instruction ---------------------------------------------------------------------

    void instructionAlpacaWithoutTemplate()
    {
        const auto d = prepare(fixture("sample-alpaca.json"), noSplit(), &m_plainConfig);
        QCOMPARE(d.format, tb::DatasetFormat::Instruction);
        QCOMPARE(targetRuns(tok(), d.train[0]), std::vector<std::string>{"silent" + kEos});
        QCOMPARE(targetRuns(tok(), d.train[1]), std::vector<std::string>{"Snow falls in winter." + kEos});
        const std::string all = decodeAll(tok(), d.train[0]);
        QCOMPARE(all, kBos + "Below is an instruction that describes a task, paired with an input that provides further "
                             "context. Write a response that appropriately completes the request.\n\n### Instruction:\n"
                             "Give a synonym for the word.\n\n### Input:\nquiet\n\n### Response:\nsilent" + kEos);
        // Empty or absent input: the prompt without "### Input:".
        QVERIFY(!contains(decodeAll(tok(), d.train[1]), "### Input:"));
        QVERIFY(!contains(decodeAll(tok(), d.train[2]), "### Input:"));
    }

    void instructionWithChatTemplate()
    {
        const auto d = prepare(fixture("sample-alpaca.json"), noSplit(), &m_chatConfig);
        QCOMPARE(targetRuns(tok(), d.train[0]), std::vector<std::string>{"silent<|im_end|>"});
        QCOMPARE(decodeAll(tok(), d.train[0]), kBos + "<|im_start|>user\nGive a synonym for the word.\n\nquiet<|im_end|>\n"
                                                      "<|im_start|>assistant\nsilent<|im_end|>\n");
        QCOMPARE(decodeAll(tok(), d.train[1]), kBos + "<|im_start|>user\nName the season when snow falls.<|im_end|>\n"
                                                      "<|im_start|>assistant\nSnow falls in winter.<|im_end|>\n");
    }

    void instructionTrainOnPrompt()
    {
        tb::DatasetOptions o = noSplit();
        o.trainOnPrompt = true;
        const auto d = prepare(fixture("sample-alpaca.json"), o, &m_plainConfig);
        for (const auto& ex : d.train)
            QCOMPARE(countOnes(ex.lossMask), int64_t(ex.ids.size()) - 1);
    }

    // --- chat ----------------------------------------------------------------------------

    void chatMasksOnlyAssistantTurns()
    {
        const auto d = prepare(fixture("sample-chat.jsonl"), noSplit());
        QCOMPARE(targetRuns(tok(), d.train[0]), std::vector<std::string>{"By the river.<|im_end|>"});
        QCOMPARE(targetRuns(tok(), d.train[1]),
                 (std::vector<std::string>{"No, it is quiet.<|im_end|>", "The wheel stands still until the thaw.<|im_end|>"}));
        QCOMPARE(decodeAll(tok(), d.train[0]),
                 kBos + "<|im_start|>system\nYou answer briefly.<|im_end|>\n<|im_start|>user\nWhere is the mill?<|im_end|>\n"
                        "<|im_start|>assistant\nBy the river.<|im_end|>\n");
        // Every prompt token is masked out: the masked-out text is exactly the rest.
        std::string prompt;
        for (size_t i = 0; i < d.train[0].ids.size(); ++i)
            if (!d.train[0].lossMask[i])
                prompt += tok().decode({d.train[0].ids[i]}, false);
        QCOMPARE(prompt, kBos + "<|im_start|>system\nYou answer briefly.<|im_end|>\n<|im_start|>user\nWhere is the mill?"
                                "<|im_end|>\n<|im_start|>assistant\n\n");
    }

    void chatTrainOnPrompt()
    {
        tb::DatasetOptions o = noSplit();
        o.trainOnPrompt = true;
        const auto d = prepare(fixture("sample-chat.jsonl"), o);
        for (const auto& ex : d.train)
            QCOMPARE(countOnes(ex.lossMask), int64_t(ex.ids.size()) - 1);
        QCOMPARE(d.trainStats.lossTokens, d.trainStats.tokens - d.trainStats.records);
    }

    void chatTemplateWritingBosGetsNoSecondBos()
    {
        const tb::TokenizerConfig config = makeConfig("{{ bos_token }}" + kChatMl);
        const auto d = prepare(fixture("sample-chat.jsonl"), noSplit(), &config);
        for (const auto& ex : d.train) {
            QCOMPARE(ex.ids.front(), m_bosId);
            QCOMPARE(std::count(ex.ids.begin(), ex.ids.end(), m_bosId), 1L);
        }
        QCOMPARE(targetRuns(tok(), d.train[0]), std::vector<std::string>{"By the river.<|im_end|>"});
    }

    void chatTemplateThatRewritesEarlierTurns()
    {
        // Like Qwen3: only the last assistant turn gets an (empty) think block, so prefix
        // renderings of earlier turns are not prefixes of the full text.
        const tb::TokenizerConfig config = makeConfig(
            "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' }}"
            "{% if message['role'] == 'assistant' and loop.last %}{{ '<think>\\n\\n</think>\\n\\n' }}{% endif %}"
            "{{ message['content'] + '<|im_end|>\\n' }}{% endfor %}"
            "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}");
        const auto d = prepare(fixture("sample-chat.jsonl"), noSplit(), &config);
        QCOMPARE(targetRuns(tok(), d.train[1]),
                 (std::vector<std::string>{"No, it is quiet.<|im_end|>",
                                           "<think>\n\n</think>\n\nThe wheel stands still until the thaw.<|im_end|>"}));
    }

    void chatLlama3Template()
    {
        tb::TokenizerConfig config = makeConfig(kLlama3);
        config.eosToken = "<|eot_id|>";
        const auto d = prepare(fixture("sample-chat.jsonl"), noSplit(), &config);
        QCOMPARE(targetRuns(tok(), d.train[0]), std::vector<std::string>{"By the river.<|eot_id|>"});
        QCOMPARE(targetRuns(tok(), d.train[1]),
                 (std::vector<std::string>{"No, it is quiet.<|eot_id|>", "The wheel stands still until the thaw.<|eot_id|>"}));
        for (const auto& ex : d.train)
            QCOMPARE(std::count(ex.ids.begin(), ex.ids.end(), m_bosId), 1L);
        QCOMPARE(decodeAll(tok(), d.train[2]),
                 kBos + "<|start_header_id|>user<|end_header_id|>\n\nWho owns the boat?<|eot_id|>"
                        "<|start_header_id|>assistant<|end_header_id|>\n\nNobody remembers.<|eot_id|>");
    }

    void chatTemplateExceptionSkipsRecord()
    {
        const tb::TokenizerConfig config = makeConfig(kMistral);
        const auto d = prepare(fixture("sample-chat.jsonl"), noSplit(), &config);
        QCOMPARE(d.train.size(), size_t(2)); // the record with a system message does not alternate
        QCOMPARE(d.trainStats.skipped, int64_t(1));
        QVERIFY2(contains(d.trainStats.warnings.at(0), ":1: chat template: Conversation roles must alternate"),
                 d.trainStats.warnings.at(0).c_str());
        // Replies end with eos_token + ' ': the space goes to the prompt side.
        QCOMPARE(targetRuns(tok(), d.train[0]),
                 (std::vector<std::string>{"No, it is quiet." + kEos, "The wheel stands still until the thaw." + kEos}));
    }

    void chatWithoutTemplateNamesTokenizerConfig()
    {
        const auto e = formatError([&] { prepare(fixture("sample-chat.jsonl"), noSplit(), &m_plainConfig); });
        QVERIFY(e);
        QCOMPARE(e->file(), std::string("tokenizer_config.json"));
        QVERIFY2(contains(e->detail(), "sample-chat.jsonl") && contains(e->detail(), "chat_template"), e->what());
    }

    void chatBadRecordsAreSkipped()
    {
        const std::string path = writeFile(
            m_dir, "chatbad.jsonl",
            chatLine({{"user", "Where is the mill?"}, {"assistant", "By the river."}})
                + "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}]}\n"        // no assistant
                + "{\"messages\": [{\"role\": \"user\", \"content\": null}]}\n"          // ill-typed
                + "{\"messages\": \"hello\"}\n"                                           // not an array
                + "{\"messages\": [{\"content\": \"x\"}, {\"role\": \"assistant\", \"content\": \"y\"}]}\n");
        const auto d = prepare(path, noSplit());
        QCOMPARE(d.train.size(), size_t(1));
        QCOMPARE(d.trainStats.skipped, int64_t(4));
        const auto& w = d.trainStats.warnings;
        QCOMPARE(w.size(), size_t(4));
        QVERIFY2(w[0] == path + ":2: no \"assistant\" message: nothing to learn", w[0].c_str());
        QVERIFY2(w[1] == path + ":3: field \"content\" of messages[0] is null, expected a string", w[1].c_str());
        QVERIFY2(w[2] == path + ":4: field \"messages\" is string, expected an array", w[2].c_str());
        QVERIFY2(w[3] == path + ":5: missing field \"role\" of messages[0]", w[3].c_str());
    }

    // --- packing -------------------------------------------------------------------------

    void packingFillsSequencesAndKeepsMasks()
    {
        tb::DatasetOptions o = noSplit();
        o.maxSeqLen = 40; // longer than each prompt, shorter than the three examples together
        const auto plain = prepare(fixture("sample-chat.jsonl"), o);
        o.pack = true;
        const auto packed = prepare(fixture("sample-chat.jsonl"), o);
        std::vector<int32_t> ids;
        std::vector<uint8_t> mask;
        for (const auto& ex : plain.train) {
            ids.insert(ids.end(), ex.ids.begin(), ex.ids.end());
            mask.insert(mask.end(), ex.lossMask.begin(), ex.lossMask.end());
        }
        std::vector<int32_t> packedIds;
        std::vector<uint8_t> packedMask;
        for (size_t i = 0; i < packed.train.size(); ++i) {
            const auto& seq = packed.train[i];
            if (i + 1 < packed.train.size())
                QCOMPARE(int64_t(seq.ids.size()), o.maxSeqLen);
            QVERIFY(!seq.ids.empty() && int64_t(seq.ids.size()) <= o.maxSeqLen);
            QCOMPARE(seq.lossMask.size(), seq.ids.size());
            packedIds.insert(packedIds.end(), seq.ids.begin(), seq.ids.end());
            packedMask.insert(packedMask.end(), seq.lossMask.begin(), seq.lossMask.end());
        }
        QCOMPARE(plain.train.size(), size_t(3));
        QVERIFY(packed.train.size() >= 2);
        QCOMPARE(packedIds, ids);
        QCOMPARE(packedMask, mask);
        QCOMPARE(int64_t(packed.train.size()), (int64_t(ids.size()) + o.maxSeqLen - 1) / o.maxSeqLen);
        QCOMPARE(packed.trainStats.sequences, int64_t(packed.train.size()));
        QCOMPARE(packed.trainStats.records, int64_t(3));
        QCOMPARE(packed.trainStats.tokens, int64_t(ids.size()));
    }

    // --- split ---------------------------------------------------------------------------

    void splitIsDeterministicAndOrderIndependent()
    {
        std::vector<std::string> lines;
        for (int i = 0; i < 50; ++i)
            lines.push_back(nlohmann::json({{"text", "record number " + std::to_string(i)}}).dump() + "\n");
        std::string forward, backward;
        for (size_t i = 0; i < lines.size(); ++i) {
            forward += lines[i];
            backward += lines[lines.size() - 1 - i];
        }
        const std::string a = writeFile(m_dir, "split-a.jsonl", forward);
        const std::string b = writeFile(m_dir, "split-b.jsonl", backward);
        tb::DatasetOptions o;
        o.validationFraction = 0.2;
        o.splitSeed = 7;
        const auto texts = [&](const std::vector<tb::TokenizedExample>& v) {
            std::set<std::string> s;
            for (const auto& ex : v)
                s.insert(decodeAll(tok(), ex));
            return s;
        };
        const auto d1 = prepare(a, o);
        const auto d2 = prepare(a, o);
        const auto d3 = prepare(b, o);
        QCOMPARE(d1.validation.size(), size_t(10));
        QCOMPARE(d1.train.size(), size_t(40));
        QCOMPARE(texts(d1.validation), texts(d2.validation));
        QCOMPARE(texts(d1.validation), texts(d3.validation)); // reordered file, same split
        o.splitSeed = 8;
        QVERIFY(texts(prepare(a, o).validation) != texts(d1.validation));
        QCOMPARE(d1.validationStats.records, int64_t(10));
        QCOMPARE(d1.trainStats.records, int64_t(40));
    }

    void splitFractions()
    {
        const std::string two = writeFile(m_dir, "two.jsonl", "{\"text\": \"one\"}\n{\"text\": \"two\"}\n");
        tb::DatasetOptions o;
        o.validationFraction = 0.01; // rounds to 0, but two records give at least one
        auto d = prepare(two, o);
        QCOMPARE(d.validation.size(), size_t(1));
        QCOMPARE(d.train.size(), size_t(1));
        o.validationFraction = 0.0;
        d = prepare(two, o);
        QCOMPARE(d.validation.size(), size_t(0));
        QCOMPARE(d.train.size(), size_t(2));
        o.validationFraction = 0.9; // never the whole set
        d = prepare(two, o);
        QCOMPARE(d.train.size(), size_t(1));
        const std::string one = writeFile(m_dir, "one.jsonl", "{\"text\": \"one\"}\n");
        o.validationFraction = 0.5;
        d = prepare(one, o);
        QCOMPARE(d.train.size(), size_t(1));
        QVERIFY(d.validation.empty());
        QVERIFY(contains(d.trainStats.warnings.at(0), "validation set is empty"));
        o.validationFraction = 1.0;
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, prepare(two, o));
    }

    void separateValidationFile()
    {
        tb::DatasetOptions o; // the fraction is ignored when a validation file is given
        const std::string validation = writeFile(m_dir, "valid.jsonl",
                                                 "{\"text\": \"The wheel stands still.\"}\n{\"text\": 4}\n"
                                                 "{\"text\": \"Nobody remembers.\"}\n");
        const auto d = prepare(fixture("sample-text.jsonl"), o, nullptr, validation);
        QCOMPARE(d.train.size(), size_t(3));
        QCOMPARE(d.validation.size(), size_t(2));
        QCOMPARE(d.validationStats.records, int64_t(2));
        QCOMPARE(d.validationStats.skipped, int64_t(1));
        QCOMPARE(d.validationStats.warnings.at(0), validation + ":2: field \"text\" is number, expected a string");
        QCOMPARE(d.trainStats.skipped, int64_t(0));
        QCOMPARE(decodeAll(tok(), d.validation[1]), kBos + "Nobody remembers." + kEos);

        // A validation file of another format, or with nothing usable, is an error naming it.
        auto e = formatError([&] { prepare(fixture("sample-text.jsonl"), o, nullptr, fixture("sample-chat.jsonl")); });
        QVERIFY(e);
        QCOMPARE(e->file(), fixture("sample-chat.jsonl"));
        QVERIFY2(contains(e->detail(), "holds \"chat\" records"), e->what());
        const std::string bad = writeFile(m_dir, "valid-bad.jsonl", "{\"text\": 4}\n");
        e = formatError([&] { prepare(fixture("sample-text.jsonl"), o, nullptr, bad); });
        QVERIFY(e);
        QCOMPARE(e->file(), bad);
        QVERIFY2(contains(e->detail(), "no usable records"), e->what());
    }

    void tokenIdsPastTheModelNameFileAndLine()
    {
        // A model whose embedding has fewer rows than the tokenizer has tokens: the first
        // example holding such a token is named by file and line, train and validation alike.
        tb::DatasetOptions o;
        const std::string validation = writeFile(m_dir, "ids-valid.jsonl",
                                                 "{\"text\": \"The wheel.\"}\n\n{\"text\": \"A boat<|im_end|>\"}\n");
        const auto d = prepare(fixture("sample-text.jsonl"), o, nullptr, validation);
        tb::checkTokenIdsBelow(d, tok().vocabSize(), fixture("sample-text.jsonl"), validation, tok()); // fits

        // Every example starts with BOS: the first training record (line 1) is named.
        auto e = formatError([&] { tb::checkTokenIdsBelow(d, m_bosId, fixture("sample-text.jsonl"), validation, tok()); });
        QVERIFY(e);
        QCOMPARE(e->file(), fixture("sample-text.jsonl"));
        QVERIFY2(contains(e->detail(), "line 1: token id " + std::to_string(m_bosId) + " (\"" + kBos + "\")"), e->what());
        QVERIFY2(contains(e->detail(), "config.json has vocab_size " + std::to_string(m_bosId)), e->what());

        // Only the validation file's third line holds <|im_end|>, the largest id in use.
        const std::string trainOnly = writeFile(m_dir, "ids-train.jsonl", "{\"text\": \"The mill.\"}\n");
        const auto v = prepare(trainOnly, o, nullptr, validation);
        QVERIFY(m_imEndId > m_eosId && m_imEndId > m_bosId);
        e = formatError([&] { tb::checkTokenIdsBelow(v, m_imEndId, trainOnly, validation, tok()); });
        QVERIFY(e);
        QCOMPARE(e->file(), validation);
        QVERIFY2(contains(e->detail(), "line 3: token id " + std::to_string(m_imEndId) + " (\"<|im_end|>\")"), e->what());

        // Packed, the records of a sequence are no longer told apart: its first line is named.
        tb::DatasetOptions packed = o;
        packed.pack = true;
        const auto p = prepare(trainOnly, packed, nullptr, validation);
        QVERIFY(p.packed);
        e = formatError([&] { tb::checkTokenIdsBelow(p, m_imEndId, trainOnly, validation, tok()); });
        QVERIFY(e);
        QVERIFY2(contains(e->detail(), "the packed sequence starting at line 1: token id " + std::to_string(m_imEndId)), e->what());
    }

    // --- statistics ----------------------------------------------------------------------

    void statisticsAddUp()
    {
        const std::string path = writeFile(m_dir, "stats.jsonl",
                                           "{\"text\": \"The river runs past the old mill.\"}\n"
                                           "not json\n"
                                           "{\"text\": \"Snow lies on the roof.\"}\n"
                                           "{\"text\": 12}\n");
        const auto d = prepare(path, noSplit());
        const auto& s = d.trainStats;
        QCOMPARE(s.records, int64_t(2));
        QCOMPARE(s.skipped, int64_t(2));
        QCOMPARE(s.truncated, int64_t(0));
        int64_t tokens = 0, loss = 0;
        for (const auto& ex : d.train) {
            tokens += int64_t(ex.ids.size());
            loss += countOnes(ex.lossMask);
        }
        QCOMPARE(s.tokens, tokens);
        QCOMPARE(s.lossTokens, loss);
        int64_t histogram = 0;
        for (int64_t n : s.lengthHistogram)
            histogram += n;
        QCOMPARE(histogram, s.records);
        QCOMPARE(s.histogramBucket, int64_t(32)); // maxSeqLen 512 / 16
        QCOMPARE(s.sequences, int64_t(2));
        QCOMPARE(s.warnings.size(), size_t(2));
        QVERIFY2(contains(s.warnings[0], path + ":2: malformed JSON"), s.warnings[0].c_str());
        QVERIFY2(s.warnings[1] == path + ":4: field \"text\" is number, expected a string", s.warnings[1].c_str());
    }

    void warningsAreCapped()
    {
        std::string bytes = "{\"text\": \"good\"}\n";
        for (int i = 0; i < 150; ++i)
            bytes += "{\"text\": \n";
        const auto d = prepare(writeFile(m_dir, "many.jsonl", bytes), noSplit());
        QCOMPARE(d.trainStats.skipped, int64_t(150));
        QCOMPARE(d.trainStats.warnings.size(), size_t(100));
        QCOMPARE(d.trainStats.warningsOmitted, int64_t(50));
    }

    // --- bad input -----------------------------------------------------------------------

    void instructionMissingAndIllTypedFields()
    {
        const std::string path = writeFile(m_dir, "inst.jsonl",
                                           "{\"instruction\": \"Name a season.\", \"output\": \"Winter.\"}\n"
                                           "{\"instruction\": \"Name a season.\"}\n"
                                           "{\"instruction\": \"Name a season.\", \"input\": 3, \"output\": \"Winter.\"}\n"
                                           "{\"instruction\": \"Name a season.\", \"output\": \"\"}\n");
        const auto d = prepare(path, noSplit(), &m_plainConfig);
        QCOMPARE(d.train.size(), size_t(1));
        const auto& w = d.trainStats.warnings;
        QCOMPARE(w.size(), size_t(3));
        QCOMPARE(w[0], path + ":2: missing field \"output\"");
        QCOMPARE(w[1], path + ":3: field \"input\" is number, expected a string");
        QCOMPARE(w[2], path + ":4: field \"output\" is empty: nothing to learn");
    }

    void promptLongerThanMaxSeqLenIsSkipped()
    {
        const std::string longInstruction(400, 'w');
        const std::string path = writeFile(
            m_dir, "longprompt.jsonl",
            nlohmann::json({{"instruction", longInstruction}, {"output", "Winter."}}).dump() + "\n"
                + "{\"instruction\": \"Name a season.\", \"output\": \"Winter.\"}\n");
        tb::DatasetOptions o = noSplit();
        o.maxSeqLen = 48;
        const auto d = prepare(path, o, &m_plainConfig);
        QCOMPARE(d.train.size(), size_t(1));
        QCOMPARE(d.train[0].sourceLine, int64_t(2));
        QCOMPARE(d.trainStats.skipped, int64_t(1));
        QVERIFY2(contains(d.trainStats.warnings[0], path + ":1: the prompt alone is")
                     && contains(d.trainStats.warnings[0], "max_seq_len is 48"),
                 d.trainStats.warnings[0].c_str());
    }

    void invalidUtf8NamesLineAndOffset()
    {
        const std::string path = writeFile(m_dir, "latin1.jsonl",
                                           "{\"text\": \"ok\"}\n{\"text\": \"caf\xE9\"}\n");
        const auto e = formatError([&] { prepare(path, noSplit()); });
        QVERIFY(e);
        QCOMPARE(e->file(), path);
        QVERIFY2(contains(e->detail(), "line 2, byte offset 28") && contains(e->detail(), "0xE9"), e->what());
        const std::string utf16 = writeFile(m_dir, "utf16.txt", std::string("\xFF\xFEh\0i\0", 6));
        const auto e16 = formatError([&] { prepare(utf16, noSplit()); });
        QVERIFY(e16 && contains(e16->detail(), "UTF-16"));
    }

    void emptyAndUnusableFilesAreErrors_data()
    {
        QTest::addColumn<QString>("name");
        QTest::addColumn<QByteArray>("bytes");
        QTest::addColumn<QString>("expected");
        QTest::newRow("empty txt") << "empty.txt" << QByteArray() << "the file is empty";
        QTest::newRow("empty jsonl") << "empty.jsonl" << QByteArray() << "the file is empty";
        QTest::newRow("blank txt") << "blank.txt" << QByteArray("\n  \n\t\n") << "only blank lines";
        QTest::newRow("blank jsonl") << "blank.jsonl" << QByteArray("\n\n") << "only blank lines";
        QTest::newRow("empty array") << "empty.json" << QByteArray("[ ]") << "the JSON array is empty";
        QTest::newRow("broken array") << "broken.json" << QByteArray("[\n{\"text\": \"a\"},\n{\"text\": }\n]")
                                      << "malformed JSON: parse error at line 3";
        QTest::newRow("wrapper object") << "wrapper.json" << QByteArray("{\"data\": [{\"text\": \"a\"}]}")
                                        << "expected a JSON array of records, got object";
        QTest::newRow("all malformed") << "bad.jsonl" << QByteArray("nope\n{\"text\": 1}\n")
                                       << "no usable records (2 skipped: first reason: line 1: malformed JSON";
        QTest::newRow("all ill-typed") << "bad2.jsonl" << QByteArray("{\"text\": 1}\n{\"text\": \"\"}\n")
                                       << "no usable records (2 skipped: first reason: line 1: field \"text\" is number";
        QTest::newRow("not objects") << "arr.json" << QByteArray("[1, 2]")
                                     << "no usable records (2 skipped: first reason: line 1: record 0 is number";
    }

    void emptyAndUnusableFilesAreErrors()
    {
        QFETCH(QString, name);
        QFETCH(QByteArray, bytes);
        QFETCH(QString, expected);
        const std::string path = writeFile(m_dir, name, bytes.toStdString());
        const auto e = formatError([&] { prepare(path, noSplit()); });
        QVERIFY(e);
        QCOMPARE(e->file(), path);
        QVERIFY2(contains(e->detail(), expected.toStdString()), e->what());
    }

    void unreadableFileIsAnError()
    {
        const std::string path = m_dir.filePath("does-not-exist.jsonl").toStdString();
        const auto e = formatError([&] { prepare(path, noSplit()); });
        QVERIFY(e);
        QCOMPARE(e->file(), path);
        QVERIFY(contains(e->detail(), "cannot open"));
    }

    // --- preview -------------------------------------------------------------------------

    void previewSegments()
    {
        tb::DatasetOptions o;
        const auto records = tb::renderRecordSegments(fixture("sample-chat.jsonl"), tok(), m_chatConfig, o, 2);
        QCOMPARE(records.size(), size_t(2));
        const auto d = prepare(fixture("sample-chat.jsonl"), noSplit());
        for (size_t r = 0; r < records.size(); ++r) {
            QVERIFY(records[r].skipReason.empty());
            std::string text, targets;
            int64_t tokens = 0;
            for (const auto& s : records[r].segments) {
                text += s.text;
                tokens += s.tokens;
                if (!s.masked)
                    targets += s.text;
            }
            QCOMPARE(text, decodeAll(tok(), d.train[r]));
            QCOMPARE(tokens, int64_t(d.train[r].ids.size()));
        }
        QCOMPARE(records[0].segments.front().text, kBos);
        QVERIFY(records[0].segments.front().masked);
        QCOMPARE(records[1].sourceLine, int64_t(2));
        const std::string bad = writeFile(m_dir, "preview-bad.jsonl", "{\"text\": \"ok\"}\n{\"text\": 5}\n");
        const auto preview = tb::renderRecordSegments(bad, tok(), m_chatConfig, o, 10);
        QCOMPARE(preview.size(), size_t(2));
        QVERIFY(preview[0].skipReason.empty());
        QCOMPARE(preview[1].skipReason, std::string("field \"text\" is number, expected a string"));
        QVERIFY(preview[1].segments.empty());
    }
};

QTEST_GUILESS_MAIN(TestTrainingDataset)
#include "tst_trainingdataset.moc"
