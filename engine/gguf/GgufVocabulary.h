// The tokenizer of a Hugging Face model folder as GGUF metadata (tokenizer.ggml.*), written so
// that llama.cpp tokenizes exactly as Hugging Face tokenizers does on tokenizer.json.
//
// Two kinds of vocabulary, decided by tokenizer.json's model (only BPE models exist in the
// families Tunebench trains):
// - byte-level BPE (byte_fallback false: Llama 3, Qwen 2/3, SmolLM, the demo model) ->
//   tokenizer.ggml.model "gpt2" with tokens, token types and merges, and tokenizer.ggml.pre
//   naming llama.cpp's pre-tokenizer for the file's split regex and merge behaviour:
//     Llama 3 regex + ignore_merges -> "llama-bpe";  the same regex without -> "smaug-bpe";
//     Qwen regex (single digits)    -> "qwen2";      Digits(individual) + ByteLevel -> "smollm";
//     ByteLevel's own GPT-2 regex   -> "gpt-2".
//   Any other pre-tokenizer is refused by name: a wrong "pre" tokenizes differently without
//   any error at load time.
// - SentencePiece-style BPE with byte fallback (Llama 2, TinyLlama, Mistral v0.1) ->
//   tokenizer.ggml.model "llama" with tokens, scores and types. llama.cpp merges the adjacent
//   pair whose concatenation has the highest score; Hugging Face merges the pair with the
//   lowest merge rank. A token made by merge rank r gets score -r, so the two agree.
// Token types are llama.cpp's: 1 normal, 2 unknown, 3 control (special added tokens),
// 4 user-defined (other added tokens), 5 unused (ids no token names, written "[PAD<id>]"),
// 6 byte ("<0xNN>"). The list is padded to config.json's vocab_size, as the embedding is.
// Special ids: bos, eos, unk and padding as tokenizer_config.json names them (config.json's
// eos_token_id as the fallback); eot, the chat turn end ("<|eot_id|>", "<|im_end|>", "<|end|>",
// "<end_of_turn>"; one the chat template writes first), and eom ("<|eom_id|>", Llama 3.1) where
// the vocabulary has them, so llama.cpp stops a turn there instead of guessing by token text.
#pragma once

#include "gguf/GgufValue.h"

#include <string>
#include <vector>

namespace tb {

struct GgufVocabulary {
    std::string model; // "gpt2" or "llama"
    std::string pre;   // tokenizer.ggml.pre
    std::vector<GgufKeyValue> metadata; // every tokenizer.* key, in the order llama.cpp's converter writes them
    std::string chatTemplate;           // "" when the folder has none
    std::string bosToken, eosToken;     // token texts ("" when none)
    std::vector<std::string> endOfTurnTokens; // eos plus the chat turn ends found in the vocabulary
};

// Reads tokenizer.json, tokenizer_config.json (and chat_template.jinja when present) from
// `modelDir`; `vocabSize` is config.json's. Throws FormatError naming the file and key for
// anything llama.cpp could not reproduce.
GgufVocabulary ggufVocabularyFor(const std::string& modelDir, int64_t vocabSize);

} // namespace tb
