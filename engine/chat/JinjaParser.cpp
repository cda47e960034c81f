#include "chat/JinjaParser.h"

#include "chat/JinjaFilters.h"
#include "core/FormatError.h"

#include <algorithm>
#include <cstring>

namespace tb {

namespace {

using Kind = JinjaToken::Kind;

// Deep nesting would overflow the stack of the recursive descent (and of the evaluator later).
constexpr int kMaxDepth = 200;

struct DepthGuard {
    DepthGuard(int& depth, const std::function<void()>& onOverflow) : m_depth(depth)
    {
        if (++m_depth > kMaxDepth)
            onOverflow();
    }
    ~DepthGuard() { --m_depth; }
    int& m_depth;
};

std::string joinQuoted(const std::vector<std::string>& names)
{
    std::string out;
    for (std::size_t i = 0; i < names.size(); ++i) {
        if (i)
            out += i + 1 == names.size() ? " or " : ", ";
        out += "'" + names[i] + "'";
    }
    return out;
}

} // namespace

JinjaParser::JinjaParser(std::vector<JinjaToken> tokens, std::string sourceName)
    : m_tokens(std::move(tokens)), m_sourceName(std::move(sourceName))
{
    if (m_tokens.empty() || m_tokens.back().kind != Kind::End)
        m_tokens.push_back(JinjaToken{});
}

const JinjaToken& JinjaParser::peek(std::size_t ahead) const
{
    return m_tokens[std::min(m_index + ahead, m_tokens.size() - 1)];
}

const JinjaToken& JinjaParser::next()
{
    const JinjaToken& t = peek();
    if (m_index < m_tokens.size() - 1)
        ++m_index;
    return t;
}

bool JinjaParser::isOp(const char* op, std::size_t ahead) const
{
    const JinjaToken& t = peek(ahead);
    return t.kind == Kind::Op && t.text == op;
}

bool JinjaParser::isName(const char* name, std::size_t ahead) const
{
    const JinjaToken& t = peek(ahead);
    return t.kind == Kind::Name && t.text == name;
}

bool JinjaParser::skipOp(const char* op)
{
    if (!isOp(op))
        return false;
    next();
    return true;
}

bool JinjaParser::skipName(const char* name)
{
    if (!isName(name))
        return false;
    next();
    return true;
}

void JinjaParser::expectOp(const char* op)
{
    if (!skipOp(op))
        failUnexpected(std::string("'") + op + "'");
}

std::string JinjaParser::expectName()
{
    if (peek().kind != Kind::Name)
        failUnexpected("a name");
    return next().text;
}

void JinjaParser::expectBlockEnd()
{
    if (peek().kind != Kind::BlockEnd)
        failUnexpected("'%}'");
    next();
}

void JinjaParser::fail(const JinjaPos& pos, const std::string& message) const
{
    throw FormatError(m_sourceName, "line " + std::to_string(pos.line) + ", column " + std::to_string(pos.column)
                                        + ": " + message);
}

void JinjaParser::failUnexpected(const std::string& expected) const
{
    fail(peek().pos, "expected " + expected + ", got " + describe(peek()));
}

std::string JinjaParser::describe(const JinjaToken& t)
{
    switch (t.kind) {
    case Kind::Text: return "template text";
    case Kind::VarBegin: return "'{{'";
    case Kind::VarEnd: return "'}}'";
    case Kind::BlockBegin: return "'{%'";
    case Kind::BlockEnd: return "'%}'";
    case Kind::String: return "a string";
    case Kind::Int:
    case Kind::Float: return "'" + t.text + "'";
    case Kind::End: return "end of template";
    default: return "'" + t.text + "'";
    }
}

JinjaExprPtr JinjaParser::makeExpr(JinjaExpr::Kind kind, const JinjaPos& pos)
{
    auto e = std::make_unique<JinjaExpr>();
    e->kind = kind;
    e->pos = pos;
    return e;
}

JinjaExprPtr JinjaParser::makeBinary(const std::string& op, JinjaExprPtr left, JinjaExprPtr right)
{
    auto e = makeExpr(JinjaExpr::Kind::Binary, left->pos);
    e->name = op;
    e->children.push_back(std::move(left));
    e->children.push_back(std::move(right));
    return e;
}

JinjaBody JinjaParser::parse()
{
    JinjaBody body;
    subparse(body, {});
    return body;
}

std::string JinjaParser::subparse(JinjaBody& body, const std::vector<std::string>& endTags)
{
    DepthGuard guard(m_depth, [this] { fail(peek().pos, "blocks are nested too deeply"); });
    while (true) {
        const JinjaToken& t = peek();
        switch (t.kind) {
        case Kind::End:
            if (!endTags.empty())
                fail(t.pos, "unexpected end of template, expected " + joinQuoted(endTags));
            return {};
        case Kind::Text: {
            auto node = std::make_unique<JinjaNode>();
            node->kind = JinjaNode::Kind::Text;
            node->pos = t.pos;
            node->text = t.text;
            body.push_back(std::move(node));
            next();
            break;
        }
        case Kind::VarBegin: {
            auto node = std::make_unique<JinjaNode>();
            node->kind = JinjaNode::Kind::Output;
            node->pos = t.pos;
            next();
            node->expr = parseTuple(true, false, false);
            if (peek().kind != Kind::VarEnd)
                failUnexpected("'}}'");
            next();
            body.push_back(std::move(node));
            break;
        }
        case Kind::BlockBegin: {
            const JinjaToken& name = peek(1);
            if (name.kind == Kind::Name
                && std::find(endTags.begin(), endTags.end(), name.text) != endTags.end()) {
                next();
                return next().text;
            }
            parseStatement(body);
            break;
        }
        default: failUnexpected("template text or a tag");
        }
    }
}

void JinjaParser::parseStatement(JinjaBody& body)
{
    const JinjaPos pos = next().pos; // {%
    const JinjaToken& t = peek();
    if (t.kind != Kind::Name)
        failUnexpected("a tag name");
    const std::string tag = next().text;
    if (tag == "if") {
        body.push_back(parseIf(pos));
    } else if (tag == "for") {
        body.push_back(parseFor(pos));
    } else if (tag == "set") {
        body.push_back(parseSet(pos));
    } else if (tag == "macro") {
        body.push_back(parseMacro(pos));
    } else if (tag == "break" || tag == "continue") {
        expectBlockEnd();
        auto node = std::make_unique<JinjaNode>();
        node->kind = tag == "break" ? JinjaNode::Kind::Break : JinjaNode::Kind::Continue;
        node->pos = pos;
        body.push_back(std::move(node));
    } else if (tag == "generation") {
        // transformers' {% generation %} marks assistant text for return_assistant_tokens_mask;
        // for rendering it is transparent.
        expectBlockEnd();
        subparse(body, {"endgeneration"});
        expectBlockEnd();
    } else {
        fail(t.pos, "unknown tag '" + tag + "' (supported: if, for, set, macro, break, continue, generation)");
    }
}

JinjaNodePtr JinjaParser::parseIf(const JinjaPos& pos)
{
    auto node = std::make_unique<JinjaNode>();
    node->kind = JinjaNode::Kind::If;
    node->pos = pos;
    JinjaExprPtr cond = parseTuple(false, false, false);
    while (true) {
        expectBlockEnd();
        JinjaBody branch;
        const std::string end = subparse(branch, {"elif", "else", "endif"});
        node->branches.emplace_back(std::move(cond), std::move(branch));
        if (end == "elif") {
            cond = parseTuple(false, false, false);
            continue;
        }
        if (end == "else") {
            expectBlockEnd();
            JinjaBody elseBranch;
            subparse(elseBranch, {"endif"});
            node->branches.emplace_back(nullptr, std::move(elseBranch));
        }
        expectBlockEnd();
        return node;
    }
}

JinjaNodePtr JinjaParser::parseFor(const JinjaPos& pos)
{
    auto node = std::make_unique<JinjaNode>();
    node->kind = JinjaNode::Kind::For;
    node->pos = pos;
    node->target = parseAssignTarget(false);
    if (!skipName("in"))
        failUnexpected("'in'");
    node->expr = parseTuple(false, false, true);
    if (skipName("if"))
        node->filter = parseExpression();
    if (isName("recursive"))
        fail(peek().pos, "recursive for loops are not supported");
    expectBlockEnd();
    const std::string end = subparse(node->body, {"endfor", "else"});
    if (end == "else") {
        expectBlockEnd();
        subparse(node->elseBody, {"endfor"});
    }
    expectBlockEnd();
    return node;
}

JinjaNodePtr JinjaParser::parseSet(const JinjaPos& pos)
{
    auto node = std::make_unique<JinjaNode>();
    node->pos = pos;
    node->target = parseAssignTarget(true);
    if (skipOp("=")) {
        node->kind = JinjaNode::Kind::Set;
        node->expr = parseTuple(true, false, false);
        expectBlockEnd();
        return node;
    }
    if (peek().kind != Kind::BlockEnd)
        failUnexpected("'=' or '%}'");
    if (node->target->kind != JinjaExpr::Kind::Name)
        fail(node->target->pos, "a block set assigns a single name");
    next();
    node->kind = JinjaNode::Kind::SetBlock;
    subparse(node->body, {"endset"});
    expectBlockEnd();
    return node;
}

JinjaNodePtr JinjaParser::parseMacro(const JinjaPos& pos)
{
    auto node = std::make_unique<JinjaNode>();
    node->kind = JinjaNode::Kind::Macro;
    node->pos = pos;
    node->text = expectName();
    expectOp("(");
    while (!skipOp(")")) {
        if (!node->params.empty())
            expectOp(",");
        if (skipOp(")"))
            break;
        node->params.push_back(expectName());
        node->paramDefaults.push_back(skipOp("=") ? parseExpression() : nullptr);
    }
    expectBlockEnd();
    subparse(node->body, {"endmacro"});
    if (peek().kind == Kind::Name && peek().text == node->text)
        next();
    expectBlockEnd();
    return node;
}

JinjaExprPtr JinjaParser::parseAssignTarget(bool allowNamespace)
{
    const JinjaPos pos = peek().pos;
    if (allowNamespace && peek().kind == Kind::Name && isOp(".", 1) && peek(2).kind == Kind::Name) {
        auto object = makeExpr(JinjaExpr::Kind::Name, pos);
        object->name = next().text;
        next(); // .
        auto attr = makeExpr(JinjaExpr::Kind::Attr, pos);
        attr->name = next().text;
        attr->children.push_back(std::move(object));
        return attr;
    }
    const bool parens = skipOp("(");
    auto tuple = makeExpr(JinjaExpr::Kind::Tuple, pos);
    bool isTuple = parens;
    while (true) {
        auto name = makeExpr(JinjaExpr::Kind::Name, peek().pos);
        name->name = expectName();
        tuple->children.push_back(std::move(name));
        if (!skipOp(","))
            break;
        isTuple = true;
        if (peek().kind != Kind::Name)
            break;
    }
    if (parens)
        expectOp(")");
    if (!isTuple)
        return std::move(tuple->children.front());
    return tuple;
}

JinjaExprPtr JinjaParser::parseTuple(bool withCondExpr, bool explicitParens, bool stopAtIn)
{
    const JinjaPos pos = peek().pos;
    std::vector<JinjaExprPtr> items;
    bool isTuple = false;
    auto atEnd = [&] {
        const JinjaToken& t = peek();
        return t.kind == Kind::VarEnd || t.kind == Kind::BlockEnd || isOp(")") || t.kind == Kind::End
            || (stopAtIn && isName("if"));
    };
    while (true) {
        if (!items.empty()) {
            if (!skipOp(","))
                break;
            isTuple = true;
        }
        if (atEnd())
            break;
        items.push_back(withCondExpr ? parseExpression() : parseOr());
    }
    if (!isTuple) {
        if (items.empty()) {
            if (explicitParens)
                return makeExpr(JinjaExpr::Kind::Tuple, pos);
            failUnexpected("an expression");
        }
        return std::move(items.front());
    }
    auto tuple = makeExpr(JinjaExpr::Kind::Tuple, pos);
    tuple->children = std::move(items);
    return tuple;
}

JinjaExprPtr JinjaParser::parseExpression(bool withCondExpr)
{
    DepthGuard guard(m_depth, [this] { fail(peek().pos, "expression is nested too deeply"); });
    JinjaExprPtr expr = parseOr();
    if (!withCondExpr)
        return expr;
    while (isName("if")) {
        const JinjaPos pos = next().pos;
        auto ternary = makeExpr(JinjaExpr::Kind::Ternary, pos);
        JinjaExprPtr cond = parseOr();
        JinjaExprPtr otherwise = skipName("else") ? parseExpression() : nullptr;
        ternary->children.push_back(std::move(expr));
        ternary->children.push_back(std::move(cond));
        ternary->children.push_back(std::move(otherwise));
        expr = std::move(ternary);
    }
    return expr;
}

JinjaExprPtr JinjaParser::parseOr()
{
    JinjaExprPtr left = parseAnd();
    while (skipName("or"))
        left = makeBinary("or", std::move(left), parseAnd());
    return left;
}

JinjaExprPtr JinjaParser::parseAnd()
{
    JinjaExprPtr left = parseNot();
    while (skipName("and"))
        left = makeBinary("and", std::move(left), parseNot());
    return left;
}

JinjaExprPtr JinjaParser::parseNot()
{
    if (isName("not")) {
        const JinjaPos pos = next().pos;
        DepthGuard guard(m_depth, [this] { fail(peek().pos, "expression is nested too deeply"); });
        auto e = makeExpr(JinjaExpr::Kind::Unary, pos);
        e->name = "not";
        e->children.push_back(parseNot());
        return e;
    }
    return parseCompare();
}

JinjaExprPtr JinjaParser::parseCompare()
{
    JinjaExprPtr left = parseMath1();
    while (true) {
        const JinjaToken& t = peek();
        if (t.kind == Kind::Op
            && (t.text == "==" || t.text == "!=" || t.text == "<" || t.text == ">" || t.text == "<="
                || t.text == ">=")) {
            const std::string op = next().text;
            left = makeBinary(op, std::move(left), parseMath1());
        } else if (skipName("in")) {
            left = makeBinary("in", std::move(left), parseMath1());
        } else if (isName("not") && isName("in", 1)) {
            next();
            next();
            left = makeBinary("not in", std::move(left), parseMath1());
        } else {
            return left;
        }
    }
}

JinjaExprPtr JinjaParser::parseMath1()
{
    JinjaExprPtr left = parseConcat();
    while (isOp("+") || isOp("-")) {
        const std::string op = next().text;
        left = makeBinary(op, std::move(left), parseConcat());
    }
    return left;
}

JinjaExprPtr JinjaParser::parseConcat()
{
    JinjaExprPtr left = parseMath2();
    while (skipOp("~"))
        left = makeBinary("~", std::move(left), parseMath2());
    return left;
}

JinjaExprPtr JinjaParser::parseMath2()
{
    JinjaExprPtr left = parsePow();
    while (isOp("*") || isOp("/") || isOp("//") || isOp("%")) {
        const std::string op = next().text;
        left = makeBinary(op, std::move(left), parsePow());
    }
    return left;
}

JinjaExprPtr JinjaParser::parsePow()
{
    JinjaExprPtr left = parseUnary(true);
    while (skipOp("**"))
        left = makeBinary("**", std::move(left), parseUnary(true));
    return left;
}

JinjaExprPtr JinjaParser::parseUnary(bool withFilter)
{
    DepthGuard guard(m_depth, [this] { fail(peek().pos, "expression is nested too deeply"); });
    JinjaExprPtr node;
    if (isOp("-") || isOp("+")) {
        const JinjaToken& t = next();
        node = makeExpr(JinjaExpr::Kind::Unary, t.pos);
        node->name = t.text;
        node->children.push_back(parseUnary(false));
    } else {
        node = parsePrimary();
    }
    node = parsePostfix(std::move(node));
    if (withFilter)
        node = parseFilterExpr(std::move(node));
    return node;
}

JinjaExprPtr JinjaParser::parsePrimary()
{
    const JinjaToken& t = peek();
    const JinjaPos pos = t.pos;
    switch (t.kind) {
    case Kind::Name: {
        auto e = makeExpr(JinjaExpr::Kind::Literal, pos);
        const std::string& n = t.text;
        if (n == "true" || n == "True") {
            e->literal = JinjaValue::boolean(true);
        } else if (n == "false" || n == "False") {
            e->literal = JinjaValue::boolean(false);
        } else if (n == "none" || n == "None") {
            e->literal = JinjaValue::none();
        } else {
            e->kind = JinjaExpr::Kind::Name;
            e->name = n;
        }
        next();
        return e;
    }
    case Kind::String: {
        // Adjacent string literals concatenate, as in Python.
        std::string value;
        while (peek().kind == Kind::String)
            value += next().text;
        auto e = makeExpr(JinjaExpr::Kind::Literal, pos);
        e->literal = JinjaValue::string(std::move(value));
        return e;
    }
    case Kind::Int: {
        auto e = makeExpr(JinjaExpr::Kind::Literal, pos);
        e->literal = JinjaValue::integer(next().intValue);
        return e;
    }
    case Kind::Float: {
        auto e = makeExpr(JinjaExpr::Kind::Literal, pos);
        e->literal = JinjaValue::floating(next().floatValue);
        return e;
    }
    default: break;
    }
    if (skipOp("(")) {
        JinjaExprPtr inner = parseTuple(true, true, false);
        expectOp(")");
        return inner;
    }
    if (skipOp("[")) {
        auto e = makeExpr(JinjaExpr::Kind::List, pos);
        while (!skipOp("]")) {
            if (!e->children.empty())
                expectOp(",");
            if (skipOp("]"))
                break;
            e->children.push_back(parseExpression());
        }
        return e;
    }
    if (skipOp("{")) {
        auto e = makeExpr(JinjaExpr::Kind::Dict, pos);
        while (!skipOp("}")) {
            if (!e->children.empty())
                expectOp(",");
            if (skipOp("}"))
                break;
            e->children.push_back(parseExpression());
            expectOp(":");
            e->children.push_back(parseExpression());
        }
        return e;
    }
    failUnexpected("an expression");
}

JinjaExprPtr JinjaParser::parsePostfix(JinjaExprPtr node)
{
    while (true) {
        if (isOp(".")) {
            const JinjaPos pos = next().pos;
            if (peek().kind == Kind::Int) {
                auto item = makeExpr(JinjaExpr::Kind::Item, pos);
                auto index = makeExpr(JinjaExpr::Kind::Literal, peek().pos);
                index->literal = JinjaValue::integer(next().intValue);
                item->children.push_back(std::move(node));
                item->children.push_back(std::move(index));
                node = std::move(item);
                continue;
            }
            auto attr = makeExpr(JinjaExpr::Kind::Attr, pos);
            attr->name = expectName();
            attr->children.push_back(std::move(node));
            node = std::move(attr);
        } else if (isOp("[")) {
            node = parseSubscript(std::move(node));
        } else if (isOp("(")) {
            auto call = makeExpr(JinjaExpr::Kind::Call, peek().pos);
            call->children.push_back(std::move(node));
            parseCallArgs(*call);
            node = std::move(call);
        } else {
            return node;
        }
    }
}

JinjaExprPtr JinjaParser::parseSubscript(JinjaExprPtr node)
{
    const JinjaPos pos = next().pos; // [
    JinjaExprPtr start;
    if (!isOp(":")) {
        start = parseExpression();
        if (skipOp("]")) {
            auto item = makeExpr(JinjaExpr::Kind::Item, pos);
            item->children.push_back(std::move(node));
            item->children.push_back(std::move(start));
            return item;
        }
    }
    expectOp(":");
    auto slice = makeExpr(JinjaExpr::Kind::Slice, pos);
    slice->children.push_back(std::move(node));
    slice->children.push_back(std::move(start));
    slice->children.push_back(isOp("]") || isOp(":") ? nullptr : parseExpression());
    if (skipOp(":"))
        slice->children.push_back(isOp("]") ? nullptr : parseExpression());
    else
        slice->children.push_back(nullptr);
    expectOp("]");
    return slice;
}

void JinjaParser::parseCallArgs(JinjaExpr& call)
{
    expectOp("(");
    bool first = true;
    while (!skipOp(")")) {
        if (!first)
            expectOp(",");
        first = false;
        if (skipOp(")"))
            break;
        if (isOp("*") || isOp("**"))
            fail(peek().pos, "argument unpacking (*args, **kwargs) is not supported");
        if (peek().kind == Kind::Name && isOp("=", 1)) {
            std::string key = next().text;
            next(); // =
            call.kwargs.emplace_back(std::move(key), parseExpression());
        } else {
            if (!call.kwargs.empty())
                fail(peek().pos, "positional argument follows keyword argument");
            call.children.push_back(parseExpression());
        }
    }
}

JinjaExprPtr JinjaParser::parseFilterExpr(JinjaExprPtr node)
{
    while (true) {
        if (isOp("|")) {
            next();
            auto filter = makeExpr(JinjaExpr::Kind::Filter, peek().pos);
            filter->name = expectName();
            if (!JinjaFilters::hasFilter(filter->name))
                fail(filter->pos, "no filter named '" + filter->name + "'");
            filter->children.push_back(std::move(node));
            if (isOp("("))
                parseCallArgs(*filter);
            node = std::move(filter);
        } else if (isName("is")) {
            next();
            auto test = makeExpr(JinjaExpr::Kind::Test, peek().pos);
            test->negated = skipName("not");
            test->name = expectName();
            if (!JinjaFilters::hasTest(test->name))
                fail(test->pos, "no test named '" + test->name + "'");
            test->children.push_back(std::move(node));
            const JinjaToken& t = peek();
            if (isOp("(")) {
                parseCallArgs(*test);
            } else if ((t.kind == Kind::Name || t.kind == Kind::String || t.kind == Kind::Int
                        || t.kind == Kind::Float || isOp("[") || isOp("{"))
                       && !isName("else") && !isName("or") && !isName("and") && !isName("if")
                       && !isName("in") && !isName("not") && !isName("is")) {
                // Jinja's one-argument form: `x is divisibleby 3`, `x is sameas none`.
                test->children.push_back(parsePostfix(parsePrimary()));
            }
            node = std::move(test);
        } else if (isOp("(")) {
            auto call = makeExpr(JinjaExpr::Kind::Call, peek().pos);
            call->children.push_back(std::move(node));
            parseCallArgs(*call);
            node = std::move(call);
        } else {
            return node;
        }
    }
}

} // namespace tb
