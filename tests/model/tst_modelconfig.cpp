// config.json parsing on the real configurations of six model families, checked against the
// parameter counts their model cards publish, the errors bad configs get, and the key table
// (formats/ConfigKeys): each refused key is refused by name away from its neutral value, each
// honoured key reads and round-trips, each key a config class lacks is a named warning.
#include "formats/ConfigKeys.h"
#include "formats/FormatError.h"
#include "formats/ModelConfig.h"
#include "formats/WeightFootprint.h"

#include <QTest>

#include <algorithm>
#include <functional>
#include <map>
#include <set>

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

// A valid config of `modelType` (32 heads, so every class default of num_key_value_heads
// divides them) with `extra` members added.
std::string configOf(const std::string& modelType, const std::string& extra = "")
{
    const std::map<std::string, std::string> arch = {{"llama", "LlamaForCausalLM"}, {"mistral", "MistralForCausalLM"},
                                                     {"qwen2", "Qwen2ForCausalLM"}, {"qwen3", "Qwen3ForCausalLM"}};
    return "{\"architectures\": [\"" + arch.at(modelType) + "\"], \"model_type\": \"" + modelType
        + "\", \"vocab_size\": 100, \"hidden_size\": 256, \"intermediate_size\": 128, \"num_hidden_layers\": 4, "
          "\"num_attention_heads\": 32"
        + (extra.empty() ? "" : ", " + extra) + "}";
}

const char* const kModelTypes[] = {"llama", "mistral", "qwen2", "qwen3"};

// A value other than a refused key's neutral one.
std::string nonNeutral(const std::string& neutral)
{
    if (neutral == "false")
        return "true";
    if (neutral == "0.0")
        return "0.1";
    if (neutral == "1.0")
        return "0.5";
    if (neutral == "null")
        return R"({"quant_method": "gptq", "bits": 4})";
    if (neutral == "{}")
        return R"({"0": [1, 2]})";
    return "";
}

// For messages (QVERIFY2 builds its message whether or not the check fails).
QString firstWarning(const ModelConfig& c)
{
    return c.warnings.empty() ? QString() : QString::fromStdString(c.warnings.front());
}

