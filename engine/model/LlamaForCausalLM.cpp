#include "model/LlamaForCausalLM.h"

#include "model/KvCache.h"
#include "model/LayerCheckpoint.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/nn/modules/container/modulelist.h>

#include <stdexcept>
#include <string>

namespace tb {

LlamaBody::LlamaBody(const ModelConfig& c, const at::TensorOptions& options)
{
    embed_tokens = register_module("embed_tokens",
                                   std::make_shared<Embedding>(c.vocabSize, c.hiddenSize, c.embeddingPaddingIndex(), options));
    m_layerList = register_module("layers", torch::nn::ModuleList());
    for (int64_t i = 0; i < c.numLayers; ++i) {
        layers.push_back(std::make_shared<LlamaDecoderLayer>(c, options));
        m_layerList->push_back(layers.back());
    }
    norm = register_module("norm", std::make_shared<RmsNorm>(c.hiddenSize, c.rmsNormEps, options));
}

namespace {

const ModelConfig& checkedConfig(const ModelConfig& c)
{
    if (c.slidingWindow > 0 && static_cast<int64_t>(c.slidingLayers.size()) != c.numLayers)
        throw std::invalid_argument("ModelConfig: slidingLayers has " + std::to_string(c.slidingLayers.size())
                                    + " entries for " + std::to_string(c.numLayers) + " layers");
    return c;
}

} // namespace

LlamaForCausalLM::LlamaForCausalLM(const ModelConfig& config, const at::TensorOptions& options)
    : m_config(checkedConfig(config)), m_rotary(config, options.device())
{
    model = register_module("model", std::make_shared<LlamaBody>(config, options));
    if (!config.tieWordEmbeddings)
        lm_head = register_module("lm_head", std::make_shared<Linear>(config.hiddenSize, config.vocabSize, false, options));
}

at::Tensor LlamaForCausalLM::lmHeadWeight() const
{
    return lm_head ? lm_head->weight : model->embed_tokens->weight;
}

void LlamaForCausalLM::setAttentionKernel(AttentionKernel kernel)
{
    m_attentionKernel = kernel;
    for (const auto& layer : model->layers)
        layer->self_attn->setKernel(kernel);
}

at::Tensor LlamaForCausalLM::hiddenStates(const at::Tensor& inputIds, KvCache* cache, const at::Tensor& keyPadding)
{
    const int64_t t = inputIds.size(1);
    const int64_t past = cache ? cache->length() : 0;
    at::Tensor h = model->embed_tokens->forward(inputIds);
    const at::Tensor positions = at::arange(past, past + t, at::TensorOptions().dtype(at::kLong).device(h.device()));
    auto [cos, sin] = m_rotary.cosSin(positions, h.scalar_type());
    // Each layer's span: the causal one, or the sliding one for a sliding layer whose window
    // the sequence outruns (so the unfused path builds at most these two additive masks, each
    // on first use; the fused path builds none).
    const int64_t total = past + t;
    const AttentionMask causal(past, t, keyPadding, 0, h.scalar_type(), h.device());
    const int64_t window = m_config.slidingWindow;
    const AttentionMask sliding(past, t, keyPadding, window, h.scalar_type(), h.device());
    auto maskOf = [&](size_t layer) -> const AttentionMask& {
        const int64_t w = m_config.attentionWindow(static_cast<int64_t>(layer));
        return w > 0 && total > w ? sliding : causal;
    };
    const bool checkpoint = m_checkpointing && !cache && is_training() && at::GradMode::is_enabled();
    // With a frozen embedding the first layer's input needs no gradient, and a checkpointed
    // layer whose inputs need none is skipped by autograd: mark it (transformers'
    // enable_input_require_grads does the same).
    if (checkpoint && !h.requires_grad())
        h.requires_grad_(true);
    for (size_t i = 0; i < model->layers.size(); ++i)
        h = checkpoint ? checkpointedLayerForward(*model->layers[i], h, cos, sin, maskOf(i))
                       : model->layers[i]->forward(h, cos, sin, maskOf(i), cache, i);
    return model->norm->forward(h);
}

at::Tensor LlamaForCausalLM::logits(const at::Tensor& hidden)
{
    return at::linear(hidden, lmHeadWeight());
}

at::Tensor LlamaForCausalLM::forward(const at::Tensor& inputIds, KvCache* cache, const at::Tensor& keyPadding)
{
    return logits(hiddenStates(inputIds, cache, keyPadding));
}

void LlamaForCausalLM::initializeRandom(uint64_t seed, double stddev)
{
    at::NoGradGuard noGrad;
    auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
    for (const auto& item : named_parameters(/*recurse=*/true)) {
        const std::string& name = item.key();
        at::Tensor p = item.value();
        at::Tensor value;
        if (name.size() >= 11 && name.compare(name.size() - 11, 11, "norm.weight") == 0)
            value = at::ones(p.sizes(), at::kFloat);
        else if (name.size() >= 5 && name.compare(name.size() - 5, 5, ".bias") == 0)
            value = at::zeros(p.sizes(), at::kFloat);
        else
            value = at::empty(p.sizes(), at::kFloat).normal_(0.0, stddev, generator);
        p.copy_(value);
    }
}

} // namespace tb
