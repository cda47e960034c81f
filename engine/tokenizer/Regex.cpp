#include "tokenizer/Regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <stdexcept>

#include "tokenizer/Utf8.h"

namespace tb {

namespace {

// Unicode White_Space (Oniguruma's \s); PCRE2's UCP \s also takes U+180E.
constexpr const char* kSpaceSet =
    "\\t\\n\\x0B\\f\\r\\x20\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}";
// Oniguruma's Unicode \w: Letter, Mark, Number, Connector_Punctuation and alphabetic symbols.
constexpr const char* kWordSet =
    "\\p{L}\\p{M}\\p{N}\\p{Pc}\\x{24B6}-\\x{24E9}\\x{1F130}-\\x{1F149}\\x{1F150}-\\x{1F169}\\x{1F170}-\\x{1F189}";
constexpr const char* kHexSet = "0-9a-fA-F";

// Per-thread PCRE2 scratch: match data (one ovector pair is enough, we only read the whole
// match) and a JIT stack large enough for long runs of whitespace.
struct MatchScratch {
    pcre2_match_data* data = nullptr;
    pcre2_match_context* context = nullptr;
    pcre2_jit_stack* jitStack = nullptr;

    MatchScratch()
    {
        data = pcre2_match_data_create(1, nullptr);
        context = pcre2_match_context_create(nullptr);
        jitStack = pcre2_jit_stack_create(32 * 1024, 4 * 1024 * 1024, nullptr);
        if (context && jitStack)
            pcre2_jit_stack_assign(context, nullptr, jitStack);
        if (!data || !context)
            throw std::bad_alloc();
    }
    ~MatchScratch()
    {
        pcre2_jit_stack_free(jitStack);
        pcre2_match_context_free(context);
        pcre2_match_data_free(data);
    }
    MatchScratch(const MatchScratch&) = delete;
    MatchScratch& operator=(const MatchScratch&) = delete;
};

MatchScratch& scratch()
{
    thread_local MatchScratch s;
    return s;
}

} // namespace

struct Regex::Compiled {
    pcre2_code* code = nullptr;
    ~Compiled() { pcre2_code_free(code); }
};

std::string Regex::translateOnigPattern(const std::string& p)
{
    std::string out;
    out.reserve(p.size() + 64);
    bool inClass = false;
    size_t classStart = 0; // index in p just after '[' or "[^"
    for (size_t i = 0; i < p.size();) {
        const char c = p[i];
        if (c == '\\' && i + 1 < p.size()) {
            const char e = p[i + 1];
            const char* set = nullptr;
            bool negated = false;
            switch (e) {
            case 's': set = kSpaceSet; break;
            case 'S': set = kSpaceSet; negated = true; break;
            case 'w': set = kWordSet; break;
            case 'W': set = kWordSet; negated = true; break;
            case 'h': set = kHexSet; break;
            case 'H': set = kHexSet; negated = true; break;
            default: break;
            }
            if (set && !inClass) {
                out += negated ? "[^" : "[";
                out += set;
                out += "]";
                i += 2;
                continue;
            }
            if (set && inClass && !negated) {
                out += set;
                i += 2;
                continue;
            }
            // Any other escape (or a negated set inside a class, which PCRE2 keeps close
            // enough) is copied with its escaped character, whole if multi-byte.
            const size_t n = 1 + utf8::sequenceLength(static_cast<unsigned char>(e));
            out.append(p, i, std::min(n, p.size() - i));
            i += n;
            continue;
        }
        if (!inClass && c == '[') {
            inClass = true;
            out.push_back(c);
            ++i;
            if (i < p.size() && p[i] == '^') {
                out.push_back('^');
                ++i;
            }
            classStart = i;
            continue;
        }
        if (inClass && c == '[' && i + 1 < p.size() && p[i + 1] == ':') {
            const size_t close = p.find(":]", i + 2);
            if (close != std::string::npos) {
                out.append(p, i, close + 2 - i);
                i = close + 2;
                continue;
            }
        }
        if (inClass && c == ']' && i != classStart)
            inClass = false;
        out.push_back(c);
        ++i;
    }
    return out;
}

Regex Regex::fromPattern(const std::string& onigPattern)
{
    const std::string pattern = translateOnigPattern(onigPattern);
    int error = 0;
    PCRE2_SIZE errorOffset = 0;
    pcre2_compile_context* cctx = pcre2_compile_context_create(nullptr);
    if (cctx)
        pcre2_set_newline(cctx, PCRE2_NEWLINE_LF);
    pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                     PCRE2_UTF | PCRE2_UCP | PCRE2_MULTILINE, &error, &errorOffset, cctx);
    pcre2_compile_context_free(cctx);
    if (!code) {
        PCRE2_UCHAR message[256];
        pcre2_get_error_message(error, message, sizeof message);
        throw std::invalid_argument("invalid regex: " + std::string(reinterpret_cast<const char*>(message))
                                    + " at offset " + std::to_string(errorOffset));
    }
    // JIT is an optimisation only; a failure leaves the interpreter in charge.
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
    auto compiled = std::make_shared<Compiled>();
    compiled->code = code;
    Regex r;
    r.m_compiled = std::move(compiled);
    return r;
}

Regex Regex::fromLiteral(std::string_view text)
{
    Regex r;
    r.m_literal = std::string(text);
    return r;
}

std::vector<std::pair<size_t, size_t>> Regex::findAll(std::string_view text) const
{
    std::vector<std::pair<size_t, size_t>> matches;
    if (!m_compiled) {
        if (m_literal.empty())
            return matches;
        for (size_t pos = text.find(m_literal); pos != std::string_view::npos;
             pos = text.find(m_literal, pos + m_literal.size()))
            matches.emplace_back(pos, pos + m_literal.size());
        return matches;
    }
    MatchScratch& s = scratch();
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
    size_t lastEnd = 0;
    bool haveLastMatch = false;
    size_t lastMatchEnd = 0;
    while (lastEnd <= text.size()) {
        int rc = pcre2_match(m_compiled->code, subject, text.size(), lastEnd, PCRE2_NO_UTF_CHECK, s.data, s.context);
        if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
            rc = pcre2_match(m_compiled->code, subject, text.size(), lastEnd, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT,
                             s.data, s.context);
        if (rc == PCRE2_ERROR_NOMATCH)
            break;
        if (rc < 0) {
            PCRE2_UCHAR message[256];
            pcre2_get_error_message(rc, message, sizeof message);
            throw std::runtime_error("regex match failed: " + std::string(reinterpret_cast<const char*>(message)));
        }
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(s.data);
        const size_t start = ov[0];
        const size_t end = ov[1];
        if (start == end && haveLastMatch && lastMatchEnd == lastEnd) {
            lastEnd += lastEnd < text.size() ? utf8::sequenceLength(static_cast<unsigned char>(text[lastEnd])) : 1;
            continue;
        }
        lastEnd = end;
        lastMatchEnd = end;
        haveLastMatch = true;
        matches.emplace_back(start, end);
    }
    return matches;
}

std::vector<Regex::Span> Regex::findSpans(std::string_view text) const
{
    std::vector<Span> spans;
    if (text.empty()) {
        spans.push_back({0, 0, false});
        return spans;
    }
    size_t prev = 0;
    for (const auto& [start, end] : findAll(text)) {
        if (prev != start)
            spans.push_back({prev, start, false});
        spans.push_back({start, end, true});
        prev = end;
    }
    if (prev != text.size())
        spans.push_back({prev, text.size(), false});
    return spans;
}

} // namespace tb
