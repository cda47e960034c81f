#include "model/LayerCheckpoint.h"

#include "core/TorchCompat.h"
#include "model/LlamaDecoderLayer.h"

#include <torch/autograd.h>

namespace tb {

namespace {

struct CheckpointFunction : public torch::autograd::Function<CheckpointFunction> {
    // The layer travels as an integer: AutogradContext::saved_data holds IValues only.
    static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, int64_t layerAddress,
                              const at::Tensor& cos, const at::Tensor& sin, const at::Tensor& mask)
    {
        auto* layer = reinterpret_cast<LlamaDecoderLayer*>(layerAddress);
        ctx->saved_data["layer"] = layerAddress;
        ctx->saved_data["cos"] = cos;
        ctx->saved_data["sin"] = sin;
        ctx->saved_data["has_mask"] = mask.defined();
        if (mask.defined())
            ctx->saved_data["mask"] = mask;
        // Dropout in the recomputed forward must draw the same masks: x's device's generator.
        ctx->saved_data["rng"] = compat::rngState(x.device());
        ctx->save_for_backward({x});
        at::NoGradGuard noGrad;
        return layer->forward(x, cos, sin, mask, nullptr, 0);
    }

    static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                   torch::autograd::variable_list gradOutputs)
    {
        auto* layer = reinterpret_cast<LlamaDecoderLayer*>(ctx->saved_data["layer"].toInt());
        const at::Tensor x = ctx->get_saved_variables()[0].detach().requires_grad_(true);
        const at::Tensor cos = ctx->saved_data["cos"].toTensor();
        const at::Tensor sin = ctx->saved_data["sin"].toTensor();
        const at::Tensor mask = ctx->saved_data["has_mask"].toBool() ? ctx->saved_data["mask"].toTensor() : at::Tensor();

        const at::Tensor rngNow = compat::rngState(x.device());
        compat::setRngState(x.device(), ctx->saved_data["rng"].toTensor());
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
                                    const at::Tensor& sin, const at::Tensor& mask)
{
    return CheckpointFunction::apply(x, reinterpret_cast<int64_t>(&layer), cos, sin, mask);
}

} // namespace tb
