// One split of the text as it moves through the pipeline: what tokenizers calls a Split of a
// PreTokenizedString, without the offset bookkeeping (Tunebench only needs ids).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tb {

struct TextPiece {
    std::string text;       // normalized (and pre-tokenized) text
    int32_t addedId = -1;   // >= 0: an added token; normalizer, pre-tokenizer and model skip it
    bool atInputStart = false; // begins at byte 0 of the caller's text (Metaspace "first")
};

using TextPieces = std::vector<TextPiece>;

} // namespace tb
