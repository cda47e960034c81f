#include "tokenizer/BpeTrainer.h"

#include <algorithm>
#include <queue>
#include <stdexcept>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "tokenizer/PreTokenizer.h"
#include "tokenizer/Regex.h"
#include "tokenizer/Utf8.h"

namespace tb {

namespace {

using Pair = uint64_t; // left id << 32 | right id

Pair makePair(int32_t a, int32_t b)
{
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}
int32_t leftOf(Pair p) { return static_cast<int32_t>(p >> 32); }
int32_t rightOf(Pair p) { return static_cast<int32_t>(p & 0xFFFFFFFFu); }

struct HeapEntry {
    int64_t count;
    Pair pair;
    // Highest count first, then the smallest pair.
    bool operator<(const HeapEntry& o) const { return count != o.count ? count < o.count : pair > o.pair; }
};

std::string jsonQuoted(const std::string& s) { return nlohmann::json(s).dump(); }

} // namespace

std::string trainByteLevelBpeTokenizerJson(const std::vector<std::string>& texts, int vocabSize,
                                           const std::vector<std::string>& specialTokens, const std::string& bosToken)
{
    std::vector<std::string> specials;
    for (const auto& s : specialTokens) {
        if (s.empty())
            throw std::invalid_argument("trainByteLevelBpeTokenizerJson: empty special token");
        if (std::find(specials.begin(), specials.end(), s) == specials.end())
            specials.push_back(s);
    }
    const int64_t target = static_cast<int64_t>(vocabSize) - static_cast<int64_t>(specials.size());
    if (target < 256)
        throw std::invalid_argument("trainByteLevelBpeTokenizerJson: vocabSize " + std::to_string(vocabSize)
                                    + " leaves no room beyond 256 byte tokens and "
                                    + std::to_string(specials.size()) + " special tokens");
    if (!bosToken.empty() && std::find(specials.begin(), specials.end(), bosToken) == specials.end())
        throw std::invalid_argument("trainByteLevelBpeTokenizerJson: bosToken \"" + bosToken
                                    + "\" is not one of the special tokens");

    // Words: the pieces the tokenizer's own pre-tokenizer makes, counted by their bytes.
    const Regex split = Regex::fromPattern(PreTokenizer::llama3Pattern());
    std::unordered_map<std::string, int64_t> wordCounts;
    for (const auto& raw : texts) {
        const std::string text = utf8::sanitize(raw);
        for (const auto& [start, end] : split.findAll(text))
            if (end > start)
                ++wordCounts[text.substr(start, end - start)];
    }
    // Sorted so the training order, and so the result, does not depend on hashing.
    std::vector<std::pair<std::string, int64_t>> sortedWords(wordCounts.begin(), wordCounts.end());
    std::sort(sortedWords.begin(), sortedWords.end());

    std::vector<std::string> vocab; // id -> byte-level token string
    std::unordered_map<std::string, int32_t> vocabIds;
    for (int b = 0; b < 256; ++b) {
        vocab.push_back(PreTokenizer::byteToUnicode(static_cast<unsigned char>(b)));
        vocabIds.emplace(vocab.back(), b);
    }

    std::vector<std::vector<int32_t>> words;
    std::vector<int64_t> counts;
    std::unordered_map<Pair, int64_t> pairCounts;
    std::unordered_map<Pair, std::vector<int32_t>> pairWords; // may hold stale or repeated entries
    for (const auto& [bytes, count] : sortedWords) {
        std::vector<int32_t> symbols;
        for (const char c : bytes)
            symbols.push_back(static_cast<unsigned char>(c));
        const auto w = static_cast<int32_t>(words.size());
        for (size_t i = 0; i + 1 < symbols.size(); ++i) {
            const Pair p = makePair(symbols[i], symbols[i + 1]);
            pairCounts[p] += count;
            auto& list = pairWords[p];
            if (list.empty() || list.back() != w)
                list.push_back(w);
        }
        words.push_back(std::move(symbols));
        counts.push_back(count);
    }

    std::priority_queue<HeapEntry> heap;
    for (const auto& [pair, count] : pairCounts)
        heap.push({count, pair});

    std::vector<Pair> merges;
    std::vector<int32_t> visited(words.size(), -1);
    std::unordered_map<Pair, int64_t> deltas;
    while (static_cast<int64_t>(vocab.size()) < target && !heap.empty()) {
        const HeapEntry top = heap.top();
        heap.pop();
        const auto it = pairCounts.find(top.pair);
        const int64_t current = it == pairCounts.end() ? 0 : it->second;
        if (current != top.count) {
            if (current > 0)
                heap.push({current, top.pair}); // stale entry: requeue at its true count
            continue;
        }
        if (current <= 0)
            break;

        const int32_t a = leftOf(top.pair);
        const int32_t b = rightOf(top.pair);
        const std::string merged = vocab[static_cast<size_t>(a)] + vocab[static_cast<size_t>(b)];
        int32_t newId;
        if (const auto found = vocabIds.find(merged); found != vocabIds.end()) {
            newId = found->second; // the same string reached through another split
        } else {
            newId = static_cast<int32_t>(vocab.size());
            vocab.push_back(merged);
            vocabIds.emplace(merged, newId);
        }
        const auto mergeIndex = static_cast<int32_t>(merges.size());
        merges.push_back(top.pair);

        deltas.clear();
        std::vector<int32_t> holders = std::move(pairWords[top.pair]);
        pairWords.erase(top.pair);
        for (const int32_t w : holders) {
            if (visited[static_cast<size_t>(w)] == mergeIndex)
                continue;
            visited[static_cast<size_t>(w)] = mergeIndex;
            auto& s = words[static_cast<size_t>(w)];
            const int64_t count = counts[static_cast<size_t>(w)];
            std::vector<int32_t> out;
            out.reserve(s.size());
            bool changed = false;
            for (size_t i = 0; i < s.size();) {
                if (i + 1 < s.size() && s[i] == a && s[i + 1] == b) {
                    // Neighbours lose their pair with the old symbol and gain one with the new;
                    // out.back() may already be a fresh merge, which keeps the books balanced.
                    if (!out.empty()) {
                        deltas[makePair(out.back(), a)] -= count;
                        deltas[makePair(out.back(), newId)] += count;
                    }
                    if (i + 2 < s.size()) {
                        deltas[makePair(b, s[i + 2])] -= count;
                        deltas[makePair(newId, s[i + 2])] += count;
                    }
                    out.push_back(newId);
                    i += 2;
                    changed = true;
                } else {
                    out.push_back(s[i]);
                    ++i;
                }
            }
            if (!changed)
                continue;
            s = std::move(out);
            for (size_t i = 0; i + 1 < s.size(); ++i) {
                if (s[i] == newId || s[i + 1] == newId) {
                    auto& list = pairWords[makePair(s[i], s[i + 1])];
                    if (list.empty() || list.back() != w)
                        list.push_back(w);
                }
            }
        }
        pairCounts.erase(top.pair);
        // Applied in pair order so the heap sees the same sequence on every run.
        std::vector<std::pair<Pair, int64_t>> ordered(deltas.begin(), deltas.end());
        std::sort(ordered.begin(), ordered.end());
        for (const auto& [pair, delta] : ordered) {
            if (pair == top.pair || delta == 0)
                continue;
            int64_t& c = pairCounts[pair];
            c += delta;
            if (delta > 0)
                heap.push({c, pair});
            if (c <= 0)
                pairCounts.erase(pair);
        }
    }

    // Special tokens get the ids tokenizers would give them on load.
    std::vector<std::pair<std::string, int32_t>> added;
    int32_t nextId = static_cast<int32_t>(vocab.size());
    for (const auto& s : specials) {
        const auto found = vocabIds.find(s);
        added.emplace_back(s, found != vocabIds.end() ? found->second : nextId++);
    }

    std::string json;
    json.reserve(vocab.size() * 24 + merges.size() * 24 + 4096);
    json += "{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n  \"added_tokens\": [";
    for (size_t i = 0; i < added.size(); ++i) {
        json += i ? ",\n    " : "\n    ";
        json += "{\"id\": " + std::to_string(added[i].second) + ", \"content\": " + jsonQuoted(added[i].first)
            + ", \"single_word\": false, \"lstrip\": false, \"rstrip\": false, \"normalized\": false, \"special\": true}";
    }
    json += added.empty() ? "],\n" : "\n  ],\n";
    json += "  \"normalizer\": null,\n";
    json += "  \"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Split\", \"pattern\": {\"Regex\": "
        + jsonQuoted(PreTokenizer::llama3Pattern())
        + "}, \"behavior\": \"Isolated\", \"invert\": false}, {\"type\": \"ByteLevel\", \"add_prefix_space\": false, "
          "\"trim_offsets\": true, \"use_regex\": false}]},\n";
    if (bosToken.empty()) {
        json += "  \"post_processor\": null,\n";
    } else {
        int32_t bosId = -1;
        for (const auto& [content, id] : added)
            if (content == bosToken)
                bosId = id;
        const std::string q = jsonQuoted(bosToken);
        json += "  \"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": " + q
            + ", \"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}], \"pair\": [{\"SpecialToken\": {\"id\": " + q
            + ", \"type_id\": 0}}, {\"Sequence\": {\"id\": \"A\", \"type_id\": 0}}, {\"SpecialToken\": {\"id\": " + q
            + ", \"type_id\": 1}}, {\"Sequence\": {\"id\": \"B\", \"type_id\": 1}}], \"special_tokens\": {" + q
            + ": {\"id\": " + q + ", \"ids\": [" + std::to_string(bosId) + "], \"tokens\": [" + q + "]}}},\n";
    }
    json += "  \"decoder\": {\"type\": \"ByteLevel\", \"add_prefix_space\": true, \"trim_offsets\": true, \"use_regex\": true},\n";
    json += "  \"model\": {\n    \"type\": \"BPE\",\n    \"dropout\": null,\n    \"unk_token\": null,\n"
            "    \"continuing_subword_prefix\": null,\n    \"end_of_word_suffix\": null,\n    \"fuse_unk\": false,\n"
            "    \"byte_fallback\": false,\n    \"ignore_merges\": false,\n    \"vocab\": {";
    for (size_t id = 0; id < vocab.size(); ++id) {
        json += id ? ",\n      " : "\n      ";
        json += jsonQuoted(vocab[id]) + ": " + std::to_string(id);
    }
    json += "\n    },\n    \"merges\": [";
    for (size_t i = 0; i < merges.size(); ++i) {
        json += i ? ",\n      " : "\n      ";
        json += "[" + jsonQuoted(vocab[static_cast<size_t>(leftOf(merges[i]))]) + ", "
            + jsonQuoted(vocab[static_cast<size_t>(rightOf(merges[i]))]) + "]";
    }
    json += merges.empty() ? "]\n  }\n}\n" : "\n    ]\n  }\n}\n";
    return json;
}

} // namespace tb
