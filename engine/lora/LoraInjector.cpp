#include "lora/LoraInjector.h"

#include "model/ProjectionSites.h"

#include "model/LlamaForCausalLM.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace tb {

double LoraSettings::scaling() const
{
    return rslora ? alpha / std::sqrt(static_cast<double>(rank)) : alpha / static_cast<double>(rank);
}

std::vector<LoraLayerRef> applyLora(LlamaForCausalLM& model, const LoraSettings& settings, uint64_t seed)
{
    if (!loraLayers(model).empty())
        throw std::invalid_argument("the model already has LoRA adapters");
    if (settings.targets.empty())
        throw std::invalid_argument("LoRA needs at least one target module");
    for (const auto& t : settings.targets) {
        const auto& names = LlamaDecoderLayer::projectionNames();
        if (std::find(names.begin(), names.end(), t) == names.end())
            throw std::invalid_argument("unknown LoRA target \"" + t
                                        + "\" (expected q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj or down_proj)");
    }
    for (auto& p : model.parameters())
        p.set_requires_grad(false);

    auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
    std::vector<LoraLayerRef> wrapped;
    // Model order (layer by layer, attention then MLP), whatever order the user listed.
    for (const ProjectionSite& site : projectionSites(model)) {
        if (std::find(settings.targets.begin(), settings.targets.end(), site.name) == settings.targets.end())
            continue;
        auto lora = std::make_shared<LoraLinear>(site.projection(), settings.rank, settings.alpha, settings.dropout,
                                                 settings.rslora);
        lora->resetParameters(generator);
        site.replace(lora);
        wrapped.push_back({site.path, lora});
    }
    model.train(model.is_training());
    return wrapped;
}

std::vector<LoraLayerRef> loraLayers(LlamaForCausalLM& model)
{
    std::vector<LoraLayerRef> found;
    for (const ProjectionSite& site : projectionSites(model))
        if (auto lora = std::dynamic_pointer_cast<LoraLinear>(site.projection()))
            found.push_back({site.path, lora});
    return found;
}

size_t setLoraEnabled(LlamaForCausalLM& model, bool enabled)
{
    const auto layers = loraLayers(model);
    for (const auto& ref : layers)
        ref.layer->setEnabled(enabled);
    return layers.size();
}

size_t setLoraFused(LlamaForCausalLM& model, bool fused)
{
    const auto layers = loraLayers(model);
    for (const auto& ref : layers)
        ref.layer->setFused(fused);
    return layers.size();
}

size_t removeLora(LlamaForCausalLM& model)
{
    size_t removed = 0;
    for (size_t i = 0; i < model.model->layers.size(); ++i) {
        LlamaDecoderLayer& layer = *model.model->layers[i];
        for (const auto& name : LlamaDecoderLayer::projectionNames()) {
            if (auto lora = std::dynamic_pointer_cast<LoraLinear>(layer.projection(name))) {
                layer.replaceProjection(name, lora->baseShared());
                ++removed;
            }
        }
    }
    return removed;
}

void mergeLora(LlamaForCausalLM& model)
{
    at::NoGradGuard noGrad;
    for (size_t i = 0; i < model.model->layers.size(); ++i) {
        LlamaDecoderLayer& layer = *model.model->layers[i];
        for (const auto& name : LlamaDecoderLayer::projectionNames()) {
            auto lora = std::dynamic_pointer_cast<LoraLinear>(layer.projection(name));
            if (!lora)
                continue;
            const at::Tensor merged = lora->mergedWeight();
            auto plain = std::dynamic_pointer_cast<Linear>(lora->baseShared());
            if (!plain)
                throw std::logic_error("merging needs a plain Linear base under " + name);
            plain->weight.copy_(merged);
            layer.replaceProjection(name, plain);
        }
    }
}

int64_t loraParameterCount(LlamaForCausalLM& model)
{
    int64_t n = 0;
    for (const auto& ref : loraLayers(model))
        n += ref.layer->lora_A->weight.numel() + ref.layer->lora_B->weight.numel();
    return n;
}

} // namespace tb
