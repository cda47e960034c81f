#include "tokenizer/AddedVocabulary.h"

#include <algorithm>

#include "tokenizer/BpeModel.h"
#include "tokenizer/Normalizer.h"
#include "tokenizer/Utf8.h"

namespace tb {

namespace {

bool operator==(const AddedVocabulary::Token& a, const AddedVocabulary::Token& b)
{
    return a.content == b.content && a.singleWord == b.singleWord && a.lstrip == b.lstrip && a.rstrip == b.rstrip
        && a.normalized == b.normalized && a.special == b.special;
}

// The code point ending at `end` (exclusive).
char32_t lastChar(std::string_view s, size_t end)
{
    size_t start = end - 1;
    while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80)
        --start;
    return utf8::next(s, start);
}

} // namespace

void AddedVocabulary::Trie::add(std::string_view pattern, int32_t id)
{
    if (pattern.empty())
        return;
    m_first[static_cast<unsigned char>(pattern[0])] = true;
    size_t node = 0;
    for (const char ch : pattern) {
        const auto b = static_cast<unsigned char>(ch);
        auto& children = m_nodes[node].children;
        const auto it = std::find_if(children.begin(), children.end(), [b](const auto& c) { return c.first == b; });
        if (it != children.end()) {
            node = static_cast<size_t>(it->second);
        } else {
            const auto next = static_cast<int32_t>(m_nodes.size());
            children.emplace_back(b, next);
            m_nodes.emplace_back();
            node = static_cast<size_t>(next);
        }
    }
    // The first of several identical patterns wins, as in aho-corasick.
    if (m_nodes[node].id < 0)
        m_nodes[node].id = id;
}

std::pair<size_t, int32_t> AddedVocabulary::Trie::longestAt(std::string_view text, size_t pos) const
{
    std::pair<size_t, int32_t> best{0, -1};
    size_t node = 0;
    for (size_t i = pos; i < text.size(); ++i) {
        const auto b = static_cast<unsigned char>(text[i]);
        const auto& children = m_nodes[node].children;
        const auto it = std::find_if(children.begin(), children.end(), [b](const auto& c) { return c.first == b; });
        if (it == children.end())
            break;
        node = static_cast<size_t>(it->second);
        if (m_nodes[node].id >= 0)
            best = {i + 1 - pos, m_nodes[node].id};
    }
    return best;
}

AddedVocabulary::AddedVocabulary(const JsonReader& reader, const JsonReader::Json* addedTokens, const BpeModel& model,
                                 const Normalizer* normalizer)
{
    std::vector<Token> tokens;
    if (addedTokens) {
        reader.array(*addedTokens, "added_tokens");
        for (size_t i = 0; i < addedTokens->size(); ++i) {
            const auto& entry = (*addedTokens)[i];
            const std::string path = JsonReader::index("added_tokens", i);
            Token t;
            t.content = reader.stringMember(entry, "content", path);
            if (!utf8::isValid(t.content))
                reader.fail(JsonReader::child(path, "content"), "not valid UTF-8");
            // The recorded id is checked for sanity only: tokenizers re-derives ids on load.
            if (entry.contains("id"))
                reader.integer(entry["id"], JsonReader::child(path, "id"), 0, BpeModel::kMaxId);
            t.singleWord = reader.optionalBool(entry, "single_word", path, false);
            t.lstrip = reader.optionalBool(entry, "lstrip", path, false);
            t.rstrip = reader.optionalBool(entry, "rstrip", path, false);
            t.special = reader.optionalBool(entry, "special", path, false);
            t.normalized = reader.optionalBool(entry, "normalized", path, !t.special);
            tokens.push_back(std::move(t));
        }
    }
    for (const auto& t : tokens) {
        if (t.special && !t.content.empty() && m_specialContent.insert(t.content).second)
            m_special.push_back(t);
    }
    for (const auto& t : tokens)
        add(t, model);

    // Patterns in tokenizers' order: special tokens first, then the others.
    std::vector<const Token*> ordered;
    for (const auto& t : m_special)
        ordered.push_back(&t);
    for (const auto& t : m_classic)
        ordered.push_back(&t);
    for (const Token* t : ordered) {
        const int32_t id = tokenToId(t->content);
        if (!t->normalized) {
            m_rawTrie.add(t->content, id);
        } else {
            std::string pattern = t->content;
            if (normalizer)
                normalizer->normalize(pattern);
            m_normalizedTrie.add(pattern, id);
        }
    }
}

