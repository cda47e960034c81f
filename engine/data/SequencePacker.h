// Packing: examples concatenated, in order, into sequences of exactly maxSeqLen tokens (the
// last one shorter), with their loss masks; an example that does not fit continues in the
// next sequence. Attention is plain causal over the whole sequence, so later examples see
// earlier ones in the same sequence (as in trl's ConstantLengthDataset / torchtune's
// PackedDataset without document masking); each example starts with BOS and its first token
// is never a loss target, which keeps the cross-example leakage from being learned as text.
#pragma once

#include "data/TrainingDataset.h"

#include <vector>

namespace tb {

class SequencePacker {
public:
    // sourceLine of a sequence is that of the example it starts with (or continues).
    static std::vector<TokenizedExample> pack(const std::vector<TokenizedExample>& examples, int64_t maxSeqLen);
};

} // namespace tb
