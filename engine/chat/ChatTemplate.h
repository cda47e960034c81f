// A chat template from tokenizer_config.json ("chat_template"): Jinja source that turns a list
// of {role, content} messages into the model's prompt text. Rendered by a Jinja subset that
// covers the real templates of the Llama 3, Qwen 2/3, Mistral, Gemma and SmolLM families, with
// output identical to transformers' renderer (checked against @huggingface/jinja).
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

namespace tb {

struct ChatMessage {
    std::string role;    // "system", "user", "assistant", ...
    std::string content;
};

class ChatTemplate {
public:
    // Parses the template once. Throws FormatError(sourceName, "line L, column C: ...") on a
    // syntax error or an unsupported construct.
    static ChatTemplate compile(const std::string& source, const std::string& sourceName);

    ChatTemplate(ChatTemplate&&) noexcept;
    ChatTemplate& operator=(ChatTemplate&&) noexcept;
    ~ChatTemplate();

    // Rendering does not modify the compiled template, so one ChatTemplate may render from
    // several threads at once.
    // `context` holds every variable the template sees, as transformers passes them:
    // "messages" (array of objects), "add_generation_prompt" (bool), "bos_token",
    // "eos_token", ... Throws ChatTemplateError on a runtime error, including the template's
    // own raise_exception("...") (message = its text).
    std::string render(const nlohmann::json& context) const;

    // The same with insertion-ordered objects: nlohmann::json sorts object keys, so a context
    // whose key order matters (tool schemas printed with tojson) should come through here.
    std::string renderOrdered(const nlohmann::ordered_json& context) const;

    // Convenience: messages + add_generation_prompt + special tokens (bos_token, eos_token,
    // pad_token, unk_token when non-empty).
    std::string render(const std::vector<ChatMessage>& messages, bool addGenerationPrompt,
                       const std::string& bosToken, const std::string& eosToken) const;

private:
    struct Impl;
    explicit ChatTemplate(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> m_impl;
};

class ChatTemplateError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

} // namespace tb
