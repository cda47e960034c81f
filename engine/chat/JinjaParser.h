// Parses a chat template into statements: if/elif/else, for (with loop filter and else), set
// (names, tuples, namespace attributes, block form), macro, break, continue, and transformers'
// generation tag. Expressions are JinjaExprParser's.
#pragma once

#include "chat/JinjaAst.h"
#include "chat/JinjaExprParser.h"
#include "chat/JinjaTokenStream.h"

#include <string>
#include <vector>

namespace tb {

class JinjaParser {
public:
    JinjaParser(std::vector<JinjaToken> tokens, std::string sourceName);

    // Throws FormatError(sourceName, "line L, column C: ...").
    JinjaBody parse();

private:
    // Parses nodes until a block tag named in `endTags`, leaving its name as the current token;
    // returns that tag name.
    std::string subparse(JinjaBody& body, const std::vector<std::string>& endTags);
    void parseStatement(JinjaBody& body);
    JinjaNodePtr parseIf(const JinjaPos& pos);
    JinjaNodePtr parseFor(const JinjaPos& pos);
    JinjaNodePtr parseSet(const JinjaPos& pos);
    JinjaNodePtr parseMacro(const JinjaPos& pos);

    JinjaTokenStream m_in;
    JinjaExprParser m_expr;
};

} // namespace tb
