#include "chat/JinjaText.h"

#include <algorithm>
#include <cstdio>
#include <stdexcept>

namespace tb {

namespace {

// Undecodable bytes map to U+DC80..U+DCFF, Python's surrogateescape range.
constexpr char32_t kEscapeBase = 0xDC00;

bool isCased(char32_t c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
char32_t toUpper(char32_t c) { return (c >= 'a' && c <= 'z') ? c - 32 : c; }
char32_t toLower(char32_t c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

bool inSet(char32_t c, const std::u32string* set)
{
    if (!set)
        return JinjaText::isSpace(c);
    return set->find(c) != std::u32string::npos;
}

} // namespace

std::u32string JinjaText::decode(const std::string& s)
{
    std::u32string out;
    out.reserve(s.size());
    std::size_t i = 0;
    const std::size_t n = s.size();
    while (i < n) {
        const auto b0 = static_cast<unsigned char>(s[i]);
        int len = 0;
        char32_t cp = 0;
        if (b0 < 0x80) {
            out.push_back(b0);
            ++i;
            continue;
        }
        if ((b0 & 0xE0) == 0xC0) {
            len = 2;
            cp = b0 & 0x1F;
        } else if ((b0 & 0xF0) == 0xE0) {
            len = 3;
            cp = b0 & 0x0F;
        } else if ((b0 & 0xF8) == 0xF0) {
            len = 4;
            cp = b0 & 0x07;
        }
        bool ok = len > 0 && i + len <= n;
        for (int k = 1; ok && k < len; ++k) {
            const auto b = static_cast<unsigned char>(s[i + k]);
            if ((b & 0xC0) != 0x80)
                ok = false;
            else
                cp = (cp << 6) | (b & 0x3F);
        }
        if (ok) {
            const char32_t minimum = len == 2 ? 0x80 : len == 3 ? 0x800 : 0x10000;
            ok = cp >= minimum && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
        }
        if (!ok) {
            out.push_back(kEscapeBase + b0);
            ++i;
            continue;
        }
        out.push_back(cp);
        i += len;
    }
    return out;
}

void JinjaText::appendUtf8(std::string& out, char32_t cp)
{
    if (cp >= kEscapeBase + 0x80 && cp <= kEscapeBase + 0xFF) {
        out.push_back(static_cast<char>(cp - kEscapeBase));
    } else if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
}

std::string JinjaText::encode(const std::u32string& s)
{
    std::string out;
    out.reserve(s.size());
    for (char32_t cp : s)
        appendUtf8(out, cp);
    return out;
}

std::size_t JinjaText::length(const std::string& s)
{
    return decode(s).size();
}

bool JinjaText::isSpace(char32_t c)
{
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680
        || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F
        || c == 0x3000;
}

std::string JinjaText::strip(const std::string& s, const std::string* chars, bool left, bool right)
{
    const std::u32string text = decode(s);
    std::u32string set;
    if (chars)
        set = decode(*chars);
    const std::u32string* setPtr = chars ? &set : nullptr;
    std::size_t begin = 0;
    std::size_t end = text.size();
    if (left)
        while (begin < end && inSet(text[begin], setPtr))
            ++begin;
    if (right)
        while (end > begin && inSet(text[end - 1], setPtr))
            --end;
    return encode(text.substr(begin, end - begin));
}

std::vector<std::string> JinjaText::split(const std::string& s, const std::string* sep, std::int64_t maxsplit)
{
    std::vector<std::string> parts;
    if (sep) {
        if (sep->empty())
            throw std::invalid_argument("empty separator");
        std::size_t start = 0;
        while (maxsplit < 0 || static_cast<std::int64_t>(parts.size()) < maxsplit) {
            const std::size_t found = s.find(*sep, start);
            if (found == std::string::npos)
                break;
            parts.push_back(s.substr(start, found - start));
            start = found + sep->size();
        }
        parts.push_back(s.substr(start));
        return parts;
    }
    const std::u32string text = decode(s);
    std::size_t i = 0;
    while (true) {
        while (i < text.size() && isSpace(text[i]))
            ++i;
        if (i >= text.size())
            break;
        if (maxsplit >= 0 && static_cast<std::int64_t>(parts.size()) >= maxsplit) {
            // Python keeps the remainder, trailing whitespace included.
            parts.push_back(encode(text.substr(i)));
            break;
        }
        std::size_t j = i;
        while (j < text.size() && !isSpace(text[j]))
            ++j;
        parts.push_back(encode(text.substr(i, j - i)));
        i = j;
    }
    return parts;
}

std::size_t JinjaText::replacedSize(const std::string& s, const std::string& from, const std::string& to,
                                    std::int64_t count)
{
    std::size_t occurrences = 0;
    if (from.empty()) {
        occurrences = length(s) + 1; // before every character and at the end
    } else {
        for (std::size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + from.size()))
            ++occurrences;
    }
    if (count >= 0)
        occurrences = std::min(occurrences, static_cast<std::size_t>(count));
    return s.size() - occurrences * from.size() + occurrences * to.size();
}

std::string JinjaText::replace(const std::string& s, const std::string& from, const std::string& to,
                               std::int64_t count)
{
    std::string out;
    if (from.empty()) {
        // Python inserts `to` before every character and at the end.
        const std::u32string text = decode(s);
        std::int64_t done = 0;
        for (char32_t cp : text) {
            if (count < 0 || done < count) {
                out += to;
                ++done;
            }
            appendUtf8(out, cp);
        }
        if (count < 0 || done < count)
            out += to;
        return out;
    }
    std::size_t start = 0;
    std::int64_t done = 0;
    while (count < 0 || done < count) {
        const std::size_t found = s.find(from, start);
        if (found == std::string::npos)
            break;
        out.append(s, start, found - start);
        out += to;
        start = found + from.size();
        ++done;
    }
    out.append(s, start, std::string::npos);
    return out;
}

std::string JinjaText::upper(const std::string& s)
{
    std::string out = s;
    for (char& c : out)
        c = static_cast<char>(toUpper(static_cast<unsigned char>(c)));
    return out;
}

std::string JinjaText::lower(const std::string& s)
{
    std::string out = s;
    for (char& c : out)
        c = static_cast<char>(toLower(static_cast<unsigned char>(c)));
    return out;
}

std::string JinjaText::capitalize(const std::string& s)
{
    std::string out = lower(s);
    if (!out.empty())
        out[0] = static_cast<char>(toUpper(static_cast<unsigned char>(out[0])));
    return out;
}

std::string JinjaText::title(const std::string& s)
{
    // Python: a cased character is upper-cased after an uncased one, lower-cased otherwise.
    std::string out = s;
    bool previousCased = false;
    for (char& c : out) {
        const auto u = static_cast<unsigned char>(c);
        if (u >= 0x80) {
            // Bytes of non-ASCII characters: mostly letters, so they do not start a new word.
            previousCased = true;
        } else if (isCased(u)) {
            c = static_cast<char>(previousCased ? toLower(u) : toUpper(u));
            previousCased = true;
        } else {
            previousCased = false;
        }
    }
    return out;
}

bool JinjaText::startsWith(const std::string& s, const std::string& prefix)
{
    return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

bool JinjaText::endsWith(const std::string& s, const std::string& suffix)
{
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string JinjaText::htmlEscape(const std::string& s)
{
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&#34;"; break;
        case '\'': out += "&#39;"; break;
        default: out.push_back(c);
        }
    }
    return out;
}

std::string JinjaText::jsonQuote(const std::string& s, bool ensureAscii)
{
    std::string out = "\"";
    char buf[16];
    for (char32_t cp : decode(s)) {
        switch (cp) {
        case '"': out += "\\\""; continue;
        case '\\': out += "\\\\"; continue;
        case '\n': out += "\\n"; continue;
        case '\r': out += "\\r"; continue;
        case '\t': out += "\\t"; continue;
        case '\b': out += "\\b"; continue;
        case '\f': out += "\\f"; continue;
        default: break;
        }
        if (cp < 0x20 || (ensureAscii && cp >= 0x7F)) {
            if (cp >= 0x10000) {
                const char32_t v = cp - 0x10000;
                std::snprintf(buf, sizeof buf, "\\u%04x\\u%04x", static_cast<unsigned>(0xD800 + (v >> 10)),
                              static_cast<unsigned>(0xDC00 + (v & 0x3FF)));
            } else {
                std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(cp));
            }
            out += buf;
        } else {
            appendUtf8(out, cp);
        }
    }
    out.push_back('"');
    return out;
}

std::string JinjaText::pythonRepr(const std::string& s)
{
    const bool useDouble = s.find('\'') != std::string::npos && s.find('"') == std::string::npos;
    const char quote = useDouble ? '"' : '\'';
    std::string out(1, quote);
    char buf[16];
    for (char32_t cp : decode(s)) {
        if (cp == static_cast<char32_t>(quote) || cp == '\\') {
            out.push_back('\\');
            out.push_back(static_cast<char>(cp));
        } else if (cp == '\n') {
            out += "\\n";
        } else if (cp == '\r') {
            out += "\\r";
        } else if (cp == '\t') {
            out += "\\t";
        } else if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0)) {
            std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned>(cp));
            out += buf;
        } else {
            appendUtf8(out, cp);
        }
    }
    out.push_back(quote);
    return out;
}

} // namespace tb
