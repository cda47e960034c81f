#include "tokenizer/BpeModel.h"

#include <cstdio>
#include <queue>

#include "tokenizer/Utf8.h"

namespace tb {

std::unique_ptr<BpeModel> BpeModel::fromJson(const JsonReader& reader, const JsonReader::Json& json,
                                             const std::string& path)
{
    auto model = std::make_unique<BpeModel>();
    BpeModel& m = *model;

    if (const auto* dropout = reader.optionalMember(json, "dropout", path)) {
        if (!dropout->is_number())
            reader.fail(JsonReader::child(path, "dropout"), "expected a number or null, got " + JsonReader::typeName(*dropout));
        if (dropout->get<double>() != 0.0)
            reader.fail(JsonReader::child(path, "dropout"),
                        "BPE dropout is random and only meant for training; set it to null");
    }

    const std::string vocabPath = JsonReader::child(path, "vocab");
    const auto& vocab = reader.object(reader.member(json, "vocab", path), vocabPath);
    m.m_tokens.reserve(vocab.size());
    std::vector<int32_t> ids;
    ids.reserve(vocab.size());
    for (auto it = vocab.begin(); it != vocab.end(); ++it) {
        const std::string entryPath = vocabPath + "[" + JsonReader::Json(it.key()).dump() + "]";
        const auto id = static_cast<int32_t>(reader.integer(it.value(), entryPath, 0, kMaxId));
        if (!utf8::isValid(it.key()))
            reader.fail(entryPath, "token is not valid UTF-8");
        m.m_tokens.push_back(it.key());
        ids.push_back(id);
        m.m_maxId = std::max(m.m_maxId, id);
    }
    // Built after m_tokens stops growing, so the views stay valid.
    m.m_vocab.reserve(m.m_tokens.size() * 2);
    m.m_idToIndex.assign(static_cast<size_t>(m.m_maxId + 1), -1);
    for (size_t i = 0; i < m.m_tokens.size(); ++i) {
        m.m_vocab.emplace(m.m_tokens[i], ids[i]);
        int32_t& slot = m.m_idToIndex[static_cast<size_t>(ids[i])];
        if (slot < 0)
            slot = static_cast<int32_t>(i);
    }

    m.m_fuseUnk = reader.optionalBool(json, "fuse_unk", path, false);
    m.m_byteFallback = reader.optionalBool(json, "byte_fallback", path, false);
    m.m_ignoreMerges = reader.optionalBool(json, "ignore_merges", path, false);
    if (const auto* prefix = reader.optionalMember(json, "continuing_subword_prefix", path)) {
        m.m_hasPrefix = true;
        m.m_prefix = reader.string(*prefix, JsonReader::child(path, "continuing_subword_prefix"));
    }
    if (const auto* suffix = reader.optionalMember(json, "end_of_word_suffix", path)) {
        m.m_hasSuffix = true;
        m.m_suffix = reader.string(*suffix, JsonReader::child(path, "end_of_word_suffix"));
    }
    if (const auto* unk = reader.optionalMember(json, "unk_token", path)) {
        const std::string token = reader.string(*unk, JsonReader::child(path, "unk_token"));
        m.m_unkId = m.tokenToId(token);
        if (m.m_unkId < 0)
            reader.fail(JsonReader::child(path, "unk_token"), "\"" + token + "\" is not in " + vocabPath);
    }
    for (int b = 0; b < 256; ++b) {
        char name[8];
        std::snprintf(name, sizeof name, "<0x%02X>", b);
        m.m_byteIds[b] = m.tokenToId(name);
    }

    // Merges: "a b" strings (split on the single space) or ["a", "b"] pairs. A later duplicate
    // pair overrides an earlier one, as collecting into tokenizers' HashMap does.
    const std::string mergesPath = JsonReader::child(path, "merges");
    const JsonReader::Json* merges = reader.optionalMember(json, "merges", path);
    if (merges) {
        reader.array(*merges, mergesPath);
        m.m_merges.reserve(merges->size() * 2);
        uint32_t rank = 0;
        std::string left;
        std::string right;
        for (size_t i = 0; i < merges->size(); ++i) {
            const auto& entry = (*merges)[i];
            const std::string entryPath = JsonReader::index(mergesPath, i);
            if (entry.is_string()) {
                const auto& line = entry.get_ref<const std::string&>();
                if (line.rfind("#version", 0) == 0)
                    continue; // tokenizers skips merges.txt headers, rank included
                const size_t space = line.find(' ');
                if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos)
                    reader.fail(entryPath, "expected \"a b\" string or [a, b] pair, got " + entry.dump());
                left = line.substr(0, space);
                right = line.substr(space + 1);
            } else if (entry.is_array() && entry.size() == 2 && entry[0].is_string() && entry[1].is_string()) {
                left = entry[0].get<std::string>();
                right = entry[1].get<std::string>();
            } else {
                reader.fail(entryPath, "expected \"a b\" string or [a, b] pair, got " + JsonReader::typeName(entry));
            }
            const int32_t a = m.tokenToId(left);
            const int32_t b = m.tokenToId(right);
            if (a < 0)
                reader.fail(entryPath, "token \"" + left + "\" is not in " + vocabPath);
            if (b < 0)
                reader.fail(entryPath, "token \"" + right + "\" is not in " + vocabPath);
            const size_t cut = std::min(m.m_prefix.size(), right.size());
            const std::string merged = left + right.substr(cut);
            const int32_t newId = m.tokenToId(merged);
            if (newId < 0)
                reader.fail(entryPath, "merged token \"" + merged + "\" is not in " + vocabPath);
            m.m_merges[pairKey(a, b)] = MergeTarget{rank, newId};
            ++rank;
        }
    }
    return model;
}

