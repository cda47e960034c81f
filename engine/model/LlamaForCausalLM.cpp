#include "model/LlamaForCausalLM.h"

#include "model/KvCache.h"
#include "model/LayerCheckpoint.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/nn/modules/container/modulelist.h>

#include <limits>
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

at::Tensor LlamaForCausalLM::buildMask(int64_t past, int64_t t, const at::Tensor& keyPadding, at::ScalarType dtype,
                                       int64_t window) const
{
    const int64_t total = past + t;
    const bool windowed = window > 0 && total > window;
    if (t == 1 && !keyPadding.defined() && !windowed)
        return {}; // one new token sees every cached position
    const auto device = model->embed_tokens->weight.device();
    const auto longOpts = at::TensorOptions().dtype(at::kLong).device(device);
    const at::Tensor queryPos = at::arange(past, total, longOpts).unsqueeze(1); // [T, 1]
    const at::Tensor keyPos = at::arange(0, total, longOpts).unsqueeze(0);      // [1, Tk]
    at::Tensor blocked = keyPos > queryPos;
    if (windowed)
        blocked = blocked.logical_or(keyPos <= queryPos - window);
    blocked = blocked.view({1, 1, t, total});
    if (keyPadding.defined())
        blocked = blocked.logical_or(keyPadding.logical_not().view({keyPadding.size(0), 1, 1, total}));
    // The most negative finite value rather than -inf, so a fully padded row gives a uniform
    // softmax instead of NaN (as transformers does). On CUDA the fused attention adds the mask
    // in the activations' dtype: it is built in that dtype here, once per forward, with that
    // dtype's own lowest value (float's is -inf in bf16 and fp16).
    at::ScalarType maskType = dtype == at::kDouble ? at::kDouble : at::kFloat;
    double lowest = std::numeric_limits<float>::lowest();
    if (device.is_cuda() && dtype == at::kBFloat16) {
        maskType = dtype;
        lowest = static_cast<double>(std::numeric_limits<c10::BFloat16>::lowest());
    } else if (device.is_cuda() && dtype == at::kHalf) {
        maskType = dtype;
        lowest = static_cast<double>(std::numeric_limits<c10::Half>::lowest());
    }
    return at::zeros(blocked.sizes(), at::TensorOptions().dtype(maskType).device(device)).masked_fill_(blocked, lowest);
}

at::Tensor LlamaForCausalLM::hiddenStates(const at::Tensor& inputIds, KvCache* cache, const at::Tensor& keyPadding)
{
    const int64_t t = inputIds.size(1);
    const int64_t past = cache ? cache->length() : 0;
    at::Tensor h = model->embed_tokens->forward(inputIds);
    const at::Tensor positions = at::arange(past, past + t, at::TensorOptions().dtype(at::kLong).device(h.device()));
    auto [cos, sin] = m_rotary.cosSin(positions, h.scalar_type());
    // Each layer's mask: the causal one, or the sliding one for a sliding layer whose window
    // the sequence outruns. At most these two are built per forward, each on first use.
    const int64_t total = past + t;
    const at::ScalarType dtype = h.scalar_type();
    at::Tensor causalMask, slidingMask;
    bool causalBuilt = false, slidingBuilt = false;
    auto maskOf = [&](size_t layer) -> const at::Tensor& {
        const int64_t window = m_config.attentionWindow(static_cast<int64_t>(layer));
        if (window > 0 && total > window) {
            if (!slidingBuilt)
                slidingMask = buildMask(past, t, keyPadding, dtype, window);
            slidingBuilt = true;
            return slidingMask;
        }
        if (!causalBuilt)
            causalMask = buildMask(past, t, keyPadding, dtype, 0);
        causalBuilt = true;
        return causalMask;
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
