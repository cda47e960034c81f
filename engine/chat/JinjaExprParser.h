// Expressions, with Jinja's precedence (loosest first): `x if c else y`, or, and, not,
// comparisons and `in`, + -, ~, * / // %, **, unary - +, then postfix `.attr`, `[i]`,
// `[a:b:c]`, `(args)`, `|filter`, `is test`. Filters bind tighter than every operator, so
// `a + b | trim` trims only b. Unknown filter and test names are syntax errors, as in Jinja.
#pragma once

#include "chat/JinjaAst.h"
#include "chat/JinjaTokenStream.h"

#include <string>

namespace tb {

class JinjaExprParser {
public:
    explicit JinjaExprParser(JinjaTokenStream& in);

    // A comma-separated list becomes a tuple; `withCondExpr` false leaves a trailing `if` to
    // the caller (`for x in xs if cond`).
    JinjaExprPtr parseTuple(bool withCondExpr, bool explicitParens, bool stopAtIf);
    JinjaExprPtr parseExpression(bool withCondExpr = true);
    // Targets of for and set: a name, names separated by commas, or `ns.attr` (set only).
    JinjaExprPtr parseAssignTarget(bool allowNamespace);

private:
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

    JinjaTokenStream& m_in;
};

} // namespace tb
