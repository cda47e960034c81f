// Which chat-template family a model's Jinja template belongs to, found by rendering: the template
// renders a few probe conversations, each family's layout (ChatLayout) renders the same ones, and
// the family whose layout reproduces every probe byte for byte is the answer. The Jinja text is
// never matched, so a comment or a dead branch cannot mislead it, and a template written
// differently but rendering the same prompt (most fine-tunes' copies) is recognized.
//
// Probes (contents fixed, already trimmed, so templates that trim agree):
//   system, user, assistant, user      + generation prompt
//   user, assistant, user              + generation prompt   (finds a default system prompt)
//   system, user                       + generation prompt   (first user turn == last user turn)
//   user                               + generation prompt
// BOS: the template renders with the model's bos_token and one leading BOS is removed before the
// comparison, because llama.cpp and Ollama add it when they tokenize (see ChatLayout.h); a BOS the
// template writes later (Llama 2 before each [INST]) stays and is part of the layout.
//
// Details found from the renderings rather than listed per model:
//  - a default system prompt: the no-system probe renders as the layout would with some system
//    prompt D (Qwen 2.5: "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.");
//  - a fixed system preamble: the system turn holds more than the given prompt, always the same
//    text before it (Llama 3.1/3.2's "Cutting Knowledge Date: ..." lines), and a system turn
//    written even without a system message;
//  - the [INST] spacing of the Mistral releases and where they put the system prompt (first or
//    last user turn), and templates that refuse a system message (raise_exception), as Gemma 2
//    and Mistral v0.1/v0.2 do: a probe that raises is expected only of the system probes.
#pragma once

#include "ollama/ChatLayout.h"

#include <string>

namespace tb {

struct ChatFamilyMatch {
    std::string family;         // chatFamilyName(layout.family); "" when unrecognized
    ChatLayout layout;          // meaningful only when family is non-empty
    std::string defaultSystem;  // the system prompt the template writes when the conversation
                                // has none; "" when it writes none
    std::string reason;         // when unrecognized: why (compile error, the template's own
                                // exception, or where the nearest family's layout differs)
};

// Never throws for a bad template: a syntax error, an unsupported construct or a
// raise_exception is an unrecognized template with that reason.
ChatFamilyMatch recognizeChatFamily(const std::string& jinjaSource, const std::string& bosToken,
                                    const std::string& eosToken);

} // namespace tb
