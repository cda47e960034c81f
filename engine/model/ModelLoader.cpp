#include "model/ModelLoader.h"

#include "formats/FormatError.h"
#include "core/TorchCompat.h"
#include "formats/CheckpointFiles.h"
#include "model/TensorIO.h"

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace tb {

namespace fs = std::filesystem;

namespace {

bool endsWith(const std::string& s, const std::string& suffix)
{
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Why a checkpoint tensor the built model has no parameter for would be a parameter of a
// Llama-family model under another config.json ("attention_bias is false", ...), or "" for a
// name outside the family's module tree. Dropping the first kind would change what the model
// computes: loading refuses it. The second kind transformers ignores (with a warning) too.
std::string whyModelLacksFamilyParameter(const std::string& name, const ModelConfig& c)
{
    const std::string prefix = "model.layers.";
    if (name.compare(0, prefix.size(), prefix) != 0)
        return name.rfind("lm_head.", 0) == 0 || name.rfind("model.embed_tokens.", 0) == 0 || name.rfind("model.norm.", 0) == 0
            ? "config.json gives " + c.architecture + " no such parameter"
            : "";
    const size_t dot = name.find('.', prefix.size());
    const std::string index = name.substr(prefix.size(), dot == std::string::npos ? std::string::npos : dot - prefix.size());
    if (dot == std::string::npos || index.empty() || index.find_first_not_of("0123456789") != std::string::npos)
        return "";
    const std::string rest = name.substr(dot + 1);
    if (index.size() > 9 || std::stoll(index) >= c.numLayers)
        return "num_hidden_layers is " + std::to_string(c.numLayers);
    for (const char* p : {"q_proj", "k_proj", "v_proj"})
        if (rest == std::string("self_attn.") + p + ".bias")
            return c.modelType == "mistral" ? "MistralAttention has no biases" : "attention_bias is false";
    if (rest == "self_attn.o_proj.bias")
        return c.modelType == "qwen2"     ? "Qwen2Attention has no o_proj bias"
             : c.modelType == "mistral" ? "MistralAttention has no biases"
                                        : "attention_bias is false";
    if (rest == "self_attn.q_norm.weight" || rest == "self_attn.k_norm.weight")
        return "only Qwen3ForCausalLM normalises q and k";
    for (const char* p : {"gate_proj", "up_proj", "down_proj"})
        if (rest == std::string("mlp.") + p + ".bias")
            return c.modelType == "llama" ? "mlp_bias is false (and MLP biases are not implemented)"
                                          : c.architecture + " has no MLP biases";
    for (const char* module : {"input_layernorm.", "post_attention_layernorm.", "self_attn.q_proj.", "self_attn.k_proj.",
                               "self_attn.v_proj.", "self_attn.o_proj.", "mlp.gate_proj.", "mlp.up_proj.", "mlp.down_proj."})
        if (rest.rfind(module, 0) == 0)
            return "config.json gives " + c.architecture + " no such parameter";
    return "";
}

} // namespace

at::Device parseDevice(const std::string& device)
{
    if (device == "cpu")
        return at::Device(at::kCPU);
    if (device == "cuda" || device.rfind("cuda:", 0) == 0) {
        int index = 0;
        if (device.size() > 5) {
            try {
                size_t used = 0;
                index = std::stoi(device.substr(5), &used);
                if (used != device.size() - 5 || index < 0)
                    throw std::invalid_argument("");
            } catch (const std::exception&) {
                throw std::invalid_argument("device \"" + device + "\": expected cpu, cuda or cuda:N");
            }
        }
        if (!compat::cudaAvailable())
            throw std::invalid_argument("device \"" + device + "\": this build of LibTorch (" + compat::torchVersion()
                                        + ") has no CUDA, or no CUDA device is present");
        if (index >= compat::cudaDeviceCount())
            throw std::invalid_argument("device \"" + device + "\": only " + std::to_string(compat::cudaDeviceCount())
                                        + " CUDA device(s) present");
        return at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(index));
    }
    throw std::invalid_argument("device \"" + device + "\": expected cpu, cuda or cuda:N");
}

LoadedModel loadModel(const std::string& dir, const LoadOptions& options)
{
    if (!fs::is_directory(dir))
        throw FormatError(dir, "not a folder (expected a Hugging Face model folder with config.json and *.safetensors)");
    LoadedModel result;
    result.dir = dir;
    result.config = ModelConfig::fromFile((fs::path(dir) / "config.json").string());
    const at::Device device = parseDevice(options.device);
    const CheckpointFiles checkpoint(dir);
    result.checkpointBytes = checkpoint.totalFileBytes();

    // Allocate on the CPU in the target dtype, fill, then move once: the copy out of the map
    // and the dtype conversion happen tensor by tensor, so peak memory stays near one model.
    result.model = std::make_shared<LlamaForCausalLM>(result.config, at::TensorOptions().dtype(options.dtype));
    std::set<std::string> used;
    {
        at::NoGradGuard noGrad;
        for (const auto& item : result.model->named_parameters(true)) {
            const std::string& name = item.key();
            const auto entry = checkpoint.find(name);
            if (!entry.file)
                throw FormatError(dir, "tensor \"" + name + "\" is missing from the checkpoint (" + result.config.architecture
                                           + " with " + std::to_string(result.config.numLayers) + " layers needs it)");
            at::Tensor target = item.value();
            const SafetensorInfo& info = *entry.info;
            if (info.dtype != DType::F32 && info.dtype != DType::BF16 && info.dtype != DType::F16 && info.dtype != DType::F64)
                throw FormatError(entry.file->path(), "tensor \"" + name + "\" has dtype " + dtypeName(info.dtype)
                                                          + ", expected a floating-point type");
            if (at::IntArrayRef(info.shape) != target.sizes())
                throw FormatError(entry.file->path(), "tensor \"" + name + "\" has shape " + shapeText(info.shape)
                                                          + ", but config.json implies " + shapeText(target.sizes()));
            target.copy_(readTensor(*entry.file, info));
            used.insert(name);
        }
    }
    result.warnings = result.config.warnings;
    for (const std::string& name : checkpoint.names()) {
        if (used.count(name) || endsWith(name, "rotary_emb.inv_freq")) // old exports saved RoPE's buffer
            continue;
        if (name == "lm_head.weight" && result.config.tieWordEmbeddings) {
            // Some exporters keep the tied copy; transformers ties lm_head to the embedding
            // after loading, so a copy that differs is ignored there too: say so.
            const auto entry = checkpoint.find(name);
            const at::Tensor stored = readTensor(*entry.file, *entry.info);
            const at::Tensor embedding = result.model->model->embed_tokens->weight;
            if (stored.sizes() != embedding.sizes() || !at::equal(stored.to(embedding.scalar_type()), embedding))
                result.warnings.push_back("tensor \"lm_head.weight\" differs from model.embed_tokens.weight, but "
                                          "tie_word_embeddings is true: the embedding is used as lm_head, as transformers does");
            continue;
        }
        const std::string reason = whyModelLacksFamilyParameter(name, result.config);
        if (!reason.empty())
            throw FormatError(dir, "tensor \"" + name + "\" is in the checkpoint, but the model has no such parameter ("
                                       + reason + "); loading without it would change what the model computes");
        result.warnings.push_back("unexpected tensor \"" + name + "\" in the checkpoint was ignored (not part of "
                                  + result.config.architecture + ")");
    }
    result.model->to(device);
    result.model->eval();
    for (auto& p : result.model->parameters())
        p.set_requires_grad(false);
    return result;
}

void saveModelFolder(LlamaForCausalLM& model, const std::string& dir, at::ScalarType dtype)
{
    fs::create_directories(dir);
    ModelConfig config = model.config();
    config.torchDtype = scalarTypeName(dtype);
    SafetensorsWriter writer;
    for (const auto& item : model.named_parameters(true))
        addTensor(writer, item.key(), item.value(), dtype);
    writer.setMetadata({{"format", "pt"}});
    writer.write((fs::path(dir) / "model.safetensors").string());

    const std::string configPath = (fs::path(dir) / "config.json").string();
    std::ofstream out(configPath, std::ios::binary | std::ios::trunc);
    out << config.toJsonText();
    if (!out)
        throw std::runtime_error(configPath + ": cannot write");
}

} // namespace tb
