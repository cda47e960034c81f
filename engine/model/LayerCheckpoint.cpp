#include "model/LayerCheckpoint.h"

#include "core/TorchCompat.h"
#include "model/AttentionMask.h"
#include "model/LlamaDecoderLayer.h"

#include <torch/autograd.h>

namespace tb {

namespace {

struct CheckpointFunction : public torch::autograd::Function<CheckpointFunction> {
    // The layer travels as an integer: AutogradContext::saved_data holds IValues only. So does
    // the mask, as its parts.
    static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, int64_t layerAddress,
                              const at::Tensor& cos, const at::Tensor& sin, const AttentionMask& mask)
    {
        auto* layer = reinterpret_cast<LlamaDecoderLayer*>(layerAddress);
        auto& s = ctx->saved_data;
        s["layer"] = layerAddress;
        s["cos"] = cos;
        s["sin"] = sin;
        s["past"] = mask.past();
        s["window"] = mask.window();
        if (mask.keyPadding().defined())
            s["key_padding"] = mask.keyPadding();
        // Dropout in the recomputed forward must draw the same masks: x's device's generator.
        s["rng"] = compat::rngState(x.device());
        ctx->save_for_backward({x});
        at::Tensor out;
        {
            at::NoGradGuard noGrad;
            out = layer->forward(x, cos, sin, mask, nullptr, 0);
        }
        if (mask.additiveIfBuilt().defined())
            s["additive_mask"] = mask.additiveIfBuilt();
        return out;
    }

    static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                   torch::autograd::variable_list gradOutputs)
    {
        auto& s = ctx->saved_data;
        auto* layer = reinterpret_cast<LlamaDecoderLayer*>(s["layer"].toInt());
        const at::Tensor x = ctx->get_saved_variables()[0].detach().requires_grad_(true);
        const at::Tensor cos = s["cos"].toTensor();
        const at::Tensor sin = s["sin"].toTensor();
        AttentionMask mask(s["past"].toInt(), x.size(1), s.count("key_padding") ? s["key_padding"].toTensor() : at::Tensor(),
                           s["window"].toInt(), x.scalar_type(), x.device());
        if (s.count("additive_mask"))
            mask.adoptAdditive(s["additive_mask"].toTensor());

        const at::Tensor rngNow = compat::rngState(x.device());
        compat::setRngState(x.device(), s["rng"].toTensor());
        at::Tensor out;
        {
            at::AutoGradMode enable(true);
            out = layer->forward(x, cos, sin, mask, nullptr, 0);
        }
        compat::setRngState(x.device(), rngNow);
        // Accumulates into the layer's trainable parameters and into x.grad.
        torch::autograd::backward({out}, {gradOutputs[0]});
        return {x.grad(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
    }
};

} // namespace

at::Tensor checkpointedLayerForward(LlamaDecoderLayer& layer, const at::Tensor& x, const at::Tensor& cos,
                                    const at::Tensor& sin, const AttentionMask& mask)
{
    return CheckpointFunction::apply(x, reinterpret_cast<int64_t>(&layer), cos, sin, mask);
}

} // namespace tb
