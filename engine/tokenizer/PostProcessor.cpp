#include "tokenizer/PostProcessor.h"

#include <algorithm>
#include <map>
#include <sstream>

#include "tokenizer/BpeModel.h"

namespace tb {

namespace {

// A single-sequence template flattened to ids, with kSequence marking where the text goes.
constexpr int64_t kSequence = -1;

class TemplatePostProcessor final : public PostProcessor {
public:
    explicit TemplatePostProcessor(std::vector<int64_t> pieces) : m_pieces(std::move(pieces)) {}
    void process(std::vector<int32_t>& ids) const override
    {
        std::vector<int32_t> out;
        out.reserve(ids.size() + m_pieces.size());
        for (const int64_t p : m_pieces) {
            if (p == kSequence)
                out.insert(out.end(), ids.begin(), ids.end());
            else
                out.push_back(static_cast<int32_t>(p));
        }
        ids = std::move(out);
    }
    size_t addedCount() const override
    {
        size_t n = 0;
        for (const int64_t p : m_pieces)
            n += p == kSequence ? 0 : 1;
        return n;
    }
    int64_t maxId() const override
    {
        int64_t m = -1;
        for (const int64_t p : m_pieces)
            m = std::max(m, p);
        return m;
    }

private:
    std::vector<int64_t> m_pieces;
};

class IdentityPostProcessor final : public PostProcessor {
public:
    void process(std::vector<int32_t>&) const override {}
    size_t addedCount() const override { return 0; }
    int64_t maxId() const override { return -1; }
};

class SequencePostProcessor final : public PostProcessor {
public:
    explicit SequencePostProcessor(std::vector<std::unique_ptr<PostProcessor>> steps) : m_steps(std::move(steps)) {}
    void process(std::vector<int32_t>& ids) const override
    {
        for (const auto& step : m_steps)
            step->process(ids);
    }
    size_t addedCount() const override
    {
        size_t n = 0;
        for (const auto& step : m_steps)
            n += step->addedCount();
        return n;
    }
    int64_t maxId() const override
    {
        int64_t m = -1;
        for (const auto& step : m_steps)
            m = std::max(m, step->maxId());
        return m;
    }

private:
    std::vector<std::unique_ptr<PostProcessor>> m_steps;
};

// {"special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}}
std::map<std::string, std::vector<int64_t>> readSpecialTokens(const JsonReader& reader, const JsonReader::Json& json,
                                                               const std::string& path)
{
    std::map<std::string, std::vector<int64_t>> out;
    const JsonReader::Json* specials = reader.optionalMember(json, "special_tokens", path);
    if (!specials)
        return out;
    const std::string specialsPath = JsonReader::child(path, "special_tokens");
    reader.object(*specials, specialsPath);
    for (auto it = specials->begin(); it != specials->end(); ++it) {
        const std::string entryPath = specialsPath + "[" + JsonReader::Json(it.key()).dump() + "]";
        const std::string idsPath = JsonReader::child(entryPath, "ids");
        const auto& ids = reader.array(reader.member(it.value(), "ids", entryPath), idsPath);
        std::vector<int64_t> values;
        for (size_t i = 0; i < ids.size(); ++i)
            values.push_back(reader.integer(ids[i], JsonReader::index(idsPath, i), 0, BpeModel::kMaxId));
        // The key is what templates refer to; tokenizers indexes the map by the entry's "id".
        const std::string key = reader.optionalString(it.value(), "id", entryPath, it.key());
        out[key] = std::move(values);
    }
    return out;
}

// "single" is a list of {"SpecialToken": {"id", "type_id"}} / {"Sequence": {"id", "type_id"}}
// pieces, or the string form "<s> $A" (optionally with ":type_id" suffixes).
std::vector<int64_t> readSingleTemplate(const JsonReader& reader, const JsonReader::Json& json, const std::string& path,
                                        const std::map<std::string, std::vector<int64_t>>& specials)
{
    const std::string singlePath = JsonReader::child(path, "single");
    const auto& single = reader.member(json, "single", path);
    std::vector<int64_t> out;
    auto addSpecial = [&](const std::string& name, const std::string& where) {
        const auto it = specials.find(name);
        if (it == specials.end())
            reader.fail(where, "special token \"" + name + "\" is not in " + JsonReader::child(path, "special_tokens"));
        out.insert(out.end(), it->second.begin(), it->second.end());
    };
    if (single.is_string()) {
        std::istringstream words(single.get<std::string>());
        std::string word;
        while (words >> word) {
            const size_t colon = word.rfind(':');
            const std::string name = colon == std::string::npos || colon == 0 ? word : word.substr(0, colon);
            if (!name.empty() && name[0] == '$')
                out.push_back(kSequence);
            else
                addSpecial(name, singlePath);
        }
        return out;
    }
    reader.array(single, singlePath);
    for (size_t i = 0; i < single.size(); ++i) {
        const std::string piecePath = JsonReader::index(singlePath, i);
        const auto& piece = reader.object(single[i], piecePath);
        if (const auto it = piece.find("SpecialToken"); it != piece.end()) {
            const std::string tokenPath = JsonReader::child(piecePath, "SpecialToken");
            addSpecial(reader.stringMember(*it, "id", tokenPath), JsonReader::child(tokenPath, "id"));
        } else if (piece.contains("Sequence")) {
            out.push_back(kSequence);
        } else {
            reader.fail(piecePath, "expected {\"SpecialToken\": ...} or {\"Sequence\": ...}");
        }
    }
    return out;
}

// RobertaProcessing / BertProcessing: "cls": ["<s>", 0], "sep": ["</s>", 2].
int64_t readTokenPair(const JsonReader& reader, const JsonReader::Json& json, const char* key, const std::string& path)
{
    const std::string p = JsonReader::child(path, key);
    const auto& pair = reader.array(reader.member(json, key, path), p);
    if (pair.size() != 2 || !pair[0].is_string())
        reader.fail(p, "expected [token, id]");
    return reader.integer(pair[1], JsonReader::index(p, 1), 0, BpeModel::kMaxId);
}

} // namespace

std::unique_ptr<PostProcessor> PostProcessor::fromJson(const JsonReader& reader, const JsonReader::Json& json,
                                                       const std::string& path)
{
    if (json.is_null())
        return nullptr;
    const std::string type = reader.stringMember(json, "type", path);
    if (type == "TemplateProcessing")
        return std::make_unique<TemplatePostProcessor>(
            readSingleTemplate(reader, json, path, readSpecialTokens(reader, json, path)));
    if (type == "ByteLevel")
        return std::make_unique<IdentityPostProcessor>();
    if (type == "RobertaProcessing" || type == "BertProcessing") {
        const int64_t cls = readTokenPair(reader, json, "cls", path);
        const int64_t sep = readTokenPair(reader, json, "sep", path);
        return std::make_unique<TemplatePostProcessor>(std::vector<int64_t>{cls, kSequence, sep});
    }
    if (type == "Sequence") {
        const std::string listPath = JsonReader::child(path, "processors");
        const auto& list = reader.array(reader.member(json, "processors", path), listPath);
        std::vector<std::unique_ptr<PostProcessor>> steps;
        for (size_t i = 0; i < list.size(); ++i) {
            const std::string itemPath = JsonReader::index(listPath, i);
            if (list[i].is_null())
                reader.fail(itemPath, "expected a post-processor, got null");
            steps.push_back(fromJson(reader, list[i], itemPath));
        }
        return std::make_unique<SequencePostProcessor>(std::move(steps));
    }
    reader.fail(JsonReader::child(path, "type"),
                "unsupported post-processor \"" + type
                    + "\" (supported: TemplateProcessing, ByteLevel, RobertaProcessing, BertProcessing, Sequence)");
}

} // namespace tb
