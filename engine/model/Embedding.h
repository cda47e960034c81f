// Token embedding table, a module of its own so its parameter is named
// "model.embed_tokens.weight" as in checkpoints.
#pragma once

#include <torch/nn/module.h>

namespace tb {

class Embedding : public torch::nn::Module {
public:
    Embedding(int64_t vocab, int64_t dim, const at::TensorOptions& options)
    {
        weight = register_parameter("weight", at::empty({vocab, dim}, options));
    }
    at::Tensor forward(const at::Tensor& ids) { return at::embedding(weight, ids); }

    at::Tensor weight; // [vocab, hidden]
};

} // namespace tb
