#include "lora/LoraLinear.h"


#include <cmath>
#include <stdexcept>

namespace tb {

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
    const at::Tensor y = m_base->forward(x);
    if (!m_enabled)
        return y;
    at::Tensor h = x;
    if (m_dropout > 0.0 && is_training())
        h = at::dropout(h, m_dropout, /*train=*/true);
    // A and B are fp32 master weights; the product runs in the activations' dtype, as under
    // PyTorch's bf16 autocast, and their gradients come back to fp32 through the cast. On CPU
    // this keeps the path on oneDNN's bf16 GEMM instead of fp32 BLAS calls whose spinning
    // worker threads slow down every operator after them.
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