std::string errorOfConfig(const std::string& json)
{
    try {
        ModelConfig::fromJsonText(json, "config.json");
    } catch (const FormatError& e) {
        return e.what();
    }
    return {};
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
        QVERIFY(qwen2.qkvBias);
        QVERIFY(!qwen2.outputBias);
        QVERIFY(qwen2.tieWordEmbeddings);
        QCOMPARE(qwen2.slidingWindow, int64_t(0)); // use_sliding_window false
        const ModelConfig qwen3 = ModelConfig::fromFile(configPath("qwen3-0.6b.json"));
        QVERIFY(qwen3.qkNorm);
        QVERIFY(!qwen3.qkvBias && !qwen3.outputBias);
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

    void realConfigsHaveNoWarnings()
    {
        for (const char* file : {"llama-3.1-8b.json", "mistral-7b-v0.1.json", "tinyllama-1.1b.json", "smollm-135m.json",
                                 "qwen2.5-0.5b.json", "qwen3-0.6b.json"}) {
            const ModelConfig c = ModelConfig::fromFile(configPath(file));
            QVERIFY2(c.warnings.empty(), qPrintable(QString(file) + ": " + firstWarning(c)));
        }
    }

    void refusedKeysNameKeyAndValue()
    {
        int checked = 0;
        for (const ConfigKey& key : configKeys()) {
            if (key.use != ConfigKeyUse::RefusedUnlessNeutral)
                continue;
            const std::string bad = nonNeutral(key.neutral);
            QVERIFY2(!bad.empty(), key.name); // the test knows a non-neutral value of every refused key
            for (const char* type : kModelTypes) {
                if (!(key.architectures & configArchitectureBit(type)))
                    continue;
                const std::string member = std::string("\"") + key.name + "\": ";
                const QString error = QString::fromStdString(errorOfConfig(configOf(type, member + bad)));
                QVERIFY2(error.contains(QString("key \"%1\"").arg(key.name)), qPrintable(QString(type) + ": " + error));
                if (bad[0] != '{') // objects come back re-serialised
                    QVERIFY2(error.contains(QString::fromStdString(bad) + " is refused"), qPrintable(error));
                // The neutral value and null are accepted without a word.
                for (const std::string& fine : {std::string(key.neutral), std::string("null")}) {
                    const ModelConfig c = ModelConfig::fromJsonText(configOf(type, member + fine), "config.json");
                    QVERIFY2(c.warnings.empty(), qPrintable(firstWarning(c)));
                }
                ++checked;
            }
        }
        QVERIFY(checked >= 17); // mlp_bias (llama) and four keys on all four architectures
    }

    void everyTableKeyIsKnownToItsArchitecturesOnly()
    {
        for (const ConfigKey& key : configKeys()) {
            for (const char* type : kModelTypes) {
                const bool belongs = (key.architectures & configArchitectureBit(type)) != 0;
                const std::string json = configOf(type, std::string("\"") + key.name + "\": null");
                const std::string error = errorOfConfig(json);
                if (error.find("missing (required") != std::string::npos)
                    continue; // vocab_size and the other shape keys have no default here
                QVERIFY2(error.empty(), error.c_str()); // null is every other key's "not set"
                const ModelConfig c = ModelConfig::fromJsonText(json, "config.json");
                const bool warned = std::any_of(c.warnings.begin(), c.warnings.end(), [&](const std::string& w) {
                    return w.find(std::string("key \"") + key.name + "\"") != std::string::npos;
                });
                const bool expectWarning = !belongs || key.use == ConfigKeyUse::Warned;
                QVERIFY2(warned == expectWarning, qPrintable(QString("%1 in %2: warned %3").arg(key.name, type).arg(warned)));
            }
        }
    }

    void unknownKeysAreNamedWarnings()
    {
        // LlamaConfig has no sliding window: transformers' Llama attends everything, so do we.
        const ModelConfig llama = ModelConfig::fromJsonText(configOf("llama", R"("sliding_window": 16, "num_experts": 8)"), "c");
        QCOMPARE(int(llama.warnings.size()), 2);
        QVERIFY(llama.warnings[0].find("\"num_experts\"") != std::string::npos);
        QVERIFY(llama.warnings[1].find("\"sliding_window\"") != std::string::npos
                && llama.warnings[1].find("LlamaConfig") != std::string::npos);
        QCOMPARE(llama.slidingWindow, int64_t(0));
        // MistralAttention and Qwen2Attention take no attention_bias: Mistral has no biases,
        // Qwen2 its fixed q/k/v ones.
        const ModelConfig mistral = ModelConfig::fromJsonText(configOf("mistral", R"("attention_bias": true)"), "c");
        QVERIFY(!mistral.qkvBias && !mistral.outputBias && mistral.warnings.size() == 1);
        const ModelConfig qwen2 = ModelConfig::fromJsonText(configOf("qwen2", R"("attention_bias": true)"), "c");
        QVERIFY(qwen2.qkvBias && !qwen2.outputBias && qwen2.warnings.size() == 1);
        // Keys inside rope_scaling that its type does not read.
        const ModelConfig rope = ModelConfig::fromJsonText(configOf("llama", R"("rope_scaling": {"rope_type": "linear", "factor": 2.0, "beta_fast": 32})"), "c");
        QCOMPARE(int(rope.warnings.size()), 1);
        QVERIFY(rope.warnings[0].find("rope_scaling.beta_fast") != std::string::npos);
        // auto_map is warned about by name.
        const ModelConfig custom = ModelConfig::fromJsonText(configOf("qwen2", R"("auto_map": {"AutoModelForCausalLM": "x.Y"})"), "c");
        QVERIFY(custom.warnings.size() == 1 && custom.warnings[0].find("auto_map") != std::string::npos);
    }

    void honouredKeysReadAndRoundTrip()
    {
        struct Case {
            const char* key;
            const char* modelType;
            const char* members;
            std::function<bool(const ModelConfig&)> holds;
        };
        const std::vector<Case> cases = {
            {"vocab_size", "llama", "", [](const ModelConfig& c) { return c.vocabSize == 100; }},
            {"hidden_size", "llama", "", [](const ModelConfig& c) { return c.hiddenSize == 256 && c.headDim == 8; }},
            {"intermediate_size", "llama", "", [](const ModelConfig& c) { return c.intermediateSize == 128; }},
            {"num_hidden_layers", "llama", "", [](const ModelConfig& c) { return c.numLayers == 4; }},
            {"num_attention_heads", "llama", "", [](const ModelConfig& c) { return c.numHeads == 32; }},
            {"num_key_value_heads", "llama", R"("num_key_value_heads": 4)", [](const ModelConfig& c) { return c.numKeyValueHeads == 4; }},
            {"num_key_value_heads", "llama", "", [](const ModelConfig& c) { return c.numKeyValueHeads == 32; }},
            {"num_key_value_heads", "mistral", "", [](const ModelConfig& c) { return c.numKeyValueHeads == 8; }},
            {"num_key_value_heads", "qwen2", "", [](const ModelConfig& c) { return c.numKeyValueHeads == 32; }},
            {"num_key_value_heads", "qwen3", R"("num_key_value_heads": null)", [](const ModelConfig& c) { return c.numKeyValueHeads == 32; }},
            {"head_dim", "llama", R"("head_dim": 16)", [](const ModelConfig& c) { return c.headDim == 16; }},
            {"head_dim", "qwen3", "", [](const ModelConfig& c) { return c.headDim == 128; }},
            {"hidden_act", "mistral", R"("hidden_act": "swish")", [](const ModelConfig& c) { return c.hiddenAct == "silu"; }},
            {"rms_norm_eps", "qwen2", R"("rms_norm_eps": 1e-05)", [](const ModelConfig& c) { return c.rmsNormEps == 1e-5; }},
            {"tie_word_embeddings", "qwen3", R"("tie_word_embeddings": true)", [](const ModelConfig& c) { return c.tieWordEmbeddings; }},
            {"pad_token_id", "llama", R"("pad_token_id": -1)", [](const ModelConfig& c) { return c.embeddingPaddingIndex() == 99; }},
            {"pad_token_id", "qwen2", R"("pad_token_id": 7)", [](const ModelConfig& c) { return c.embeddingPaddingIndex() == 7; }},
            {"rope_theta", "llama", R"("rope_theta": 500000.0)", [](const ModelConfig& c) { return c.ropeTheta == 500000.0; }},
            {"rope_scaling", "mistral", R"("rope_scaling": {"type": "linear", "factor": 2.0})",
             [](const ModelConfig& c) { return c.ropeScaling.type == RopeScalingType::Linear && c.ropeScaling.factor == 2.0; }},
            {"rope_parameters", "llama",
             R"("rope_parameters": {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
                "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}, "rope_theta": null)",
             [](const ModelConfig& c) { return c.ropeScaling.type == RopeScalingType::Llama3 && c.ropeTheta == 500000.0; }},
            {"attention_bias", "llama", R"("attention_bias": true)", [](const ModelConfig& c) { return c.qkvBias && c.outputBias; }},
            {"attention_bias", "qwen3", R"("attention_bias": true)", [](const ModelConfig& c) { return c.qkvBias && c.outputBias; }},
            {"sliding_window", "mistral", "", [](const ModelConfig& c) { return c.slidingWindow == 4096 && c.attentionWindow(3) == 4096; }},
            {"sliding_window", "mistral", R"("sliding_window": null)", [](const ModelConfig& c) { return c.slidingWindow == 0; }},
            {"use_sliding_window", "qwen2", R"("use_sliding_window": true, "sliding_window": 64, "max_window_layers": 2)",
             [](const ModelConfig& c) { return c.attentionWindow(1) == 0 && c.attentionWindow(2) == 64 && c.attentionWindow(3) == 64; }},
            {"use_sliding_window", "qwen2", R"("use_sliding_window": false, "sliding_window": 64, "max_window_layers": 0)",
             [](const ModelConfig& c) { return c.slidingWindow == 0 && c.slidingLayers.empty(); }},
            {"max_window_layers", "qwen3", R"("use_sliding_window": true, "sliding_window": 64)",
             [](const ModelConfig& c) { return c.slidingWindow == 0; }}, // default 28 of 4 layers: none slides
            {"max_window_layers", "qwen3", R"("use_sliding_window": true, "max_window_layers": 3)",
             [](const ModelConfig& c) { return c.attentionWindow(2) == 0 && c.attentionWindow(3) == 4096; }},
            {"layer_types", "qwen2",
             R"("use_sliding_window": true, "sliding_window": 8, "max_window_layers": 4,
                "layer_types": ["sliding_attention", "full_attention", "sliding_attention", "full_attention"])",
             [](const ModelConfig& c) { return c.slidingLayers == std::vector<bool>{true, false, true, false}; }},
        };
        std::set<std::string> covered;
        for (const Case& k : cases) {
            const std::string json = configOf(k.modelType, k.members);
            const ModelConfig c = ModelConfig::fromJsonText(json, "config.json");
            QVERIFY2(k.holds(c), qPrintable(QString("%1 (%2): %3").arg(k.key, k.modelType, QString::fromStdString(json))));
            QVERIFY2(c.warnings.empty(), qPrintable(firstWarning(c)));
            const std::string written = c.toJsonText();
            const ModelConfig again = ModelConfig::fromJsonText(written, "written config.json");
            QVERIFY2(k.holds(again), qPrintable(QString("%1 after the round trip: %2").arg(k.key, QString::fromStdString(written))));
            QCOMPARE(again.toJsonText(), written);
            QVERIFY(again.warnings.empty());
            covered.insert(k.key);
        }
        for (const ConfigKey& key : configKeys())
            if (key.use == ConfigKeyUse::Honoured)
                QVERIFY2(covered.count(key.name), qPrintable(QString("no case for honoured key %1").arg(key.name)));
    }

    void refusedValuesOfHonouredKeys_data()
    {
        QTest::addColumn<QString>("json");
        QTest::addColumn<QString>("mentions");
        auto row = [](const char* name, const std::string& json, const char* mentions) {
            QTest::newRow(name) << QString::fromStdString(json) << QString(mentions);
        };
        row("dynamic rope", configOf("llama", R"("rope_scaling": {"rope_type": "dynamic", "factor": 2.0})"), "\"dynamic\"");
        row("longrope", configOf("qwen2", R"("rope_scaling": {"rope_type": "longrope", "factor": 2.0})"), "rope_scaling.rope_type");
        row("llama3 without its keys", configOf("llama", R"("rope_scaling": {"rope_type": "llama3", "factor": 8.0})"),
            "rope_scaling.low_freq_factor");
        row("theta disagrees", configOf("llama", R"("rope_theta": 10000.0, "rope_parameters": {"rope_type": "default", "rope_theta": 500000.0})"),
            "rope_parameters.rope_theta");
        row("scalings disagree", configOf("llama", R"("rope_scaling": {"rope_type": "linear", "factor": 2.0}, "rope_parameters": {"rope_type": "linear", "factor": 4.0})"),
            "disagrees with rope_scaling");
        row("partial rotary inside", configOf("qwen3", R"("rope_parameters": {"rope_type": "default", "partial_rotary_factor": 0.5})"),
            "rope_parameters.partial_rotary_factor");
        row("theta inside rope_scaling", configOf("llama", R"("rope_theta": 10000.0, "rope_scaling": {"rope_type": "linear", "factor": 2.0, "rope_theta": 500000.0})"),
            "rope_scaling.rope_theta");
        row("layer type", configOf("qwen3", R"("use_sliding_window": true, "layer_types": ["full_attention", "chunked_attention", "full_attention", "full_attention"])"),
            "chunked_attention");
        row("layer types length", configOf("qwen2", R"("layer_types": ["full_attention"])"), "list of 4 layer types");
        row("sliding layer without window", configOf("qwen2", R"("use_sliding_window": false, "layer_types": ["sliding_attention", "full_attention", "full_attention", "full_attention"])"),
            "use_sliding_window is false");
        row("zero window", configOf("mistral", R"("sliding_window": 0)"), "\"sliding_window\"");
        row("pad outside vocabulary", configOf("llama", R"("pad_token_id": 100)"), "\"pad_token_id\": 100 is outside");
        row("pad below vocabulary", configOf("llama", R"("pad_token_id": -101)"), "\"pad_token_id\"");
        row("mistral kv default", R"({"architectures": ["MistralForCausalLM"], "vocab_size": 10, "hidden_size": 64,
            "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 4})", "8 does not divide");
    }

    void refusedValuesOfHonouredKeys()
    {
        QFETCH(QString, json);
        QFETCH(QString, mentions);
        const QString error = QString::fromStdString(errorOfConfig(json.toStdString()));
        QVERIFY2(error.contains(mentions), qPrintable(error));
    }

    void parameterCountIncludesOProjBias()
    {
        const ModelConfig plain = ModelConfig::fromJsonText(configOf("llama"), "c");
        const ModelConfig biased = ModelConfig::fromJsonText(configOf("llama", R"("attention_bias": true)"), "c");
        // q (32 heads x 8), k and v (32 x 8 each), o (256) per layer, 4 layers.
        QCOMPARE(biased.parameterCount() - plain.parameterCount(), int64_t(4 * (256 + 256 + 256 + 256)));
        const ModelConfig qwen2 = ModelConfig::fromJsonText(configOf("qwen2"), "c");
        const ModelConfig mistral = ModelConfig::fromJsonText(configOf("mistral", R"("num_key_value_heads": 32)"), "c");
        QCOMPARE(qwen2.parameterCount() - mistral.parameterCount(), int64_t(4 * (3 * 256)));
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
