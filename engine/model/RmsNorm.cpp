#include "model/RmsNorm.h"

namespace tb {

RmsNorm::RmsNorm(int64_t dim, double epsilon, const at::TensorOptions& options)
    : eps(epsilon)
{
    weight = register_parameter("weight", at::ones({dim}, options));
}

at::Tensor RmsNorm::forward(const at::Tensor& x)
{
    const at::Tensor xf = x.to(at::kFloat);
    const at::Tensor normed = xf * at::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps);
    return weight * normed.to(x.scalar_type());
}

} // namespace tb
