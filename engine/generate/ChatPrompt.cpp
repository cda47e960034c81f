#include "generate/ChatPrompt.h"

#include "chat/ChatTemplate.h"
#include "formats/FormatError.h"
#include "tokenizer/TokenizerConfig.h"

namespace tb {

std::string renderChatPrompt(const TokenizerConfig& config, const std::string& configPath, const std::string& userMessage,
                             const std::string& systemMessage)
{
    if (config.chatTemplate.empty())
        throw FormatError(configPath, "has no \"chat_template\"; generate without --chat, or use a chat model");
    const ChatTemplate chat = ChatTemplate::compile(config.chatTemplate, configPath + ": chat_template");
    std::vector<ChatMessage> messages;
    if (!systemMessage.empty())
        messages.push_back({"system", systemMessage});
    messages.push_back({"user", userMessage});
    return chat.render(messages, /*addGenerationPrompt=*/true, config.bosToken, config.eosToken);
}

GenerationPrompt generationPrompt(const TokenizerConfig& config, const std::string& configPath, const std::string& prompt,
                                  bool chat, const std::string& systemMessage)
{
    if (!chat)
        return {prompt, true};
    GenerationPrompt out{renderChatPrompt(config, configPath, prompt, systemMessage), true};
    // Templates that write BOS themselves must not get a second one from the post-processor.
    out.addSpecialTokens = config.bosToken.empty() || out.text.rfind(config.bosToken, 0) != 0;
    return out;
}

} // namespace tb
