// RMSNorm (Zhang & Sennrich 2019) as transformers' LlamaRMSNorm computes it: normalise in fp32,
// cast back to the input dtype, then scale by the weight: w * (x / sqrt(mean(x^2) + eps)).
#pragma once

#include <torch/nn/module.h>

namespace tb {

class RmsNorm : public torch::nn::Module {
public:
    RmsNorm(int64_t dim, double eps, const at::TensorOptions& options);
    at::Tensor forward(const at::Tensor& x);

    at::Tensor weight; // [dim]
    double eps;
};

} // namespace tb
