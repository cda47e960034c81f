#include "export/GgufExport.h"

#include "core/ThreadSettings.h"
#include "export/GgufModelLayout.h"
#include "formats/FormatError.h"
#include "formats/SafetensorsReader.h"
#include "gguf/GgufWriter.h"
#include "lora/AdapterExport.h"
#include "lora/LoraInjector.h"
#include "lora/PeftAdapter.h"
#include "model/LlamaForCausalLM.h"
#include "model/ModelLoader.h"
#include "model/TensorIO.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <unordered_map>

namespace tb {

namespace fs = std::filesystem;

namespace {

void report(const GgufExportOptions& o, double fraction, const std::string& stage)
{
    if (o.progress)
        o.progress(fraction, stage);
}

void checkCancelled(const GgufExportOptions& o)
{
    if (o.cancelled && o.cancelled())
        throw GgufExportCancelled();
}

// ggml dims are PyTorch's reversed.
std::vector<int64_t> ggmlDims(const std::vector<int64_t>& shape)
{
    return std::vector<int64_t>(shape.rbegin(), shape.rend());
}

uint64_t tensorBytes(tbk::GgmlType type, const std::vector<int64_t>& shape)
{
    int64_t rows = 1;
    for (size_t i = 0; i + 1 < shape.size(); ++i)
        rows *= shape[i];
    return uint64_t(rows) * uint64_t(tbk::ggmlRowBytes(type, shape.back()));
}

// Converts `rows` x `cols` fp32 values (permuted first when asked) into `type` at dst. A
// vector (a q/k bias [out], one row of `out` values) is permuted element by element, as the
// rows of its weight are.
void convertRows(const float* src, uint8_t* dst, tbk::GgmlType type, int64_t rows, int64_t cols, bool vector,
                 int64_t permuteHeads, int threads, const std::string& name)
{
    std::vector<float> permuted;
    if (permuteHeads > 0) {
        permuted.resize(size_t(rows * cols));
        const int64_t permutedRows = vector ? cols : rows;
        permuteRotaryRows(src, permuted.data(), permuteHeads, permutedRows / permuteHeads, vector ? 1 : cols);
        src = permuted.data();
    }
    const tbk::KernelStatus status = tbk::ggmlQuantizeRows(type, src, dst, rows, cols, threads);
    if (status != tbk::KernelStatus::Ok)
        throw std::runtime_error("tensor \"" + name + "\": cannot convert to " + tbk::ggmlTypeInfo(type)->name + " ("
                                 + tbk::kernelStatusName(status) + ")");
}

struct ProjectionShape {
    int64_t out, in;
};

ProjectionShape projectionShape(const ModelConfig& c, const std::string& projection)
{
    const int64_t q = c.numHeads * c.headDim, kv = c.numKeyValueHeads * c.headDim;
    if (projection == "q_proj")
        return {q, c.hiddenSize};
    if (projection == "k_proj" || projection == "v_proj")
        return {kv, c.hiddenSize};
    if (projection == "o_proj")
        return {c.hiddenSize, q};
    if (projection == "gate_proj" || projection == "up_proj")
        return {c.intermediateSize, c.hiddenSize};
    if (projection == "down_proj")
        return {c.hiddenSize, c.intermediateSize};
    return {0, 0};
}

std::string defaultName(const std::string& modelDir)
{
    fs::path p = fs::absolute(modelDir).lexically_normal();
    if (!p.has_filename())
        p = p.parent_path();
    return p.filename().string();
}

void addPlannedTensor(GgufModelPlan& plan, GgufFileType type, const std::string& source, std::vector<int64_t> shape,
                      int64_t layer)
{
    GgufTensorPlan t;
    t.sourceName = source;
    t.ggufName = source.empty() ? "rope_freqs.weight" : ggufTensorName(source);
    t.shape = std::move(shape);
    GgufTensorRole role;
    role.ggufName = t.ggufName;
    role.rowElements = t.shape.back();
    role.dimensions = static_cast<int64_t>(t.shape.size());
    role.layer = layer;
    role.layerCount = plan.config.numLayers;
    role.tiedEmbeddings = plan.config.tieWordEmbeddings;
    t.type = ggufTensorType(type, role);
    if (ggufPermutesRotaryRows(plan.architecture)) {
        const bool q = source.find(".self_attn.q_proj.") != std::string::npos;
        const bool k = source.find(".self_attn.k_proj.") != std::string::npos;
        if (q || k)
            t.permuteHeads = q ? plan.config.numHeads : plan.config.numKeyValueHeads;
    }
    t.bytes = tensorBytes(t.type, t.shape);
    plan.tensors.push_back(std::move(t));
}

GgufWriter writerFor(const GgufModelPlan& plan, GgufFileType type, const std::string& name)
{
    GgufWriter w;
    w.set("general.architecture", GgufValue::string(plan.architecture));
    w.set("general.type", GgufValue::string("model"));
    w.set("general.name", GgufValue::string(name));
    for (const auto& kv : plan.metadata)
        w.set(kv.key, kv.value);
    w.set("general.file_type", GgufValue::u32(llamaFileTypeNumber(type)));
    w.set("general.quantization_version", GgufValue::u32(2));
    for (const auto& kv : plan.vocabulary.metadata)
        w.set(kv.key, kv.value);
    return w;
}

} // namespace

namespace {

// What config.json and the tokenizer files decide for every type: read once per model folder.
GgufModelPlan planWithoutTensors(const std::string& modelDir)
{
    GgufModelPlan plan;
    const std::string configPath = (fs::path(modelDir) / "config.json").string();
    plan.config = ModelConfig::fromFile(configPath);
    const ModelConfig& c = plan.config;
    plan.architecture = ggufArchitectureFor(c, configPath);
    plan.metadata = ggufModelHyperparameters(c, plan.architecture);
    plan.vocabulary = ggufVocabularyFor(modelDir, c.vocabSize);
    plan.warnings = c.warnings; // config.json keys its config class does not have
    if (c.slidingWindow > 0) {
        int64_t slidingLayers = 0;
        for (int64_t i = 0; i < c.numLayers; ++i)
            slidingLayers += c.attentionWindow(i) > 0 ? 1 : 0;
        plan.warnings.push_back("config.json sets sliding_window " + std::to_string(c.slidingWindow) + " for "
                                + std::to_string(slidingLayers) + " of " + std::to_string(c.numLayers) + " layers; llama.cpp's "
                                + plan.architecture + " attends to the whole context, so outputs differ past "
                                + std::to_string(c.slidingWindow) + " tokens");
    }
    return plan;
}

// The tensors of `type` and the exact file size, added to a plan of planWithoutTensors().
void planTensors(GgufModelPlan& plan, GgufFileType type, const std::string& name)
{
    const ModelConfig& c = plan.config;
    addPlannedTensor(plan, type, "model.embed_tokens.weight", {c.vocabSize, c.hiddenSize}, -1);
    if (c.ropeScaling.type == RopeScalingType::Llama3)
        addPlannedTensor(plan, type, "", {c.headDim / 2}, -1);
    const int64_t q = c.numHeads * c.headDim;
    for (int64_t i = 0; i < c.numLayers; ++i) {
        const std::string p = "model.layers." + std::to_string(i) + ".";
        addPlannedTensor(plan, type, p + "input_layernorm.weight", {c.hiddenSize}, i);
        for (const char* proj : {"q_proj", "k_proj", "v_proj"}) {
            const ProjectionShape s = projectionShape(c, proj);
            addPlannedTensor(plan, type, p + "self_attn." + proj + ".weight", {s.out, s.in}, i);
            if (c.qkvBias)
                addPlannedTensor(plan, type, p + "self_attn." + proj + ".bias", {s.out}, i);
        }
        addPlannedTensor(plan, type, p + "self_attn.o_proj.weight", {c.hiddenSize, q}, i);
        if (c.outputBias) // blk.N.attn_output.bias (ggufArchitectureFor refused qwen3's)
            addPlannedTensor(plan, type, p + "self_attn.o_proj.bias", {c.hiddenSize}, i);
        if (c.qkNorm) {
            addPlannedTensor(plan, type, p + "self_attn.q_norm.weight", {c.headDim}, i);
            addPlannedTensor(plan, type, p + "self_attn.k_norm.weight", {c.headDim}, i);
        }
        addPlannedTensor(plan, type, p + "post_attention_layernorm.weight", {c.hiddenSize}, i);
        addPlannedTensor(plan, type, p + "mlp.gate_proj.weight", {c.intermediateSize, c.hiddenSize}, i);
        addPlannedTensor(plan, type, p + "mlp.up_proj.weight", {c.intermediateSize, c.hiddenSize}, i);
        addPlannedTensor(plan, type, p + "mlp.down_proj.weight", {c.hiddenSize, c.intermediateSize}, i);
    }
    addPlannedTensor(plan, type, "model.norm.weight", {c.hiddenSize}, -1);
    if (!c.tieWordEmbeddings)
        addPlannedTensor(plan, type, "lm_head.weight", {c.vocabSize, c.hiddenSize}, -1);

    GgufWriter w = writerFor(plan, type, name);
    for (const auto& t : plan.tensors)
        w.addTensor({t.ggufName, ggmlDims(t.shape), static_cast<uint32_t>(t.type), t.bytes, [](uint8_t*) {}});
    plan.fileBytes = w.fileSize();
}

} // namespace

GgufModelPlan planGgufModel(const std::string& modelDir, GgufFileType type, const std::string& name)
{
    GgufModelPlan plan = planWithoutTensors(modelDir);
    planTensors(plan, type, name.empty() ? defaultName(modelDir) : name);
    return plan;
}

std::map<GgufFileType, GgufModelPlan> planGgufModelTypes(const std::string& modelDir, const std::vector<GgufFileType>& types,
                                                         const std::string& name)
{
    const GgufModelPlan common = planWithoutTensors(modelDir);
    std::map<GgufFileType, GgufModelPlan> plans;
    for (GgufFileType type : types) {
        GgufModelPlan plan = common;
        planTensors(plan, type, name.empty() ? defaultName(modelDir) : name);
        plans.emplace(type, std::move(plan));
    }
    return plans;
}

GgufExportReport exportGgufModel(const std::string& modelDir, const std::string& adapterDir, const std::string& outPath,
                                 const GgufExportOptions& options)
{
    const auto start = std::chrono::steady_clock::now();
    if (fs::exists(fs::symlink_status(outPath)))
        throw std::runtime_error(outPath + ": exists; choose a new file name (an export never replaces a file)");
    report(options, 0.0, "reading config.json and the tokenizer");
    const std::string name = options.name.empty() ? defaultName(modelDir) : options.name;
    const GgufModelPlan plan = planGgufModel(modelDir, options.type, name);
    if (!adapterDir.empty())
        checkPeftAdapterFolder(adapterDir); // before the slow base load
    const int threads = configureThreads(options.threads);
    checkCancelled(options);

    report(options, 0.02, "loading the base model (fp32)");
    LoadOptions load;
    load.dtype = at::kFloat;
    LoadedModel loaded = loadModel(modelDir, load);
    std::vector<std::string> warnings = plan.warnings;
    for (const auto& w : loaded.warnings) // the checkpoint's ignored tensors (config.json's are in the plan)
        if (std::find(warnings.begin(), warnings.end(), w) == warnings.end())
            warnings.push_back(w);
    checkCancelled(options);
    if (!adapterDir.empty()) {
        report(options, 0.25, "merging the adapter into the weights");
        loadPeftAdapter(*loaded.model, adapterDir);
        mergeLora(*loaded.model);
    }
    std::unordered_map<std::string, at::Tensor> weights;
    for (const auto& item : loaded.model->named_parameters(true))
        weights[item.key()] = item.value().detach().to(at::kFloat).contiguous();
    for (const auto& t : plan.tensors)
        if (!t.sourceName.empty() && !weights.count(t.sourceName))
            throw FormatError(modelDir, "the model has no tensor \"" + t.sourceName + "\" that config.json implies");
    for (const auto& [hfName, tensor] : weights) {
        bool planned = false;
        for (const auto& t : plan.tensors)
            planned = planned || t.sourceName == hfName;
        if (!planned)
            throw FormatError(modelDir, "tensor \"" + hfName + "\" has no place in llama.cpp's " + plan.architecture
                                            + " layout; exporting without it would change the model");
    }
    const std::vector<float> ropeFactors =
        plan.config.ropeScaling.type == RopeScalingType::Llama3 ? llama3RopeFactors(plan.config) : std::vector<float>{};

    GgufWriter w = writerFor(plan, options.type, name);
    GgufExportReport result;
    for (const auto& t : plan.tensors) {
        at::Tensor source;
        if (!t.sourceName.empty()) {
            source = weights.at(t.sourceName);
            if (std::vector<int64_t>(source.sizes().begin(), source.sizes().end()) != t.shape)
                throw FormatError(modelDir, "tensor \"" + t.sourceName + "\" has shape " + shapeText(source.sizes())
                                                + ", config.json implies " + shapeText(t.shape));
        }
        const int64_t cols = t.shape.back();
        const int64_t rows = static_cast<int64_t>(t.bytes / uint64_t(tbk::ggmlRowBytes(t.type, cols)));
        w.addTensor({t.ggufName, ggmlDims(t.shape), static_cast<uint32_t>(t.type), t.bytes,
                     [source, &ropeFactors, t, rows, cols, threads](uint8_t* dst) {
                         const float* src = source.defined() ? source.data_ptr<float>() : ropeFactors.data();
                         convertRows(src, dst, t.type, rows, cols, t.shape.size() == 1, t.permuteHeads, threads, t.ggufName);
                     }});
        result.tensorsByType[tbk::ggmlTypeInfo(t.type)->name] += 1;
    }
    loaded.model.reset(); // the weights map keeps what the producers read

    report(options, 0.3, std::string("writing ") + ggufFileTypeName(options.type));
    try {
        w.write(
            outPath,
            [&](double f, const std::string& tensor) { report(options, 0.3 + 0.7 * f, "wrote " + tensor); },
            options.cancelled);
    } catch (const GgufWriterCancelled&) {
        throw GgufExportCancelled();
    }
    result.path = outPath;
    result.bytes = fs::file_size(outPath);
    result.warnings = warnings;
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    report(options, 1.0, "done");
    return result;
}

GgufExportReport exportGgufLora(const std::string& modelDir, const std::string& adapterDir, const std::string& outPath,
                                const GgufExportOptions& options)
{
    const auto start = std::chrono::steady_clock::now();
    if (options.type != GgufFileType::F32 && options.type != GgufFileType::F16 && options.type != GgufFileType::BF16
        && options.type != GgufFileType::Q8_0)
        throw std::invalid_argument(std::string("a LoRA adapter GGUF is f32, f16, bf16 or q8_0, not ") + ggufFileTypeName(options.type));
    if (fs::exists(fs::symlink_status(outPath)))
        throw std::runtime_error(outPath + ": exists; choose a new file name (an export never replaces a file)");
    report(options, 0.0, "checking the adapter against the base model");
    const std::string configPath = (fs::path(modelDir) / "config.json").string();
    const ModelConfig c = ModelConfig::fromFile(configPath);
    const std::string arch = ggufArchitectureFor(c, configPath);
    const PeftAdapterInfo info = checkPeftAdapterFolder(adapterDir);
    const int threads = configureThreads(options.threads);

    const std::string weightsPath = (fs::path(adapterDir) / "adapter_model.safetensors").string();
    const SafetensorsReader reader(weightsPath);
    struct Factor {
        std::string ggufName;
        at::Tensor tensor; // fp32 [rows, cols]
        int64_t permuteHeads = 0;
    };
    std::vector<Factor> factors;
    for (const auto& t : reader.tensors()) {
        // base_model.model.model.layers.N.<self_attn|mlp>.<proj>.lora_<A|B>[.default].weight
        std::string key = t.name;
        const std::string prefix = "base_model.model.model.layers.";
        if (key.compare(0, prefix.size(), prefix) != 0)
            throw FormatError(weightsPath, "tensor \"" + t.name + "\" is not a LoRA weight of a decoder layer");
        key = key.substr(prefix.size());
        const size_t dot = key.find('.');
        const int64_t layer = std::stoll(key.substr(0, dot));
        const bool isA = key.find(".lora_A.") != std::string::npos;
        const size_t factorAt = key.find(isA ? ".lora_A." : ".lora_B.");
        const std::string module = key.substr(dot + 1, factorAt - dot - 1); // "self_attn.q_proj"
        const std::string projection = module.substr(module.rfind('.') + 1);
        const std::string base = ggufProjectionName(layer, projection);
        const ProjectionShape expected = projectionShape(c, projection);
        if (base.empty() || layer >= c.numLayers)
            throw FormatError(weightsPath, "tensor \"" + t.name + "\": base model " + modelDir + " has no such projection (it has "
                                               + std::to_string(c.numLayers) + " layers); the adapter belongs to another base model");
        const int64_t r = info.settings.rank;
        const std::vector<int64_t> want = isA ? std::vector<int64_t>{r, expected.in} : std::vector<int64_t>{expected.out, r};
        if (t.shape != want)
            throw FormatError(weightsPath, "tensor \"" + t.name + "\" has shape " + shapeText(t.shape) + ", but " + projection
                                               + " of base model " + modelDir + " needs " + shapeText(want)
                                               + ": the adapter was trained on another base model");
        Factor f;
        f.ggufName = base + ".weight" + (isA ? ".lora_a" : ".lora_b");
        f.tensor = readTensor(reader, t).to(at::kFloat).contiguous();
        if (!isA && ggufPermutesRotaryRows(arch) && (projection == "q_proj" || projection == "k_proj"))
            f.permuteHeads = projection == "q_proj" ? c.numHeads : c.numKeyValueHeads;
        factors.push_back(std::move(f));
    }
    checkCancelled(options);

    // llama.cpp applies alpha / r (r read from the tensors); rsLoRA scales by alpha / sqrt(r).
    const double r = double(info.settings.rank);
    const double alpha = info.settings.rslora ? info.settings.alpha * std::sqrt(r) : info.settings.alpha;
    GgufWriter w;
    w.set("general.architecture", GgufValue::string(arch));
    w.set("general.type", GgufValue::string("adapter"));
    w.set("general.name", GgufValue::string(options.name.empty() ? defaultName(adapterDir) : options.name));
    w.set("adapter.type", GgufValue::string("lora"));
    w.set("adapter.lora.alpha", GgufValue::f32(static_cast<float>(alpha)));
    w.set("general.file_type", GgufValue::u32(llamaFileTypeNumber(options.type)));
    w.set("general.quantization_version", GgufValue::u32(2));
    GgufExportReport result;
    for (const auto& f : factors) {
        const std::vector<int64_t> shape(f.tensor.sizes().begin(), f.tensor.sizes().end());
        GgufTensorRole role;
        role.ggufName = f.ggufName;
        role.rowElements = shape.back();
        role.dimensions = 2;
        tbk::GgmlType type = ggufTensorType(options.type, role);
        if (type == tbk::GgmlType::Q6_K) // the output-matrix rule does not apply to adapters
            type = tbk::GgmlType::Q8_0;
        const uint64_t bytes = tensorBytes(type, shape);
        w.addTensor({f.ggufName, ggmlDims(shape), static_cast<uint32_t>(type), bytes, [f, type, shape, threads](uint8_t* dst) {
                         convertRows(f.tensor.data_ptr<float>(), dst, type, shape[0], shape[1], false, f.permuteHeads, threads, f.ggufName);
                     }});
        result.tensorsByType[tbk::ggmlTypeInfo(type)->name] += 1;
    }
    try {
        w.write(
            outPath, [&](double fr, const std::string& tensor) { report(options, 0.1 + 0.9 * fr, "wrote " + tensor); },
            options.cancelled);
    } catch (const GgufWriterCancelled&) {
        throw GgufExportCancelled();
    }
    result.path = outPath;
    result.bytes = fs::file_size(outPath);
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    report(options, 1.0, "done");
    return result;
}

} // namespace tb
