#include "chat/ChatTemplate.h"

#include "chat/JinjaEvaluator.h"
#include "chat/JinjaLexer.h"
#include "chat/JinjaParser.h"

namespace tb {

struct ChatTemplate::Impl {
    std::string sourceName;
    JinjaBody body;

    template <class Json> std::string render(const Json& context) const
    {
        if (!context.is_object() && !context.is_null())
            throw ChatTemplateError(sourceName + ": the template context must be a JSON object");
        JinjaEvaluator evaluator(sourceName);
        if (context.is_object())
            for (auto it = context.begin(); it != context.end(); ++it)
                evaluator.setGlobal(it.key(), JinjaValue::fromJson(it.value()));
        return evaluator.render(body);
    }
};

ChatTemplate::ChatTemplate(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
ChatTemplate::ChatTemplate(ChatTemplate&&) noexcept = default;
ChatTemplate& ChatTemplate::operator=(ChatTemplate&&) noexcept = default;
ChatTemplate::~ChatTemplate() = default;

ChatTemplate ChatTemplate::compile(const std::string& source, const std::string& sourceName)
{
    auto impl = std::make_unique<Impl>();
    impl->sourceName = sourceName;
    JinjaLexer lexer(source, sourceName);
    JinjaParser parser(lexer.tokenize(), sourceName);
    impl->body = parser.parse();
    return ChatTemplate(std::move(impl));
}

std::string ChatTemplate::render(const nlohmann::json& context) const
{
    return m_impl->render(context);
}

std::string ChatTemplate::renderOrdered(const nlohmann::ordered_json& context) const
{
    return m_impl->render(context);
}

std::string ChatTemplate::render(const std::vector<ChatMessage>& messages, bool addGenerationPrompt,
                                 const std::string& bosToken, const std::string& eosToken) const
{
    nlohmann::ordered_json context = nlohmann::ordered_json::object();
    nlohmann::ordered_json list = nlohmann::ordered_json::array();
    for (const ChatMessage& m : messages)
        list.push_back({{"role", m.role}, {"content", m.content}});
    context["messages"] = std::move(list);
    context["add_generation_prompt"] = addGenerationPrompt;
    // transformers passes only the special tokens the tokenizer defines.
    if (!bosToken.empty())
        context["bos_token"] = bosToken;
    if (!eosToken.empty())
        context["eos_token"] = eosToken;
    return m_impl->render(context);
}

} // namespace tb
