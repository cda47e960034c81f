// libFuzzer target: a chat template's Jinja source (tokenizer_config.json's "chat_template"),
// compiled and rendered with a fixed conversation, as the dataset renderer and the playground
// do. Syntax errors must be FormatErrors, runtime errors ChatTemplateErrors.
#include "FuzzInput.h"

#include "chat/ChatTemplate.h"
#include "formats/FormatError.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    const std::string source(reinterpret_cast<const char*>(data), size);
    static const std::vector<tb::ChatMessage> messages = {
        {"system", "You are terse."},
        {"user", "What is 2+2?"},
        {"assistant", "4"},
        {"user", "And {{ 3 }}?"},
    };
    try {
        const tb::ChatTemplate chat = tb::ChatTemplate::compile(source, "tokenizer_config.json");
        (void)chat.render(messages, size % 2 == 0, "<s>", "</s>");
    } catch (const tb::FormatError&) {
    } catch (const tb::ChatTemplateError&) {
    }
    return 0;
}
