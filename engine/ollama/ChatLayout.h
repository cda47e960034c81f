// The prompt layout of a chat-template family, as data: the turn markers a family writes, where
// it puts the system prompt, and the few details its real templates differ in. ChatFamily finds
// the layout of a model's Jinja template by comparing renderChatLayout() with the template's own
// renderings; OllamaChat writes the same layout as an Ollama Go template.
//
// renderChatLayout() writes a prompt the way llama.cpp and Ollama see it:
//  - no leading BOS: both add BOS when they tokenize (GGUF tokenizer.ggml.add_bos_token), so the
//    layout starts after it. A BOS a template writes between turns (Llama 2's "<s>[INST]") is text
//    like any other and stays.
//  - the conversation is {system?, user, assistant, user, ...} and ends with a user message; the
//    generation prompt (the assistant header) follows when asked for.
//  - message content is written as given: templates that trim it (Llama 3, Gemma, Llama 2) agree
//    only for content without leading or trailing whitespace, as Ollama's own templates do.
#pragma once

#include "chat/ChatTemplate.h"

#include <string>
#include <vector>

namespace tb {

enum class ChatFamilyKind {
    ChatML,   // <|im_start|>role\n...<|im_end|>\n         Qwen 2/2.5/3, SmolLM2, Hermes, ...
    Llama3,   // <|start_header_id|>role<|end_header_id|>\n\n...<|eot_id|>   Llama 3, 3.1, 3.2, 3.3
    Llama2,   // [INST] <<SYS>>\n...\n<</SYS>>\n\n... [/INST] ... </s>
    Mistral,  // [INST] ...[/INST] ...</s>, system prompt folded into a user turn
    Zephyr,   // <|role|>\n...</s>\n                      Zephyr, TinyLlama chat
    Phi3,     // <|role|>\n...<|end|>\n                   Phi-3, Phi-3.5
    Gemma,    // <start_of_turn>user\n...<end_of_turn>\n  Gemma, Gemma 2, Gemma 3
};

// Where a layout writes the system prompt.
enum class SystemPlacement {
    OwnTurn,        // a turn of its own (ChatML, Llama 3, Zephyr, Phi-3)
    FirstUserTurn,  // at the start of the first user turn (Llama 2's <<SYS>>, Gemma 3, Mistral "v1")
    LastUserTurn,   // at the start of the last user turn, only when the conversation ends with one
                    // (Mistral v0.3, Nemo)
    Refused,        // the template raises on a system message (Gemma 2, Mistral v0.1/v0.2);
                    // rendered as FirstUserTurn, the fold the Ollama template uses for a SYSTEM
};

struct ChatLayout {
    ChatFamilyKind family = ChatFamilyKind::ChatML;
    SystemPlacement systemPlacement = SystemPlacement::OwnTurn;

    // OwnTurn only: fixed text the template writes before the first system prompt, inside its
    // turn (Llama 3.1/3.2: "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n").
    std::string systemPreamble;
    // OwnTurn only: the template writes the system turn (preamble + empty prompt) even when the
    // conversation has no system message (Llama 3.1/3.2).
    bool systemTurnAlways = false;

    // Llama 2 and Mistral: a user turn is [bosBetweenTurns] instOpen [system] content instClose,
    // an assistant turn assistantOpen content eosToken (Llama 2: assistantOpen content " " eos).
    std::string instOpen;         // "[INST] ", " [INST] " or "[INST]"
    std::string instClose;        // " [/INST]" or "[/INST]"
    std::string assistantOpen;    // " " or ""
    std::string bosBetweenTurns;  // Llama 2: the BOS written before every user turn but the first

    // The model's EOS token (tokenizer_config.json "eos_token"): Llama 2 and Mistral write it after
    // an assistant turn, Zephyr after every turn; the Ollama stop list ends with it.
    std::string eosToken;
};

// "chatml", "llama3", "llama2", "mistral", "zephyr", "phi3", "gemma".
const char* chatFamilyName(ChatFamilyKind family);
// "ChatML", "Llama 3", ... for messages and Modelfile comments.
const char* chatFamilyTitle(ChatFamilyKind family);

// The prompt a template of this layout writes for `messages` (roles system/user/assistant; a
// system message only first), with the conventions above.
std::string renderChatLayout(const ChatLayout& layout, const std::vector<ChatMessage>& messages,
                             bool addGenerationPrompt);

} // namespace tb
