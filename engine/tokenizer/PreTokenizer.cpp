#include "tokenizer/PreTokenizer.h"

#include <algorithm>
#include <array>
#include <functional>
#include <utility>
#include <vector>

#include "tokenizer/Regex.h"
#include "tokenizer/Utf8.h"

namespace tb {

namespace {

using Range = std::pair<size_t, size_t>;

// tokenizers' SplitDelimiterBehavior.
enum class Behavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

// The kept ranges for a list of match/gap spans, as NormalizedString::split computes them.
std::vector<Range> applyBehavior(const std::vector<Regex::Span>& spans, Behavior behavior)
{
    std::vector<Range> out;
    out.reserve(spans.size());
    switch (behavior) {
    case Behavior::Isolated:
        for (const auto& s : spans)
            out.emplace_back(s.start, s.end);
        break;
    case Behavior::Removed:
        for (const auto& s : spans)
            if (!s.isMatch)
                out.emplace_back(s.start, s.end);
        break;
    case Behavior::Contiguous: {
        bool previousMatch = false;
        for (const auto& s : spans) {
            if (s.isMatch == previousMatch && !out.empty())
                out.back().second = s.end;
            else
                out.emplace_back(s.start, s.end);
            previousMatch = s.isMatch;
        }
        break;
    }
    case Behavior::MergedWithPrevious: {
        bool previousMatch = false;
        for (const auto& s : spans) {
            if (s.isMatch && !previousMatch && !out.empty())
                out.back().second = s.end;
            else
                out.emplace_back(s.start, s.end);
            previousMatch = s.isMatch;
        }
        break;
    }
    case Behavior::MergedWithNext: {
        bool previousMatch = false;
        for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
            if (it->isMatch && !previousMatch && !out.empty())
                out.back().first = it->start;
            else
                out.emplace_back(it->start, it->end);
            previousMatch = it->isMatch;
        }
        std::reverse(out.begin(), out.end());
        break;
    }
    }
    return out;
}

// Spans for a per-character predicate: every matching character is its own match.
std::vector<Regex::Span> charSpans(std::string_view text, const std::function<bool(char32_t)>& pred)
{
    std::vector<Regex::Span> spans;
    if (text.empty()) {
        spans.push_back({0, 0, false});
        return spans;
    }
    size_t lastOffset = 0;
    for (size_t i = 0; i < text.size();) {
        const size_t start = i;
        if (pred(utf8::next(text, i))) {
            if (lastOffset < start)
                spans.push_back({lastOffset, start, false});
            spans.push_back({start, i, true});
            lastOffset = i;
        }
    }
    if (lastOffset < text.size())
        spans.push_back({lastOffset, text.size(), false});
    return spans;
}

// Replaces each piece with addedId < 0 by the pieces `split` makes of it, dropping empty ones.
// A sub-piece keeps atInputStart only when it begins where its parent began.
template <typename SplitFn>
void splitPieces(TextPieces& pieces, SplitFn&& split)
{
    TextPieces out;
    out.reserve(pieces.size() * 2);
    for (auto& piece : pieces) {
        if (piece.addedId >= 0) {
            out.push_back(std::move(piece));
            continue;
        }
        for (auto& [text, atStart] : split(piece)) {
            if (text.empty())
                continue;
            out.push_back(TextPiece{std::move(text), -1, piece.atInputStart && atStart});
        }
    }
    pieces = std::move(out);
}

using SubPieces = std::vector<std::pair<std::string, bool>>;

SubPieces cut(const std::string& text, const std::vector<Range>& ranges)
{
    SubPieces out;
    out.reserve(ranges.size());
    for (const auto& [start, end] : ranges)
        out.emplace_back(text.substr(start, end - start), start == 0);
    return out;
}

Behavior parseBehavior(const JsonReader& reader, const JsonReader::Json& json, const std::string& path,
                       const char* fallback)
{
    const std::string name = reader.optionalString(json, "behavior", path, fallback);
    if (name == "Removed")
        return Behavior::Removed;
    if (name == "Isolated")
        return Behavior::Isolated;
    if (name == "MergedWithPrevious")
        return Behavior::MergedWithPrevious;
    if (name == "MergedWithNext")
        return Behavior::MergedWithNext;
    if (name == "Contiguous")
        return Behavior::Contiguous;
    reader.fail(JsonReader::child(path, "behavior"),
                "unknown behavior \"" + name + "\" (Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous)");
}

class SequencePreTokenizer final : public PreTokenizer {
public:
    explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> steps) : m_steps(std::move(steps)) {}
    void preTokenize(TextPieces& pieces) const override
    {
        for (const auto& step : m_steps)
            step->preTokenize(pieces);
    }

private:
    std::vector<std::unique_ptr<PreTokenizer>> m_steps;
};

