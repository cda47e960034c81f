#include "quant/ModelQuantizer.h"

#include "lora/LoraLinear.h"
#include "quant/QuantizedLinear.h"

#include <stdexcept>

namespace tb {

const char* ModelQuantizer::projectionOwner(const std::string& name)
{
    return name.size() == 6 && name[1] == '_' && name.compare(2, 4, "proj") == 0 ? "self_attn" : "mlp";
}

QuantizeReport ModelQuantizer::quantizeBase(LlamaForCausalLM& model, const QuantSettings& settings,
                                            const std::function<bool()>& cancelled)
{
    const std::string problem = settings.validate();
    if (!problem.empty())
        throw std::invalid_argument(problem);
    QuantizeReport report;
    for (size_t i = 0; i < model.model->layers.size(); ++i) {
        LlamaDecoderLayer& layer = *model.model->layers[i];
        for (const std::string& name : LlamaDecoderLayer::projectionNames()) {
            if (cancelled && cancelled())
                throw QuantizeCancelled();
            const std::shared_ptr<Projection> current = layer.projection(name);
            if (std::dynamic_pointer_cast<QuantizedLinear>(current))
                continue;
            const auto linear = std::dynamic_pointer_cast<Linear>(current);
            if (!linear)
                throw std::invalid_argument("model.layers." + std::to_string(i) + "." + projectionOwner(name) + "." + name
                                            + " is not a plain Linear (quantize the base before adding adapters)");
            for (const at::Tensor& t : {linear->weight, linear->bias})
                if (t.defined())
                    report.bytesBefore += t.numel() * static_cast<int64_t>(t.element_size());
            auto quantized = QuantizedLinear::fromLinear(*linear, settings);
            report.bytesAfter += quantized->storageBytes();
            report.quantizedParameters += quantized->quantizedParameters();
            ++report.layersReplaced;
            layer.replaceProjection(name, quantized);
        }
    }
    return report;
}

std::vector<std::pair<std::string, std::shared_ptr<QuantizedLinear>>> ModelQuantizer::quantizedLayers(LlamaForCausalLM& model)
{
    std::vector<std::pair<std::string, std::shared_ptr<QuantizedLinear>>> out;
    for (size_t i = 0; i < model.model->layers.size(); ++i) {
        for (const std::string& name : LlamaDecoderLayer::projectionNames()) {
            std::shared_ptr<Projection> p = model.model->layers[i]->projection(name);
            if (auto lora = std::dynamic_pointer_cast<LoraLinear>(p))
                p = lora->baseShared(); // a QLoRA layer: the adapter wraps the quantized base
            if (auto q = std::dynamic_pointer_cast<QuantizedLinear>(p))
                out.emplace_back("model.layers." + std::to_string(i) + "." + projectionOwner(name) + "." + name, q);
        }
    }
    return out;
}

int64_t ModelQuantizer::quantizedBytes(LlamaForCausalLM& model)
{
    int64_t bytes = 0;
    for (const auto& item : quantizedLayers(model))
        bytes += item.second->storageBytes();
    return bytes;
}

} // namespace tb
