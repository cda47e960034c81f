#include "model/Linear.h"

namespace tb {

Linear::Linear(int64_t in, int64_t out, bool hasBias, const at::TensorOptions& options)
{
    weight = register_parameter("weight", at::empty({out, in}, options));
    if (hasBias)
        bias = register_parameter("bias", at::zeros({out}, options));
}

at::Tensor Linear::forward(const at::Tensor& x)
{
    return at::linear(x, weight, bias);
}

} // namespace tb
