// Learns a byte-level BPE tokenizer from texts and writes it as a Hugging Face tokenizer.json
// that both Tunebench's Tokenizer and the tokenizers library load with identical ids. Used to
// make the built-in demo model's tokenizer.
#pragma once

#include <string>
#include <vector>

namespace tb {

// The file holds: model BPE with the 256 byte tokens (id = byte value, GPT-2 byte-to-unicode
// alphabet) followed by the learned merges, so ids run 0..vocabSize-1-specials (fewer when the
// texts run out of pairs); pre_tokenizer Sequence[Split(Llama 3 regex, Isolated),
// ByteLevel(add_prefix_space=false, use_regex=false)]; decoder ByteLevel; post_processor
// TemplateProcessing adding `bosToken` before single and pair sequences (none when bosToken is
// ""); added_tokens = `specialTokens` (special, not normalized) with ids after the learned vocab.
//
// Deterministic: each step merges the most frequent adjacent pair, ties going to the pair with
// the smaller (left id, right id). Pair counts are updated incrementally, only in the words that
// hold the merged pair, so a 300 KB corpus trains to 4096 tokens in well under a second.
//
// Throws std::invalid_argument when vocabSize leaves no room beyond the 256 bytes and the special
// tokens, or when bosToken is neither a special token nor "".
std::string trainByteLevelBpeTokenizerJson(const std::vector<std::string>& texts, int vocabSize,
                                           const std::vector<std::string>& specialTokens, const std::string& bosToken);

} // namespace tb
