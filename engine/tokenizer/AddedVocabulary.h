// tokenizer.json "added_tokens": tokens matched in the text before the model runs, as
// tokenizers' AddedVocabulary does. Ids are assigned the way tokenizers assigns them on load
// (the model's id when the content is in the vocab, otherwise the next free id after the model),
// so a file whose recorded ids disagree behaves as it does in the reference library.
// Matching: first the non-normalized tokens on the raw text, then the remaining pieces are
// normalized and searched for normalized tokens (whose patterns are their normalized content);
// leftmost-longest, honouring single_word, lstrip and rstrip.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "tokenizer/JsonReader.h"
#include "tokenizer/TextPiece.h"

namespace tb {

class BpeModel;
class Normalizer;

class AddedVocabulary {
public:
    struct Token {
        std::string content;
        bool singleWord = false;
        bool lstrip = false;
        bool rstrip = false;
        bool normalized = true;
        bool special = false;
    };

    AddedVocabulary() = default;
    AddedVocabulary(const JsonReader& reader, const JsonReader::Json* addedTokens, const BpeModel& model,
                    const Normalizer* normalizer);

    // Splits `text` (valid UTF-8) into added-token pieces and normalized text pieces.
    TextPieces extractAndNormalize(std::string_view text, const Normalizer* normalizer) const;

    int32_t tokenToId(std::string_view content) const; // -1 when not an added token
    const Token* tokenForId(int32_t id) const;         // nullptr when not an added token
    bool isSpecialContent(std::string_view content) const;
    int32_t maxId() const { return m_maxId; }

private:
    // A byte trie searched leftmost-longest (aho-corasick MatchKind::LeftmostLongest gives the
    // same matches: the earliest start, and the longest pattern there).
    class Trie {
    public:
        void add(std::string_view pattern, int32_t id);
        // Longest pattern starting at `pos`: its length and id; length 0 when none.
        std::pair<size_t, int32_t> longestAt(std::string_view text, size_t pos) const;
        bool empty() const { return m_nodes.size() <= 1; }
        bool canStartWith(unsigned char b) const { return m_first[b]; }

    private:
        struct Node {
            std::vector<std::pair<unsigned char, int32_t>> children;
            int32_t id = -1;
        };
        std::vector<Node> m_nodes{Node{}};
        bool m_first[256] = {};
    };

    struct Match {
        int32_t id; // -1 for plain text
        size_t start;
        size_t end;
    };
    std::vector<Match> findMatches(std::string_view text, const Trie& trie) const;
    void add(const Token& token, const BpeModel& model);

    std::vector<Token> m_special;  // special tokens, file order, unique content
    std::vector<Token> m_classic;  // other added tokens, file order
    std::unordered_map<std::string, int32_t> m_contentToId;
    std::unordered_map<int32_t, Token> m_idToToken;
    std::unordered_multimap<std::string, int32_t> m_contentIds; // every id a content was stored under
    std::unordered_set<std::string> m_specialContent;
    Trie m_rawTrie;
    Trie m_normalizedTrie;
    int32_t m_maxId = -1;
};

} // namespace tb
