#include "train/TrainConfig.h"

#include "formats/FormatError.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <stdexcept>

namespace tb {

using nlohmann::json;

const char* trainMethodName(TrainMethod method)
{
    switch (method) {
    case TrainMethod::Lora: return "lora";
    case TrainMethod::Qlora: return "qlora";
    case TrainMethod::Full: return "full";
    }
    return "lora";
}

TrainMethod trainMethodFromName(const std::string& name)
{
    if (name == "lora") return TrainMethod::Lora;
    if (name == "qlora") return TrainMethod::Qlora;
    if (name == "full") return TrainMethod::Full;
    throw std::invalid_argument("method \"" + name + "\": expected lora, qlora or full");
}

const char* lrScheduleName(LrScheduleKind kind)
{
    switch (kind) {
    case LrScheduleKind::Constant: return "constant";
    case LrScheduleKind::Linear: return "linear";
    case LrScheduleKind::Cosine: return "cosine";
    }
    return "cosine";
}

LrScheduleKind lrScheduleFromName(const std::string& name)
{
    if (name == "constant") return LrScheduleKind::Constant;
    if (name == "linear") return LrScheduleKind::Linear;
    if (name == "cosine") return LrScheduleKind::Cosine;
    throw std::invalid_argument("schedule \"" + name + "\": expected constant, linear or cosine");
}

namespace {

std::string joinProblems(const std::vector<ConfigProblem>& problems)
{
    std::string text;
    for (const ConfigProblem& p : problems)
        text += (text.empty() ? "" : "; ") + (p.field.empty() ? p.message : p.field + ": " + p.message);
    return text;
}

} // namespace

ConfigError::ConfigError(std::vector<ConfigProblem> problems)
    : std::invalid_argument(joinProblems(problems)), m_problems(std::move(problems))
{
}

TrainConfig::TrainConfig()
{
    lora.alpha = defaultAlpha(lora.rank);
}

TrainConfig TrainConfig::defaults(TrainMethod method)
{
    TrainConfig c;
    c.method = method;
    c.learningRate = defaultLearningRate(method);
    return c;
}

double TrainConfig::defaultLearningRate(TrainMethod method)
{
    // QLoRA paper and PEFT's examples train adapters at 1e-4..2e-4; a full fine-tune moves every
    // weight and is usually run an order of magnitude lower.
    return method == TrainMethod::Full ? 2e-5 : 2e-4;
}

double TrainConfig::defaultAlpha(int64_t rank)
{
    return 2.0 * static_cast<double>(rank);
}

DatasetOptions TrainConfig::datasetOptions() const
{
    DatasetOptions d = data;
    d.splitSeed = splitSeedOverride.value_or(seed);
    return d;
}

json TrainConfig::toJson() const
{
    return {
        {"name", name},
        {"model", modelDir},
        {"data", dataPath},
        {"validation_data", validationPath},
        {"output_dir", outputDir},
        {"method", trainMethodName(method)},
        {"initial_adapter", initialAdapter},
        {"quant", {{"type", QuantSettings::typeName(quant.type)}, {"double_quant", quant.doubleQuant}, {"block_size", quant.blockSize}}},
        {"quant_cache_dir", quantCacheDir},
        {"lora", {{"rank", lora.rank}, {"alpha", lora.alpha}, {"dropout", lora.dropout}, {"rslora", lora.rslora}, {"targets", lora.targets}}},
        {"dataset", {{"format", datasetFormatName(data.format)}, {"seq_len", data.maxSeqLen}, {"train_on_prompt", data.trainOnPrompt},
                     {"pack", data.pack}, {"validation_fraction", data.validationFraction}, {"split_seed", datasetOptions().splitSeed}}},
        {"learning_rate", learningRate},
        {"schedule", lrScheduleName(schedule)},
        {"warmup_steps", warmupSteps},
        {"max_steps", maxSteps},
        {"epochs", epochs},
        {"batch_size", batchSize},
        {"grad_accum", gradAccum},
        {"max_grad_norm", maxGradNorm},
        {"weight_decay", weightDecay},
        {"adam_beta1", adamBeta1},
        {"adam_beta2", adamBeta2},
        {"adam_eps", adamEps},
        {"gradient_checkpointing", gradientCheckpointing},
        {"eval_every", evalEvery},
        {"save_every", saveEvery},
        {"max_bad_steps", maxBadSteps},
        {"seed", seed},
        {"threads", threads},
        {"processes", processes},
        {"devices", devices},
        {"dist_timeout", distTimeoutSeconds},
        {"device", device},
        {"base_dtype", baseDtype},
    };
}

TrainConfig TrainConfig::fromJson(const json& j, const std::string& source)
{
    if (!j.is_object())
        throw FormatError(source, "expected a JSON object");
    TrainConfig c;
    auto get = [&](const json& obj, const std::string& prefix, const char* key, auto& target) {
        auto it = obj.find(key);
        if (it == obj.end() || it->is_null())
            return;
        try {
            target = it->get<std::decay_t<decltype(target)>>();
        } catch (const json::exception&) {
            throw FormatError(source, "key \"" + prefix + key + "\": wrong type (" + it->dump() + ")");
        }
    };
    static const std::set<std::string> known = {"name", "model", "data", "validation_data", "output_dir", "method", "lora", "dataset",
        "learning_rate", "schedule", "warmup_steps", "max_steps", "epochs", "batch_size", "grad_accum", "max_grad_norm",
        "weight_decay", "adam_beta1", "adam_beta2", "adam_eps", "gradient_checkpointing", "eval_every", "save_every",
        "max_bad_steps", "seed", "threads", "processes", "devices", "dist_timeout", "device", "base_dtype", "initial_adapter", "quant",
        "quant_cache_dir"};
    for (const auto& item : j.items())
        if (!known.count(item.key()))
            throw FormatError(source, "unknown key \"" + item.key() + "\"");
    get(j, "", "name", c.name);
    get(j, "", "model", c.modelDir);
    get(j, "", "data", c.dataPath);
    get(j, "", "validation_data", c.validationPath);
    get(j, "", "output_dir", c.outputDir);
    get(j, "", "initial_adapter", c.initialAdapter);
    get(j, "", "quant_cache_dir", c.quantCacheDir);
    std::string text;
    if (j.contains("quant")) {
        const json& q = j["quant"];
        if (q.contains("type")) {
            get(q, "quant.", "type", text);
            const auto type = QuantSettings::typeFromName(text);
            if (!type)
                throw FormatError(source, "key \"quant.type\": expected nf4 or int8, got \"" + text + "\"");
            c.quant.type = *type;
        }
        get(q, "quant.", "double_quant", c.quant.doubleQuant);
        get(q, "quant.", "block_size", c.quant.blockSize);
    }
    try {
        if (j.contains("method")) {
            get(j, "", "method", text);
            c.method = trainMethodFromName(text);
            c.learningRate = defaultLearningRate(c.method);
        }
        if (j.contains("schedule")) {
            get(j, "", "schedule", text);
            c.schedule = lrScheduleFromName(text);
        }
    } catch (const std::invalid_argument& e) {
        throw FormatError(source, e.what());
    }
    if (j.contains("lora")) {
        const json& l = j["lora"];
        get(l, "lora.", "rank", c.lora.rank);
        c.lora.alpha = defaultAlpha(c.lora.rank);
        get(l, "lora.", "alpha", c.lora.alpha);
        get(l, "lora.", "dropout", c.lora.dropout);
        get(l, "lora.", "rslora", c.lora.rslora);
        get(l, "lora.", "targets", c.lora.targets);
    }
    if (j.contains("dataset")) {
        const json& d = j["dataset"];
        if (d.contains("format")) {
            get(d, "dataset.", "format", text);
            try {
                c.data.format = datasetFormatFromName(text);
            } catch (const std::invalid_argument& e) {
                throw FormatError(source, std::string("key \"dataset.format\": ") + e.what());
            }
        }
        get(d, "dataset.", "seq_len", c.data.maxSeqLen);
        get(d, "dataset.", "train_on_prompt", c.data.trainOnPrompt);
        get(d, "dataset.", "pack", c.data.pack);
        get(d, "dataset.", "validation_fraction", c.data.validationFraction);
        if (d.contains("split_seed")) {
            uint64_t splitSeed = 0;
            get(d, "dataset.", "split_seed", splitSeed);
            c.splitSeedOverride = splitSeed; // dropped below when it is the seed (every new config)
        }
    }
    get(j, "", "learning_rate", c.learningRate);
    get(j, "", "warmup_steps", c.warmupSteps);
    get(j, "", "max_steps", c.maxSteps);
    get(j, "", "epochs", c.epochs);
    get(j, "", "batch_size", c.batchSize);
    get(j, "", "grad_accum", c.gradAccum);
    get(j, "", "max_grad_norm", c.maxGradNorm);
    get(j, "", "weight_decay", c.weightDecay);
    get(j, "", "adam_beta1", c.adamBeta1);
    get(j, "", "adam_beta2", c.adamBeta2);
    get(j, "", "adam_eps", c.adamEps);
    get(j, "", "gradient_checkpointing", c.gradientCheckpointing);
    get(j, "", "eval_every", c.evalEvery);
    get(j, "", "save_every", c.saveEvery);
    get(j, "", "max_bad_steps", c.maxBadSteps);
    get(j, "", "seed", c.seed);
    get(j, "", "threads", c.threads);
    get(j, "", "processes", c.processes);
    get(j, "", "devices", c.devices);
    get(j, "", "dist_timeout", c.distTimeoutSeconds);
    get(j, "", "device", c.device);
    get(j, "", "base_dtype", c.baseDtype);
    if (c.splitSeedOverride == c.seed)
        c.splitSeedOverride.reset();
    return c;
}

TrainConfig TrainConfig::fromFile(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw FormatError(path, "cannot read the file");
    const json j = json::parse(in, nullptr, false);
    if (j.is_discarded())
        throw FormatError(path, "not valid JSON");
    return fromJson(j, path);
}

std::vector<ConfigProblem> TrainConfig::problems() const
{
    std::vector<ConfigProblem> out;
    auto bad = [&](const char* field, const std::string& why) { out.push_back({field, why}); };
    // NaN fails every comparison: say so rather than quoting a range it is not outside of.
    auto number = [&](const char* field, double v) {
        if (std::isnan(v) || std::isinf(v)) {
            bad(field, "must be a number");
            return false;
        }
        return true;
    };
    if (modelDir.empty()) bad("model", "required");
    if (dataPath.empty()) bad("data", "required");
    if (data.maxSeqLen < 2) bad("dataset.seq_len", "must be at least 2 tokens");
    if (number("dataset.validation_fraction", data.validationFraction)
        && (data.validationFraction < 0 || data.validationFraction >= 1))
        bad("dataset.validation_fraction", "must be at least 0 and below 1");
    if (!initialAdapter.empty() && method == TrainMethod::Full) bad("initial_adapter", "only LoRA training continues an adapter");
    if (method != TrainMethod::Full) {
        if (lora.rank < 1 || lora.rank > 4096) bad("lora.rank", "must be between 1 and 4096");
        if (number("lora.alpha", lora.alpha) && !(lora.alpha > 0)) bad("lora.alpha", "must be positive");
        if (number("lora.dropout", lora.dropout) && (lora.dropout < 0 || lora.dropout >= 1))
            bad("lora.dropout", "must be at least 0 and below 1");
        if (initialAdapter.empty() && lora.targets.empty()) bad("lora.targets", "choose at least one projection to adapt");
    }
    if (method == TrainMethod::Qlora) {
        const std::string why = quant.validate();
        if (!why.empty()) bad("quant", why);
    }
    if (number("learning_rate", learningRate) && (!(learningRate > 0) || learningRate > 1))
        bad("learning_rate", "must be above 0 and at most 1");
    if (warmupSteps < 0) bad("warmup_steps", "must not be negative");
    if (maxSteps < 0) bad("max_steps", "must not be negative");
    if (maxSteps == 0 && number("epochs", epochs) && !(epochs > 0)) bad("epochs", "must be positive when max_steps is 0");
    if (batchSize < 1) bad("batch_size", "must be at least 1");
    if (gradAccum < 1) bad("grad_accum", "must be at least 1");
    if (number("weight_decay", weightDecay) && weightDecay < 0) bad("weight_decay", "must not be negative");
    if (number("max_grad_norm", maxGradNorm) && maxGradNorm < 0) bad("max_grad_norm", "must not be negative (0: no clipping)");
    if (number("adam_beta1", adamBeta1) && (adamBeta1 < 0 || adamBeta1 >= 1)) bad("adam_beta1", "must be at least 0 and below 1");
    if (number("adam_beta2", adamBeta2) && (adamBeta2 < 0 || adamBeta2 >= 1)) bad("adam_beta2", "must be at least 0 and below 1");
    if (number("adam_eps", adamEps) && !(adamEps > 0)) bad("adam_eps", "must be positive");
    if (evalEvery < 0) bad("eval_every", "must not be negative");
    if (saveEvery < 0) bad("save_every", "must not be negative");
    if (maxBadSteps < 1) bad("max_bad_steps", "must be at least 1");
    if (seed > (uint64_t(1) << 62)) bad("seed", "must be at most 2^62");
    if (threads < 0) bad("threads", "must not be negative (0: every core this process may use)");
    if (processes < 1 || processes > 256) bad("processes", "must be between 1 and 256");
    if (!devices.empty()) {
        std::vector<int> sorted = devices;
        std::sort(sorted.begin(), sorted.end());
        if (device.rfind("cuda", 0) != 0)
            bad("devices", "lists CUDA devices; the device must be cuda");
        else if (sorted.front() < 0)
            bad("devices", "device indices start at 0");
        else if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end())
            bad("devices", "lists a device twice");
        else if (processes != static_cast<int>(devices.size()))
            bad("processes", "must equal the number of devices (" + std::to_string(devices.size()) + "): one worker per device");
    }
    if (distTimeoutSeconds < 1 || distTimeoutSeconds > 86400) bad("dist_timeout", "must be between 1 and 86400 seconds");
    if (device != "cpu" && device != "cuda" && device.rfind("cuda:", 0) != 0) bad("device", "expected cpu, cuda or cuda:N");
    if (baseDtype != "bf16" && baseDtype != "fp32" && baseDtype != "bfloat16" && baseDtype != "float32")
        bad("base_dtype", "expected bf16 or fp32");
    if (outputDir.empty()) bad("output_dir", "required");
    return out;
}

