// A Hugging Face tokenizers "tokenizer.json", run exactly as the reference library runs it:
// added tokens are split out first, then normalizer -> pre-tokenizer -> BPE model, then the
// post-processor adds special tokens; decode runs the decoder chain.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tb {

class Tokenizer {
public:
    // Throws FormatError naming the file and the JSON key on malformed input.
    static Tokenizer fromFile(const std::string& path);
    // sourceName is used in error messages in place of a file name.
    static Tokenizer fromJson(std::string_view json, const std::string& sourceName);

    Tokenizer(Tokenizer&&) noexcept;
    Tokenizer& operator=(Tokenizer&&) noexcept;
    ~Tokenizer();

    // Ids identical to tokenizers' Tokenizer.encode(text, add_special_tokens).
    // Invalid UTF-8 in `text` is replaced by U+FFFD first.
    std::vector<int32_t> encode(std::string_view text, bool addSpecialTokens) const;
    std::string decode(const std::vector<int32_t>& ids, bool skipSpecialTokens) const;

    int32_t tokenToId(std::string_view token) const; // -1 when unknown
    std::string idToToken(int32_t id) const;         // "" when out of range
    // One past the largest id encode() can emit: model vocab, added tokens, and the ids the
    // post-processor and padding insert.
    size_t vocabSize() const;
    // For messages: `12 ("<s>")`, or `12 (no token string)` for an id that names no token (a
    // post-processor's or padding's id may not).
    std::string describeId(int64_t id) const;
    bool isSpecial(int32_t id) const;                // an added token marked "special": true

private:
    struct Impl;
    explicit Tokenizer(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> m_impl;
};

} // namespace tb
