#include "tokenizer/TokenDecoder.h"

#include "tokenizer/PreTokenizer.h"
#include "tokenizer/Regex.h"
#include "tokenizer/Utf8.h"

namespace tb {

namespace {

constexpr const char* kReplacementChar = "\xEF\xBF\xBD";

class SequenceDecoder final : public TokenDecoder {
public:
    explicit SequenceDecoder(std::vector<std::unique_ptr<TokenDecoder>> steps) : m_steps(std::move(steps)) {}
    void decodeChain(std::vector<std::string>& tokens) const override
    {
        for (const auto& step : m_steps)
            step->decodeChain(tokens);
    }

private:
    std::vector<std::unique_ptr<TokenDecoder>> m_steps;
};

// Maps the byte-level alphabet back to bytes. A token holding any other character is taken
// as its raw UTF-8 (added tokens); the joined bytes are then read lossily.
class ByteLevelDecoder final : public TokenDecoder {
public:
    void decodeChain(std::vector<std::string>& tokens) const override
    {
        std::string bytes;
        std::string tokenBytes;
        for (const auto& token : tokens) {
            tokenBytes.clear();
            bool allMapped = true;
            for (size_t i = 0; i < token.size();) {
                const int b = PreTokenizer::unicodeToByte(utf8::next(token, i));
                if (b < 0) {
                    allMapped = false;
                    break;
                }
                tokenBytes.push_back(static_cast<char>(b));
            }
            bytes += allMapped ? tokenBytes : token;
        }
        tokens.assign(1, utf8::sanitize(bytes));
    }
};

// Runs of <0xXX> tokens become their bytes when those form valid UTF-8, otherwise one U+FFFD
// per byte token.
class ByteFallbackDecoder final : public TokenDecoder {
public:
    void decodeChain(std::vector<std::string>& tokens) const override
    {
        std::vector<std::string> out;
        out.reserve(tokens.size());
        std::string pending;
        auto flush = [&]() {
            if (pending.empty())
                return;
            if (utf8::isValid(pending))
                out.push_back(pending);
            else
                for (size_t i = 0; i < pending.size(); ++i)
                    out.emplace_back(kReplacementChar);
            pending.clear();
        };
        for (auto& token : tokens) {
            int byte = -1;
            if (token.size() == 6 && token.compare(0, 3, "<0x") == 0 && token[5] == '>')
                byte = parseHexByte(token[3], token[4]);
            if (byte >= 0) {
                pending.push_back(static_cast<char>(byte));
            } else {
                flush();
                out.push_back(std::move(token));
            }
        }
        flush();
        tokens = std::move(out);
    }

private:
    // u8::from_str_radix(.., 16) on two characters: hex digits, or '+' then one digit.
    static int hexDigit(char c)
    {
        if (c >= '0' && c <= '9')
            return c - '0';
        if (c >= 'a' && c <= 'f')
            return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
            return c - 'A' + 10;
        return -1;
    }
    static int parseHexByte(char hi, char lo)
    {
        const int l = hexDigit(lo);
        if (l < 0)
            return -1;
        if (hi == '+')
            return l;
        const int h = hexDigit(hi);
        return h < 0 ? -1 : h * 16 + l;
    }
};

class FuseDecoder final : public TokenDecoder {
public:
    void decodeChain(std::vector<std::string>& tokens) const override
    {
        std::string joined;
        for (const auto& t : tokens)
            joined += t;
        tokens.assign(1, std::move(joined));
    }
};

// Removes up to `start` leading and `stop` trailing copies of one character from each token.
class StripDecoder final : public TokenDecoder {
public:
    StripDecoder(char32_t content, size_t start, size_t stop) : m_content(content), m_start(start), m_stop(stop) {}
    void decodeChain(std::vector<std::string>& tokens) const override
    {
        for (auto& token : tokens) {
            std::vector<std::pair<size_t, char32_t>> chars; // (byte offset, code point)
            for (size_t i = 0; i < token.size();) {
                const size_t at = i;
                chars.emplace_back(at, utf8::next(token, i));
            }
            size_t startCut = 0;
            for (size_t i = 0; i < m_start && i < chars.size() && chars[i].second == m_content; ++i)
                startCut = i + 1;
            size_t stopCut = chars.size();
            for (size_t i = 0; i < m_stop && i < chars.size(); ++i) {
                const size_t index = chars.size() - i - 1;
                if (chars[index].second != m_content)
                    break;
                stopCut = index;
            }
            if (stopCut <= startCut) {
                token.clear();
                continue;
            }
            const size_t from = chars[startCut].first;
            const size_t to = stopCut < chars.size() ? chars[stopCut].first : token.size();
            token = token.substr(from, to - from);
        }
    }

private:
    char32_t m_content;
    size_t m_start;
    size_t m_stop;
};

class ReplaceDecoder final : public TokenDecoder {
public:
    ReplaceDecoder(Regex pattern, std::string content) : m_pattern(std::move(pattern)), m_content(std::move(content)) {}
    void decodeChain(std::vector<std::string>& tokens) const override
    {
        for (auto& token : tokens) {
            std::string out;
            for (const auto& span : m_pattern.findSpans(token))
                out += span.isMatch ? m_content : token.substr(span.start, span.end - span.start);
            token = std::move(out);
        }
    }

private:
    Regex m_pattern;
    std::string m_content;
};

// The replacement character becomes a space, except at the very start of the first token when
// the pre-tokenizer prepended it.
class MetaspaceDecoder final : public TokenDecoder {
public:
    MetaspaceDecoder(char32_t replacement, bool prepended) : m_replacement(replacement), m_prepended(prepended) {}
    void decodeChain(std::vector<std::string>& tokens) const override
    {
        for (size_t t = 0; t < tokens.size(); ++t) {
            std::string out;
            const std::string& token = tokens[t];
            for (size_t i = 0; i < token.size();) {
                const size_t start = i;
                const char32_t c = utf8::next(token, i);
                if (c == m_replacement) {
                    if (!(t == 0 && m_prepended))
                        out.push_back(' ');
                } else {
                    out.append(token, start, i - start);
                }
            }
            tokens[t] = std::move(out);
        }
    }

private:
    char32_t m_replacement;
    bool m_prepended;
};

// BPEDecoder: the end-of-word suffix becomes a space, or nothing on the last token.
class BpeSuffixDecoder final : public TokenDecoder {
public:
    explicit BpeSuffixDecoder(std::string suffix) : m_suffix(std::move(suffix)) {}
    void decodeChain(std::vector<std::string>& tokens) const override
    {
        if (m_suffix.empty())
            return;
        for (size_t t = 0; t < tokens.size(); ++t) {
            const std::string replacement = t + 1 == tokens.size() ? "" : " ";
            std::string& token = tokens[t];
            std::string out;
            size_t prev = 0;
            for (size_t pos = token.find(m_suffix); pos != std::string::npos; pos = token.find(m_suffix, prev)) {
                out.append(token, prev, pos - prev);
                out += replacement;
                prev = pos + m_suffix.size();
            }
            out.append(token, prev, std::string::npos);
            token = std::move(out);
        }
    }

private:
    std::string m_suffix;
};

char32_t readChar(const JsonReader& reader, const JsonReader::Json& json, const char* key, const std::string& path,
                  const std::string& fallback)
{
    const std::string value = reader.optionalString(json, key, path, fallback);
    size_t i = 0;
    char32_t c = 0;
    if (value.empty() || !utf8::isValid(value) || (c = utf8::next(value, i), i != value.size()))
        reader.fail(JsonReader::child(path, key), "expected a single character, got \"" + value + "\"");
    return c;
}

} // namespace

std::string TokenDecoder::decode(std::vector<std::string> tokens) const
{
    decodeChain(tokens);
    std::string out;
    for (const auto& t : tokens)
        out += t;
    return out;
}

std::unique_ptr<TokenDecoder> TokenDecoder::fromJson(const JsonReader& reader, const JsonReader::Json& json,
                                                     const std::string& path)
{
    if (json.is_null())
        return nullptr;
    const std::string type = reader.stringMember(json, "type", path);
    if (type == "Sequence") {
        const std::string listPath = JsonReader::child(path, "decoders");
        const auto& list = reader.array(reader.member(json, "decoders", path), listPath);
        std::vector<std::unique_ptr<TokenDecoder>> steps;
        for (size_t i = 0; i < list.size(); ++i) {
            const std::string itemPath = JsonReader::index(listPath, i);
            if (list[i].is_null())
                reader.fail(itemPath, "expected a decoder, got null");
            steps.push_back(fromJson(reader, list[i], itemPath));
        }
        return std::make_unique<SequenceDecoder>(std::move(steps));
    }
    if (type == "ByteLevel")
        return std::make_unique<ByteLevelDecoder>();
    if (type == "ByteFallback")
        return std::make_unique<ByteFallbackDecoder>();
    if (type == "Fuse")
        return std::make_unique<FuseDecoder>();
    if (type == "Strip") {
        const char32_t content = readChar(reader, json, "content", path, " ");
        const auto start = reader.integer(reader.member(json, "start", path), JsonReader::child(path, "start"), 0, 1 << 20);
        const auto stop = reader.integer(reader.member(json, "stop", path), JsonReader::child(path, "stop"), 0, 1 << 20);
        return std::make_unique<StripDecoder>(content, static_cast<size_t>(start), static_cast<size_t>(stop));
    }
    if (type == "Replace")
        return std::make_unique<ReplaceDecoder>(
            reader.pattern(reader.member(json, "pattern", path), JsonReader::child(path, "pattern")),
            reader.stringMember(json, "content", path));
    if (type == "Metaspace") {
        const char32_t replacement = readChar(reader, json, "replacement", path, "\xE2\x96\x81");
        bool prepended = true;
        if (const auto* scheme = reader.optionalMember(json, "prepend_scheme", path))
            prepended = reader.string(*scheme, JsonReader::child(path, "prepend_scheme")) != "never";
        if (!reader.optionalBool(json, "add_prefix_space", path, true))
            prepended = false;
        return std::make_unique<MetaspaceDecoder>(replacement, prepended);
    }
    if (type == "BPEDecoder")
        return std::make_unique<BpeSuffixDecoder>(reader.optionalString(json, "suffix", path, "</w>"));
    reader.fail(JsonReader::child(path, "type"),
                "unsupported decoder \"" + type
                    + "\" (supported: ByteLevel, ByteFallback, Metaspace, Fuse, Strip, Replace, BPEDecoder, Sequence)");
}

} // namespace tb
