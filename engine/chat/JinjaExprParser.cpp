#include "chat/JinjaExprParser.h"

#include "chat/JinjaFilters.h"

namespace tb {

namespace {

using Kind = JinjaToken::Kind;

} // namespace

JinjaExprParser::JinjaExprParser(JinjaTokenStream& in) : m_in(in) {}

JinjaExprPtr JinjaExprParser::makeExpr(JinjaExpr::Kind kind, const JinjaPos& pos)
{
    auto e = std::make_unique<JinjaExpr>();
    e->kind = kind;
    e->pos = pos;
    return e;
}

JinjaExprPtr JinjaExprParser::makeBinary(const std::string& op, JinjaExprPtr left, JinjaExprPtr right)
{
    auto e = makeExpr(JinjaExpr::Kind::Binary, left->pos);
    e->name = op;
    e->children.push_back(std::move(left));
    e->children.push_back(std::move(right));
    return e;
}

JinjaExprPtr JinjaExprParser::parseAssignTarget(bool allowNamespace)
{
    const JinjaPos pos = m_in.peek().pos;
    if (allowNamespace && m_in.peek().kind == Kind::Name && m_in.isOp(".", 1) && m_in.peek(2).kind == Kind::Name) {
        auto object = makeExpr(JinjaExpr::Kind::Name, pos);
        object->name = m_in.next().text;
        m_in.next(); // .
        auto attr = makeExpr(JinjaExpr::Kind::Attr, pos);
        attr->name = m_in.next().text;
        attr->children.push_back(std::move(object));
        return attr;
    }
    const bool parens = m_in.skipOp("(");
    auto tuple = makeExpr(JinjaExpr::Kind::Tuple, pos);
    bool isTuple = parens;
    while (true) {
        auto name = makeExpr(JinjaExpr::Kind::Name, m_in.peek().pos);
        name->name = m_in.expectName();
        tuple->children.push_back(std::move(name));
        if (!m_in.skipOp(","))
            break;
        isTuple = true;
        if (m_in.peek().kind != Kind::Name)
            break;
    }
    if (parens)
        m_in.expectOp(")");
    if (!isTuple)
        return std::move(tuple->children.front());
    return tuple;
}

JinjaExprPtr JinjaExprParser::parseTuple(bool withCondExpr, bool explicitParens, bool stopAtIf)
{
    const JinjaPos pos = m_in.peek().pos;
    std::vector<JinjaExprPtr> items;
    bool isTuple = false;
    auto atEnd = [&] {
        const JinjaToken& t = m_in.peek();
        return t.kind == Kind::VarEnd || t.kind == Kind::BlockEnd || m_in.isOp(")") || t.kind == Kind::End
            || (stopAtIf && m_in.isName("if"));
    };
    while (true) {
        if (!items.empty()) {
            if (!m_in.skipOp(","))
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
            m_in.failUnexpected("an expression");
        }
        return std::move(items.front());
    }
    auto tuple = makeExpr(JinjaExpr::Kind::Tuple, pos);
    tuple->children = std::move(items);
    return tuple;
}

JinjaExprPtr JinjaExprParser::parseExpression(bool withCondExpr)
{
    JinjaTokenStream::DepthGuard guard(m_in, "expression is");
    JinjaExprPtr expr = parseOr();
    if (!withCondExpr)
        return expr;
    while (m_in.isName("if")) {
        const JinjaPos pos = m_in.next().pos;
        auto ternary = makeExpr(JinjaExpr::Kind::Ternary, pos);
        JinjaExprPtr cond = parseOr();
        JinjaExprPtr otherwise = m_in.skipName("else") ? parseExpression() : nullptr;
        ternary->children.push_back(std::move(expr));
        ternary->children.push_back(std::move(cond));
        ternary->children.push_back(std::move(otherwise));
        expr = std::move(ternary);
    }
    return expr;
}

JinjaExprPtr JinjaExprParser::parseOr()
{
    JinjaExprPtr left = parseAnd();
    while (m_in.skipName("or"))
        left = makeBinary("or", std::move(left), parseAnd());
    return left;
}

JinjaExprPtr JinjaExprParser::parseAnd()
{
    JinjaExprPtr left = parseNot();
    while (m_in.skipName("and"))
        left = makeBinary("and", std::move(left), parseNot());
    return left;
}

JinjaExprPtr JinjaExprParser::parseNot()
{
    if (m_in.isName("not")) {
        const JinjaPos pos = m_in.next().pos;
        JinjaTokenStream::DepthGuard guard(m_in, "expression is");
        auto e = makeExpr(JinjaExpr::Kind::Unary, pos);
        e->name = "not";
        e->children.push_back(parseNot());
        return e;
    }
    return parseCompare();
}

JinjaExprPtr JinjaExprParser::parseCompare()
{
    JinjaExprPtr left = parseMath1();
    while (true) {
        const JinjaToken& t = m_in.peek();
        if (t.kind == Kind::Op
            && (t.text == "==" || t.text == "!=" || t.text == "<" || t.text == ">" || t.text == "<="
                || t.text == ">=")) {
            const std::string op = m_in.next().text;
            left = makeBinary(op, std::move(left), parseMath1());
        } else if (m_in.skipName("in")) {
            left = makeBinary("in", std::move(left), parseMath1());
        } else if (m_in.isName("not") && m_in.isName("in", 1)) {
            m_in.next();
            m_in.next();
            left = makeBinary("not in", std::move(left), parseMath1());
        } else {
            return left;
        }
    }
}

JinjaExprPtr JinjaExprParser::parseMath1()
{
    JinjaExprPtr left = parseConcat();
    while (m_in.isOp("+") || m_in.isOp("-")) {
        const std::string op = m_in.next().text;
        left = makeBinary(op, std::move(left), parseConcat());
    }
    return left;
}

JinjaExprPtr JinjaExprParser::parseConcat()
{
    JinjaExprPtr left = parseMath2();
    while (m_in.skipOp("~"))
        left = makeBinary("~", std::move(left), parseMath2());
    return left;
}

JinjaExprPtr JinjaExprParser::parseMath2()
{
    JinjaExprPtr left = parsePow();
    while (m_in.isOp("*") || m_in.isOp("/") || m_in.isOp("//") || m_in.isOp("%")) {
        const std::string op = m_in.next().text;
        left = makeBinary(op, std::move(left), parsePow());
    }
    return left;
}

JinjaExprPtr JinjaExprParser::parsePow()
{
    JinjaExprPtr left = parseUnary(true);
    while (m_in.skipOp("**"))
        left = makeBinary("**", std::move(left), parseUnary(true));
    return left;
}

JinjaExprPtr JinjaExprParser::parseUnary(bool withFilter)
{
    JinjaTokenStream::DepthGuard guard(m_in, "expression is");
    JinjaExprPtr node;
    if (m_in.isOp("-") || m_in.isOp("+")) {
        const JinjaToken& t = m_in.next();
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

JinjaExprPtr JinjaExprParser::parsePrimary()
{
    const JinjaToken& t = m_in.peek();
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
        m_in.next();
        return e;
    }
    case Kind::String: {
        // Adjacent string literals concatenate, as in Python.
        std::string value;
        while (m_in.peek().kind == Kind::String)
            value += m_in.next().text;
        auto e = makeExpr(JinjaExpr::Kind::Literal, pos);
        e->literal = JinjaValue::string(std::move(value));
        return e;
    }
    case Kind::Int: {
        auto e = makeExpr(JinjaExpr::Kind::Literal, pos);
        e->literal = JinjaValue::integer(m_in.next().intValue);
        return e;
    }
    case Kind::Float: {
        auto e = makeExpr(JinjaExpr::Kind::Literal, pos);
        e->literal = JinjaValue::floating(m_in.next().floatValue);
        return e;
    }
    default: break;
    }
    if (m_in.skipOp("(")) {
        JinjaExprPtr inner = parseTuple(true, true, false);
        m_in.expectOp(")");
        return inner;
    }
    if (m_in.skipOp("[")) {
        auto e = makeExpr(JinjaExpr::Kind::List, pos);
        while (!m_in.skipOp("]")) {
            if (!e->children.empty())
                m_in.expectOp(",");
            if (m_in.skipOp("]"))
                break;
            e->children.push_back(parseExpression());
        }
        return e;
    }
    if (m_in.skipOp("{")) {
        auto e = makeExpr(JinjaExpr::Kind::Dict, pos);
        while (!m_in.skipOp("}")) {
            if (!e->children.empty())
                m_in.expectOp(",");
            if (m_in.skipOp("}"))
                break;
            e->children.push_back(parseExpression());
            m_in.expectOp(":");
            e->children.push_back(parseExpression());
        }
        return e;
    }
    m_in.failUnexpected("an expression");
}

JinjaExprPtr JinjaExprParser::parsePostfix(JinjaExprPtr node)
{
    while (true) {
        if (m_in.isOp(".")) {
            const JinjaPos pos = m_in.next().pos;
            if (m_in.peek().kind == Kind::Int) {
                auto item = makeExpr(JinjaExpr::Kind::Item, pos);
                auto index = makeExpr(JinjaExpr::Kind::Literal, m_in.peek().pos);
                index->literal = JinjaValue::integer(m_in.next().intValue);
                item->children.push_back(std::move(node));
                item->children.push_back(std::move(index));
                node = std::move(item);
                continue;
            }
            auto attr = makeExpr(JinjaExpr::Kind::Attr, pos);
            attr->name = m_in.expectName();
            attr->children.push_back(std::move(node));
            node = std::move(attr);
        } else if (m_in.isOp("[")) {
            node = parseSubscript(std::move(node));
        } else if (m_in.isOp("(")) {
            auto call = makeExpr(JinjaExpr::Kind::Call, m_in.peek().pos);
            call->children.push_back(std::move(node));
            parseCallArgs(*call);
            node = std::move(call);
        } else {
            return node;
        }
    }
}

JinjaExprPtr JinjaExprParser::parseSubscript(JinjaExprPtr node)
{
    const JinjaPos pos = m_in.next().pos; // [
    JinjaExprPtr start;
    if (!m_in.isOp(":")) {
        start = parseExpression();
        if (m_in.skipOp("]")) {
            auto item = makeExpr(JinjaExpr::Kind::Item, pos);
            item->children.push_back(std::move(node));
            item->children.push_back(std::move(start));
            return item;
        }
    }
    m_in.expectOp(":");
    auto slice = makeExpr(JinjaExpr::Kind::Slice, pos);
    slice->children.push_back(std::move(node));
    slice->children.push_back(std::move(start));
    slice->children.push_back(m_in.isOp("]") || m_in.isOp(":") ? nullptr : parseExpression());
    if (m_in.skipOp(":"))
        slice->children.push_back(m_in.isOp("]") ? nullptr : parseExpression());
    else
        slice->children.push_back(nullptr);
    m_in.expectOp("]");
    return slice;
}

void JinjaExprParser::parseCallArgs(JinjaExpr& call)
{
    m_in.expectOp("(");
    bool first = true;
    while (!m_in.skipOp(")")) {
        if (!first)
            m_in.expectOp(",");
        first = false;
        if (m_in.skipOp(")"))
            break;
        if (m_in.isOp("*") || m_in.isOp("**"))
            m_in.fail(m_in.peek().pos, "argument unpacking (*args, **kwargs) is not supported");
        if (m_in.peek().kind == Kind::Name && m_in.isOp("=", 1)) {
            std::string key = m_in.next().text;
            m_in.next(); // =
            call.kwargs.emplace_back(std::move(key), parseExpression());
        } else {
            if (!call.kwargs.empty())
                m_in.fail(m_in.peek().pos, "positional argument follows keyword argument");
            call.children.push_back(parseExpression());
        }
    }
}

JinjaExprPtr JinjaExprParser::parseFilterExpr(JinjaExprPtr node)
{
    while (true) {
        if (m_in.isOp("|")) {
            m_in.next();
            auto filter = makeExpr(JinjaExpr::Kind::Filter, m_in.peek().pos);
            filter->name = m_in.expectName();
            if (!JinjaFilters::hasFilter(filter->name))
                m_in.fail(filter->pos, "no filter named '" + filter->name + "'");
            filter->children.push_back(std::move(node));
            if (m_in.isOp("("))
                parseCallArgs(*filter);
            node = std::move(filter);
        } else if (m_in.isName("is")) {
            m_in.next();
            auto test = makeExpr(JinjaExpr::Kind::Test, m_in.peek().pos);
            test->negated = m_in.skipName("not");
            test->name = m_in.expectName();
            if (!JinjaFilters::hasTest(test->name))
                m_in.fail(test->pos, "no test named '" + test->name + "'");
            test->children.push_back(std::move(node));
            const JinjaToken& t = m_in.peek();
            if (m_in.isOp("(")) {
                parseCallArgs(*test);
            } else if ((t.kind == Kind::Name || t.kind == Kind::String || t.kind == Kind::Int
                        || t.kind == Kind::Float || m_in.isOp("[") || m_in.isOp("{"))
                       && !m_in.isName("else") && !m_in.isName("or") && !m_in.isName("and") && !m_in.isName("if")
                       && !m_in.isName("in") && !m_in.isName("not") && !m_in.isName("is")) {
                // Jinja's one-argument form: `x is divisibleby 3`, `x is sameas none`.
                test->children.push_back(parsePostfix(parsePrimary()));
            }
            node = std::move(test);
        } else if (m_in.isOp("(")) {
            auto call = makeExpr(JinjaExpr::Kind::Call, m_in.peek().pos);
            call->children.push_back(std::move(node));
            parseCallArgs(*call);
            node = std::move(call);
        } else {
            return node;
        }
    }
}

} // namespace tb
