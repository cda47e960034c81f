#include "chat/JinjaLexer.h"

#include "chat/JinjaText.h"
#include "formats/FormatError.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>

namespace tb {

namespace {

bool isAsciiSpace(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
bool isNameStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isNameChar(char c) { return isNameStart(c) || isDigit(c); }

// Jinja normalises every newline sequence of the source to "\n" before lexing.
std::string normaliseNewlines(const std::string& s)
{
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\r') {
            out.push_back('\n');
            if (i + 1 < s.size() && s[i + 1] == '\n')
                ++i;
        } else {
            out.push_back(s[i]);
        }
    }
    return out;
}

void rstripAll(std::string& s)
{
    while (!s.empty() && isAsciiSpace(s.back()))
        s.pop_back();
}

int hexValue(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

} // namespace

JinjaLexer::JinjaLexer(const std::string& source, std::string sourceName)
    : m_src(normaliseNewlines(source)), m_sourceName(std::move(sourceName))
{
    if (!m_src.empty() && m_src.back() == '\n')
        m_src.pop_back();
    m_lineStarts.push_back(0);
    for (std::size_t i = 0; i < m_src.size(); ++i)
        if (m_src[i] == '\n')
            m_lineStarts.push_back(i + 1);
}

JinjaPos JinjaLexer::posAt(std::size_t offset) const
{
    const auto it = std::upper_bound(m_lineStarts.begin(), m_lineStarts.end(), offset);
    const auto line = static_cast<int>(it - m_lineStarts.begin());
    return {line, static_cast<int>(offset - m_lineStarts[line - 1]) + 1};
}

void JinjaLexer::fail(std::size_t offset, const std::string& message) const
{
    const JinjaPos p = posAt(offset);
    throw FormatError(m_sourceName,
                      "line " + std::to_string(p.line) + ", column " + std::to_string(p.column) + ": " + message);
}

std::vector<JinjaToken> JinjaLexer::tokenize()
{
    const std::size_t n = m_src.size();
    m_pos = 0;
    while (m_pos < n) {
        const std::size_t textStart = m_pos;
        std::size_t tag = m_pos;
        while (true) {
            tag = m_src.find('{', tag);
            if (tag == std::string::npos || tag + 1 >= n) {
                tag = n;
                break;
            }
            const char c = m_src[tag + 1];
            if (c == '{' || c == '%' || c == '#')
                break;
            ++tag;
        }
        std::string text = m_src.substr(textStart, tag - textStart);
        if (tag < n) {
            const char kind = m_src[tag + 1];
            const char modifier = tag + 2 < n ? m_src[tag + 2] : '\0';
            if (modifier == '-') {
                rstripAll(text);
            } else if (kind != '{' && modifier != '+') {
                // lstrip_blocks: only when the tag is the first thing on its line.
                const std::size_t lineStart = text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1;
                const bool lineStarting = textStart == 0 || m_src[textStart - 1] == '\n';
                if ((lineStart > 0 || lineStarting)
                    && text.find_first_not_of(" \t", lineStart) == std::string::npos)
                    text.erase(lineStart);
            }
        }
        if (!text.empty()) {
            JinjaToken t;
            t.kind = JinjaToken::Kind::Text;
            t.text = std::move(text);
            t.pos = posAt(textStart);
            m_tokens.push_back(std::move(t));
        }
        if (tag >= n)
            break;
        const char kind = m_src[tag + 1];
        m_pos = tag + 2;
        if (m_pos < n && (m_src[m_pos] == '-' || m_src[m_pos] == '+'))
            ++m_pos;
        if (kind == '#') {
            const std::size_t end = m_src.find("#}", m_pos);
            if (end == std::string::npos)
                fail(tag, "unclosed comment: missing '#}'");
            const bool stripAfter = end > m_pos && m_src[end - 1] == '-';
            const bool keepNewline = end > m_pos && m_src[end - 1] == '+';
            m_pos = end + 2;
            if (stripAfter) {
                while (m_pos < n && isAsciiSpace(m_src[m_pos]))
                    ++m_pos;
            } else if (!keepNewline && m_pos < n && m_src[m_pos] == '\n') {
                ++m_pos; // trim_blocks applies to comments too
            }
            continue;
        }
        lexTag(kind == '%', tag);
    }
    JinjaToken end;
    end.kind = JinjaToken::Kind::End;
    end.pos = posAt(n);
    m_tokens.push_back(end);
    return std::move(m_tokens);
}

void JinjaLexer::lexTag(bool block, std::size_t tagStart)
{
    const std::size_t n = m_src.size();
    JinjaToken begin;
    begin.kind = block ? JinjaToken::Kind::BlockBegin : JinjaToken::Kind::VarBegin;
    begin.pos = posAt(tagStart);
    m_tokens.push_back(begin);
    const char closer = block ? '%' : '}';
    std::string open; // brackets open: Jinja ignores "}}" and "%}" inside them
    while (true) {
        while (m_pos < n && isAsciiSpace(m_src[m_pos]))
            ++m_pos;
        if (m_pos >= n)
            fail(tagStart, std::string("unexpected end of template: tag is not closed with '") + closer + "}'");
        const char c = m_src[m_pos];
        if (open.empty()) {
            std::size_t endLen = 0;
            bool stripAfter = false;
            bool keepNewline = false;
            if (c == '-' && m_pos + 2 < n + 1 && m_src.compare(m_pos + 1, 2, std::string(1, closer) + "}") == 0) {
                endLen = 3;
                stripAfter = true;
            } else if (c == '+' && block && m_src.compare(m_pos + 1, 2, "%}") == 0) {
                endLen = 3;
                keepNewline = true;
            } else if (c == closer && m_pos + 1 < n && m_src[m_pos + 1] == '}') {
                endLen = 2;
            }
            if (endLen) {
                JinjaToken end;
                end.kind = block ? JinjaToken::Kind::BlockEnd : JinjaToken::Kind::VarEnd;
                end.pos = posAt(m_pos);
                m_tokens.push_back(end);
                m_pos += endLen;
                if (stripAfter) {
                    while (m_pos < n && isAsciiSpace(m_src[m_pos]))
                        ++m_pos;
                } else if (block && !keepNewline && m_pos < n && m_src[m_pos] == '\n') {
                    ++m_pos; // trim_blocks
                }
                return;
            }
        }
        JinjaToken t;
        t.pos = posAt(m_pos);
        if (isNameStart(c)) {
            const std::size_t start = m_pos;
            while (m_pos < n && isNameChar(m_src[m_pos]))
                ++m_pos;
            t.kind = JinjaToken::Kind::Name;
            t.text = m_src.substr(start, m_pos - start);
            m_tokens.push_back(std::move(t));
            continue;
        }
        if (isDigit(c)) {
            lexNumber(m_pos);
            continue;
        }
        if (c == '\'' || c == '"') {
            lexString(m_pos);
            continue;
        }
        static const char* const kOps[] = {"**", "//", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<",
                                           ">",  "=",  "(",  ")",  "[",  "]",  "{", "}", ",", ".", ":", "|"};
        bool matched = false;
        for (const char* op : kOps) {
            const std::size_t len = std::char_traits<char>::length(op);
            if (m_src.compare(m_pos, len, op) == 0) {
                t.kind = JinjaToken::Kind::Op;
                t.text = op;
                m_pos += len;
                matched = true;
                break;
            }
        }
        if (!matched)
            fail(m_pos, std::string("unexpected character '") + c + "'");
        if (t.text == "(" || t.text == "[" || t.text == "{") {
            open.push_back(t.text[0] == '(' ? ')' : t.text[0] == '[' ? ']' : '}');
        } else if (t.text == ")" || t.text == "]" || t.text == "}") {
            if (open.empty())
                fail(m_pos - 1, "unexpected '" + t.text + "'");
            if (open.back() != t.text[0])
                fail(m_pos - 1, "unexpected '" + t.text + "', expected '" + open.back() + "'");
            open.pop_back();
        }
        m_tokens.push_back(std::move(t));
    }
}

void JinjaLexer::lexNumber(std::size_t& i)
{
    const std::size_t start = i;
    const std::size_t n = m_src.size();
    while (i < n && (isDigit(m_src[i]) || m_src[i] == '_'))
        ++i;
    bool isFloat = false;
    if (i + 1 < n && m_src[i] == '.' && isDigit(m_src[i + 1])) {
        isFloat = true;
        ++i;
        while (i < n && (isDigit(m_src[i]) || m_src[i] == '_'))
            ++i;
    }
    if (i < n && (m_src[i] == 'e' || m_src[i] == 'E')) {
        std::size_t j = i + 1;
        if (j < n && (m_src[j] == '+' || m_src[j] == '-'))
            ++j;
        if (j < n && isDigit(m_src[j])) {
            isFloat = true;
            i = j;
            while (i < n && isDigit(m_src[i]))
                ++i;
        }
    }
    std::string digits;
    for (std::size_t k = start; k < i; ++k)
        if (m_src[k] != '_')
            digits.push_back(m_src[k]);
    JinjaToken t;
    t.pos = posAt(start);
    t.text = digits;
    errno = 0;
    if (isFloat) {
        t.kind = JinjaToken::Kind::Float;
        t.floatValue = std::strtod(digits.c_str(), nullptr);
    } else {
        t.kind = JinjaToken::Kind::Int;
        t.intValue = std::strtoll(digits.c_str(), nullptr, 10);
        if (errno == ERANGE)
            fail(start, "integer literal out of range: " + digits);
    }
    m_tokens.push_back(std::move(t));
}

void JinjaLexer::lexString(std::size_t& i)
{
    // Python string-literal escapes, as Jinja decodes them; unknown escapes keep the backslash.
    const std::size_t start = i;
    const char quote = m_src[i++];
    const std::size_t n = m_src.size();
    std::string value;
    while (true) {
        if (i >= n)
            fail(start, "unterminated string literal");
        const char c = m_src[i];
        if (c == quote) {
            ++i;
            break;
        }
        if (c != '\\') {
            value.push_back(c);
            ++i;
            continue;
        }
        if (i + 1 >= n)
            fail(start, "unterminated string literal");
        const char e = m_src[i + 1];
        i += 2;
        switch (e) {
        case 'n': value.push_back('\n'); break;
        case 't': value.push_back('\t'); break;
        case 'r': value.push_back('\r'); break;
        case 'b': value.push_back('\b'); break;
        case 'f': value.push_back('\f'); break;
        case 'v': value.push_back('\v'); break;
        case 'a': value.push_back('\a'); break;
        case '0': value.push_back('\0'); break;
        case '\\': value.push_back('\\'); break;
        case '\'': value.push_back('\''); break;
        case '"': value.push_back('"'); break;
        case '\n': break; // line continuation
        case 'x':
        case 'u':
        case 'U': {
            const int digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
            char32_t cp = 0;
            for (int k = 0; k < digits; ++k) {
                const int h = i + k < n ? hexValue(m_src[i + k]) : -1;
                if (h < 0)
                    fail(i - 2, std::string("truncated \\") + e + " escape in string literal");
                cp = cp * 16 + static_cast<char32_t>(h);
            }
            i += digits;
            JinjaText::appendUtf8(value, cp);
            break;
        }
        default:
            value.push_back('\\');
            value.push_back(e);
        }
    }
    JinjaToken t;
    t.kind = JinjaToken::Kind::String;
    t.text = std::move(value);
    t.pos = posAt(start);
    m_tokens.push_back(std::move(t));
}

} // namespace tb