class SplitPreTokenizer final : public PreTokenizer {
public:
    SplitPreTokenizer(Regex pattern, Behavior behavior, bool invert)
        : m_pattern(std::move(pattern)), m_behavior(behavior), m_invert(invert)
    {
    }
    void preTokenize(TextPieces& pieces) const override
    {
        splitPieces(pieces, [this](const TextPiece& piece) {
            auto spans = m_pattern.findSpans(piece.text);
            if (m_invert)
                for (auto& s : spans)
                    s.isMatch = !s.isMatch;
            return cut(piece.text, applyBehavior(spans, m_behavior));
        });
    }

private:
    Regex m_pattern;
    Behavior m_behavior;
    bool m_invert;
};

class PredicatePreTokenizer final : public PreTokenizer {
public:
    PredicatePreTokenizer(std::function<bool(char32_t)> pred, Behavior behavior)
        : m_pred(std::move(pred)), m_behavior(behavior)
    {
    }
    void preTokenize(TextPieces& pieces) const override
    {
        splitPieces(pieces, [this](const TextPiece& piece) {
            return cut(piece.text, applyBehavior(charSpans(piece.text, m_pred), m_behavior));
        });
    }

private:
    std::function<bool(char32_t)> m_pred;
    Behavior m_behavior;
};

// Whitespace: the matches of Rust's \w+|[^\w\s]+, i.e. runs of word characters and runs of
// other non-space characters.
class WhitespacePreTokenizer final : public PreTokenizer {
public:
    void preTokenize(TextPieces& pieces) const override
    {
        splitPieces(pieces, [](const TextPiece& piece) {
            std::vector<Range> ranges;
            const std::string& t = piece.text;
            int runKind = 0; // 0 none, 1 word, 2 other
            for (size_t i = 0; i < t.size();) {
                const size_t start = i;
                const char32_t c = utf8::next(t, i);
                const int kind = utf8::isWordChar(c) ? 1 : utf8::isWhitespace(c) ? 0 : 2;
                if (kind != 0 && kind == runKind)
                    ranges.back().second = i;
                else if (kind != 0)
                    ranges.emplace_back(start, i);
                runKind = kind;
            }
            return cut(t, ranges);
        });
    }
};

class ByteLevelPreTokenizer final : public PreTokenizer {
public:
    ByteLevelPreTokenizer(bool addPrefixSpace, bool useRegex) : m_addPrefixSpace(addPrefixSpace), m_useRegex(useRegex)
    {
        if (m_useRegex)
            m_gpt2 = Regex::fromPattern(
                R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)");
    }
    void preTokenize(TextPieces& pieces) const override
    {
        if (m_addPrefixSpace || m_useRegex) {
            splitPieces(pieces, [this](const TextPiece& piece) {
                std::string text = piece.text;
                if (m_addPrefixSpace && (text.empty() || text[0] != ' '))
                    text.insert(0, 1, ' ');
                if (!m_useRegex)
                    return SubPieces{{std::move(text), true}};
                std::vector<Range> ranges;
                for (const auto& s : m_gpt2.findSpans(text))
                    ranges.emplace_back(s.start, s.end);
                return cut(text, ranges);
            });
        }
        for (auto& piece : pieces) {
            if (piece.addedId >= 0)
                continue;
            std::string mapped;
            mapped.reserve(piece.text.size() * 2);
            for (const char c : piece.text)
                mapped += byteToUnicode(static_cast<unsigned char>(c));
            piece.text = std::move(mapped);
        }
    }

private:
    bool m_addPrefixSpace;
    bool m_useRegex;
    Regex m_gpt2 = Regex::fromLiteral("");
};