void AddedVocabulary::add(const Token& token, const BpeModel& model)
{
    if (token.content.empty())
        return;
    // tokenizers skips a token equal (all flags) to one it already holds under any id.
    const auto range = m_contentIds.equal_range(token.content);
    for (auto it = range.first; it != range.second; ++it) {
        const auto existing = m_idToToken.find(it->second);
        if (existing != m_idToToken.end() && existing->second == token)
            return;
    }
    int32_t id = tokenToId(token.content);
    if (id < 0)
        id = model.tokenToId(token.content);
    if (id < 0) {
        const auto modelSize = static_cast<int64_t>(model.entryCount());
        if (m_contentToId.empty())
            id = static_cast<int32_t>(modelSize);
        else
            id = (m_maxId >= modelSize || modelSize == 0) ? m_maxId + 1 : static_cast<int32_t>(modelSize);
    }
    m_contentToId[token.content] = id;
    m_idToToken[id] = token;
    m_contentIds.emplace(token.content, id);
    m_maxId = std::max(m_maxId, id);
    if (m_specialContent.count(token.content) == 0)
        m_classic.push_back(token);
}

int32_t AddedVocabulary::tokenToId(std::string_view content) const
{
    const auto it = m_contentToId.find(std::string(content));
    return it == m_contentToId.end() ? -1 : it->second;
}

const AddedVocabulary::Token* AddedVocabulary::tokenForId(int32_t id) const
{
    const auto it = m_idToToken.find(id);
    return it == m_idToToken.end() ? nullptr : &it->second;
}

bool AddedVocabulary::isSpecialContent(std::string_view content) const
{
    return m_specialContent.count(std::string(content)) > 0;
}

std::vector<AddedVocabulary::Match> AddedVocabulary::findMatches(std::string_view text, const Trie& trie) const
{
    std::vector<Match> out;
    if (text.empty())
        return out;
    size_t startOffset = 0;
    size_t pos = 0;
    while (!trie.empty() && pos < text.size()) {
        if (!trie.canStartWith(static_cast<unsigned char>(text[pos]))) {
            ++pos;
            continue;
        }
        const auto [length, id] = trie.longestAt(text, pos);
        if (length == 0) {
            ++pos;
            continue;
        }
        size_t start = pos;
        size_t stop = pos + length;
        pos = stop; // the search resumes after the pattern, whatever rstrip takes
        const Token* token = tokenForId(id);
        if (token && token->singleWord) {
            const bool startSpace = start == 0 || !utf8::isWordChar(lastChar(text, start));
            size_t k = stop;
            const bool stopSpace = stop == text.size() || !utf8::isWordChar(utf8::next(text, k));
            if (!startSpace || !stopSpace)
                continue;
        }
        if (token && token->lstrip) {
            size_t newStart = start;
            while (newStart > 0) {
                size_t charStart = newStart - 1;
                while (charStart > 0 && (static_cast<unsigned char>(text[charStart]) & 0xC0) == 0x80)
                    --charStart;
                size_t k = charStart;
                if (!utf8::isWhitespace(utf8::next(text, k)))
                    break;
                newStart = charStart;
            }
            start = std::max(newStart, startOffset);
        }
        if (token && token->rstrip) {
            while (stop < text.size()) {
                size_t k = stop;
                if (!utf8::isWhitespace(utf8::next(text, k)))
                    break;
                stop = k;
            }
        }
        if (startOffset < start)
            out.push_back({-1, startOffset, start});
        out.push_back({id, start, stop});
        startOffset = stop;
    }
    if (startOffset < text.size())
        out.push_back({-1, startOffset, text.size()});
    return out;
}

TextPieces AddedVocabulary::extractAndNormalize(std::string_view text, const Normalizer* normalizer) const
{
    TextPieces result;
    for (const auto& raw : findMatches(text, m_rawTrie)) {
        if (raw.end <= raw.start && raw.id < 0)
            continue;
        if (raw.id >= 0) {
            result.push_back(TextPiece{std::string(text.substr(raw.start, raw.end - raw.start)), raw.id, raw.start == 0});
            continue;
        }
        std::string piece(text.substr(raw.start, raw.end - raw.start));
        if (normalizer)
            normalizer->normalize(piece);
        for (const auto& m : findMatches(piece, m_normalizedTrie)) {
            if (m.end <= m.start && m.id < 0)
                continue;
            result.push_back(TextPiece{piece.substr(m.start, m.end - m.start), m.id, raw.start == 0 && m.start == 0});
        }
    }
    return result;
}

} // namespace tb
