// Next-token cross-entropy of a causal LM, shared by training and evaluation: logits are
// taken to fp32 before the softmax (bf16 log-probabilities would lose ~3 digits), and the loss
// is summed over target tokens so callers can weight micro-batches by their token counts. Only
// the target positions are projected to the vocabulary, a chunk at a time (ChunkedLmHeadLoss).
#pragma once

#include "data/TrainingDataset.h"
#include "train/BatchStream.h"
#include "train/TrainerCallbacks.h"

#include <vector>

namespace tb {

class LlamaForCausalLM;

// Sum over the batch's targets (ignore_index -100) of -log p(target); a 0-dim fp32 tensor.
at::Tensor summedTokenLoss(LlamaForCausalLM& model, const TrainingBatch& batch);

// Mean loss and perplexity over `examples` in order, in eval mode and without gradients
// (restores the model's training flag). tokens == 0 when no example has a target.
// Sharded (a data-parallel run's workers): this shard takes batches shard, shard + shards, ...;
// the shards' loss * tokens and tokens add up to the whole set's.
EvalReport evaluateLoss(LlamaForCausalLM& model, const std::vector<TokenizedExample>& examples, int64_t batchSize,
                        const at::Device& device, int shard = 0, int shards = 1);

} // namespace tb
