#include "tokenizer/Normalizer.h"

#include <vector>

#include "tokenizer/Utf8.h"

namespace tb {

namespace {

class SequenceNormalizer final : public Normalizer {
public:
    explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> steps) : m_steps(std::move(steps)) {}
    void normalize(std::string& text) const override
    {
        for (const auto& step : m_steps)
            step->normalize(text);
    }

private:
    std::vector<std::unique_ptr<Normalizer>> m_steps;
};

class UnicodeNormalizer final : public Normalizer {
public:
    explicit UnicodeNormalizer(utf8::NormalForm form) : m_form(form) {}
    void normalize(std::string& text) const override
    {
        // ASCII is invariant under every normal form.
        for (const char c : text) {
            if (static_cast<unsigned char>(c) >= 0x80) {
                text = utf8::normalize(text, m_form);
                return;
            }
        }
    }

private:
    utf8::NormalForm m_form;
};

class LowercaseNormalizer final : public Normalizer {
public:
    void normalize(std::string& text) const override { text = utf8::toLower(text); }
};

// Strips Unicode White_Space (Rust char::is_whitespace) from either end.
class StripNormalizer final : public Normalizer {
public:
    StripNormalizer(bool left, bool right) : m_left(left), m_right(right) {}
    void normalize(std::string& text) const override
    {
        size_t begin = 0;
        size_t end = text.size();
        if (m_left) {
            while (begin < end) {
                size_t i = begin;
                if (!utf8::isWhitespace(utf8::next(text, i)))
                    break;
                begin = i;
            }
        }
        if (m_right) {
            while (end > begin) {
                size_t start = end - 1;
                while (start > begin && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80)
                    --start;
                size_t i = start;
                if (!utf8::isWhitespace(utf8::next(text, i)))
                    break;
                end = start;
            }
        }
        text = text.substr(begin, end - begin);
    }

private:
    bool m_left;
    bool m_right;
};

class StripAccentsNormalizer final : public Normalizer {
public:
    void normalize(std::string& text) const override
    {
        std::string out;
        out.reserve(text.size());
        for (size_t i = 0; i < text.size();) {
            const size_t start = i;
            if (!utf8::isMark(utf8::next(text, i)))
                out.append(text, start, i - start);
        }
        text = std::move(out);
    }
};

class ReplaceNormalizer final : public Normalizer {
public:
    ReplaceNormalizer(Regex pattern, std::string content) : m_pattern(std::move(pattern)), m_content(std::move(content)) {}
    void normalize(std::string& text) const override
    {
        const auto matches = m_pattern.findAll(text);
        if (matches.empty())
            return;
        std::string out;
        out.reserve(text.size() + matches.size() * m_content.size());
        size_t prev = 0;
        for (const auto& [start, end] : matches) {
            out.append(text, prev, start - prev);
            out += m_content;
            prev = end;
        }
        out.append(text, prev, std::string::npos);
        text = std::move(out);
    }

private:
    Regex m_pattern;
    std::string m_content;
};

// tokenizers prepends only to non-empty pieces, so a piece emptied by earlier steps stays empty.
class PrependNormalizer final : public Normalizer {
public:
    explicit PrependNormalizer(std::string prefix) : m_prefix(std::move(prefix)) {}
    void normalize(std::string& text) const override
    {
        if (!text.empty())
            text.insert(0, m_prefix);
    }

private:
    std::string m_prefix;
};

} // namespace

std::unique_ptr<Normalizer> Normalizer::fromJson(const JsonReader& reader, const JsonReader::Json& json,
                                                 const std::string& path)
{
    if (json.is_null())
        return nullptr;
    const std::string type = reader.stringMember(json, "type", path);
    if (type == "Sequence") {
        const std::string listPath = JsonReader::child(path, "normalizers");
        const auto& list = reader.array(reader.member(json, "normalizers", path), listPath);
        std::vector<std::unique_ptr<Normalizer>> steps;
        for (size_t i = 0; i < list.size(); ++i) {
            const std::string itemPath = JsonReader::index(listPath, i);
            if (list[i].is_null())
                reader.fail(itemPath, "expected a normalizer, got null");
            steps.push_back(fromJson(reader, list[i], itemPath));
        }
        return std::make_unique<SequenceNormalizer>(std::move(steps));
    }
    if (type == "NFC")
        return std::make_unique<UnicodeNormalizer>(utf8::NormalForm::Nfc);
    if (type == "NFD")
        return std::make_unique<UnicodeNormalizer>(utf8::NormalForm::Nfd);
    if (type == "NFKC")
        return std::make_unique<UnicodeNormalizer>(utf8::NormalForm::Nfkc);
    if (type == "NFKD")
        return std::make_unique<UnicodeNormalizer>(utf8::NormalForm::Nfkd);
    if (type == "Lowercase")
        return std::make_unique<LowercaseNormalizer>();
    if (type == "Strip")
        return std::make_unique<StripNormalizer>(reader.optionalBool(json, "strip_left", path, true),
                                                 reader.optionalBool(json, "strip_right", path, true));
    if (type == "StripAccents")
        return std::make_unique<StripAccentsNormalizer>();
    if (type == "Replace")
        return std::make_unique<ReplaceNormalizer>(
            reader.pattern(reader.member(json, "pattern", path), JsonReader::child(path, "pattern")),
            reader.stringMember(json, "content", path));
    if (type == "Prepend")
        return std::make_unique<PrependNormalizer>(reader.stringMember(json, "prepend", path));
    reader.fail(JsonReader::child(path, "type"),
                "unsupported normalizer \"" + type
                    + "\" (supported: Sequence, NFC, NFD, NFKC, NFKD, Lowercase, Strip, StripAccents, Replace, Prepend)");
}

} // namespace tb
