// Turns one record into the text the model trains on, as ordered segments each marked prompt
// (masked: no loss) or target. Concatenated, the segments are the example's full text:
//   Text / JsonText: [document] [eos_token]                       all targets
//   Instruction, no chat template: [Alpaca prompt] [output] [eos] prompt masked
//   Instruction with a chat template: rendered as the chat [user, assistant] below
//   Chat: the chat template's rendering, split at the assistant turns (see ChatRenderer)
// With trainOnPrompt every segment is a target, and adjacent segments are merged so the text
// is tokenized in one piece. A record that cannot be used gets a skipReason instead.
#pragma once

#include "data/TrainingDataset.h"

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

namespace tb {

class ChatRenderer;
struct DatasetRecord;
struct TokenizerConfig;

struct RenderResult {
    std::vector<RenderedSegment> segments; // tokens fields are 0 here (filled by SegmentEncoder)
    std::string skipReason;                // non-empty: skip the record with this warning
};

class ExampleRenderer {
public:
    // format must be concrete (not Auto). Compiles the chat template when the format uses it;
    // throws FormatError for chat records without one (see ChatRenderer).
    ExampleRenderer(DatasetFormat format, const TokenizerConfig& config, bool trainOnPrompt,
                    const std::string& datasetPath);
    ~ExampleRenderer();

    RenderResult render(const DatasetRecord& record) const;

    // Stanford Alpaca's prompts (github.com/tatsu-lab/stanford_alpaca, train.py PROMPT_DICT).
    static std::string alpacaPrompt(const std::string& instruction, const std::string& input);

private:
    RenderResult renderDocument(const std::string& text) const;
    RenderResult renderInstruction(const nlohmann::json& record) const;
    RenderResult renderChat(const nlohmann::json& messages) const;
    RenderResult finish(std::vector<RenderedSegment> segments) const;

    DatasetFormat m_format;
    std::string m_eosToken;
    bool m_trainOnPrompt;
    std::unique_ptr<ChatRenderer> m_chat; // null when the format does not use a chat template
};

} // namespace tb
