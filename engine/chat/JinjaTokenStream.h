// The parser's cursor over lexer tokens, and its error reporting: every syntax error becomes
// FormatError(sourceName, "line L, column C: ...") at the token where parsing stopped.
#pragma once

#include "chat/JinjaLexer.h"

#include <string>
#include <vector>

namespace tb {

class JinjaTokenStream {
public:
    JinjaTokenStream(std::vector<JinjaToken> tokens, std::string sourceName);

    const JinjaToken& peek(std::size_t ahead = 0) const;
    const JinjaToken& next();
    bool isOp(const char* op, std::size_t ahead = 0) const;
    bool isName(const char* name, std::size_t ahead = 0) const;
    bool skipOp(const char* op);
    bool skipName(const char* name);
    void expectOp(const char* op);
    std::string expectName();
    void expectBlockEnd();
    [[noreturn]] void fail(const JinjaPos& pos, const std::string& message) const;
    [[noreturn]] void failUnexpected(const std::string& expected) const;
    static std::string describe(const JinjaToken& t);

    // Bounds the recursion of the descent (and of the evaluator, which follows the same tree):
    // a hostile template nesting thousands of parentheses or blocks gets an error, not a
    // stack overflow.
    class DepthGuard {
    public:
        DepthGuard(JinjaTokenStream& stream, const char* what);
        ~DepthGuard();
        DepthGuard(const DepthGuard&) = delete;
        DepthGuard& operator=(const DepthGuard&) = delete;

    private:
        JinjaTokenStream& m_stream;
    };

private:
    static constexpr int kMaxDepth = 200;

    std::vector<JinjaToken> m_tokens;
    std::string m_sourceName;
    std::size_t m_index = 0;
    int m_depth = 0;
};

} // namespace tb
