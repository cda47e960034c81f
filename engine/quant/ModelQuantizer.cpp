#include "quant/ModelQuantizer.h"

#include "model/ProjectionSites.h"
#include "quant/QuantizedLinear.h"

#include <stdexcept>

namespace tb {

QuantizeReport ModelQuantizer::quantizeBase(LlamaForCausalLM& model, const QuantSettings& settings,
                                            const std::function<bool()>& cancelled)
{
    const std::string problem = settings.validate();
    if (!problem.empty())
        throw std::invalid_argument(problem);
    QuantizeReport report;
    for (const ProjectionSite& site : projectionSites(model)) {
        {
            if (cancelled && cancelled())
                throw QuantizeCancelled();
            const std::shared_ptr<Projection> current = site.projection();
            if (std::dynamic_pointer_cast<QuantizedLinear>(current))
                continue;
            const auto linear = std::dynamic_pointer_cast<Linear>(current);
            if (!linear)
                throw std::invalid_argument(site.path + " is not a plain Linear (quantize the base before adding adapters)");
            for (const at::Tensor& t : {linear->weight, linear->bias})
                if (t.defined())
                    report.bytesBefore += t.numel() * static_cast<int64_t>(t.element_size());
            auto quantized = QuantizedLinear::fromLinear(*linear, settings);
            report.bytesAfter += quantized->storageBytes();
            report.quantizedParameters += quantized->quantizedParameters();
            ++report.layersReplaced;
            site.replace(quantized);
        }
    }
    return report;
}

std::vector<std::pair<std::string, std::shared_ptr<QuantizedLinear>>> ModelQuantizer::quantizedLayers(LlamaForCausalLM& model)
{
    std::vector<std::pair<std::string, std::shared_ptr<QuantizedLinear>>> out;
    for (const ProjectionSite& site : projectionSites(model)) {
        std::shared_ptr<Projection> p = site.projection();
        while (p && !std::dynamic_pointer_cast<QuantizedLinear>(p))
            p = p->wrapped(); // a QLoRA layer: an adapter wraps the quantized base
        if (auto q = std::dynamic_pointer_cast<QuantizedLinear>(p))
            out.emplace_back(site.path, q);
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
