#include "data/ChatRenderer.h"

#include "chat/ChatTemplate.h"
#include "formats/FormatError.h"
#include "tokenizer/TokenizerConfig.h"

namespace tb {

namespace {

bool startsWith(const std::string& s, const std::string& prefix)
{
    return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

bool isSpace(char c)
{
    return c == ' ' || c == '\n' || c == '\t' || c == '\r';
}

std::string trimmed(const std::string& s)
{
    size_t b = 0, e = s.size();
    while (b < e && isSpace(s[b]))
        ++b;
    while (e > b && isSpace(s[e - 1]))
        --e;
    return s.substr(b, e - b);
}

} // namespace

ChatRenderer::ChatRenderer(const TokenizerConfig& config, const std::string& datasetPath)
{
    if (config.chatTemplate.empty())
        throw FormatError("tokenizer_config.json",
                          "has no \"chat_template\", but " + datasetPath
                              + " holds chat records (\"messages\"), which are rendered with the model's chat template;"
                                " use a model with a chat template or convert the data to \"text\" records");
    m_template = std::make_unique<ChatTemplate>(ChatTemplate::compile(config.chatTemplate, "tokenizer_config.json chat_template"));
    m_specialTokens = nlohmann::json::object();
    const std::pair<const char*, const std::string*> tokens[] = {{"bos_token", &config.bosToken},
                                                                 {"eos_token", &config.eosToken},
                                                                 {"pad_token", &config.padToken},
                                                                 {"unk_token", &config.unkToken}};
    for (const auto& [name, value] : tokens)
        if (!value->empty())
            m_specialTokens[name] = *value;
    // Templates test bos_token/eos_token unconditionally; transformers always defines them.
    if (!m_specialTokens.contains("bos_token"))
        m_specialTokens["bos_token"] = "";
    if (!m_specialTokens.contains("eos_token"))
        m_specialTokens["eos_token"] = "";
}

ChatRenderer::~ChatRenderer() = default;

std::string ChatRenderer::renderPrefix(const nlohmann::json& messages, size_t count, bool addGenerationPrompt) const
{
    nlohmann::json context = m_specialTokens;
    context["messages"] = nlohmann::json::array();
    for (size_t i = 0; i < count; ++i)
        context["messages"].push_back(messages[i]);
    context["add_generation_prompt"] = addGenerationPrompt;
    return m_template->render(context);
}

ChatRenderer::Result ChatRenderer::render(const nlohmann::json& messages) const
{
    Result result;
    try {
        result.text = renderPrefix(messages, messages.size(), false);
    } catch (const ChatTemplateError& e) {
        result.error = std::string("chat template: ") + e.what();
        return result;
    }
    const std::string& full = result.text;
    size_t cursor = 0; // end of the previous target: targets must ascend
    for (size_t i = 0; i < messages.size(); ++i) {
        if (messages[i]["role"] != "assistant")
            continue;
        size_t begin = std::string::npos, end = std::string::npos;
        std::string upTo;
        try {
            const std::string prompt = renderPrefix(messages, i, true);
            upTo = renderPrefix(messages, i + 1, false);
            if (startsWith(upTo, prompt) && startsWith(full, upTo) && prompt.size() >= cursor) {
                begin = prompt.size();
                end = upTo.size();
            }
        } catch (const ChatTemplateError&) {
            // Some templates refuse a conversation that does not end with a user turn, or a
            // prefix that starts with the assistant; the search below still locates the turn.
        }
        if (begin == std::string::npos) {
            const std::string content = trimmed(messages[i]["content"].get<std::string>());
            const size_t at = content.empty() ? std::string::npos : full.find(content, cursor);
            if (at == std::string::npos) {
                result.error = "chat template: cannot locate assistant message messages[" + std::to_string(i)
                    + "] in the rendered text (the template changes it or renders it out of order)";
                return result;
            }
            begin = at;
            end = at + content.size();
            const size_t inUpTo = upTo.rfind(content);
            if (inUpTo != std::string::npos) {
                const std::string tail = upTo.substr(inUpTo + content.size());
                if (full.compare(end, tail.size(), tail) == 0)
                    end += tail.size();
            }
        }
        while (end > begin && isSpace(full[end - 1]))
            --end;
        if (end > begin)
            result.targets.emplace_back(begin, end);
        cursor = std::max(cursor, end);
    }
    return result;
}

} // namespace tb
