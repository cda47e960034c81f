#include "ollama/ChatLayout.h"

namespace tb {

const char* chatFamilyName(ChatFamilyKind family)
{
    switch (family) {
    case ChatFamilyKind::ChatML: return "chatml";
    case ChatFamilyKind::Llama3: return "llama3";
    case ChatFamilyKind::Llama2: return "llama2";
    case ChatFamilyKind::Mistral: return "mistral";
    case ChatFamilyKind::Zephyr: return "zephyr";
    case ChatFamilyKind::Phi3: return "phi3";
    case ChatFamilyKind::Gemma: return "gemma";
    }
    return "";
}

const char* chatFamilyTitle(ChatFamilyKind family)
{
    switch (family) {
    case ChatFamilyKind::ChatML: return "ChatML";
    case ChatFamilyKind::Llama3: return "Llama 3";
    case ChatFamilyKind::Llama2: return "Llama 2";
    case ChatFamilyKind::Mistral: return "Mistral";
    case ChatFamilyKind::Zephyr: return "Zephyr";
    case ChatFamilyKind::Phi3: return "Phi-3";
    case ChatFamilyKind::Gemma: return "Gemma";
    }
    return "";
}

namespace {

// One turn of the families whose system prompt is a turn of its own.
std::string ownTurn(const ChatLayout& layout, const std::string& role, const std::string& content)
{
    switch (layout.family) {
    case ChatFamilyKind::ChatML:
        return "<|im_start|>" + role + "\n" + content + "<|im_end|>\n";
    case ChatFamilyKind::Llama3:
        return "<|start_header_id|>" + role + "<|end_header_id|>\n\n" + content + "<|eot_id|>";
    case ChatFamilyKind::Zephyr:
        return "<|" + role + "|>\n" + content + layout.eosToken + "\n";
    case ChatFamilyKind::Phi3:
        // Phi-3.5 and the later Phi-3 templates skip a system message with empty content.
        if (role == "system" && content.empty())
            return {};
        return "<|" + role + "|>\n" + content + "<|end|>\n";
    default:
        return {};
    }
}

std::string ownTurnGenerationPrompt(ChatFamilyKind family)
{
    switch (family) {
    case ChatFamilyKind::ChatML: return "<|im_start|>assistant\n";
    case ChatFamilyKind::Llama3: return "<|start_header_id|>assistant<|end_header_id|>\n\n";
    case ChatFamilyKind::Zephyr:
    case ChatFamilyKind::Phi3: return "<|assistant|>\n";
    default: return {};
    }
}

std::string renderOwnTurnLayout(const ChatLayout& layout, const std::vector<ChatMessage>& messages,
                                bool addGenerationPrompt)
{
    std::string out;
    const bool startsWithSystem = !messages.empty() && messages.front().role == "system";
    if (layout.systemTurnAlways && !startsWithSystem)
        out += ownTurn(layout, "system", layout.systemPreamble);
    for (size_t i = 0; i < messages.size(); ++i) {
        const ChatMessage& m = messages[i];
        const bool firstSystem = i == 0 && m.role == "system";
        out += ownTurn(layout, m.role, firstSystem ? layout.systemPreamble + m.content : m.content);
    }
    if (addGenerationPrompt)
        out += ownTurnGenerationPrompt(layout.family);
    return out;
}

// The system prompt as the [INST] and Gemma layouts fold it into a user turn.
std::string foldedSystem(const ChatLayout& layout, const std::string& system)
{
    if (layout.family == ChatFamilyKind::Llama2)
        return "<<SYS>>\n" + system + "\n<</SYS>>\n\n";
    return system + "\n\n";
}

// Whether the user message at `index` of the conversation without its system message carries it.
bool carriesSystem(const ChatLayout& layout, size_t index, size_t count)
{
    switch (layout.systemPlacement) {
    case SystemPlacement::FirstUserTurn:
    case SystemPlacement::Refused: return index == 0;
    case SystemPlacement::LastUserTurn: return index + 1 == count;
    case SystemPlacement::OwnTurn: return false;
    }
    return false;
}

std::string renderFoldedLayout(const ChatLayout& layout, const std::vector<ChatMessage>& messages,
                               bool addGenerationPrompt)
{
    const bool hasSystem = !messages.empty() && messages.front().role == "system";
    const std::string system = hasSystem ? messages.front().content : std::string();
    const std::vector<ChatMessage> turns(messages.begin() + (hasSystem ? 1 : 0), messages.end());

    std::string out;
    for (size_t i = 0; i < turns.size(); ++i) {
        const ChatMessage& m = turns[i];
        const bool user = m.role != "assistant";
        const std::string content = (user && hasSystem && carriesSystem(layout, i, turns.size()))
                                        ? foldedSystem(layout, system) + m.content
                                        : m.content;
        if (layout.family == ChatFamilyKind::Gemma) {
            out += "<start_of_turn>" + (user ? m.role : std::string("model")) + "\n" + content +
                   "<end_of_turn>\n";
        } else if (user) {
            out += (i > 0 ? layout.bosBetweenTurns : std::string()) + layout.instOpen + content +
                   layout.instClose;
        } else {
            // Llama 2 writes " " content " " eos; Mistral [" "] content eos.
            const char* beforeEos = layout.family == ChatFamilyKind::Llama2 ? " " : "";
            out += layout.assistantOpen + content + beforeEos + layout.eosToken;
        }
    }
    if (addGenerationPrompt && layout.family == ChatFamilyKind::Gemma)
        out += "<start_of_turn>model\n";
    return out;
}

} // namespace

std::string renderChatLayout(const ChatLayout& layout, const std::vector<ChatMessage>& messages,
                             bool addGenerationPrompt)
{
    if (layout.systemPlacement == SystemPlacement::OwnTurn)
        return renderOwnTurnLayout(layout, messages, addGenerationPrompt);
    return renderFoldedLayout(layout, messages, addGenerationPrompt);
}

} // namespace tb