class MetaspacePreTokenizer final : public PreTokenizer {
public:
    enum class Prepend { Always, First, Never };
    MetaspacePreTokenizer(std::string replacement, Prepend prepend, bool split)
        : m_replacement(std::move(replacement)), m_prepend(prepend), m_split(split)
    {
    }
    void preTokenize(TextPieces& pieces) const override
    {
        splitPieces(pieces, [this](const TextPiece& piece) {
            std::string text;
            text.reserve(piece.text.size() + 8);
            for (const char c : piece.text) {
                if (c == ' ')
                    text += m_replacement;
                else
                    text.push_back(c);
            }
            const bool startsWithReplacement = text.compare(0, m_replacement.size(), m_replacement) == 0;
            if (!startsWithReplacement
                && (m_prepend == Prepend::Always || (m_prepend == Prepend::First && piece.atInputStart)))
                text.insert(0, m_replacement);
            if (!m_split)
                return SubPieces{{std::move(text), true}};
            std::vector<Regex::Span> spans;
            if (text.empty())
                spans.push_back({0, 0, false});
            size_t last = 0;
            for (size_t pos = text.find(m_replacement); pos != std::string::npos;
                 pos = text.find(m_replacement, pos + m_replacement.size())) {
                if (last < pos)
                    spans.push_back({last, pos, false});
                spans.push_back({pos, pos + m_replacement.size(), true});
                last = pos + m_replacement.size();
            }
            if (last < text.size())
                spans.push_back({last, text.size(), false});
            return cut(text, applyBehavior(spans, Behavior::MergedWithNext));
        });
    }

private:
    std::string m_replacement;
    Prepend m_prepend;
    bool m_split;
};

std::array<std::string, 256> makeByteTable()
{
    std::array<std::string, 256> table;
    int n = 0;
    for (int b = 0; b < 256; ++b) {
        const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
        table[static_cast<size_t>(b)] = utf8::encode(printable ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + n++));
    }
    return table;
}

std::string singleChar(const JsonReader& reader, const JsonReader::Json& json, const char* key,
                       const std::string& path, const std::string& fallback)
{
    const std::string value = reader.optionalString(json, key, path, fallback);
    size_t i = 0;
    if (value.empty() || (utf8::next(value, i), i != value.size()))
        reader.fail(JsonReader::child(path, key), "expected a single character, got \"" + value + "\"");
    return value;
}

} // namespace

const std::string& PreTokenizer::byteToUnicode(unsigned char byte)
{
    static const std::array<std::string, 256> table = makeByteTable();
    return table[byte];
}

int PreTokenizer::unicodeToByte(char32_t c)
{
    if ((c >= 33 && c <= 126) || (c >= 161 && c <= 172) || (c >= 174 && c <= 255))
        return static_cast<int>(c);
    if (c < 256 || c >= 256 + 68)
        return -1;
    // The remaining 68 bytes map, in byte order, to U+0100..U+0143.
    int n = 0;
    for (int b = 0; b < 256; ++b) {
        const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
        if (!printable && 256 + n++ == static_cast<int>(c))
            return b;
    }
    return -1;
}

const char* PreTokenizer::llama3Pattern()
{
    return R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
}

