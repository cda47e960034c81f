// The order in which training examples are seen, as a pure function of (seed, position):
// epoch e visits the examples in a permutation drawn from seed + e, and micro-batch k takes
// positions [k*B, (k+1)*B) of that endless stream. Resuming at step s therefore needs only s,
// not the state of an iterator.
// Data-parallel runs (W workers of batch B each) address the stream by position: global
// micro-batch k is positions [k*B*W, (k+1)*B*W) and worker r takes [k*B*W + r*B, +B), so W
// workers see exactly the examples one worker of batch B*W sees, and a run resumes from the
// count of examples consumed at any world size.
#pragma once

#include "data/TrainingDataset.h"

#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

namespace tb {

struct TrainingBatch {
    at::Tensor inputIds;   // [B, T] int64, right-padded
    at::Tensor targets;    // [B, T] int64: next token where it counts for the loss, else -100
    at::Tensor keyPadding; // [B, T] bool, true = real token (undefined when nothing is padded)
    int64_t tokens = 0;     // real (non-padding) tokens
    int64_t lossTokens = 0; // targets != -100
};

class BatchStream {
public:
    BatchStream(const std::vector<TokenizedExample>& examples, int64_t batchSize, uint64_t seed);

    // The examples of micro-batch `index` (0-based, counting across epochs).
    std::vector<const TokenizedExample*> microBatch(int64_t index) const;
    // The `count` examples at stream positions [position, position + count).
    std::vector<const TokenizedExample*> examplesAt(int64_t position, int64_t count) const;
    // Fractional epoch reached after `microBatches` micro-batches.
    double epochAt(int64_t microBatches) const;
    // Fractional epoch reached after `examples` examples of the stream.
    double epochAtExample(int64_t examples) const;

    // Pads with `padId` (masked out of attention and loss).
    static TrainingBatch collate(const std::vector<const TokenizedExample*>& examples, int64_t padId, const at::Device& device);

private:
    const std::vector<int64_t>& permutation(int64_t epoch) const;

    const std::vector<TokenizedExample>& m_examples;
    int64_t m_batchSize;
    uint64_t m_seed;
    mutable int64_t m_cachedEpoch = -1;
    mutable std::vector<int64_t> m_cachedPermutation;
};

} // namespace tb
