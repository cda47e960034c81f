#include "core/TorchCompat.h"

#include <torch/cuda.h>

#include <cmath>

namespace tb::compat {

at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& mask)
{
#if TB_TORCH_AT_LEAST(2, 0)
    if (q.is_cuda())
        return at::scaled_dot_product_attention(q, k, v, mask.defined() ? c10::optional<at::Tensor>(mask.to(q.dtype()))
                                                                        : c10::nullopt);
#endif
    const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
    at::Tensor scores = at::matmul(q, k.transpose(-2, -1)).to(at::kFloat).mul_(scale);
    if (mask.defined())
        scores.add_(mask);
    at::Tensor probs = at::softmax(scores, -1).to(q.scalar_type());
    return at::matmul(probs, v);
}

bool cudaAvailable()
{
    return torch::cuda::is_available();
}

int cudaDeviceCount()
{
    return static_cast<int>(torch::cuda::device_count());
}

std::string torchVersion()
{
    return TORCH_VERSION;
}

} // namespace tb::compat
