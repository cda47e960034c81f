// Syntax tree of a parsed template: expressions and statements, each with the line and column
// runtime errors report.
#pragma once

#include "chat/JinjaLexer.h"
#include "chat/JinjaValue.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace tb {

struct JinjaExpr;
using JinjaExprPtr = std::unique_ptr<JinjaExpr>;

struct JinjaExpr {
    enum class Kind {
        Literal,  // literal
        Name,     // name
        List,     // children = items
        Tuple,    // children = items
        Dict,     // children = key0, value0, key1, value1, ...
        Attr,     // children[0].name
        Item,     // children[0][children[1]]
        Slice,    // children[0][children[1]:children[2]:children[3]], absent parts null
        Call,     // children[0](children[1..], kwargs)
        Filter,   // children[0] | name(children[1..], kwargs)
        Test,     // children[0] is [not] name(children[1..])
        Unary,    // op children[0]; op is "-", "+" or "not"
        Binary,   // children[0] op children[1]; op includes "and", "or", "in", "not in", "~"
        Ternary,  // children[0] if children[1] else children[2] (null: undefined)
    };
    Kind kind = Kind::Literal;
    JinjaPos pos;
    JinjaValue literal;
    std::string name; // Name, Attr, Filter and Test name; operator of Unary and Binary
    std::vector<JinjaExprPtr> children;
    std::vector<std::pair<std::string, JinjaExprPtr>> kwargs;
    bool negated = false; // Test: `is not`
};

struct JinjaNode;
using JinjaNodePtr = std::unique_ptr<JinjaNode>;
using JinjaBody = std::vector<JinjaNodePtr>;

struct JinjaNode {
    enum class Kind { Text, Output, If, For, Set, SetBlock, Macro, Break, Continue };
    Kind kind = Kind::Text;
    JinjaPos pos;
    std::string text;    // Text; Macro name
    JinjaExprPtr expr;   // Output value; For iterable; Set value
    JinjaExprPtr target; // For loop variable(s); Set/SetBlock target (Name, Tuple or Attr)
    JinjaExprPtr filter; // For `if` condition
    // If: (condition, body) per if/elif, then (null, body) for else.
    std::vector<std::pair<JinjaExprPtr, JinjaBody>> branches;
    JinjaBody body;     // For, SetBlock, Macro
    JinjaBody elseBody; // For
    std::vector<std::string> params;         // Macro
    std::vector<JinjaExprPtr> paramDefaults; // Macro; null where no default
};

} // namespace tb
