#include "chat/JinjaTokenStream.h"

#include "formats/FormatError.h"

#include <algorithm>

namespace tb {

JinjaTokenStream::JinjaTokenStream(std::vector<JinjaToken> tokens, std::string sourceName)
    : m_tokens(std::move(tokens)), m_sourceName(std::move(sourceName))
{
    if (m_tokens.empty() || m_tokens.back().kind != JinjaToken::Kind::End)
        m_tokens.push_back(JinjaToken{});
}

const JinjaToken& JinjaTokenStream::peek(std::size_t ahead) const
{
    return m_tokens[std::min(m_index + ahead, m_tokens.size() - 1)];
}

const JinjaToken& JinjaTokenStream::next()
{
    const JinjaToken& t = peek();
    if (m_index < m_tokens.size() - 1)
        ++m_index;
    return t;
}

bool JinjaTokenStream::isOp(const char* op, std::size_t ahead) const
{
    const JinjaToken& t = peek(ahead);
    return t.kind == JinjaToken::Kind::Op && t.text == op;
}

bool JinjaTokenStream::isName(const char* name, std::size_t ahead) const
{
    const JinjaToken& t = peek(ahead);
    return t.kind == JinjaToken::Kind::Name && t.text == name;
}

bool JinjaTokenStream::skipOp(const char* op)
{
    if (!isOp(op))
        return false;
    next();
    return true;
}

bool JinjaTokenStream::skipName(const char* name)
{
    if (!isName(name))
        return false;
    next();
    return true;
}

void JinjaTokenStream::expectOp(const char* op)
{
    if (!skipOp(op))
        failUnexpected(std::string("'") + op + "'");
}

std::string JinjaTokenStream::expectName()
{
    if (peek().kind != JinjaToken::Kind::Name)
        failUnexpected("a name");
    return next().text;
}

void JinjaTokenStream::expectBlockEnd()
{
    if (peek().kind != JinjaToken::Kind::BlockEnd)
        failUnexpected("'%}'");
    next();
}

void JinjaTokenStream::fail(const JinjaPos& pos, const std::string& message) const
{
    throw FormatError(m_sourceName, "line " + std::to_string(pos.line) + ", column " + std::to_string(pos.column)
                                        + ": " + message);
}

void JinjaTokenStream::failUnexpected(const std::string& expected) const
{
    fail(peek().pos, "expected " + expected + ", got " + describe(peek()));
}

std::string JinjaTokenStream::describe(const JinjaToken& t)
{
    switch (t.kind) {
    case JinjaToken::Kind::Text: return "template text";
    case JinjaToken::Kind::VarBegin: return "'{{'";
    case JinjaToken::Kind::VarEnd: return "'}}'";
    case JinjaToken::Kind::BlockBegin: return "'{%'";
    case JinjaToken::Kind::BlockEnd: return "'%}'";
    case JinjaToken::Kind::String: return "a string";
    case JinjaToken::Kind::Int:
    case JinjaToken::Kind::Float: return "'" + t.text + "'";
    case JinjaToken::Kind::End: return "end of template";
    default: return "'" + t.text + "'";
    }
}

JinjaTokenStream::DepthGuard::DepthGuard(JinjaTokenStream& stream, const char* what) : m_stream(stream)
{
    if (++m_stream.m_depth > kMaxDepth)
        m_stream.fail(m_stream.peek().pos, std::string(what) + " nested too deeply");
}

JinjaTokenStream::DepthGuard::~DepthGuard()
{
    --m_stream.m_depth;
}

} // namespace tb
