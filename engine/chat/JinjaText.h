// Python str semantics on UTF-8 strings: templates index, slice and measure strings in code
// points and strip Python's whitespace set, so byte-wise std::string operations are not enough.
// Bytes that are not valid UTF-8 survive a decode/encode round trip (as Python's
// surrogateescape does), so nothing the user wrote is lost.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tb {

class JinjaText {
public:
    static std::u32string decode(const std::string& s);
    static std::string encode(const std::u32string& s);
    static void appendUtf8(std::string& out, char32_t cp);
    static std::size_t length(const std::string& s);

    // str.isspace()
    static bool isSpace(char32_t cp);
    // str.strip/lstrip/rstrip; `chars` null means whitespace.
    static std::string strip(const std::string& s, const std::string* chars, bool left, bool right);
    // str.split(sep, maxsplit); `sep` null means runs of whitespace.
    static std::vector<std::string> split(const std::string& s, const std::string* sep, std::int64_t maxsplit);
    static std::string replace(const std::string& s, const std::string& from, const std::string& to,
                               std::int64_t count);
    // The length replace() would return, without building it (to refuse a runaway one first).
    static std::size_t replacedSize(const std::string& s, const std::string& from, const std::string& to,
                                    std::int64_t count);

    // Case mapping covers ASCII only; other letters pass through unchanged (a documented gap).
    static std::string upper(const std::string& s);
    static std::string lower(const std::string& s);
    static std::string capitalize(const std::string& s);
    static std::string title(const std::string& s);

    static bool startsWith(const std::string& s, const std::string& prefix);
    static bool endsWith(const std::string& s, const std::string& suffix);

    // markupsafe.escape: & < > " '
    static std::string htmlEscape(const std::string& s);
    // The quoted, escaped JSON form of `s`, as Python's json.dumps writes it.
    static std::string jsonQuote(const std::string& s, bool ensureAscii);
    // Python repr() of a str.
    static std::string pythonRepr(const std::string& s);
};

} // namespace tb
