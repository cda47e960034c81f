// config.json parsing on the real configurations of six model families, checked against the
// parameter counts their model cards publish, and the errors bad configs get.
#include "formats/FormatError.h"
#include "formats/ModelConfig.h"
#include "formats/WeightFootprint.h"

#include <QTest>

using namespace tb;

namespace {

std::string configPath(const char* name)
{
    return std::string(TB_TEST_DATA_DIR) + "/configs/" + name;
}

// Parses `json` and returns the FormatError's message ("" when it parsed).
QString errorOf(const std::string& json)
{
    try {
        ModelConfig::fromJsonText(json, "/models/x/config.json");
    } catch (const FormatError& e) {
        return QString::fromStdString(e.what());
    }
    return {};
}

const char* const kValid = R"({"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 100,
  "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
  "num_key_value_heads": 2})";

std::string withKey(const std::string& key, const std::string& value)
{
    std::string s = kValid;
    s.insert(s.size() - 1, ", \"" + key + "\": " + value);
    return s;
}

} // namespace

class TestModelConfig : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void realConfigs_data()
    {
        QTest::addColumn<QString>("file");
        QTest::addColumn<QString>("architecture");
        QTest::addColumn<qint64>("parameters"); // as published on the model cards / safetensors index
        QTest::newRow("Llama 3.1 8B") << "llama-3.1-8b.json" << "LlamaForCausalLM" << qint64(8030261248);
        QTest::newRow("Mistral 7B") << "mistral-7b-v0.1.json" << "MistralForCausalLM" << qint64(7241732096);
        QTest::newRow("TinyLlama 1.1B") << "tinyllama-1.1b.json" << "LlamaForCausalLM" << qint64(1100048384);
        QTest::newRow("SmolLM 135M") << "smollm-135m.json" << "LlamaForCausalLM" << qint64(134515008);
        QTest::newRow("Qwen2.5 0.5B") << "qwen2.5-0.5b.json" << "Qwen2ForCausalLM" << qint64(494032768);
        QTest::newRow("Qwen3 0.6B") << "qwen3-0.6b.json" << "Qwen3ForCausalLM" << qint64(596049920);
    }

    void realConfigs()
    {
        QFETCH(QString, file);
        QFETCH(QString, architecture);
        QFETCH(qint64, parameters);
        const ModelConfig c = ModelConfig::fromFile(configPath(file.toUtf8().constData()));
        QCOMPARE(QString::fromStdString(c.architecture), architecture);
        QCOMPARE(qint64(c.parameterCount()), parameters);
        // Round trip through our own writer.
        const ModelConfig again = ModelConfig::fromJsonText(c.toJsonText(), "roundtrip");
        QCOMPARE(again.parameterCount(), c.parameterCount());
        QCOMPARE(again.headDim, c.headDim);
        QCOMPARE(again.ropeScaling.type, c.ropeScaling.type);
    }

    void detailsOfEachFamily()
    {
        const ModelConfig llama = ModelConfig::fromFile(configPath("llama-3.1-8b.json"));
        QCOMPARE(llama.ropeScaling.type, RopeScalingType::Llama3);
        QCOMPARE(llama.ropeScaling.originalMaxPositionEmbeddings, int64_t(8192));
        QCOMPARE(llama.eosTokenIds, (std::vector<int64_t>{128001, 128008, 128009}));
        QCOMPARE(llama.numKeyValueHeads, int64_t(8));
        QCOMPARE(llama.headDim, int64_t(128));
        const ModelConfig qwen2 = ModelConfig::fromFile(configPath("qwen2.5-0.5b.json"));
        QVERIFY(qwen2.attentionBias);
        QVERIFY(qwen2.tieWordEmbeddings);
        QCOMPARE(qwen2.slidingWindow, int64_t(0)); // use_sliding_window false
        const ModelConfig qwen3 = ModelConfig::fromFile(configPath("qwen3-0.6b.json"));
        QVERIFY(qwen3.qkNorm);
        QVERIFY(!qwen3.attentionBias);
        QCOMPARE(qwen3.headDim, int64_t(128)); // explicit, not 1024 / 16
        const ModelConfig mistral = ModelConfig::fromFile(configPath("mistral-7b-v0.1.json"));
        QCOMPARE(mistral.slidingWindow, int64_t(4096));
    }

    void weightFootprintFollowsQlora()
    {
        // Llama 3.1 8B: 6.98 B parameters in decoder linears; NF4 + double quant = 4.127 bits.
        const ModelConfig c = ModelConfig::fromFile(configPath("llama-3.1-8b.json"));
        const WeightFootprint f = weightFootprint(c);
        QCOMPARE(f.bf16Bytes, int64_t(8030261248) * 2);
        const double bitsPerQuantized = (f.nf4Bytes - (f.totalParameters - f.quantizableParameters) * 2) * 8.0
            / f.quantizableParameters;
        QVERIFY2(std::abs(bitsPerQuantized - 4.127) < 0.002, qPrintable(QString::number(bitsPerQuantized)));
        const double bitsNoDq = (f.nf4NoDqBytes - (f.totalParameters - f.quantizableParameters) * 2) * 8.0
            / f.quantizableParameters;
        QVERIFY2(std::abs(bitsNoDq - 4.5) < 0.002, qPrintable(QString::number(bitsNoDq)));
    }

    void badConfigs_data()
    {
        QTest::addColumn<QString>("json");
        QTest::addColumn<QString>("mentions");
        QTest::newRow("not json") << "{\"vocab_size\": " << "not valid JSON";
        QTest::newRow("array") << "[1, 2]" << "JSON object";
        QTest::newRow("gpt2") << R"({"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2"})" << "unsupported architecture GPT2LMHeadModel";
        QTest::newRow("unknown type only") << R"({"model_type": "falcon"})" << "model_type";
        QTest::newRow("missing hidden") << R"({"architectures": ["LlamaForCausalLM"], "vocab_size": 10})" << "\"hidden_size\": missing";
        QTest::newRow("string size") << QString::fromStdString(withKey("num_hidden_layers", "\"two\"")).replace("\"num_hidden_layers\": 2, ", "") << "num_hidden_layers";
        QTest::newRow("kv not dividing") << QString::fromStdString(withKey("num_key_value_heads", "3")).replace("\"num_key_value_heads\": 2", "\"num_key_value_heads\": 3") << "does not divide";
        QTest::newRow("bad rope") << QString::fromStdString(withKey("rope_scaling", R"({"rope_type": "yarn", "factor": 4})")) << "rope_scaling.rope_type";
        QTest::newRow("bad act") << QString::fromStdString(withKey("hidden_act", "\"gelu\"")) << "hidden_act";
        QTest::newRow("mlp bias") << QString::fromStdString(withKey("mlp_bias", "true")) << "mlp_bias";
        QTest::newRow("bad dtype") << QString::fromStdString(withKey("torch_dtype", "\"int8\"")) << "torch_dtype";
        QTest::newRow("type mismatch") << QString::fromStdString(withKey("model_type", "\"qwen2\"")).replace("\"model_type\": \"llama\", ", "") << "does not match";
        QTest::newRow("number overflow") << QString(kValid).replace("\"vocab_size\": 100", "\"vocab_size\": 1e400") << "not valid JSON";
        QTest::newRow("negative vocab") << QString(kValid).replace("\"vocab_size\": 100", "\"vocab_size\": -5") << "vocab_size";
    }

    void badConfigs()
    {
        QFETCH(QString, json);
        QFETCH(QString, mentions);
        const QString error = errorOf(json.toStdString());
        QVERIFY2(!error.isEmpty(), "parsed without error");
        QVERIFY2(error.startsWith("/models/x/config.json: "), qPrintable(error));
        QVERIFY2(error.contains(mentions), qPrintable(error));
    }

    void missingFileNamesIt()
    {
        try {
            ModelConfig::fromFile("/nonexistent/config.json");
            QFAIL("no error");
        } catch (const FormatError& e) {
            QVERIFY(QString(e.what()).contains("/nonexistent/config.json"));
        }
    }
};

QTEST_GUILESS_MAIN(TestModelConfig)
#include "tst_modelconfig.moc"
