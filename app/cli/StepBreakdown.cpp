#include "cli/StepBreakdown.h"

#include "core/TorchCompat.h"
#include "lora/LoraLinear.h"
#include "model/AttentionMask.h"
#include "model/FusedElementwise.h"
#include "model/LlamaDecoderLayer.h"
#include "model/RotaryEmbedding.h"
#include "train/CausalLmLoss.h"
#include "train/ChunkedLmHeadLoss.h"

#include <algorithm>
#include <chrono>
#include <functional>

namespace tbcli {

namespace {

using Clock = std::chrono::steady_clock;

// Median seconds of `reps` runs of fn after one warm-up run.
double medianSeconds(const std::function<void()>& fn, int reps, const at::Device& device)
{
    fn();
    std::vector<double> t;
    for (int i = 0; i < reps; ++i) {
        const auto start = Clock::now();
        fn();
        tb::compat::synchronize(device);
        t.push_back(std::chrono::duration<double>(Clock::now() - start).count());
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

// Forward and backward of fn on a fresh input of `shape` that needs a gradient (so backward
// computes the input's gradient, as inside a layer stack).
double forwardBackward(const std::function<at::Tensor(const at::Tensor&)>& fn, at::IntArrayRef shape,
                       const at::TensorOptions& options, int reps, const at::Device& device)
{
    const at::Tensor x = at::randn(shape, options).requires_grad_(true);
    return medianSeconds(
        [&] {
            const at::Tensor y = fn(x);
            y.backward(at::ones_like(y));
            x.mutable_grad() = at::Tensor();
        },
        reps, device);
}

} // namespace

std::vector<StepPart> timeStepParts(tb::LlamaForCausalLM& model, const tb::ModelConfig& config,
                                    const tb::TrainingBatch& batch, tb::AdamW& optimizer, double stepSeconds,
                                    const at::Device& device, int reps)
{
    const int64_t b = batch.inputIds.size(0), t = batch.inputIds.size(1), h = config.hiddenSize;
    const at::Tensor embedding = model.lmHeadWeight();
    const at::TensorOptions options = at::TensorOptions().dtype(embedding.scalar_type()).device(device);
    tb::LlamaDecoderLayer& layer = *model.model->layers.at(0);
    const tb::RotaryEmbedding rotary(config, device);
    const at::Tensor positions = at::arange(t, at::TensorOptions().dtype(at::kLong).device(device));
    const auto [cos, sin] = rotary.cosSin(positions, embedding.scalar_type());
    const int64_t window = config.attentionWindow(0);
    const double layers = static_cast<double>(config.numLayers);

    double base = 0, withAdapters = 0;
    for (const std::string& name : tb::LlamaDecoderLayer::projectionNames()) {
        const std::shared_ptr<tb::Projection> p = layer.projection(name);
        const auto run = [&] {
            return forwardBackward([&](const at::Tensor& x) { return p->forward(x); }, {b, t, p->inFeatures()}, options, reps,
                                   device);
        };
        if (auto* lora = dynamic_cast<tb::LoraLinear*>(p.get())) {
            withAdapters += run();
            lora->setEnabled(false);
            base += run();
            lora->setEnabled(true);
        } else {
            base += run();
        }
    }
    double attentionProjections = 0; // q, k, v, o with adapters: what the attention block holds
    for (const char* name : {"q_proj", "k_proj", "v_proj", "o_proj"}) {
        const std::shared_ptr<tb::Projection> p = layer.projection(name);
        attentionProjections += forwardBackward([&](const at::Tensor& x) { return p->forward(x); }, {b, t, p->inFeatures()},
                                                options, reps, device);
    }
    const double projectionsTotal = withAdapters > 0 ? withAdapters : base;
    const double mlpProjections = projectionsTotal - attentionProjections;

    const tb::AttentionMask mask(0, t, batch.keyPadding, window, embedding.scalar_type(), device);
    const double attentionBlock = forwardBackward(
        [&](const at::Tensor& x) { return layer.self_attn->forward(x, cos, sin, mask, nullptr, 0); }, {b, t, h}, options, reps,
        device);
    const double rotaryQk = forwardBackward(
        [&](const at::Tensor& q) { return tb::fusedRotary(q, cos, sin); },
        {b, t, config.numHeads + config.numKeyValueHeads, config.headDim}, options, reps, device);
    const double mlpBlock =
        forwardBackward([&](const at::Tensor& x) { return layer.mlp->forward(x); }, {b, t, h}, options, reps, device);
    const double wholeLayer = forwardBackward(
        [&](const at::Tensor& x) { return layer.forward(x, cos, sin, mask, nullptr, 0); }, {b, t, h}, options, reps, device);

    const at::Tensor targets = batch.targets.reshape({-1}).clamp_min(0);
    const double loss = forwardBackward(
        [&](const at::Tensor& hidden) { return tb::lmHeadCrossEntropySum(hidden.reshape({-1, h}), embedding, targets); },
        {b, t, h}, options, reps, device);

    // The optimizer needs gradients: one real backward gives them.
    optimizer.zeroGrad();
    tb::summedTokenLoss(model, batch).backward();
    const double adam = medianSeconds([&] { optimizer.step(0.0); }, reps, device) +
                        medianSeconds([&] { optimizer.zeroGrad(); }, 1, device);
    optimizer.zeroGrad();

    std::vector<StepPart> parts;
    parts.push_back({"projections", layers * base});
    parts.push_back({"lora", withAdapters > 0 ? layers * std::max(0.0, withAdapters - base) : 0.0});
    parts.push_back({"attention", layers * std::max(0.0, attentionBlock - attentionProjections - rotaryQk)});
    const double elementwise = (wholeLayer - attentionBlock - mlpBlock) + (mlpBlock - mlpProjections) + rotaryQk;
    parts.push_back({"elementwise", layers * std::max(0.0, elementwise)});
    parts.push_back({"loss", loss});
    parts.push_back({"optimizer", adam});
    double sum = 0;
    for (const StepPart& p : parts)
        sum += p.seconds;
    parts.push_back({"other", std::max(0.0, stepSeconds - sum)});
    return parts;
}

} // namespace tbcli
