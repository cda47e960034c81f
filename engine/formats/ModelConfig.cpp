#include "formats/ModelConfig.h"

#include "formats/FormatError.h"

#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

namespace tb {

namespace {

using nlohmann::json;

struct ConfigReader {
    const json& j;
    const std::string& path;

    [[noreturn]] void fail(const std::string& key, const std::string& what) const
    {
        throw FormatError(path, "key \"" + key + "\": " + what);
    }

    int64_t requiredInt(const char* key, int64_t minimum = 1) const
    {
        auto it = j.find(key);
        if (it == j.end() || it->is_null())
            fail(key, "missing (required for a Llama-family model)");
        return checkedInt(key, *it, minimum);
    }

    int64_t optionalInt(const char* key, int64_t fallback, int64_t minimum = 0) const
    {
        auto it = j.find(key);
        if (it == j.end() || it->is_null())
            return fallback;
        return checkedInt(key, *it, minimum);
    }

    int64_t checkedInt(const std::string& key, const json& v, int64_t minimum) const
    {
        if (!v.is_number_integer())
            fail(key, "expected an integer, got " + v.dump());
        const int64_t value = v.get<int64_t>();
        if (value < minimum)
            fail(key, "must be at least " + std::to_string(minimum) + ", got " + std::to_string(value));
        return value;
    }

    double optionalNumber(const json& obj, const std::string& key, double fallback) const
    {
        auto it = obj.find(key);
        if (it == obj.end() || it->is_null())
            return fallback;
        if (!it->is_number())
            fail(key, "expected a number, got " + it->dump());
        return it->get<double>();
    }

    bool optionalBool(const char* key, bool fallback) const
    {
        auto it = j.find(key);
        if (it == j.end() || it->is_null())
            return fallback;
        if (!it->is_boolean())
            fail(key, "expected true or false, got " + it->dump());
        return it->get<bool>();
    }

