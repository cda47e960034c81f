#include "formats/ModelConfig.h"

#include "formats/ConfigKeys.h"
#include "formats/FormatError.h"

#include <nlohmann/json.hpp>

#include <algorithm>
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

    // Present and not null.
    bool has(const char* key) const
    {
        auto it = j.find(key);
        return it != j.end() && !it->is_null();
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

    double requiredNumber(const json& obj, const std::string& key, const std::string& shownKey, const std::string& why) const
    {
        auto it = obj.find(key);
        if (it == obj.end() || it->is_null())
            fail(shownKey, "missing (" + why + ")");
        if (!it->is_number())
            fail(shownKey, "expected a number, got " + it->dump());
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

std::string configClassOf(const std::string& modelType)
{
    if (modelType == "llama")
        return "LlamaConfig";
    if (modelType == "mistral")
        return "MistralConfig";
    if (modelType == "qwen2")
        return "Qwen2Config";
    return "Qwen3Config";
}

// What the config class's __init__ defaults to when config.json leaves a key out
// (configuration_llama/mistral/qwen2/qwen3.py). A key written as null means None instead.
struct ClassDefaults {
    int64_t maxPositionEmbeddings;
    int64_t numKeyValueHeads; // 0: num_attention_heads
    int64_t headDim;          // 0: hidden_size / num_attention_heads
    int64_t slidingWindow;    // 0: none
};

ClassDefaults classDefaultsOf(const std::string& modelType)
{
    if (modelType == "mistral")
        return {4096 * 32, 8, 0, 4096};
    if (modelType == "qwen2")
        return {32768, 32, 0, 4096};
    if (modelType == "qwen3")
        return {32768, 32, 128, 4096};
    return {2048, 0, 0, 0};
}

// A value for a message, cut to a readable length (quantization_config objects are long).
std::string shortDump(const json& v)
{
    std::string s = v.dump();
    return s.size() > 80 ? s.substr(0, 77) + "..." : s;
}

// Every key against formats/ConfigKeys: refused keys away from their neutral value fail,
// unknown and warned keys become named warnings. The honoured keys are read below.
void checkKeysAgainstTable(const ConfigReader& r, const std::string& modelType, std::vector<std::string>& warnings)
{
    for (const auto& [key, value] : r.j.items()) {
        const ConfigKey* entry = findConfigKey(key, modelType);
        if (!entry) {
            warnings.push_back(r.path + ": key \"" + key + "\" is not a setting of " + configClassOf(modelType)
                               + ": transformers ignores it, and so does Tunebench");
            continue;
        }
        if (entry->use == ConfigKeyUse::Warned)
            warnings.push_back(r.path + ": key \"" + key + "\": " + entry->why);
        if (entry->use == ConfigKeyUse::RefusedUnlessNeutral && !value.is_null() && value != json::parse(entry->neutral))
            r.fail(key, shortDump(value) + " is refused: " + entry->why + " (only " + entry->neutral + " is accepted)");
    }
}

// rope_scaling or rope_parameters (`where`), as modeling_rope_utils reads them: the type under
// "rope_type" (or the older "type"), and the type's own keys, which its validation requires.
RopeScaling readRope(const ConfigReader& r, const json& obj, const std::string& where, std::vector<std::string>& warnings)
{
    if (!obj.is_object())
        r.fail(where, "expected an object or null");
    std::string type;
    if (obj.contains("rope_type") && obj["rope_type"].is_string())
        type = obj["rope_type"].get<std::string>();
    else if (obj.contains("type") && obj["type"].is_string())
        type = obj["type"].get<std::string>();
    std::vector<std::string> known = {"rope_type", "type", "rope_theta"};
    RopeScaling s;
    if (type == "default") {
        s.type = RopeScalingType::None;
    } else if (type == "linear") {
        s.type = RopeScalingType::Linear;
        s.factor = r.requiredNumber(obj, "factor", where + ".factor", "required for linear scaling");
        known.push_back("factor");
    } else if (type == "llama3") {
        s.type = RopeScalingType::Llama3;
        const std::string needs = "required for llama3 scaling";
        s.factor = r.requiredNumber(obj, "factor", where + ".factor", needs);
        s.lowFreqFactor = r.requiredNumber(obj, "low_freq_factor", where + ".low_freq_factor", needs);
        s.highFreqFactor = r.requiredNumber(obj, "high_freq_factor", where + ".high_freq_factor", needs);
        const std::string originalKey = where + ".original_max_position_embeddings";
        const double original = r.requiredNumber(obj, "original_max_position_embeddings", originalKey, needs);
        if (!(original >= 1 && original <= 1e15 && original == static_cast<double>(static_cast<int64_t>(original))))
            r.fail(originalKey, "expected a positive whole number of positions, got " + json(original).dump());
        s.originalMaxPositionEmbeddings = static_cast<int64_t>(original);
        if (!(s.highFreqFactor > s.lowFreqFactor))
            r.fail(where + ".high_freq_factor", "must be greater than low_freq_factor");
        known.insert(known.end(), {"factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"});
    } else {
        r.fail(where + ".rope_type", "unsupported rope scaling \"" + type
                                         + "\" (supported: default, linear, llama3; dynamic, yarn and longrope are not implemented)");
    }
    if (!(s.factor > 0))
        r.fail(where + ".factor", "must be positive");
    // transformers 5 may keep partial_rotary_factor here; as the top-level key, only 1.0 runs.
    if (auto partial = obj.find("partial_rotary_factor"); partial != obj.end() && !partial->is_null()) {
        if (*partial != json(1.0))
            r.fail(where + ".partial_rotary_factor", shortDump(*partial) + " is refused: rotating part of each head is not "
                                                                            "implemented (only 1.0 is accepted)");
        known.push_back("partial_rotary_factor");
    }
    // transformers' _check_received_keys warns about the rest and ignores them.
    for (const auto& [key, value] : obj.items())
        if (std::find(known.begin(), known.end(), key) == known.end())
            warnings.push_back(r.path + ": key \"" + where + "." + key + "\" is not read by \"" + type
                               + "\" rope scaling: transformers ignores it, and so does Tunebench");
    return s;
}

bool sameRope(const RopeScaling& a, const RopeScaling& b)
{
    if (a.type != b.type)
        return false;
    if (a.type == RopeScalingType::None)
        return true;
    if (a.factor != b.factor)
        return false;
    return a.type != RopeScalingType::Llama3
        || (a.lowFreqFactor == b.lowFreqFactor && a.highFreqFactor == b.highFreqFactor
            && a.originalMaxPositionEmbeddings == b.originalMaxPositionEmbeddings);
}

void readRopeKeys(const ConfigReader& r, ModelConfig& c)
{
    c.ropeTheta = r.optionalNumber(r.j, "rope_theta", 10000.0);
    std::optional<RopeScaling> scaling, parameters;
    if (auto rs = r.j.find("rope_scaling"); rs != r.j.end() && !rs->is_null()) {
        scaling = readRope(r, *rs, "rope_scaling", c.warnings);
        // 4.x takes the base from rope_theta, 5.x (which turns rope_scaling into
        // rope_parameters) from inside: they must agree.
        if (rs->contains("rope_theta") && !(*rs)["rope_theta"].is_null()
            && r.optionalNumber(*rs, "rope_theta", c.ropeTheta) != c.ropeTheta)
            r.fail("rope_scaling.rope_theta", (*rs)["rope_theta"].dump() + " disagrees with rope_theta " + json(c.ropeTheta).dump());
    }
    if (auto rp = r.j.find("rope_parameters"); rp != r.j.end() && !rp->is_null()) {
        parameters = readRope(r, *rp, "rope_parameters", c.warnings);
        // transformers 5 keeps rope_theta inside; 4.x reads the top-level key and ignores
        // rope_parameters, so a config carrying both must say the same in both.
        if (rp->contains("rope_theta") && !(*rp)["rope_theta"].is_null()) {
            const double theta = r.optionalNumber(*rp, "rope_theta", c.ropeTheta);
            if (r.has("rope_theta") && theta != c.ropeTheta)
                r.fail("rope_parameters.rope_theta", json(theta).dump() + " disagrees with rope_theta " + json(c.ropeTheta).dump());
            c.ropeTheta = theta;
        }
        if (scaling && !sameRope(*scaling, *parameters))
            r.fail("rope_parameters", "disagrees with rope_scaling (transformers 4.x reads one, 5.x the other)");
    }
    if (!(c.ropeTheta > 1.0))
        r.fail("rope_theta", "must be greater than 1");
    if (parameters)
        c.ropeScaling = *parameters;
    else if (scaling)
        c.ropeScaling = *scaling;
}

// Which layers slide, as transformers decides it:
//   Mistral (MistralModel): every layer when sliding_window is not null.
//   Qwen2/Qwen3 (Qwen2Config since 4.53): sliding_window = sliding_window if use_sliding_window
//   else None; layer_types as given, or layer i "sliding_attention" when sliding_window is set
//   and i >= max_window_layers; Qwen2Attention/Qwen3Attention before 4.53 apply the same rule
//   per layer (use_sliding_window and layer_idx >= max_window_layers).
void readSlidingWindow(const ConfigReader& r, const ClassDefaults& defaults, ModelConfig& c)
{
    if (c.modelType == "llama")
        return; // LlamaConfig has no window; a sliding_window key is warned about as unknown
    const bool qwen = c.modelType == "qwen2" || c.modelType == "qwen3";
    const bool use = qwen ? r.optionalBool("use_sliding_window", false) : true;
    int64_t window = use ? defaults.slidingWindow : 0;
    if (auto it = r.j.find("sliding_window"); it != r.j.end() && use) // not read at all without use_sliding_window
        window = it->is_null() ? 0 : r.checkedInt("sliding_window", *it, 1);
    const json* types = nullptr;
    if (auto it = r.j.find("layer_types"); qwen && it != r.j.end() && !it->is_null()) {
        if (!it->is_array() || static_cast<int64_t>(it->size()) != c.numLayers)
            r.fail("layer_types", "expected a list of " + std::to_string(c.numLayers) + " layer types (num_hidden_layers), got "
                                      + shortDump(*it));
        types = &*it;
    }
    if (window == 0 && !types)
        return;
    // One entry per layer from here: bounded by the layer_types list, or by this (no model
    // comes near it; the check keeps a hostile config from allocating without limit).
    const int64_t kMostLayers = int64_t(1) << 20;
    if (!types && c.numLayers > kMostLayers)
        r.fail("num_hidden_layers", std::to_string(c.numLayers) + " layers is beyond any model (at most "
                                        + std::to_string(kMostLayers) + " with a sliding window)");
    std::vector<bool> sliding(static_cast<size_t>(c.numLayers), window > 0);
    if (qwen) {
        const int64_t fromLayer = r.optionalInt("max_window_layers", 28, 0);
        for (int64_t i = 0; i < c.numLayers; ++i)
            sliding[size_t(i)] = window > 0 && i >= fromLayer;
    }
    if (types) {
        for (size_t i = 0; i < types->size(); ++i) {
            const json& t = (*types)[i];
            if (t != "full_attention" && t != "sliding_attention")
                r.fail("layer_types", "layer " + std::to_string(i) + " is " + shortDump(t)
                                          + " (supported: \"full_attention\", \"sliding_attention\")");
            sliding[i] = t == "sliding_attention";
            if (sliding[i] && window == 0)
                r.fail("layer_types", "layer " + std::to_string(i) + " is \"sliding_attention\", but "
                                          + (use ? "sliding_window is null" : "use_sliding_window is false")
                                          + ", so there is no window (transformers refuses this too)");
        }
    }
    if (window > 0 && std::find(sliding.begin(), sliding.end(), true) != sliding.end()) {
        c.slidingWindow = window;
        c.slidingLayers = std::move(sliding);
    }
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
    checkKeysAgainstTable(r, c.modelType, c.warnings);
    const ClassDefaults defaults = classDefaultsOf(c.modelType);

    c.vocabSize = r.requiredInt("vocab_size");
    c.hiddenSize = r.requiredInt("hidden_size");
    c.intermediateSize = r.requiredInt("intermediate_size");
    c.numLayers = r.requiredInt("num_hidden_layers");
    c.numHeads = r.requiredInt("num_attention_heads");
    // Left out: the class default; null: num_attention_heads (every config class's None rule).
    c.numKeyValueHeads = j.contains("num_key_value_heads") ? r.optionalInt("num_key_value_heads", c.numHeads, 1)
                                                           : (defaults.numKeyValueHeads > 0 ? defaults.numKeyValueHeads : c.numHeads);
    if (c.numHeads % c.numKeyValueHeads != 0)
        r.fail("num_key_value_heads", std::to_string(c.numKeyValueHeads) + " does not divide num_attention_heads "
                                          + std::to_string(c.numHeads));
    if (r.has("head_dim")) {
        c.headDim = r.requiredInt("head_dim");
    } else if (!j.contains("head_dim") && defaults.headDim > 0) {
        c.headDim = defaults.headDim;
    } else {
        if (c.hiddenSize % c.numHeads != 0)
            r.fail("hidden_size", std::to_string(c.hiddenSize) + " is not a multiple of num_attention_heads "
                                      + std::to_string(c.numHeads) + " and no head_dim is given");
        c.headDim = c.hiddenSize / c.numHeads;
    }
    if (c.headDim % 2 != 0)
        r.fail("head_dim", "rotary embeddings need an even head dimension, got " + std::to_string(c.headDim));
    c.maxPositionEmbeddings = r.optionalInt("max_position_embeddings", defaults.maxPositionEmbeddings, 1);
    c.rmsNormEps = r.optionalNumber(j, "rms_norm_eps", 1e-6);
    if (!(c.rmsNormEps > 0))
        r.fail("rms_norm_eps", "must be positive");
    readRopeKeys(r, c);
    c.tieWordEmbeddings = r.optionalBool("tie_word_embeddings", false);
    // Qwen2Attention: q/k/v bias=True, o_proj bias=False. LlamaAttention and Qwen3Attention:
    // all four bias=config.attention_bias. MistralAttention: none.
    if (c.modelType == "qwen2") {
        c.qkvBias = true;
    } else if (c.modelType == "llama" || c.modelType == "qwen3") {
        c.qkvBias = c.outputBias = r.optionalBool("attention_bias", false);
    }
    c.qkNorm = c.modelType == "qwen3";
    // ACT2FN maps "swish" to the same SiLU.
    const std::string act = r.optionalString("hidden_act", "silu");
    if (act != "silu" && act != "swish")
        r.fail("hidden_act", "only \"silu\" (or its alias \"swish\") is supported, got \"" + act + "\"");
    c.hiddenAct = "silu";
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
    if (r.has("pad_token_id")) {
        // nn.Embedding(vocab_size, hidden_size, padding_idx) asserts -vocab_size <= padding_idx < vocab_size.
        const int64_t pad = r.checkedInt("pad_token_id", j["pad_token_id"], -c.vocabSize);
        if (pad >= c.vocabSize)
            r.fail("pad_token_id", std::to_string(pad) + " is outside the vocabulary of " + std::to_string(c.vocabSize)
                                       + " (transformers' nn.Embedding refuses it as padding_idx)");
        c.padTokenId = pad;
    }
    readSlidingWindow(r, defaults, c);
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
    if (modelType == "llama" || modelType == "qwen3")
        j["attention_bias"] = outputBias; // the same switch as qkvBias for these two
    if (modelType == "mistral") {
        j["sliding_window"] = slidingWindow > 0 ? json(slidingWindow) : json(nullptr);
    } else if (modelType == "qwen2" || modelType == "qwen3") {
        j["use_sliding_window"] = slidingWindow > 0;
        j["sliding_window"] = slidingWindow > 0 ? json(slidingWindow) : json(nullptr);
        if (slidingWindow > 0) {
            // layer_types for transformers 4.53+; max_window_layers (the first sliding layer)
            // says the same to older versions whenever the sliding layers are the last ones.
            json types = json::array();
            int64_t firstSliding = numLayers;
            for (int64_t i = 0; i < numLayers; ++i) {
                const bool sliding = attentionWindow(i) > 0;
                types.push_back(sliding ? "sliding_attention" : "full_attention");
                if (sliding && firstSliding == numLayers)
                    firstSliding = i;
            }
            j["max_window_layers"] = firstSliding;
            j["layer_types"] = types;
        }
    }
    if (bosTokenId >= 0)
        j["bos_token_id"] = bosTokenId;
    if (eosTokenIds.size() > 1)
        j["eos_token_id"] = eosTokenIds;
    else if (eosTokenId >= 0)
        j["eos_token_id"] = eosTokenId;
    if (padTokenId)
        j["pad_token_id"] = *padTokenId;
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
    if (qkvBias)
        attention += qOut + 2 * kvOut;
    if (outputBias)
        attention += hiddenSize;
    if (qkNorm)
        attention += 2 * headDim;
    const int64_t mlp = 3 * hiddenSize * intermediateSize;
    const int64_t norms = 2 * hiddenSize;
    const int64_t embeddings = vocabSize * hiddenSize;
    return embeddings + numLayers * (attention + mlp + norms) + hiddenSize + (tieWordEmbeddings ? 0 : embeddings);
}

int64_t ModelConfig::attentionWindow(int64_t layer) const
{
    if (slidingWindow <= 0 || layer < 0 || layer >= static_cast<int64_t>(slidingLayers.size()))
        return 0;
    return slidingLayers[static_cast<size_t>(layer)] ? slidingWindow : 0;
}

int64_t ModelConfig::embeddingPaddingIndex() const
{
    if (!padTokenId)
        return -1;
    return *padTokenId < 0 ? vocabSize + *padTokenId : *padTokenId;
}

} // namespace tb
