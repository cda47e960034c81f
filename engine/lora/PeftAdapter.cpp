#include "lora/PeftAdapter.h"

#include "formats/FormatError.h"
#include "formats/SafetensorsReader.h"
#include "formats/SafetensorsWriter.h"
#include "lora/LoraInjector.h"
#include "model/LlamaForCausalLM.h"
#include "model/TensorIO.h"

#include <nlohmann/json.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

namespace tb {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

const char* const kPrefix = "base_model.model.";

void writeFileAtomically(const fs::path& path, const std::string& text)
{
    const fs::path tmp = path.string() + ".tmp";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        out << text;
        out.flush();
        if (!out)
            throw std::runtime_error(tmp.string() + ": cannot write");
    }
    fs::rename(tmp, path);
}

// "base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight" ->
// {"model.layers.0.self_attn.q_proj", "lora_A"}; empty module when the key is not LoRA's.
std::pair<std::string, std::string> splitKey(std::string key)
{
    if (key.rfind(kPrefix, 0) == 0)
        key = key.substr(std::strlen(kPrefix));
    for (const char* factor : {"lora_A", "lora_B"}) {
        for (const std::string& tail : {std::string(".") + factor + ".weight", std::string(".") + factor + ".default.weight"}) {
            if (key.size() > tail.size() && key.compare(key.size() - tail.size(), tail.size(), tail) == 0)
                return {key.substr(0, key.size() - tail.size()), factor};
        }
    }
    return {};
}

} // namespace

PeftAdapterInfo readPeftAdapterConfig(const std::string& dir)
{
    const std::string path = (fs::path(dir) / "adapter_config.json").string();
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw FormatError(path, "cannot open (a PEFT adapter folder needs adapter_config.json and adapter_model.safetensors)");
    json j;
    try {
        j = json::parse(in);
    } catch (const json::exception& e) { // parse_error, or out_of_range for a number past double
        throw FormatError(path, std::string("not valid JSON: ") + e.what());
    }
    if (!j.is_object())
        throw FormatError(path, "expected a JSON object");
    auto fail = [&](const std::string& key, const std::string& why) { throw FormatError(path, "key \"" + key + "\": " + why); };
    // Typed reads: json::value() would throw nlohmann's own type_error, which names no file.
    auto optionalBool = [&](const char* key, bool fallback) {
        if (!j.contains(key) || j[key].is_null())
            return fallback;
        if (!j[key].is_boolean())
            fail(key, "expected true or false, got " + j[key].dump());
        return j[key].get<bool>();
    };
    auto optionalString = [&](const char* key, const std::string& fallback) {
        if (!j.contains(key) || j[key].is_null())
            return fallback;
        if (!j[key].is_string())
            fail(key, "expected a string, got " + j[key].dump());
        return j[key].get<std::string>();
    };

    PeftAdapterInfo info;
    if (optionalString("peft_type", "") != "LORA")
        fail("peft_type", "only LORA adapters are supported, got " + (j.contains("peft_type") ? j["peft_type"].dump() : "missing"));
    if (!j.contains("r") || !j["r"].is_number_integer() || j["r"].get<int64_t>() <= 0)
        fail("r", "expected a positive integer");
    info.settings.rank = j["r"].get<int64_t>();
    if (j.contains("lora_alpha") && !j["lora_alpha"].is_number())
        fail("lora_alpha", "expected a number");
    info.settings.alpha = j.value("lora_alpha", 8.0);
    if (j.contains("lora_dropout") && !j["lora_dropout"].is_number())
        fail("lora_dropout", "expected a number");
    info.settings.dropout = j.value("lora_dropout", 0.0);
    info.settings.rslora = optionalBool("use_rslora", false);
    if (optionalBool("use_dora", false))
        fail("use_dora", "DoRA adapters are not supported");
    if (optionalString("bias", "none") != "none")
        fail("bias", "only bias \"none\" is supported");
    if (optionalBool("fan_in_fan_out", false))
        fail("fan_in_fan_out", "GPT-2-style Conv1D layers are not part of Llama models");
    for (const char* key : {"rank_pattern", "alpha_pattern"})
        if (j.contains(key) && j[key].is_object() && !j[key].empty())
            fail(key, "per-module ranks/alphas are not supported");
    if (j.contains("layers_to_transform") && !j["layers_to_transform"].is_null())
        fail("layers_to_transform", "adapters on a subset of layers are not supported");
    if (optionalBool("lora_bias", false))
        fail("lora_bias", "LoRA bias terms are not supported");
    for (const char* key : {"modules_to_save", "target_parameters", "trainable_token_indices", "exclude_modules", "layer_replication"})
        if (j.contains(key) && !j[key].is_null() && !(j[key].is_array() && j[key].empty()))
            fail(key, "is not supported (Tunebench loads plain LoRA adapters on q/k/v/o/gate/up/down_proj)");
    const json& targets = j.contains("target_modules") ? j["target_modules"] : json();
    info.settings.targets.clear();
    if (targets.is_array()) {
        for (const auto& t : targets) {
            if (!t.is_string())
                fail("target_modules", "expected a list of module names");
            info.settings.targets.push_back(t.get<std::string>());
        }
    } else if (targets.is_string()) {
        fail("target_modules", "a regular expression (\"" + targets.get<std::string>() + "\") is not supported; list the modules");
    } else {
        fail("target_modules", "missing");
    }
    std::sort(info.settings.targets.begin(), info.settings.targets.end());
    info.baseModel = j.contains("base_model_name_or_path") && j["base_model_name_or_path"].is_string()
                         ? j["base_model_name_or_path"].get<std::string>()
                         : "";
    return info;
}

