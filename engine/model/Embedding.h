// Token embedding table, a module of its own so its parameter is named
// "model.embed_tokens.weight" as in checkpoints. Like transformers' nn.Embedding(vocab_size,
// hidden_size, padding_idx=pad_token_id), the padding row gets no gradient (full fine-tuning
// leaves it as loaded); the forward is a plain lookup either way.
#pragma once

#include <torch/nn/module.h>

namespace tb {

class Embedding : public torch::nn::Module {
public:
    // paddingIndex: a row in [0, vocab), or -1 for none (ATen's convention).
    Embedding(int64_t vocab, int64_t dim, int64_t paddingIndex, const at::TensorOptions& options)
        : m_paddingIndex(paddingIndex)
    {
        weight = register_parameter("weight", at::empty({vocab, dim}, options));
    }
    at::Tensor forward(const at::Tensor& ids) { return at::embedding(weight, ids, m_paddingIndex); }
    int64_t paddingIndex() const { return m_paddingIndex; }

    at::Tensor weight; // [vocab, hidden]

private:
    int64_t m_paddingIndex;
};

} // namespace tb