std::unique_ptr<PreTokenizer> PreTokenizer::fromJson(const JsonReader& reader, const JsonReader::Json& json,
                                                     const std::string& path)
{
    if (json.is_null())
        return nullptr;
    const std::string type = reader.stringMember(json, "type", path);
    if (type == "Sequence") {
        const std::string listPath = JsonReader::child(path, "pretokenizers");
        const auto& list = reader.array(reader.member(json, "pretokenizers", path), listPath);
        std::vector<std::unique_ptr<PreTokenizer>> steps;
        for (size_t i = 0; i < list.size(); ++i) {
            const std::string itemPath = JsonReader::index(listPath, i);
            if (list[i].is_null())
                reader.fail(itemPath, "expected a pre-tokenizer, got null");
            steps.push_back(fromJson(reader, list[i], itemPath));
        }
        return std::make_unique<SequencePreTokenizer>(std::move(steps));
    }
    if (type == "Split") {
        Regex pattern = reader.pattern(reader.member(json, "pattern", path), JsonReader::child(path, "pattern"));
        return std::make_unique<SplitPreTokenizer>(std::move(pattern), parseBehavior(reader, json, path, "Removed"),
                                                   reader.optionalBool(json, "invert", path, false));
    }
    if (type == "ByteLevel")
        return std::make_unique<ByteLevelPreTokenizer>(reader.optionalBool(json, "add_prefix_space", path, true),
                                                       reader.optionalBool(json, "use_regex", path, true));
    if (type == "Metaspace") {
        const std::string replacement = singleChar(reader, json, "replacement", path, "\xE2\x96\x81");
        auto prepend = MetaspacePreTokenizer::Prepend::Always;
        if (const auto* scheme = reader.optionalMember(json, "prepend_scheme", path)) {
            const std::string name = reader.string(*scheme, JsonReader::child(path, "prepend_scheme"));
            if (name == "always")
                prepend = MetaspacePreTokenizer::Prepend::Always;
            else if (name == "first")
                prepend = MetaspacePreTokenizer::Prepend::First;
            else if (name == "never")
                prepend = MetaspacePreTokenizer::Prepend::Never;
            else
                reader.fail(JsonReader::child(path, "prepend_scheme"),
                            "unknown prepend_scheme \"" + name + "\" (always, first, never)");
        }
        // Files written before prepend_scheme existed say add_prefix_space.
        if (!reader.optionalBool(json, "add_prefix_space", path, true))
            prepend = MetaspacePreTokenizer::Prepend::Never;
        return std::make_unique<MetaspacePreTokenizer>(replacement, prepend, reader.optionalBool(json, "split", path, true));
    }
    if (type == "Whitespace")
        return std::make_unique<WhitespacePreTokenizer>();
    if (type == "WhitespaceSplit")
        return std::make_unique<PredicatePreTokenizer>(utf8::isWhitespace, Behavior::Removed);
    if (type == "Digits") {
        const bool individual = reader.optionalBool(json, "individual_digits", path, false);
        return std::make_unique<PredicatePreTokenizer>(utf8::isNumeric,
                                                       individual ? Behavior::Isolated : Behavior::Contiguous);
    }
    if (type == "Punctuation")
        return std::make_unique<PredicatePreTokenizer>(utf8::isPunctuation, parseBehavior(reader, json, path, "Isolated"));
    if (type == "CharDelimiterSplit") {
        const std::string delimiter = singleChar(reader, json, "delimiter", path, "");
        size_t i = 0;
        const char32_t d = utf8::next(delimiter, i);
        return std::make_unique<PredicatePreTokenizer>([d](char32_t c) { return c == d; }, Behavior::Removed);
    }
    if (type == "BertPreTokenizer") {
        std::vector<std::unique_ptr<PreTokenizer>> steps;
        steps.push_back(std::make_unique<PredicatePreTokenizer>(utf8::isWhitespace, Behavior::Removed));
        steps.push_back(std::make_unique<PredicatePreTokenizer>(utf8::isPunctuation, Behavior::Isolated));
        return std::make_unique<SequencePreTokenizer>(std::move(steps));
    }
    reader.fail(JsonReader::child(path, "type"),
                "unsupported pre-tokenizer \"" + type
                    + "\" (supported: Sequence, Split, ByteLevel, Metaspace, Whitespace, WhitespaceSplit, Digits, "
                      "Punctuation, CharDelimiterSplit, BertPreTokenizer)");
}

} // namespace tb
