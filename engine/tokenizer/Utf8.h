// UTF-8 helpers shared by the tokenizer pipeline. Every string that enters the pipeline has
// been through sanitize(), so the rest of the code may assume well-formed UTF-8.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace tb::utf8 {

// Replaces each maximal invalid subsequence (Unicode 15 section 3.9, "substitution of maximal
// subparts", the rule Rust's String::from_utf8_lossy follows) with U+FFFD.
std::string sanitize(std::string_view bytes);
bool isValid(std::string_view bytes);

// Decodes the code point starting at s[i] (s must be valid UTF-8) and advances i past it.
inline char32_t next(std::string_view s, size_t& i)
{
    const auto b0 = static_cast<unsigned char>(s[i]);
    if (b0 < 0x80) {
        ++i;
        return b0;
    }
    if (b0 < 0xE0) {
        const char32_t c = ((b0 & 0x1Fu) << 6) | (static_cast<unsigned char>(s[i + 1]) & 0x3Fu);
        i += 2;
        return c;
    }
    if (b0 < 0xF0) {
        const char32_t c = ((b0 & 0x0Fu) << 12) | ((static_cast<unsigned char>(s[i + 1]) & 0x3Fu) << 6)
            | (static_cast<unsigned char>(s[i + 2]) & 0x3Fu);
        i += 3;
        return c;
    }
    const char32_t c = ((b0 & 0x07u) << 18) | ((static_cast<unsigned char>(s[i + 1]) & 0x3Fu) << 12)
        | ((static_cast<unsigned char>(s[i + 2]) & 0x3Fu) << 6) | (static_cast<unsigned char>(s[i + 3]) & 0x3Fu);
    i += 4;
    return c;
}

// Byte length of the UTF-8 sequence that starts with lead byte b (1 for stray bytes).
inline size_t sequenceLength(unsigned char b)
{
    return b < 0xC0 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
}

void append(std::string& out, char32_t c);
std::string encode(char32_t c);

// Unicode White_Space, the set Rust's char::is_whitespace and Oniguruma's \s use.
bool isWhitespace(char32_t c);
// Rust's \w (regex crate, Unicode): Alphabetic (letters, Nl, circled letters), marks, Nd,
// connector punctuation, Join_Control.
bool isWordChar(char32_t c);
// Rust char::is_numeric: general categories Nd, Nl, No.
bool isNumeric(char32_t c);
// tokenizers' is_punc: ASCII punctuation or any Unicode P* category.
bool isPunctuation(char32_t c);
// General category M* (combining marks), what StripAccents removes after NFD.
bool isMark(char32_t c);

// Full lowercase mapping per code point, as Rust's char::to_lowercase (U+0130 maps to two).
std::string toLower(std::string_view s);

enum class NormalForm { Nfc, Nfd, Nfkc, Nfkd };
std::string normalize(std::string_view s, NormalForm form);

} // namespace tb::utf8
