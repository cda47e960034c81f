// The prompt text for a chat turn: the model's chat_template (tokenizer_config.json) rendered
// with the conversation so far and add_generation_prompt, exactly as training rendered chat
// and instruction records, so an adapter sees at inference the format it learned.
#pragma once

#include <string>

namespace tb {

struct TokenizerConfig;

// Throws FormatError naming tokenizer_config.json when it has no chat_template, and
// ChatTemplateError when the template rejects the conversation.
std::string renderChatPrompt(const TokenizerConfig& config, const std::string& configPath, const std::string& userMessage,
                             const std::string& systemMessage = {});

// The text to tokenize for generation, and whether the tokenizer's post-processor adds its
// special tokens: chat = false gives the prompt as typed (with BOS from the post-processor);
// chat = true the rendered turn, without a second BOS when the template wrote one. What
// `tunebench-cli generate [--chat]` and the Playground both send to the model.
struct GenerationPrompt {
    std::string text;
    bool addSpecialTokens = true;
};
GenerationPrompt generationPrompt(const TokenizerConfig& config, const std::string& configPath, const std::string& prompt,
                                  bool chat, const std::string& systemMessage = {});

} // namespace tb
