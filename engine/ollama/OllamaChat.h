// What an Ollama Modelfile needs to chat with a model: the TEMPLATE, the stop strings and the
// default SYSTEM, written from the chat family ChatFamily recognized.
//
// The TEMPLATE is in the style of Ollama's current official templates: Go text/template over
// .Messages ({{- range $i, $_ := .Messages }} with $last), so Ollama keeps the whole conversation
// in one prompt. Ollama's data model, which the template relies on:
//  - .Messages: the chat messages {Role, Content}; Ollama first prepends {system, SYSTEM} when the
//    Modelfile has a SYSTEM and the conversation starts without a system message, so the default
//    system prompt travels as SYSTEM and a user's own system message replaces it.
//  - no BOS in the template: Ollama's tokenizer adds it (see ChatLayout.h).
//  - a conversation ending with a user message gets the generation prompt (the assistant header);
//    one ending with an assistant message is left open for the model to continue (no end-of-turn),
//    as Ollama's official templates do.
// The template writes the same prompt as the model's Jinja template for system/user/assistant text
// conversations (tests/ollama checks this per family against real templates); tool definitions,
// tool calls, images and reasoning branches of the Jinja template are not carried over.
#pragma once

#include "ollama/ChatFamily.h"

#include <string>
#include <vector>

namespace tb {

struct OllamaChat {
    bool recognized = false;
    std::string family;               // chatFamilyName(); "" when unrecognized
    std::string familyTitle;          // chatFamilyTitle(); "" when unrecognized
    std::string goTemplate;           // TEMPLATE text; "" when unrecognized
    std::string defaultSystem;        // SYSTEM text; "" for none
    std::vector<std::string> stops;   // one PARAMETER stop each, in this order
    std::string note;                 // recognized: what differs from the model's template, one
                                      // sentence per line ("" when nothing does); unrecognized:
                                      // the reason ChatFamily gave
};

OllamaChat ollamaChatFor(const ChatFamilyMatch& match);

} // namespace tb
