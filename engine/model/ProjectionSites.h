// Where the seven projections of every decoder layer sit: the layer, the projection's name in
// it and its checkpoint path ("model.layers.3.self_attn.q_proj"). LoRA (lora/) and
// quantization (quant/) walk the model through this, side by side, instead of each spelling
// the path; neither knows the other (a projection that wraps another says so through
// Projection::wrapped()).
#pragma once

#include "model/LlamaForCausalLM.h"

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace tb {

struct ProjectionSite {
    size_t layerIndex = 0;
    LlamaDecoderLayer* layer = nullptr;
    std::string name; // "q_proj" ... "down_proj"
    std::string path; // "model.layers.3.self_attn.q_proj"

    std::shared_ptr<Projection> projection() const { return layer->projection(name); }
    void replace(std::shared_ptr<Projection> replacement) const { layer->replaceProjection(name, std::move(replacement)); }
};

// Every projection of every layer, in model order (layer by layer; attention, then MLP).
std::vector<ProjectionSite> projectionSites(LlamaForCausalLM& model);
// "self_attn" or "mlp": the submodule holding the projection `name`.
const char* projectionOwner(const std::string& name);
// "model.layers.<layer>.<owner>.<name>".
std::string projectionPath(size_t layer, const std::string& name);

} // namespace tb