void savePeftAdapter(LlamaForCausalLM& model, const LoraSettings& settings, const std::string& baseModel, const std::string& dir)
{
    const auto layers = loraLayers(model);
    if (layers.empty())
        throw std::invalid_argument("the model has no LoRA adapters to save");
    fs::create_directories(dir);
    SafetensorsWriter writer;
    for (const auto& ref : layers) {
        addTensor(writer, kPrefix + ref.name + ".lora_A.weight", ref.layer->lora_A->weight, at::kFloat);
        addTensor(writer, kPrefix + ref.name + ".lora_B.weight", ref.layer->lora_B->weight, at::kFloat);
    }
    writer.setMetadata({{"format", "pt"}});
    writer.write((fs::path(dir) / "adapter_model.safetensors").string());

    std::vector<std::string> targets = settings.targets;
    std::sort(targets.begin(), targets.end());
    // The fields PEFT 0.13 writes, with its defaults where Tunebench has no such setting.
    const json config = {
        {"alpha_pattern", json::object()},
        {"auto_mapping", nullptr},
        {"base_model_name_or_path", baseModel},
        {"bias", "none"},
        {"fan_in_fan_out", false},
        {"inference_mode", true},
        {"init_lora_weights", true},
        {"layer_replication", nullptr},
        {"layers_pattern", nullptr},
        {"layers_to_transform", nullptr},
        {"loftq_config", json::object()},
        {"lora_alpha", settings.alpha},
        {"lora_dropout", settings.dropout},
        {"megatron_config", nullptr},
        {"megatron_core", "megatron.core"},
        {"modules_to_save", nullptr},
        {"peft_type", "LORA"},
        {"r", settings.rank},
        {"rank_pattern", json::object()},
        {"revision", nullptr},
        {"target_modules", targets},
        {"task_type", "CAUSAL_LM"},
        {"use_dora", false},
        {"use_rslora", settings.rslora},
    };
    writeFileAtomically(fs::path(dir) / "adapter_config.json", config.dump(2) + "\n");
}

PeftAdapterInfo loadPeftAdapter(LlamaForCausalLM& model, const std::string& dir)
{
    const PeftAdapterInfo info = readPeftAdapterConfig(dir);
    const std::string weightsPath = (fs::path(dir) / "adapter_model.safetensors").string();
    if (!fs::exists(weightsPath)) {
        if (fs::exists(fs::path(dir) / "adapter_model.bin"))
            throw FormatError(weightsPath, "missing; only adapter_model.bin (a pickle file) is present. Tunebench never loads pickle files: "
                                           "re-save the adapter with safe_serialization=True");
        throw FormatError(weightsPath, "missing");
    }
    const SafetensorsReader reader(weightsPath);

    std::map<std::string, std::pair<const SafetensorInfo*, const SafetensorInfo*>> byModule; // module -> (A, B)
    for (const auto& t : reader.tensors()) {
        const auto [module, factor] = splitKey(t.name);
        if (module.empty())
            throw FormatError(weightsPath, "tensor \"" + t.name + "\" is not a LoRA A/B weight (modules_to_save and biases are not supported)");
        auto& slot = byModule[module];
        (factor == "lora_A" ? slot.first : slot.second) = &t;
    }

    const auto wrapped = applyLora(model, info.settings, 0);
    std::set<std::string> loaded;
    at::NoGradGuard noGrad;
    for (const auto& ref : wrapped) {
        auto it = byModule.find(ref.name);
        if (it == byModule.end() || !it->second.first || !it->second.second)
            throw FormatError(weightsPath, "no lora_A/lora_B weights for \"" + ref.name + "\", which target_modules in adapter_config.json names");
        for (int f = 0; f < 2; ++f) {
            const SafetensorInfo* t = f == 0 ? it->second.first : it->second.second;
            at::Tensor& target = f == 0 ? ref.layer->lora_A->weight : ref.layer->lora_B->weight;
            if (at::IntArrayRef(t->shape) != target.sizes())
                throw FormatError(weightsPath, "tensor \"" + t->name + "\" has shape " + shapeText(t->shape) + ", but the base model and r="
                                                   + std::to_string(info.settings.rank) + " need " + shapeText(target.sizes())
                                                   + " (was the adapter trained on another base model?)");
            target.copy_(readTensor(reader, *t).to(at::kFloat));
        }
        loaded.insert(ref.name);
    }
    for (const auto& [module, factors] : byModule)
        if (!loaded.count(module))
            throw FormatError(weightsPath, "adapter weights for \"" + module + "\" match no wrapped layer of this model (target_modules or layer count differ)");
    return info;
}

} // namespace tb
