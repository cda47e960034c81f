#include "tokenizer/Tokenizer.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "formats/FormatError.h"
#include "tokenizer/AddedVocabulary.h"
#include "tokenizer/BpeModel.h"
#include "tokenizer/JsonReader.h"
#include "tokenizer/Normalizer.h"
#include "tokenizer/PostProcessor.h"
#include "tokenizer/PreTokenizer.h"
#include "tokenizer/TokenDecoder.h"
#include "tokenizer/Utf8.h"

namespace tb {

namespace {

// tokenizer.json "truncation": applied before the post-processor, leaving room for the ids it
// adds, as tokenizers' post_process does.
struct Truncation {
    bool enabled = false;
    size_t maxLength = 0;
    bool left = false;
};

// tokenizer.json "padding": a single sequence is padded to a fixed length (BatchLongest pads a
// batch of one to itself), rounded up to pad_to_multiple_of.
struct Padding {
    bool enabled = false;
    size_t fixedLength = 0; // 0 for BatchLongest
    size_t multipleOf = 0;
    bool left = false;
    int32_t padId = 0;
};

Truncation readTruncation(const JsonReader& reader, const JsonReader::Json& root)
{
    Truncation t;
    const auto* json = reader.optionalMember(root, "truncation", "");
    if (!json)
        return t;
    t.enabled = true;
    t.maxLength = static_cast<size_t>(
        reader.integer(reader.member(*json, "max_length", "truncation"), "truncation.max_length", 0, INT32_MAX));
    t.left = reader.optionalString(*json, "direction", "truncation", "Right") == "Left";
    return t;
}

Padding readPadding(const JsonReader& reader, const JsonReader::Json& root)
{
    Padding p;
    const auto* json = reader.optionalMember(root, "padding", "");
    if (!json)
        return p;
    p.enabled = true;
    if (const auto* strategy = reader.optionalMember(*json, "strategy", "padding")) {
        if (strategy->is_object() && strategy->contains("Fixed"))
            p.fixedLength = static_cast<size_t>(
                reader.integer((*strategy)["Fixed"], "padding.strategy.Fixed", 0, INT32_MAX));
        else if (!(strategy->is_string() && strategy->get<std::string>() == "BatchLongest"))
            reader.fail("padding.strategy", "expected \"BatchLongest\" or {\"Fixed\": n}");
    }
    if (const auto* multiple = reader.optionalMember(*json, "pad_to_multiple_of", "padding"))
        p.multipleOf = static_cast<size_t>(reader.integer(*multiple, "padding.pad_to_multiple_of", 0, INT32_MAX));
    p.left = reader.optionalString(*json, "direction", "padding", "Right") == "Left";
    if (const auto* id = reader.optionalMember(*json, "pad_id", "padding"))
        p.padId = static_cast<int32_t>(reader.integer(*id, "padding.pad_id", 0, BpeModel::kMaxId));
    return p;
}

} // namespace

struct Tokenizer::Impl {
    std::unique_ptr<Normalizer> normalizer;
    std::unique_ptr<PreTokenizer> preTokenizer;
    std::unique_ptr<BpeModel> model;
    std::unique_ptr<PostProcessor> postProcessor;
    std::unique_ptr<TokenDecoder> decoder;
    AddedVocabulary added;
    Truncation truncation;
    Padding padding;
    size_t vocabSize = 0; // see vocabSize(); fixed once loaded
};

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Tokenizer Tokenizer::fromFile(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw FormatError(path, "cannot open file");
    std::ostringstream buffer;
    buffer << in.rdbuf();
    if (in.bad())
        throw FormatError(path, "read error");
    return fromJson(buffer.str(), path);
}

Tokenizer Tokenizer::fromJson(std::string_view json, const std::string& sourceName)
{
    const JsonReader reader(sourceName);
    const JsonReader::Json root = reader.parse(json);
    reader.object(root, "");
    auto impl = std::make_unique<Impl>();

    const JsonReader::Json& model = reader.object(reader.member(root, "model", ""), "model");
    std::string type;
    if (model.contains("type"))
        type = reader.stringMember(model, "type", "model");
    else if (model.contains("merges"))
        type = "BPE"; // files from before the tag was written
    else
        reader.fail("model.type", "missing");
    if (type != "BPE")
        reader.fail("model.type", "unsupported model \"" + type + "\" (Tunebench reads BPE tokenizers only)");
    impl->model = BpeModel::fromJson(reader, model, "model");

    if (const auto* n = reader.optionalMember(root, "normalizer", ""))
        impl->normalizer = Normalizer::fromJson(reader, *n, "normalizer");
    if (const auto* p = reader.optionalMember(root, "pre_tokenizer", ""))
        impl->preTokenizer = PreTokenizer::fromJson(reader, *p, "pre_tokenizer");
    if (const auto* p = reader.optionalMember(root, "post_processor", ""))
        impl->postProcessor = PostProcessor::fromJson(reader, *p, "post_processor");
    if (const auto* d = reader.optionalMember(root, "decoder", ""))
        impl->decoder = TokenDecoder::fromJson(reader, *d, "decoder");
    impl->added = AddedVocabulary(reader, reader.optionalMember(root, "added_tokens", ""), *impl->model,
                                  impl->normalizer.get());
    impl->truncation = readTruncation(reader, root);
    impl->padding = readPadding(reader, root);
    // Every id encode() can emit: the post-processor's and the padding's come from the file as
    // written and may lie past the vocabulary (tokenizers emits them all the same).
    int64_t largest = std::max<int64_t>(impl->model->maxId(), impl->added.maxId());
    if (impl->postProcessor)
        largest = std::max(largest, impl->postProcessor->maxId());
    if (impl->padding.enabled)
        largest = std::max<int64_t>(largest, impl->padding.padId);
    impl->vocabSize = static_cast<size_t>(largest + 1);
    return Tokenizer(std::move(impl));
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool addSpecialTokens) const
{
    const Impl& d = *m_impl;
    const std::string clean = utf8::sanitize(text);
    TextPieces pieces = d.added.extractAndNormalize(clean, d.normalizer.get());
    if (d.preTokenizer)
        d.preTokenizer->preTokenize(pieces);
    std::vector<int32_t> ids;
    ids.reserve(clean.size() / 3 + 4);
    for (const auto& piece : pieces) {
        if (piece.addedId >= 0)
            ids.push_back(piece.addedId);
        else
            d.model->tokenize(piece.text, ids);
    }

    const bool post = addSpecialTokens && d.postProcessor;
    if (d.truncation.enabled) {
        const size_t added = post ? d.postProcessor->addedCount() : 0;
        // tokenizers leaves the sequence whole when max_length cannot even hold the added ids.
        const size_t keep = d.truncation.maxLength >= added ? d.truncation.maxLength - added : ids.size();
        if (ids.size() > keep) {
            if (d.truncation.left)
                ids.erase(ids.begin(), ids.end() - static_cast<std::ptrdiff_t>(keep));
            else
                ids.resize(keep);
        }
    }
    if (post)
        d.postProcessor->process(ids);
    if (d.padding.enabled) {
        size_t target = d.padding.fixedLength ? d.padding.fixedLength : ids.size();
        if (d.padding.multipleOf > 0 && target % d.padding.multipleOf != 0)
            target += d.padding.multipleOf - target % d.padding.multipleOf;
        if (ids.size() < target)
            ids.insert(d.padding.left ? ids.begin() : ids.end(), target - ids.size(), d.padding.padId);
    }
    return ids;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skipSpecialTokens) const
{
    const Impl& d = *m_impl;
    std::vector<std::string> tokens;
    tokens.reserve(ids.size());
    for (const int32_t id : ids) {
        const std::string* token = nullptr;
        if (const auto* added = d.added.tokenForId(id))
            token = &added->content;
        else
            token = d.model->idToToken(id);
        if (!token)
            continue; // tokenizers drops ids it does not know
        if (skipSpecialTokens && d.added.isSpecialContent(*token))
            continue;
        tokens.push_back(*token);
    }
    if (d.decoder)
        return d.decoder->decode(std::move(tokens));
    std::string out;
    for (size_t i = 0; i < tokens.size(); ++i) {
        if (i > 0)
            out.push_back(' ');
        out += tokens[i];
    }
    return out;
}

int32_t Tokenizer::tokenToId(std::string_view token) const
{
    const int32_t id = m_impl->added.tokenToId(token);
    return id >= 0 ? id : m_impl->model->tokenToId(token);
}

std::string Tokenizer::idToToken(int32_t id) const
{
    if (const auto* added = m_impl->added.tokenForId(id))
        return added->content;
    const std::string* token = m_impl->model->idToToken(id);
    return token ? *token : std::string();
}

size_t Tokenizer::vocabSize() const
{
    return m_impl->vocabSize;
}

std::string Tokenizer::describeId(int64_t id) const
{
    const std::string token = id >= 0 && id <= INT32_MAX ? idToToken(static_cast<int32_t>(id)) : std::string();
    return std::to_string(id) + (token.empty() ? " (no token string)" : " (\"" + token + "\")");
}

bool Tokenizer::isSpecial(int32_t id) const
{
    const auto* added = m_impl->added.tokenForId(id);
    return added && added->special;
}

} // namespace tb
