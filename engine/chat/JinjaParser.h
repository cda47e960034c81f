// Recursive-descent parser for the Jinja subset chat templates use, with Jinja's operator
// precedence (loosest first): `x if c else y`, or, and, not, comparisons and `in`, + -, ~,
// * / // %, **, unary - +, then postfix `.attr`, `[i]`, `[a:b:c]`, `(args)`, `|filter`,
// `is test`. Statements: if/elif/else, for (with loop filter and else), set (also namespace
// attributes, tuples and block form), macro, break, continue, and transformers' generation tag.
#pragma once

#include "chat/JinjaAst.h"

#include <string>
#include <vector>

namespace tb {

class JinjaParser {
public:
    JinjaParser(std::vector<JinjaToken> tokens, std::string sourceName);

    // Throws FormatError(sourceName, "line L, column C: ...").
    JinjaBody parse();

private:
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

    // Parses nodes until a block tag named in `endTags`, leaving its name as the current token;
    // returns that tag name.
    std::string subparse(JinjaBody& body, const std::vector<std::string>& endTags);
    void parseStatement(JinjaBody& body);
    JinjaNodePtr parseIf(const JinjaPos& pos);
    JinjaNodePtr parseFor(const JinjaPos& pos);
    JinjaNodePtr parseSet(const JinjaPos& pos);
    JinjaNodePtr parseMacro(const JinjaPos& pos);
    JinjaExprPtr parseAssignTarget(bool allowNamespace);

    JinjaExprPtr parseTuple(bool withCondExpr, bool explicitParens, bool stopAtIn);
    JinjaExprPtr parseExpression(bool withCondExpr = true);
    JinjaExprPtr parseOr();
    JinjaExprPtr parseAnd();
    JinjaExprPtr parseNot();
    JinjaExprPtr parseCompare();
    JinjaExprPtr parseMath1();
    JinjaExprPtr parseConcat();
    JinjaExprPtr parseMath2();
    JinjaExprPtr parsePow();
    JinjaExprPtr parseUnary(bool withFilter);
    JinjaExprPtr parsePrimary();
    JinjaExprPtr parsePostfix(JinjaExprPtr node);
    JinjaExprPtr parseFilterExpr(JinjaExprPtr node);
    JinjaExprPtr parseSubscript(JinjaExprPtr node);
    void parseCallArgs(JinjaExpr& call);

    static JinjaExprPtr makeExpr(JinjaExpr::Kind kind, const JinjaPos& pos);
    static JinjaExprPtr makeBinary(const std::string& op, JinjaExprPtr left, JinjaExprPtr right);

    std::vector<JinjaToken> m_tokens;
    std::string m_sourceName;
    std::size_t m_index = 0;
    int m_depth = 0;
};

} // namespace tb
