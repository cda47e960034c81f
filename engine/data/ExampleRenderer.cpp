#include "data/ExampleRenderer.h"

#include "data/ChatRenderer.h"
#include "data/DatasetReader.h"
#include "tokenizer/TokenizerConfig.h"

namespace tb {

namespace {

using Json = nlohmann::json;

// "" when record[key] is a string (stored in out); otherwise the reason to skip.
std::string stringField(const Json& record, const std::string& where, const char* key, bool optional, std::string& out)
{
    const auto it = record.find(key);
    if (it == record.end() || (optional && it->is_null())) {
        out.clear();
        return optional ? std::string() : "missing field \"" + std::string(key) + "\"" + where;
    }
    if (!it->is_string())
        return "field \"" + std::string(key) + "\"" + where + " is " + it->type_name() + ", expected a string";
    out = it->get<std::string>();
    return {};
}

} // namespace

ExampleRenderer::ExampleRenderer(DatasetFormat format, const TokenizerConfig& config, bool trainOnPrompt,
                                 const std::string& datasetPath)
    : m_format(format), m_eosToken(config.eosToken), m_trainOnPrompt(trainOnPrompt)
{
    if (format == DatasetFormat::Chat || (format == DatasetFormat::Instruction && !config.chatTemplate.empty()))
        m_chat = std::make_unique<ChatRenderer>(config, datasetPath);
}

ExampleRenderer::~ExampleRenderer() = default;

std::string ExampleRenderer::alpacaPrompt(const std::string& instruction, const std::string& input)
{
    if (input.empty())
        return "Below is an instruction that describes a task. Write a response that appropriately completes the "
               "request.\n\n### Instruction:\n"
            + instruction + "\n\n### Response:\n";
    return "Below is an instruction that describes a task, paired with an input that provides further context. "
           "Write a response that appropriately completes the request.\n\n### Instruction:\n"
        + instruction + "\n\n### Input:\n" + input + "\n\n### Response:\n";
}

RenderResult ExampleRenderer::render(const DatasetRecord& record) const
{
    if (!record.problem.empty())
        return {{}, record.problem};
    switch (m_format) {
    case DatasetFormat::Text:
        if (record.object.is_null())
            return renderDocument(record.text);
        return {{}, "expected plain text"}; // unreachable: Text always reads the file as text
    case DatasetFormat::JsonText: {
        std::string text;
        std::string why = stringField(record.object, "", "text", false, text);
        if (why.empty() && text.empty())
            why = "field \"text\" is empty";
        if (!why.empty())
            return {{}, why};
        return renderDocument(text);
    }
    case DatasetFormat::Instruction:
        return renderInstruction(record.object);
    case DatasetFormat::Chat: {
        const auto it = record.object.find("messages");
        if (it == record.object.end())
            return {{}, "missing field \"messages\""};
        return renderChat(*it);
    }
    case DatasetFormat::Auto:
        break;
    }
    return {{}, "no dataset format"};
}

RenderResult ExampleRenderer::renderDocument(const std::string& text) const
{
    std::vector<RenderedSegment> segments;
    segments.push_back({text, false, 0});
    if (!m_eosToken.empty())
        segments.push_back({m_eosToken, false, 0});
    return finish(std::move(segments));
}

RenderResult ExampleRenderer::renderInstruction(const Json& record) const
{
    std::string instruction, input, output;
    std::string why = stringField(record, "", "instruction", false, instruction);
    if (why.empty())
        why = stringField(record, "", "input", true, input);
    if (why.empty())
        why = stringField(record, "", "output", false, output);
    if (why.empty() && output.empty() && !m_trainOnPrompt)
        why = "field \"output\" is empty: nothing to learn";
    if (!why.empty())
        return {{}, why};

    if (m_chat) {
        Json messages = Json::array();
        messages.push_back({{"role", "user"}, {"content", input.empty() ? instruction : instruction + "\n\n" + input}});
        messages.push_back({{"role", "assistant"}, {"content", output}});
        return renderChat(messages);
    }
    std::vector<RenderedSegment> segments;
    segments.push_back({alpacaPrompt(instruction, input), true, 0});
    if (!output.empty())
        segments.push_back({output, false, 0});
    if (!m_eosToken.empty())
        segments.push_back({m_eosToken, false, 0});
    return finish(std::move(segments));
}

RenderResult ExampleRenderer::renderChat(const Json& messages) const
{
    if (!messages.is_array())
        return {{}, std::string("field \"messages\" is ") + messages.type_name() + ", expected an array"};
    if (messages.empty())
        return {{}, "field \"messages\" is empty"};
    bool hasAssistant = false;
    for (size_t i = 0; i < messages.size(); ++i) {
        const std::string where = " of messages[" + std::to_string(i) + "]";
        if (!messages[i].is_object())
            return {{}, "messages[" + std::to_string(i) + "] is " + messages[i].type_name() + ", expected an object"};
        std::string role, content;
        std::string why = stringField(messages[i], where, "role", false, role);
        if (why.empty())
            why = stringField(messages[i], where, "content", false, content);
        if (!why.empty())
            return {{}, why};
        hasAssistant = hasAssistant || role == "assistant";
    }
    if (!hasAssistant && !m_trainOnPrompt)
        return {{}, "no \"assistant\" message: nothing to learn"};

    const ChatRenderer::Result chat = m_chat->render(messages);
    if (!chat.error.empty())
        return {{}, chat.error};
    std::vector<RenderedSegment> segments;
    size_t pos = 0;
    for (const auto& [begin, end] : chat.targets) {
        if (begin > pos)
            segments.push_back({chat.text.substr(pos, begin - pos), true, 0});
        segments.push_back({chat.text.substr(begin, end - begin), false, 0});
        pos = end;
    }
    if (pos < chat.text.size())
        segments.push_back({chat.text.substr(pos), true, 0});
    return finish(std::move(segments));
}

RenderResult ExampleRenderer::finish(std::vector<RenderedSegment> segments) const
{
    if (m_trainOnPrompt)
        for (RenderedSegment& s : segments)
            s.masked = false;
    // Merge neighbours with the same flag: each segment is tokenized on its own, and fewer
    // boundaries means tokens closer to tokenizing the whole text at once.
    std::vector<RenderedSegment> merged;
    for (RenderedSegment& s : segments) {
        if (s.text.empty())
            continue;
        if (!merged.empty() && merged.back().masked == s.masked)
            merged.back().text += s.text;
        else
            merged.push_back(std::move(s));
    }
    return {std::move(merged), {}};
}

} // namespace tb