std::vector<ConfigProblem> TrainConfig::fileProblems(bool resume) const
{
    namespace fs = std::filesystem;
    std::vector<ConfigProblem> out;
    std::error_code ec;
    if (!modelDir.empty() && !fs::is_regular_file(fs::path(modelDir) / "config.json", ec))
        out.push_back({"model", modelDir + ": not a Hugging Face model folder (config.json is missing)"});
    if (!dataPath.empty() && !fs::is_regular_file(dataPath, ec))
        out.push_back({"data", dataPath + ": no such file"});
    if (!validationPath.empty() && !fs::is_regular_file(validationPath, ec))
        out.push_back({"validation_data", validationPath + ": no such file"});
    if (!initialAdapter.empty() && !fs::is_regular_file(fs::path(initialAdapter) / "adapter_config.json", ec))
        out.push_back({"initial_adapter", initialAdapter + ": not a PEFT adapter folder (adapter_config.json is missing)"});
    if (!resume && !outputDir.empty()
        && (fs::exists(fs::path(outputDir) / "train_config.json", ec) || fs::exists(fs::path(outputDir) / "checkpoints", ec)))
        out.push_back({"output_dir", outputDir + " already holds a run: choose a new folder (or resume that run)"});
    return out;
}

void TrainConfig::validate() const
{
    std::vector<ConfigProblem> found = problems();
    if (!found.empty())
        throw ConfigError(std::move(found));
}

void TrainConfig::makePathsAbsolute()
{
    for (std::string* path : {&outputDir, &modelDir, &dataPath, &validationPath, &initialAdapter, &quantCacheDir}) {
        if (path->empty())
            continue;
        std::filesystem::path p = std::filesystem::absolute(*path).lexically_normal();
        if (p.filename().empty())
            p = p.parent_path();
        *path = p.string();
    }
}

} // namespace tb