int32_t BpeModel::tokenToId(std::string_view token) const
{
    const auto it = m_vocab.find(token);
    return it == m_vocab.end() ? -1 : it->second;
}

const std::string* BpeModel::idToToken(int32_t id) const
{
    if (id < 0 || id > m_maxId)
        return nullptr;
    const int32_t index = m_idToIndex[static_cast<size_t>(id)];
    return index < 0 ? nullptr : &m_tokens[static_cast<size_t>(index)];
}

void BpeModel::tokenize(std::string_view word, std::vector<int32_t>& out) const
{
    if (word.empty())
        return;
    if (m_ignoreMerges) {
        const int32_t id = tokenToId(word);
        if (id >= 0) {
            out.push_back(id);
            return;
        }
    }
    const bool cacheable = word.size() <= kMaxCachedWordBytes;
    if (cacheable) {
        std::lock_guard<std::mutex> lock(m_cacheMutex);
        const auto it = m_cache.find(std::string(word));
        if (it != m_cache.end()) {
            out.insert(out.end(), it->second.begin(), it->second.end());
            return;
        }
    }
    const size_t before = out.size();
    mergeWord(word, out);
    if (cacheable) {
        std::lock_guard<std::mutex> lock(m_cacheMutex);
        if (m_cache.size() >= kCacheCapacity)
            m_cache.clear();
        m_cache.emplace(std::string(word), std::vector<int32_t>(out.begin() + static_cast<std::ptrdiff_t>(before), out.end()));
    }
}

void BpeModel::mergeWord(std::string_view word, std::vector<int32_t>& out) const
{
    // Initial symbols: one per character (tokens::BPE::merge_word), unknown characters
    // becoming <0xXX> bytes or the unk token, consecutive unks fused when fuse_unk.
    struct Symbol {
        int32_t id;
        int32_t prev;
        int32_t next;
        bool removed;
    };
    std::vector<Symbol> symbols;
    symbols.reserve(word.size());
    auto add = [&symbols](int32_t id) {
        const auto n = static_cast<int32_t>(symbols.size());
        symbols.push_back(Symbol{id, n - 1, -1, false});
        if (n > 0)
            symbols[static_cast<size_t>(n - 1)].next = n;
    };
    bool pendingUnk = false;
    std::string decorated;
    for (size_t i = 0; i < word.size();) {
        const size_t start = i;
        i += utf8::sequenceLength(static_cast<unsigned char>(word[i]));
        i = std::min(i, word.size());
        std::string_view piece = word.substr(start, i - start);
        if ((m_hasPrefix && start > 0) || (m_hasSuffix && i == word.size())) {
            decorated.clear();
            if (m_hasPrefix && start > 0)
                decorated += m_prefix;
            decorated += piece;
            if (m_hasSuffix && i == word.size())
                decorated += m_suffix;
            piece = decorated;
        }
        const int32_t id = tokenToId(piece);
        if (id >= 0) {
            if (pendingUnk) {
                add(m_unkId);
                pendingUnk = false;
            }
            add(id);
            continue;
        }
        if (m_byteFallback) {
            bool all = true;
            for (const char c : piece)
                all = all && m_byteIds[static_cast<unsigned char>(c)] >= 0;
            if (all) {
                // tokenizers emits the bytes without flushing a pending unk first.
                for (const char c : piece)
                    add(m_byteIds[static_cast<unsigned char>(c)]);
                continue;
            }
        }
        if (m_unkId >= 0) {
            if (pendingUnk && !m_fuseUnk)
                add(m_unkId);
            pendingUnk = true;
        }
    }
    if (pendingUnk)
        add(m_unkId);

    struct Candidate {
        uint32_t rank;
        int32_t pos;
        int32_t newId;
        bool operator<(const Candidate& o) const
        {
            // priority_queue pops the largest: make lowest rank, then leftmost, the largest.
            return rank != o.rank ? rank > o.rank : pos > o.pos;
        }
    };
    std::priority_queue<Candidate> queue;
    for (size_t k = 0; k + 1 < symbols.size(); ++k) {
        const auto it = m_merges.find(pairKey(symbols[k].id, symbols[k + 1].id));
        if (it != m_merges.end())
            queue.push(Candidate{it->second.rank, static_cast<int32_t>(k), it->second.newId});
    }
    while (!queue.empty()) {
        const Candidate top = queue.top();
        queue.pop();
        Symbol& cur = symbols[static_cast<size_t>(top.pos)];
        if (cur.removed || cur.next < 0)
            continue;
        const Symbol right = symbols[static_cast<size_t>(cur.next)];
        const auto it = m_merges.find(pairKey(cur.id, right.id));
        if (it == m_merges.end() || it->second.newId != top.newId)
            continue; // stale entry
        symbols[static_cast<size_t>(cur.next)].removed = true;
        cur.id = top.newId;
        cur.next = right.next;
        if (right.next >= 0)
            symbols[static_cast<size_t>(right.next)].prev = top.pos;
        if (cur.prev >= 0) {
            const auto p = m_merges.find(pairKey(symbols[static_cast<size_t>(cur.prev)].id, cur.id));
            if (p != m_merges.end())
                queue.push(Candidate{p->second.rank, cur.prev, p->second.newId});
        }
        if (cur.next >= 0) {
            const auto n = m_merges.find(pairKey(cur.id, symbols[static_cast<size_t>(cur.next)].id));
            if (n != m_merges.end())
                queue.push(Candidate{n->second.rank, top.pos, n->second.newId});
        }
    }
    for (const auto& s : symbols)
        if (!s.removed)
            out.push_back(s.id);
}

} // namespace tb
