// Renders chat records ("messages") with the model's chat template and finds, as character
// ranges of the full rendering, the text each assistant turn contributes: its content and its
// end-of-turn markup. Those ranges are the loss targets; everything else is prompt.
//
// The template is a black box, so the ranges come from prefix renderings (the technique of
// trl's DataCollatorForCompletionOnlyLM made template-agnostic): for assistant message i,
//   prompt = render(messages[0..i), add_generation_prompt = true)
//   upTo   = render(messages[0..i], add_generation_prompt = false)
// and the turn is upTo minus prompt, provided prompt is a prefix of upTo and upTo a prefix of
// the full rendering. Templates that render earlier turns differently from the last one (Qwen3
// drops <think> blocks before the last user message) break that; then the turn is found by
// searching its content in the full rendering and extending it by the text that follows the
// content in `upTo` (the end-of-turn markup). Whitespace that ends a range (ChatML's "\n"
// after <|im_end|>) belongs to the next prompt: the model stops at the end token and never
// generates it.
#pragma once

#include "data/TrainingDataset.h"

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace tb {

class ChatTemplate;
struct TokenizerConfig;

class ChatRenderer {
public:
    // Throws FormatError naming tokenizer_config.json when it has no chat_template (the dataset
    // file is named in the detail), or the template's own FormatError when it does not compile.
    ChatRenderer(const TokenizerConfig& config, const std::string& datasetPath);
    ~ChatRenderer();

    struct Result {
        std::string text;                               // the full rendering
        std::vector<std::pair<size_t, size_t>> targets; // [begin, end) byte ranges, ascending, disjoint
        std::string error;                              // non-empty: the record cannot be used (why)
    };

    // `messages` is an array of objects whose "role" and "content" are strings (checked by the
    // caller); other keys pass through to the template unchanged.
    Result render(const nlohmann::json& messages) const;

private:
    std::string renderPrefix(const nlohmann::json& messages, size_t count, bool addGenerationPrompt) const;

    std::unique_ptr<ChatTemplate> m_template;
    nlohmann::json m_specialTokens; // bos_token, eos_token, ... as transformers passes them
};

} // namespace tb
