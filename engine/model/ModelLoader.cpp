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
    for (const std::string& name : checkpoint.names()) {
        if (used.count(name) || endsWith(name, "rotary_emb.inv_freq"))
            continue;
        if (name == "lm_head.weight" && result.config.tieWordEmbeddings)
            continue; // some exporters keep the tied copy
        result.warnings.push_back("unexpected tensor \"" + name + "\" in the checkpoint was ignored");
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
