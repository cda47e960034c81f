// Tokenizes an example's segments one after another (addSpecialTokens = false for each), so
// every token belongs to exactly one segment and takes that segment's loss flag. No token
// spans a segment boundary: where tokenizing the whole text at once would merge across one
// (rare: boundaries sit at template markup and special tokens), the ids differ slightly from
// a one-piece encode — and match inference, where the prompt is encoded and the model
// generates from the boundary.
//
// The special tokens the tokenizer's post-processor puts in front of a sequence (Llama's BOS)
// are added once, masked, unless the text already starts with them (templates that write
// {{ bos_token }} themselves): never a double BOS. Tokens the post-processor would append are
// not added; text formats end with the config's eos_token instead (ExampleRenderer).
#pragma once

#include "data/TrainingDataset.h"

#include <cstdint>
#include <string>
#include <vector>

namespace tb {

class Tokenizer;

struct EncodedExample {
    std::vector<int32_t> ids;
    std::vector<uint8_t> lossMask;        // 1 = prediction target; the first token is always 0
    std::vector<RenderedSegment> segments; // the BOS prefix (when added) then the input, tokens filled in
};

class SegmentEncoder {
public:
    // bosToken: tokenizer_config.json's bos_token, also checked against the text's start.
    SegmentEncoder(const Tokenizer& tokenizer, const std::string& bosToken);

    EncodedExample encode(const std::vector<RenderedSegment>& segments) const;

    const std::vector<int32_t>& prefixIds() const { return m_prefixIds; }

private:
    const Tokenizer& m_tokenizer;
    std::string m_bosToken;
    std::vector<int32_t> m_prefixIds; // what the post-processor adds before a single sequence
    std::string m_prefixText;         // those tokens' strings, concatenated
};

} // namespace tb
