#include "chat/JinjaParser.h"

#include <algorithm>

namespace tb {

namespace {

using Kind = JinjaToken::Kind;

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
    : m_in(std::move(tokens), std::move(sourceName)), m_expr(m_in)
{
}

JinjaBody JinjaParser::parse()
{
    JinjaBody body;
    subparse(body, {});
    return body;
}

std::string JinjaParser::subparse(JinjaBody& body, const std::vector<std::string>& endTags)
{
    JinjaTokenStream::DepthGuard guard(m_in, "blocks are");
    while (true) {
        const JinjaToken& t = m_in.peek();
        switch (t.kind) {
        case Kind::End:
            if (!endTags.empty())
                m_in.fail(t.pos, "unexpected end of template, expected " + joinQuoted(endTags));
            return {};
        case Kind::Text: {
            auto node = std::make_unique<JinjaNode>();
            node->kind = JinjaNode::Kind::Text;
            node->pos = t.pos;
            node->text = t.text;
            body.push_back(std::move(node));
            m_in.next();
            break;
        }
        case Kind::VarBegin: {
            auto node = std::make_unique<JinjaNode>();
            node->kind = JinjaNode::Kind::Output;
            node->pos = t.pos;
            m_in.next();
            node->expr = m_expr.parseTuple(true, false, false);
            if (m_in.peek().kind != Kind::VarEnd)
                m_in.failUnexpected("'}}'");
            m_in.next();
            body.push_back(std::move(node));
            break;
        }
        case Kind::BlockBegin: {
            const JinjaToken& name = m_in.peek(1);
            if (name.kind == Kind::Name
                && std::find(endTags.begin(), endTags.end(), name.text) != endTags.end()) {
                m_in.next();
                return m_in.next().text;
            }
            parseStatement(body);
            break;
        }
        default: m_in.failUnexpected("template text or a tag");
        }
    }
}

void JinjaParser::parseStatement(JinjaBody& body)
{
    const JinjaPos pos = m_in.next().pos; // {%
    const JinjaToken& t = m_in.peek();
    if (t.kind != Kind::Name)
        m_in.failUnexpected("a tag name");
    const std::string tag = m_in.next().text;
    if (tag == "if") {
        body.push_back(parseIf(pos));
    } else if (tag == "for") {
        body.push_back(parseFor(pos));
    } else if (tag == "set") {
        body.push_back(parseSet(pos));
    } else if (tag == "macro") {
        body.push_back(parseMacro(pos));
    } else if (tag == "break" || tag == "continue") {
        m_in.expectBlockEnd();
        auto node = std::make_unique<JinjaNode>();
        node->kind = tag == "break" ? JinjaNode::Kind::Break : JinjaNode::Kind::Continue;
        node->pos = pos;
        body.push_back(std::move(node));
    } else if (tag == "generation") {
        // transformers' {% generation %} marks assistant text for return_assistant_tokens_mask;
        // for rendering it is transparent.
        m_in.expectBlockEnd();
        subparse(body, {"endgeneration"});
        m_in.expectBlockEnd();
    } else {
        m_in.fail(t.pos, "unknown tag '" + tag + "' (supported: if, for, set, macro, break, continue, generation)");
    }
}

JinjaNodePtr JinjaParser::parseIf(const JinjaPos& pos)
{
    auto node = std::make_unique<JinjaNode>();
    node->kind = JinjaNode::Kind::If;
    node->pos = pos;
    JinjaExprPtr cond = m_expr.parseTuple(false, false, false);
    while (true) {
        m_in.expectBlockEnd();
        JinjaBody branch;
        const std::string end = subparse(branch, {"elif", "else", "endif"});
        node->branches.emplace_back(std::move(cond), std::move(branch));
        if (end == "elif") {
            cond = m_expr.parseTuple(false, false, false);
            continue;
        }
        if (end == "else") {
            m_in.expectBlockEnd();
            JinjaBody elseBranch;
            subparse(elseBranch, {"endif"});
            node->branches.emplace_back(nullptr, std::move(elseBranch));
        }
        m_in.expectBlockEnd();
        return node;
    }
}

JinjaNodePtr JinjaParser::parseFor(const JinjaPos& pos)
{
    auto node = std::make_unique<JinjaNode>();
    node->kind = JinjaNode::Kind::For;
    node->pos = pos;
    node->target = m_expr.parseAssignTarget(false);
    if (!m_in.skipName("in"))
        m_in.failUnexpected("'in'");
    node->expr = m_expr.parseTuple(false, false, true);
    if (m_in.skipName("if"))
        node->filter = m_expr.parseExpression();
    if (m_in.isName("recursive"))
        m_in.fail(m_in.peek().pos, "recursive for loops are not supported");
    m_in.expectBlockEnd();
    const std::string end = subparse(node->body, {"endfor", "else"});
    if (end == "else") {
        m_in.expectBlockEnd();
        subparse(node->elseBody, {"endfor"});
    }
    m_in.expectBlockEnd();
    return node;
}

JinjaNodePtr JinjaParser::parseSet(const JinjaPos& pos)
{
    auto node = std::make_unique<JinjaNode>();
    node->pos = pos;
    node->target = m_expr.parseAssignTarget(true);
    if (m_in.skipOp("=")) {
        node->kind = JinjaNode::Kind::Set;
        node->expr = m_expr.parseTuple(true, false, false);
        m_in.expectBlockEnd();
        return node;
    }
    if (m_in.peek().kind != Kind::BlockEnd)
        m_in.failUnexpected("'=' or '%}'");
    if (node->target->kind != JinjaExpr::Kind::Name)
        m_in.fail(node->target->pos, "a block set assigns a single name");
    m_in.next();
    node->kind = JinjaNode::Kind::SetBlock;
    subparse(node->body, {"endset"});
    m_in.expectBlockEnd();
    return node;
}

JinjaNodePtr JinjaParser::parseMacro(const JinjaPos& pos)
{
    auto node = std::make_unique<JinjaNode>();
    node->kind = JinjaNode::Kind::Macro;
    node->pos = pos;
    node->text = m_in.expectName();
    m_in.expectOp("(");
    while (!m_in.skipOp(")")) {
        if (!node->params.empty())
            m_in.expectOp(",");
        if (m_in.skipOp(")"))
            break;
        node->params.push_back(m_in.expectName());
        node->paramDefaults.push_back(m_in.skipOp("=") ? m_expr.parseExpression() : nullptr);
    }
    m_in.expectBlockEnd();
    subparse(node->body, {"endmacro"});
    if (m_in.peek().kind == Kind::Name && m_in.peek().text == node->text)
        m_in.next();
    m_in.expectBlockEnd();
    return node;
}

} // namespace tb
