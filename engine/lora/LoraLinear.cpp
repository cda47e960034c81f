#include "lora/LoraLinear.h"

#include <torch/csrc/autograd/custom_function.h>

#include <cmath>
#include <stdexcept>

namespace tb {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The frozen base, passed outside autograd's inputs (an undefined bias cannot be one).
struct FrozenDense {
    at::Tensor weight; // [out, in]
    at::Tensor bias;   // [out] or undefined
};

// y = x W^T + b + scaling * (x A^T) B^T over a frozen dense base W (see LoraLinear.h). A and B
// are the fp32 masters; the products run in x's dtype and their gradients return in fp32.
// Saved: x, u = x A^T ([tokens, r]) and the weights themselves (no copies).
class LoraProjectionFunction : public torch::autograd::Function<LoraProjectionFunction> {
public:
    static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& loraA, const at::Tensor& loraB,
                              const FrozenDense& base, double scaling)
    {
        const at::Tensor &weight = base.weight, &bias = base.bias;
        const at::ScalarType dtype = x.scalar_type();
        const int64_t in = weight.size(1), out = weight.size(0);
        const at::Tensor x2 = x.reshape({-1, in});
        const at::Tensor w = weight.to(dtype);
        at::Tensor y = bias.defined() ? at::addmm(bias.to(dtype), x2, w.t()) : at::mm(x2, w.t());
        const at::Tensor u = at::mm(x2, loraA.to(dtype).t());
        y.addmm_(u, loraB.to(dtype).t(), /*beta=*/1, /*alpha=*/scaling);
        ctx->save_for_backward({x2, u, loraA, loraB, weight});
        ctx->saved_data["scaling"] = scaling;
        ctx->saved_data["x_sizes"] = x.sizes().vec();
        std::vector<int64_t> sizes = x.sizes().vec();
        sizes.back() = out;
        return y.view(sizes);
    }

    static variable_list backward(AutogradContext* ctx, variable_list grads)
    {
        const auto saved = ctx->get_saved_variables();
        const at::Tensor &x2 = saved[0], &u = saved[1], &loraA = saved[2], &loraB = saved[3], &weight = saved[4];
        const double scaling = ctx->saved_data["scaling"].toDouble();
        if (!grads[0].defined())
            return {at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
        const at::ScalarType dtype = x2.scalar_type();
        const at::Tensor g = grads[0].to(dtype).reshape({-1, weight.size(0)});
        at::Tensor gu = at::mm(g, loraB.to(dtype)); // [tokens, r]
        gu.mul_(scaling);
        at::Tensor gx, gA, gB;
        if (ctx->needs_input_grad(0)) {
            gx = at::mm(g, weight.to(dtype));
            gx.addmm_(gu, loraA.to(dtype));
            gx = gx.view(ctx->saved_data["x_sizes"].toIntVector());
        }
        if (ctx->needs_input_grad(1))
            gA = at::mm(gu.t(), x2).to(at::kFloat);
        if (ctx->needs_input_grad(2))
            gB = at::mm(g.t(), u).to(at::kFloat).mul_(scaling);
        return {gx, gA, gB, at::Tensor(), at::Tensor()};
    }
};

bool frozen(const at::Tensor& t)
{
    return !t.defined() || !t.requires_grad();
}

} // namespace

LoraFactor::LoraFactor(int64_t out, int64_t in)
{
    weight = register_parameter("weight", at::zeros({out, in}, at::TensorOptions().dtype(at::kFloat)));
}

LoraLinear::LoraLinear(std::shared_ptr<Projection> base, int64_t rank, double alpha, double dropout, bool rslora)
    : m_base(std::move(base)), m_rank(rank), m_dropout(dropout)
{
    if (rank <= 0)
        throw std::invalid_argument("LoRA rank must be positive");
    m_scaling = rslora ? alpha / std::sqrt(static_cast<double>(rank)) : alpha / static_cast<double>(rank);
    // The base's own parameters are re-registered here under their checkpoint names.
    for (auto& p : m_base->named_parameters(/*recurse=*/false))
        register_parameter(p.key(), p.value(), p.value().requires_grad());
    for (auto& child : m_base->named_children())
        register_module(child.key(), child.value());
    // A quantized base (QLoRA) holds buffers only; the adapters live where the base does.
    at::Device device(at::kCPU);
    if (!m_base->parameters().empty())
        device = m_base->parameters().front().device();
    else if (!m_base->buffers().empty())
        device = m_base->buffers().front().device();
    lora_A = register_module("lora_A", std::make_shared<LoraFactor>(rank, m_base->inFeatures()));
    lora_B = register_module("lora_B", std::make_shared<LoraFactor>(m_base->outFeatures(), rank));
    lora_A->to(device);
    lora_B->to(device);
}

void LoraLinear::resetParameters(at::Generator& generator)
{
    at::NoGradGuard noGrad;
    // kaiming_uniform_(a=sqrt(5)) on [r, in]: gain = sqrt(2 / (1 + a^2)) = sqrt(1/3),
    // bound = gain * sqrt(3 / fan_in) = 1 / sqrt(fan_in).
    const double bound = 1.0 / std::sqrt(static_cast<double>(m_base->inFeatures()));
    at::Tensor a = at::empty(lora_A->weight.sizes(), at::kFloat).uniform_(-bound, bound, generator);
    lora_A->weight.copy_(a);
    lora_B->weight.zero_();
}

at::Tensor LoraLinear::forward(const at::Tensor& x)
{
    if (!m_enabled)
        return m_base->forward(x);
    const bool dropout = m_dropout > 0.0 && is_training();
    // A and B are fp32 master weights; the product runs in the activations' dtype, as under
    // PyTorch's bf16 autocast, and their gradients come back to fp32 through the cast. On CPU
    // this keeps the path on oneDNN's bf16 GEMM instead of fp32 BLAS calls whose spinning
    // worker threads slow down every operator after them.
    if (m_fused && !dropout) {
        const auto* dense = dynamic_cast<const Linear*>(m_base.get());
        if (dense && frozen(dense->weight) && frozen(dense->bias))
            return LoraProjectionFunction::apply(x, lora_A->weight, lora_B->weight, FrozenDense{dense->weight, dense->bias},
                                                 m_scaling);
        // Another base (NF4, int8) keeps its own node; the low-rank product is summed into its
        // output by the GEMM (one copy of y instead of a scaling pass and a sum).
        const at::Tensor y = m_base->forward(x);
        const at::Tensor u = at::linear(x, lora_A->weight.to(x.scalar_type()));
        const at::Tensor b = lora_B->weight.to(x.scalar_type());
        return at::addmm(y.reshape({-1, y.size(-1)}), u.reshape({-1, m_rank}), b.t(), /*beta=*/1, /*alpha=*/m_scaling)
            .view(y.sizes());
    }
    const at::Tensor y = m_base->forward(x);
    at::Tensor h = x;
    if (dropout)
        h = at::dropout(h, m_dropout, /*train=*/true);
    const at::Tensor a = lora_A->weight.to(x.scalar_type());
    const at::Tensor b = lora_B->weight.to(x.scalar_type());
    return y + at::linear(at::linear(h, a), b) * m_scaling;
}

at::Tensor LoraLinear::mergedWeight() const
{
    const at::Tensor base = m_base->denseWeight(); // a quantized base dequantized, whoever quantized it
    const at::Tensor delta = at::matmul(lora_B->weight.to(at::kFloat), lora_A->weight.to(at::kFloat)) * m_scaling;
    return (base.to(at::kFloat) + delta.to(base.device())).to(base.scalar_type());
}

} // namespace tb
