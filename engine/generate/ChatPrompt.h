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

} // namespace tb
