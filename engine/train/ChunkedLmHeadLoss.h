// The language-model head and its cross-entropy in one autograd node, a chunk of rows at a time
// (the "fused linear cross-entropy" of Liger-Kernel and of torchtune's chunked loss).
//
// Why: projecting every position to the whole vocabulary and keeping the fp32 logits costs
// 4 V bytes per token forward plus 8 V in backward: for Llama 3's 128,256-token vocabulary at
// 4 x 2,048 tokens, gigabytes, more than the base weights of a small model. Here the caller
// passes only the rows that carry loss (prompt positions never reach the head), each chunk's
// logits exist only while that chunk is processed, and backward recomputes them from the saved
// hidden rows and per-row log-sum-exp.
//
// Exactness: forward computes each chunk's logits with the same at::linear in the hidden
// states' dtype and takes them to fp32, as the plain path did; backward forms softmax - one-hot
// in fp32, casts it to the hidden states' dtype (where autograd's cast node would have) and
// multiplies: the gradient is the plain path's, not an approximation. Only the order of the
// fp32 loss sum differs.
#pragma once

#include "core/TorchPch.h"

#include <cstdint>

namespace tb {

// Rows per chunk for a vocabulary of `vocab` entries: about 32 MiB of fp32 logits a chunk, at
// least 32 rows (a skinnier GEMM wastes the head's matmul), at most `rows`. The memory
// estimator sizes the head's working set from the same rule.
int64_t lmHeadChunkRows(int64_t vocab, int64_t rows);

// Sum over rows of -log softmax(hidden W^T)[target]; a 0-dim fp32 tensor. hidden [N, H] (the
// loss positions only), weight [V, H] in hidden's dtype, targets [N] int64 in [0, V).
// Differentiable in hidden and, when it requires grad (full fine-tuning, tied embeddings),
// in weight.
at::Tensor lmHeadCrossEntropySum(const at::Tensor& hidden, const at::Tensor& weight, const at::Tensor& targets);

} // namespace tb