    std::string optionalString(const char* key, const std::string& fallback) const
    {
        auto it = j.find(key);
        if (it == j.end() || it->is_null())
            return fallback;
        if (!it->is_string())
            fail(key, "expected a string, got " + it->dump());
        return it->get<std::string>();
    }
};

const char* const kSupported =
    "LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM";

std::string modelTypeFor(const std::string& architecture)
{
    if (architecture == "LlamaForCausalLM")
        return "llama";
    if (architecture == "MistralForCausalLM")
        return "mistral";
    if (architecture == "Qwen2ForCausalLM")
        return "qwen2";
    if (architecture == "Qwen3ForCausalLM")
        return "qwen3";
    return {};
}

} // namespace

ModelConfig ModelConfig::fromFile(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw FormatError(path, "cannot open (a Hugging Face model folder needs config.json)");
    std::stringstream buffer;
    buffer << in.rdbuf();
    return fromJsonText(buffer.str(), path);
}

ModelConfig ModelConfig::fromJsonText(const std::string& text, const std::string& path)
{
    json j;
    try {
        j = json::parse(text);
    } catch (const json::exception& e) { // parse_error, or out_of_range for a number past double
        throw FormatError(path, std::string("not valid JSON: ") + e.what());
    }
    if (!j.is_object())
        throw FormatError(path, "expected a JSON object at the top level");
    ConfigReader r{j, path};

    ModelConfig c;
    std::string declaredType = r.optionalString("model_type", "");
    auto arch = j.find("architectures");
    if (arch != j.end() && !arch->is_null()) {
        if (!arch->is_array() || arch->empty() || !(*arch)[0].is_string())
            r.fail("architectures", "expected a non-empty list of strings");
        c.architecture = (*arch)[0].get<std::string>();
    } else if (!declaredType.empty()) {
        // Some configs omit "architectures"; map the model_type back.
        static const std::pair<const char*, const char*> byType[] = {
            {"llama", "LlamaForCausalLM"}, {"mistral", "MistralForCausalLM"},
            {"qwen2", "Qwen2ForCausalLM"}, {"qwen3", "Qwen3ForCausalLM"}};
        for (const auto& [type, name] : byType)
            if (declaredType == type)
                c.architecture = name;
    }
    c.modelType = modelTypeFor(c.architecture);
    if (c.modelType.empty()) {
        const std::string shown = c.architecture.empty() ? "model_type \"" + declaredType + "\"" : c.architecture;
        r.fail(arch != j.end() ? "architectures" : "model_type",
               "unsupported architecture " + shown + " (supported: " + kSupported + ")");
    }
    if (!declaredType.empty() && declaredType != c.modelType)
        r.fail("model_type", "\"" + declaredType + "\" does not match architecture " + c.architecture);

    c.vocabSize = r.requiredInt("vocab_size");
    c.hiddenSize = r.requiredInt("hidden_size");
    c.intermediateSize = r.requiredInt("intermediate_size");
    c.numLayers = r.requiredInt("num_hidden_layers");
    c.numHeads = r.requiredInt("num_attention_heads");
    c.numKeyValueHeads = r.optionalInt("num_key_value_heads", c.numHeads, 1);
    if (c.numHeads % c.numKeyValueHeads != 0)
        r.fail("num_key_value_heads", std::to_string(c.numKeyValueHeads) + " does not divide num_attention_heads "
                                          + std::to_string(c.numHeads));
    if (j.contains("head_dim") && !j["head_dim"].is_null()) {
        c.headDim = r.requiredInt("head_dim");
    } else {
        if (c.hiddenSize % c.numHeads != 0)
            r.fail("hidden_size", std::to_string(c.hiddenSize) + " is not a multiple of num_attention_heads "
                                      + std::to_string(c.numHeads) + " and no head_dim is given");
        c.headDim = c.hiddenSize / c.numHeads;
    }
    if (c.headDim % 2 != 0)
        r.fail("head_dim", "rotary embeddings need an even head dimension, got " + std::to_string(c.headDim));
    c.maxPositionEmbeddings = r.optionalInt("max_position_embeddings", 2048, 1);
    c.rmsNormEps = r.optionalNumber(j, "rms_norm_eps", 1e-6);
    if (!(c.rmsNormEps > 0))
        r.fail("rms_norm_eps", "must be positive");
    c.ropeTheta = r.optionalNumber(j, "rope_theta", 10000.0);
    if (!(c.ropeTheta > 1.0))
        r.fail("rope_theta", "must be greater than 1");
    c.tieWordEmbeddings = r.optionalBool("tie_word_embeddings", false);
    c.attentionBias = c.modelType == "qwen2" ? true : r.optionalBool("attention_bias", false);
    c.qkNorm = c.modelType == "qwen3";
    if (r.optionalBool("mlp_bias", false))
        r.fail("mlp_bias", "MLP biases are not supported");
    c.hiddenAct = r.optionalString("hidden_act", "silu");
    if (c.hiddenAct != "silu")
        r.fail("hidden_act", "only \"silu\" is supported, got \"" + c.hiddenAct + "\"");
    c.torchDtype = r.optionalString("torch_dtype", r.optionalString("dtype", "float32"));
    if (c.torchDtype != "float32" && c.torchDtype != "bfloat16" && c.torchDtype != "float16")
        r.fail("torch_dtype", "expected float32, bfloat16 or float16, got \"" + c.torchDtype + "\"");
    c.bosTokenId = r.optionalInt("bos_token_id", -1, -1);
    if (auto e = j.find("eos_token_id"); e != j.end() && !e->is_null()) {
        if (e->is_array()) {
            for (const auto& v : *e)
                c.eosTokenIds.push_back(r.checkedInt("eos_token_id", v, 0));
        } else {
            c.eosTokenIds.push_back(r.checkedInt("eos_token_id", *e, 0));
        }
        if (!c.eosTokenIds.empty())
            c.eosTokenId = c.eosTokenIds.front();
    }
    if (j.contains("sliding_window") && !j["sliding_window"].is_null() && r.optionalBool("use_sliding_window", true))
        c.slidingWindow = r.optionalInt("sliding_window", 0, 0);

    if (auto rs = j.find("rope_scaling"); rs != j.end() && !rs->is_null()) {
        if (!rs->is_object())
            r.fail("rope_scaling", "expected an object or null");
        std::string type;
        if (rs->contains("rope_type") && (*rs)["rope_type"].is_string())
            type = (*rs)["rope_type"].get<std::string>();
        else if (rs->contains("type") && (*rs)["type"].is_string())
            type = (*rs)["type"].get<std::string>();
        c.ropeScaling.factor = r.optionalNumber(*rs, "factor", 1.0);
        if (type == "default") {
            c.ropeScaling.type = RopeScalingType::None;
        } else if (type == "linear") {
            c.ropeScaling.type = RopeScalingType::Linear;
        } else if (type == "llama3") {
            c.ropeScaling.type = RopeScalingType::Llama3;
            c.ropeScaling.lowFreqFactor = r.optionalNumber(*rs, "low_freq_factor", 1.0);
            c.ropeScaling.highFreqFactor = r.optionalNumber(*rs, "high_freq_factor", 4.0);
            c.ropeScaling.originalMaxPositionEmbeddings =
                static_cast<int64_t>(r.optionalNumber(*rs, "original_max_position_embeddings", 8192));
            if (!(c.ropeScaling.highFreqFactor > c.ropeScaling.lowFreqFactor))
                r.fail("rope_scaling.high_freq_factor", "must be greater than low_freq_factor");
        } else {
            r.fail("rope_scaling.rope_type", "unsupported rope scaling \"" + type + "\" (supported: linear, llama3)");
        }
        if (!(c.ropeScaling.factor > 0))
            r.fail("rope_scaling.factor", "must be positive");
    }
    return c;
}

std::string ModelConfig::toJsonText() const
{
    json j;
    j["architectures"] = json::array({architecture});
    j["model_type"] = modelType;
    j["vocab_size"] = vocabSize;
    j["hidden_size"] = hiddenSize;
    j["intermediate_size"] = intermediateSize;
    j["num_hidden_layers"] = numLayers;
    j["num_attention_heads"] = numHeads;
    j["num_key_value_heads"] = numKeyValueHeads;
    j["head_dim"] = headDim;
    j["max_position_embeddings"] = maxPositionEmbeddings;
    j["rms_norm_eps"] = rmsNormEps;
    j["rope_theta"] = ropeTheta;
    j["tie_word_embeddings"] = tieWordEmbeddings;
    j["hidden_act"] = hiddenAct;
    j["torch_dtype"] = torchDtype;
    if (modelType == "llama")
        j["attention_bias"] = attentionBias;
    if (slidingWindow > 0)
        j["sliding_window"] = slidingWindow;
    else if (modelType == "mistral" || modelType == "qwen2" || modelType == "qwen3")
        j["sliding_window"] = nullptr;
    if (bosTokenId >= 0)
        j["bos_token_id"] = bosTokenId;
    if (eosTokenIds.size() > 1)
        j["eos_token_id"] = eosTokenIds;
    else if (eosTokenId >= 0)
        j["eos_token_id"] = eosTokenId;
    switch (ropeScaling.type) {
    case RopeScalingType::None:
        j["rope_scaling"] = nullptr;
        break;
    case RopeScalingType::Linear:
        j["rope_scaling"] = {{"rope_type", "linear"}, {"factor", ropeScaling.factor}};
        break;
    case RopeScalingType::Llama3:
        j["rope_scaling"] = {{"rope_type", "llama3"},
                             {"factor", ropeScaling.factor},
                             {"low_freq_factor", ropeScaling.lowFreqFactor},
                             {"high_freq_factor", ropeScaling.highFreqFactor},
                             {"original_max_position_embeddings", ropeScaling.originalMaxPositionEmbeddings}};
        break;
    }
    return j.dump(2) + "\n";
}

int64_t ModelConfig::parameterCount() const
{
    const int64_t qOut = numHeads * headDim;
    const int64_t kvOut = numKeyValueHeads * headDim;
    int64_t attention = hiddenSize * qOut + 2 * hiddenSize * kvOut + qOut * hiddenSize;
    if (attentionBias)
        attention += qOut + 2 * kvOut;
    if (qkNorm)
        attention += 2 * headDim;
    const int64_t mlp = 3 * hiddenSize * intermediateSize;
    const int64_t norms = 2 * hiddenSize;
    const int64_t embeddings = vocabSize * hiddenSize;
    return embeddings + numLayers * (attention + mlp + norms) + hiddenSize + (tieWordEmbeddings ? 0 : embeddings);
}

} // namespace tb
