// tokenizer.json "model" of type BPE: vocab + ranked merges, applied to each pre-tokenized word
// exactly as tokenizers' BPE::tokenize does (lowest rank first, leftmost on ties), including
// byte_fallback (<0xXX> tokens), unk_token/fuse_unk, ignore_merges, continuing_subword_prefix
// and end_of_word_suffix. Results are cached per word; tokenize() is thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/JsonReader.h"

namespace tb {

class BpeModel {
public:
    // Ids above this are rejected: real vocabularies stop near 262,144, and the id-to-token
    // table is dense.
    static constexpr int64_t kMaxId = (int64_t{1} << 24) - 1;

    static std::unique_ptr<BpeModel> fromJson(const JsonReader& reader, const JsonReader::Json& json,
                                              const std::string& path);

    // Appends the ids of `word` (one pre-token, never empty) to `out`.
    void tokenize(std::string_view word, std::vector<int32_t>& out) const;

    int32_t tokenToId(std::string_view token) const; // -1 when absent
    const std::string* idToToken(int32_t id) const;  // nullptr when absent
    size_t entryCount() const { return m_vocab.size(); } // tokenizers' get_vocab_size()
    int32_t maxId() const { return m_maxId; }

private:
    struct MergeTarget {
        uint32_t rank;
        int32_t newId;
    };
    struct PairHash {
        size_t operator()(uint64_t k) const { return static_cast<size_t>(k * 0x9E3779B97F4A7C15ull >> 17); }
    };

    static uint64_t pairKey(int32_t a, int32_t b)
    {
        return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
    }
    void mergeWord(std::string_view word, std::vector<int32_t>& out) const;

    std::vector<std::string> m_tokens; // owns the strings the vocab map views
    std::unordered_map<std::string_view, int32_t> m_vocab;
    std::vector<int32_t> m_idToIndex; // id -> index in m_tokens, -1 for holes
    std::unordered_map<uint64_t, MergeTarget, PairHash> m_merges;
    int32_t m_maxId = -1;
    int32_t m_unkId = -1;
    bool m_fuseUnk = false;
    bool m_byteFallback = false;
    bool m_ignoreMerges = false;
    bool m_hasPrefix = false; // continuing_subword_prefix given (even "")
    bool m_hasSuffix = false;
    std::string m_prefix;
    std::string m_suffix;
    int32_t m_byteIds[256]; // <0xXX> ids for byte_fallback, -1 when absent

    // Word cache: tokenizers caches words; so do we (bounded, cleared when full).
    static constexpr size_t kCacheCapacity = 20000;
    static constexpr size_t kMaxCachedWordBytes = 256;
    mutable std::mutex m_cacheMutex;
    mutable std::unordered_map<std::string, std::vector<int32_t>> m_cache; // guarded by m_cacheMutex
};

} // namespace tb
