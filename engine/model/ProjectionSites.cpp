#include "model/ProjectionSites.h"

namespace tb {

const char* projectionOwner(const std::string& name)
{
    return name == "gate_proj" || name == "up_proj" || name == "down_proj" ? "mlp" : "self_attn";
}

std::string projectionPath(size_t layer, const std::string& name)
{
    return "model.layers." + std::to_string(layer) + "." + projectionOwner(name) + "." + name;
}

std::vector<ProjectionSite> projectionSites(LlamaForCausalLM& model)
{
    std::vector<ProjectionSite> sites;
    for (size_t i = 0; i < model.model->layers.size(); ++i)
        for (const std::string& name : LlamaDecoderLayer::projectionNames())
            sites.push_back({i, model.model->layers[i].get(), name, projectionPath(i, name)});
    return sites;
}

} // namespace tb
