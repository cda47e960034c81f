// A compiled pattern that finds matches the way tokenizers' SysRegex (Oniguruma) does, run by
// PCRE2 (UTF + UCP, JIT when available). tokenizer.json regexes are written for Oniguruma, so
// the pattern is translated first: \s, \S, \w, \W and \h take Oniguruma's Unicode meanings
// (PCRE2's differ on U+180E, marks, No numbers and hex digits), and ^/$ are line anchors.
// Thread-safe: match state lives in thread-local storage.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tb {

class Regex {
public:
    struct Span {
        size_t start;
        size_t end;
        bool isMatch; // false for the text between matches
    };

    // Throws std::invalid_argument with PCRE2's message and offset on a bad pattern.
    static Regex fromPattern(const std::string& onigPattern);
    // Matches `text` literally, as tokenizers' String patterns (regex-escaped) do.
    static Regex fromLiteral(std::string_view text);

    // Non-overlapping matches, left to right, with Oniguruma's iteration rule for empty
    // matches (an empty match right after the previous match is skipped).
    std::vector<std::pair<size_t, size_t>> findAll(std::string_view text) const;
    // Matches and the gaps between them, covering all of `text`: tokenizers' Pattern::find_matches.
    // An empty text yields one empty gap.
    std::vector<Span> findSpans(std::string_view text) const;

    static std::string translateOnigPattern(const std::string& onigPattern);

private:
    struct Compiled;
    Regex() = default;
    std::shared_ptr<const Compiled> m_compiled; // null for a literal
    std::string m_literal;
};

} // namespace tb
