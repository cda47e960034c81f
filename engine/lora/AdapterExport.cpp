#include "lora/AdapterExport.h"

#include "core/StagingFolder.h"
#include "formats/FormatError.h"
#include "formats/SafetensorsReader.h"
#include "lora/LoraInjector.h"
#include "model/ModelLoader.h"
#include "model/TensorIO.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <system_error>


namespace tb {

namespace fs = std::filesystem;

namespace {

// What `tunebench-cli merge` has always copied from the base folder next to the weights.
const char* const kBaseSideFiles[] = {"tokenizer.json", "tokenizer_config.json", "generation_config.json",
                                      "special_tokens_map.json"};

void report(const ExportProgress& progress, double fraction, const std::string& stage)
{
    if (progress)
        progress(fraction, stage);
}

// "base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight" ->
// {"model.layers.0.self_attn.q_proj", "lora_A"}; empty module when the key is not LoRA's.
// The same rule loadPeftAdapter applies.
std::pair<std::string, std::string> splitLoraKey(std::string key)
{
    const std::string prefix = "base_model.model.";
    if (key.rfind(prefix, 0) == 0)
        key = key.substr(prefix.size());
    for (const std::string factor : {"lora_A", "lora_B"}) {
        for (const std::string& tail : {"." + factor + ".weight", "." + factor + ".default.weight"}) {
            if (key.size() > tail.size() && key.compare(key.size() - tail.size(), tail.size(), tail) == 0)
                return {key.substr(0, key.size() - tail.size()), factor};
        }
    }
    return {};
}

// PEFT's rule for a list of target_modules: the module's name equals the target or ends
// with "." + target.
std::string matchingTarget(const std::string& module, const std::vector<std::string>& targets)
{
    for (const auto& t : targets)
        if (module == t || (module.size() > t.size() && module.compare(module.size() - t.size(), t.size(), t) == 0
                            && module[module.size() - t.size() - 1] == '.'))
            return t;
    return {};
}

} // namespace

PeftAdapterInfo checkPeftAdapterFolder(const std::string& adapterDir)
{
    if (!fs::is_directory(adapterDir))
        throw FormatError(adapterDir, "not a folder (a PEFT adapter folder holds adapter_config.json and adapter_model.safetensors)");
    const PeftAdapterInfo info = readPeftAdapterConfig(adapterDir);
    const std::string weightsPath = (fs::path(adapterDir) / "adapter_model.safetensors").string();
    if (!fs::exists(weightsPath)) {
        if (fs::exists(fs::path(adapterDir) / "adapter_model.bin"))
            throw FormatError(weightsPath, "missing; only adapter_model.bin (a pickle file) is present. Tunebench never loads pickle "
                                           "files: re-save the adapter with safe_serialization=True");
        throw FormatError(weightsPath, "missing");
    }
    const SafetensorsReader reader(weightsPath); // validates header, dtypes and offsets
    if (reader.tensors().empty())
        throw FormatError(weightsPath, "holds no tensors");

    const int64_t r = info.settings.rank;
    std::map<std::string, std::pair<bool, bool>> modules; // module -> (has A, has B)
    std::set<std::string> targetsSeen;
    for (const auto& t : reader.tensors()) {
        const auto [module, factor] = splitLoraKey(t.name);
        if (module.empty())
            throw FormatError(weightsPath, "tensor \"" + t.name + "\" is not a LoRA A/B weight (modules_to_save and biases are not supported)");
        const std::string target = matchingTarget(module, info.settings.targets);
        if (target.empty())
            throw FormatError(weightsPath, "tensor \"" + t.name + "\" belongs to \"" + module
                                               + "\", which target_modules in adapter_config.json does not list");
        targetsSeen.insert(target);
        if (t.dtype != DType::F32 && t.dtype != DType::BF16 && t.dtype != DType::F16)
            throw FormatError(weightsPath, "tensor \"" + t.name + "\" has dtype " + dtypeName(t.dtype) + "; LoRA weights are F32, BF16 or F16");
        const bool isA = factor == "lora_A";
        const bool rankFits = t.shape.size() == 2 && t.shape[isA ? 0 : 1] == r;
        if (!rankFits)
            throw FormatError(weightsPath, "tensor \"" + t.name + "\" has shape " + shapeText(t.shape) + ", but r=" + std::to_string(r)
                                               + " in adapter_config.json needs " + (isA ? "[r, in_features]" : "[out_features, r]"));
        auto& slot = modules[module];
        (isA ? slot.first : slot.second) = true;
    }
    for (const auto& [module, has] : modules)
        if (!has.first || !has.second)
            throw FormatError(weightsPath, "\"" + module + "\" has " + (has.first ? "lora_A but no lora_B" : "lora_B but no lora_A"));
    for (const auto& target : info.settings.targets)
        if (!targetsSeen.count(target))
            throw FormatError(weightsPath, "no weights for \"" + target + "\", which target_modules in adapter_config.json lists");
    return info;
}

std::vector<std::string> exportPeftAdapter(const std::string& adapterDir, const std::string& outDir, const ExportProgress& progress)
{
    StagingFolder::requireUsable(outDir); // before reading anything, so the refusal is immediate
    report(progress, 0.0, "checking the adapter");
    checkPeftAdapterFolder(adapterDir);

    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(adapterDir)) {
        const std::string name = entry.path().filename().string();
        // ".tmp": a file PeftAdapter was writing when its process died.
        if (entry.is_regular_file() && name.size() > 0 && name[0] != '.' && entry.path().extension() != ".tmp")
            files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());

    StagingFolder staging(outDir);
    std::vector<std::string> copied;
    for (size_t i = 0; i < files.size(); ++i) {
        const std::string name = files[i].filename().string();
        report(progress, 0.1 + 0.85 * double(i) / double(files.size()), "copying " + name);
        fs::copy_file(files[i], staging.path() / name);
        copied.push_back(name);
    }
    staging.commit();
    report(progress, 1.0, "done");
    return copied;
}

at::ScalarType exportMergedModel(const std::string& modelDir, const std::string& adapterDir, const std::string& outDir,
                                 std::optional<at::ScalarType> dtype, const ExportProgress& progress)
{
    StagingFolder::requireUsable(outDir);
    // The adapter is checked before the (much slower) base load, so a wrong folder fails at once.
    report(progress, 0.0, "checking the adapter");
    checkPeftAdapterFolder(adapterDir);

    // Merge in fp32 so W + s * B A is not rounded twice, then store in the chosen dtype.
    report(progress, 0.02, "loading the base model (fp32)");
    LoadOptions load;
    load.dtype = at::kFloat;
    LoadedModel loaded = loadModel(modelDir, load);
    const at::ScalarType stored = dtype ? *dtype : scalarTypeFromName(loaded.config.torchDtype).value_or(at::kFloat);

    report(progress, 0.40, "loading the adapter");
    loadPeftAdapter(*loaded.model, adapterDir);
    report(progress, 0.45, "merging the adapter into the weights");
    mergeLora(*loaded.model);

    StagingFolder staging(outDir);
    report(progress, 0.55, std::string("writing model.safetensors (") + scalarTypeName(stored) + ")");
    saveModelFolder(*loaded.model, staging.path().string(), stored);
    loaded.model.reset(); // the fp32 weights are no longer needed while files are copied

    report(progress, 0.95, "copying tokenizer files");
    for (const char* f : kBaseSideFiles)
        if (fs::exists(fs::path(modelDir) / f))
            fs::copy_file(fs::path(modelDir) / f, staging.path() / f);
    staging.commit();
    report(progress, 1.0, "done");
    return stored;
}

} // namespace tb
