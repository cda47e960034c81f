// Generation on the real demo model folder (made by makeDemoModel, loaded from disk): the
// KV-cached loop against a cache-free argmax loop, streaming, sampling, and each stop rule.
#include "demo/DemoModelMaker.h"
#include "generate/TextGenerator.h"
#include "model/ModelLoader.h"
#include "tokenizer/Tokenizer.h"
#include "tokenizer/TokenizerConfig.h"

#include <QTemporaryDir>
#include <QTest>

#include <memory>

using namespace tb;

class TestGeneration : public QObject {
    Q_OBJECT
private:
    QTemporaryDir m_tmp;
    std::unique_ptr<LoadedModel> m_model;
    std::unique_ptr<Tokenizer> m_tokenizer;
    std::vector<int64_t> m_prompt;

    GenerationResult run(GenerationOptions options, std::string* streamed = nullptr,
                         std::function<bool()> keepGoing = {})
    {
        TextGenerator generator(*m_model->model, *m_tokenizer);
        return generator.generate(m_prompt, options, [&](const std::string& piece) {
            if (streamed)
                *streamed += piece;
            return keepGoing ? keepGoing() : true;
        });
    }

private Q_SLOTS:
    void initTestCase()
    {
        const std::string dir = m_tmp.filePath("demo").toStdString();
        makeDemoModel(dir, "tiny", 1);
        LoadOptions options;
        options.dtype = at::kFloat;
        m_model = std::make_unique<LoadedModel>(loadModel(dir, options));
        m_tokenizer = std::make_unique<Tokenizer>(Tokenizer::fromFile(dir + "/tokenizer.json"));
        const auto ids = m_tokenizer->encode("The garden in spring is", true);
        m_prompt.assign(ids.begin(), ids.end());
        QCOMPARE(m_prompt.front(), m_model->config.bosTokenId);
    }

    void greedyMatchesCacheFreeArgmax()
    {
        GenerationOptions options;
        options.maxNewTokens = 12;
        const GenerationResult result = run(options);
        QCOMPARE(int(result.tokenIds.size()), 12);
        QCOMPARE(result.stopReason, StopReason::MaxTokens);
        std::vector<int64_t> ids = m_prompt;
        at::NoGradGuard g;
        for (int i = 0; i < 12; ++i) {
            const at::Tensor logits = m_model->model->forward(at::tensor(ids, at::kLong).view({1, -1}));
            ids.push_back(logits[0][-1].argmax().item<int64_t>());
        }
        QCOMPARE(result.tokenIds, std::vector<int64_t>(ids.begin() + m_prompt.size(), ids.end()));
    }

    void streamedTextIsTheDecodedText()
    {
        GenerationOptions options;
        options.maxNewTokens = 30;
        options.temperature = 1.0;
        options.seed = 5;
        std::string streamed;
        const GenerationResult result = run(options, &streamed);
        const std::vector<int32_t> ids(result.tokenIds.begin(), result.tokenIds.end());
        QCOMPARE(streamed, result.text);
        QCOMPARE(result.text, m_tokenizer->decode(ids, true));
    }

    void samplingIsSeeded()
    {
        GenerationOptions options;
        options.maxNewTokens = 20;
        options.temperature = 1.5;
        options.seed = 1234;
        const auto a = run(options), b = run(options);
        QCOMPARE(a.tokenIds, b.tokenIds);
        options.seed = 99;
        QVERIFY(run(options).tokenIds != a.tokenIds);
        // A nucleus this small keeps only the most likely token: greedy.
        options.topP = 1e-6;
        GenerationOptions greedy;
        greedy.maxNewTokens = 20;
        QCOMPARE(run(options).tokenIds, run(greedy).tokenIds);
    }

    void stopsOnEos()
    {
        GenerationOptions options;
        options.maxNewTokens = 20;
        options.temperature = 1.0;
        options.seed = 11;
        const auto first = run(options).tokenIds;
        // The first position whose token did not occur before it: generation must stop there.
        size_t cut = 1;
        while (cut < first.size() && std::find(first.begin(), first.begin() + cut, first[cut]) != first.begin() + cut)
            ++cut;
        QVERIFY(cut < first.size());
        options.eosTokenIds = {first[cut]};
        const auto result = run(options);
        QCOMPARE(result.stopReason, StopReason::Eos);
        QCOMPARE(result.tokenIds, std::vector<int64_t>(first.begin(), first.begin() + cut));
    }

    void stopsOnStopStringAndHoldsItBack()
    {
        GenerationOptions options;
        options.maxNewTokens = 40;
        options.temperature = 1.0;
        options.seed = 3;
        const std::string full = run(options).text;
        QVERIFY(full.size() > 20);
        const std::string stop = full.substr(10, 4);
        options.stopStrings = {stop};
        std::string streamed;
        const auto result = run(options, &streamed);
        QCOMPARE(result.stopReason, StopReason::StopString);
        QCOMPARE(result.text, full.substr(0, full.find(stop)));
        QCOMPARE(streamed, result.text); // no part of the stop string was streamed
    }

    void cancelFromCallback()
    {
        GenerationOptions options;
        options.maxNewTokens = 50;
        options.temperature = 1.0;
        int pieces = 0;
        const auto result = run(options, nullptr, [&] { return ++pieces < 3; });
        QCOMPARE(result.stopReason, StopReason::Cancelled);
        QVERIFY(result.tokenIds.size() < 50);
    }

    void eosIdsComeFromBothConfigs()
    {
        const TokenizerConfig tc = TokenizerConfig::fromFile(m_model->dir + "/tokenizer_config.json");
        const auto ids = defaultEosTokenIds(m_model->config, *m_tokenizer, tc);
        QVERIFY(std::find(ids.begin(), ids.end(), m_tokenizer->tokenToId(kDemoImEnd)) != ids.end());
        QVERIFY(std::find(ids.begin(), ids.end(), m_tokenizer->tokenToId(kDemoEosToken)) != ids.end());
    }
};

QTEST_GUILESS_MAIN(TestGeneration)
#include "tst_generation.moc"
