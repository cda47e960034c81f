// Splits template source into text and tag tokens, applying Jinja's whitespace rules the way
// transformers configures its environment: trim_blocks=True (the first newline after a block or
// comment tag is dropped), lstrip_blocks=True (spaces and tabs before a block or comment tag
// at the start of a line are dropped), the `-` and `+` tag modifiers, newline normalisation and
// the removal of one trailing newline (keep_trailing_newline=False).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tb {

struct JinjaPos {
    int line = 1;
    int column = 1;
};

struct JinjaToken {
    enum class Kind { Text, VarBegin, VarEnd, BlockBegin, BlockEnd, Name, String, Int, Float, Op, End };
    Kind kind = Kind::End;
    std::string text; // Text data, name, operator, or the decoded string literal
    std::int64_t intValue = 0;
    double floatValue = 0.0;
    JinjaPos pos;
};

class JinjaLexer {
public:
    // Throws FormatError(sourceName, "line L, column C: ...").
    JinjaLexer(const std::string& source, std::string sourceName);

    std::vector<JinjaToken> tokenize();

private:
    [[noreturn]] void fail(std::size_t offset, const std::string& message) const;
    JinjaPos posAt(std::size_t offset) const;
    void lexTag(bool block, std::size_t tagStart);
    void lexString(std::size_t& i);
    void lexNumber(std::size_t& i);

    std::string m_src;
    std::string m_sourceName;
    std::vector<std::size_t> m_lineStarts;
    std::vector<JinjaToken> m_tokens;
    std::size_t m_pos = 0;
};

} // namespace tb
