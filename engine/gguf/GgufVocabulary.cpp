#include "gguf/GgufVocabulary.h"

#include "formats/FormatError.h"
#include "tokenizer/Tokenizer.h"
#include "tokenizer/TokenizerConfig.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unordered_map>

namespace tb {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

enum TokenType : int32_t { Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6 };

// The split regexes as they appear in tokenizer.json, and the llama.cpp pre-tokenizer that
// runs the same split (src/llama-vocab.cpp, llm_tokenizer_bpe).
const char* const kLlama3Regex =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const char* const kQwen2Regex =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

std::string readText(const fs::path& path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw FormatError(path.string(), "cannot open");
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

// Every pre-tokenizer in tokenizer.json's "pre_tokenizer", flattening Sequence.
void collectPreTokenizers(const json& node, std::vector<const json*>& out)
{
    if (!node.is_object())
        return;
    if (node.value("type", "") == "Sequence" && node.contains("pretokenizers")) {
        for (const auto& child : node["pretokenizers"])
            collectPreTokenizers(child, out);
        return;
    }
    out.push_back(&node);
}

std::string preTokenizerName(const json& tokenizer, const std::string& path, bool ignoreMerges)
{
    std::vector<const json*> steps;
    if (tokenizer.contains("pre_tokenizer"))
        collectPreTokenizers(tokenizer["pre_tokenizer"], steps);
    std::vector<std::string> kinds;
    for (const json* s : steps)
        kinds.push_back(s->value("type", "?"));

    auto isByteLevel = [](const json* s, bool useRegex) {
        return s->value("type", "") == "ByteLevel" && s->value("use_regex", true) == useRegex;
    };
    if (steps.size() == 2 && (*steps[0]).value("type", "") == "Split" && isByteLevel(steps[1], false)) {
        const json& pattern = (*steps[0])["pattern"];
        const std::string regex = pattern.is_object() ? pattern.value("Regex", "") : "";
        if (regex == kLlama3Regex)
            return ignoreMerges ? "llama-bpe" : "smaug-bpe";
        if (regex == kQwen2Regex && !ignoreMerges)
            return "qwen2";
        throw FormatError(path, "pre_tokenizer: the split regex \"" + regex + "\"" + (ignoreMerges ? " with ignore_merges" : "")
                                    + " is not one Tunebench can name for llama.cpp (it knows the Llama 3, Qwen 2 and GPT-2 splits); "
                                      "exporting it under another name would tokenize differently");
    }
    if (steps.size() == 1 && isByteLevel(steps[0], true) && !ignoreMerges)
        return "gpt-2";
    if (steps.size() == 2 && steps[0]->value("type", "") == "Digits" && steps[0]->value("individual_digits", false)
        && isByteLevel(steps[1], true) && !ignoreMerges)
        return "smollm";
    std::string shown;
    for (const auto& k : kinds)
        shown += (shown.empty() ? "" : ", ") + k;
    throw FormatError(path, "pre_tokenizer: [" + shown + "] is not a byte-level split Tunebench can name for llama.cpp");
}

// "<0x0A>" and friends: SentencePiece's byte fallback pieces.
bool isBytePiece(const std::string& token)
{
    return token.size() == 6 && token.compare(0, 3, "<0x") == 0 && token[5] == '>' && std::isxdigit(uint8_t(token[3]))
           && std::isxdigit(uint8_t(token[4]));
}

// tokenizer.json lists merges as "a b" strings (older files) or ["a", "b"] pairs (newer).
std::vector<std::pair<std::string, std::string>> readMerges(const json& model, const std::string& path)
{
    std::vector<std::pair<std::string, std::string>> merges;
    if (!model.contains("merges"))
        return merges;
    const json& list = model["merges"];
    if (!list.is_array())
        throw FormatError(path, "key \"model.merges\": expected an array");
    merges.reserve(list.size());
    for (size_t i = 0; i < list.size(); ++i) {
        const json& m = list[i];
        if (m.is_string()) {
            const std::string s = m.get<std::string>();
            const auto space = s.find(' ', 1);
            if (space == std::string::npos)
                throw FormatError(path, "key \"model.merges\"[" + std::to_string(i) + "]: \"" + s + "\" is not two tokens");
            merges.emplace_back(s.substr(0, space), s.substr(space + 1));
        } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
            merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
        } else {
            throw FormatError(path, "key \"model.merges\"[" + std::to_string(i) + "]: expected \"a b\" or [\"a\", \"b\"]");
        }
    }
    return merges;
}

bool prependsSpace(const json& tokenizer)
{
    // Llama 2: normalizer Sequence[Prepend "▁", Replace " " -> "▁"]; newer files: Metaspace.
    const std::string dump = tokenizer.contains("normalizer") ? tokenizer["normalizer"].dump() : "";
    if (dump.find("\"Prepend\"") != std::string::npos)
        return true;
    std::vector<const json*> steps;
    if (tokenizer.contains("pre_tokenizer"))
        collectPreTokenizers(tokenizer["pre_tokenizer"], steps);
    for (const json* s : steps)
        if (s->value("type", "") == "Metaspace")
            return s->value("prepend_scheme", std::string("always")) != "never" && s->value("add_prefix_space", true);
    return false;
}

// The chat turn ends llama.cpp knows by text (src/llama-vocab.cpp), in the order one is chosen as
// tokenizer.ggml.eot_token_id: Llama 3, ChatML (Qwen, SmolLM, the demo model), Phi-3, Gemma.
// "<|endoftext|>" and "</s>" are not among them: they end a document, and are the eos.
const char* const kTurnEnds[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>"};
// Llama 3.1's end of a message that expects a tool's answer: tokenizer.ggml.eom_token_id.
const char* const kEndOfMessage = "<|eom_id|>";

// The id of the vocabulary's chat turn end, one the chat template writes first; -1 when the
// vocabulary has none. Without the key llama.cpp guesses from the token texts, and where a
// vocabulary has several candidates the guess follows the order of its hash map: for the demo
// vocabulary it takes "<|end_of_text|>", not "<|im_end|>" (tst_ggufexport).
int64_t endOfTurnId(const std::unordered_map<std::string, int64_t>& idOf, const std::string& chatTemplate)
{
    int64_t first = -1;
    for (const char* end : kTurnEnds) {
        const auto it = idOf.find(end);
        if (it == idOf.end())
            continue;
        if (chatTemplate.find(end) != std::string::npos)
            return it->second;
        if (first < 0)
            first = it->second;
    }
    return first;
}

} // namespace

GgufVocabulary ggufVocabularyFor(const std::string& modelDir, int64_t vocabSize)
{
    const std::string path = (fs::path(modelDir) / "tokenizer.json").string();
    json j;
    try {
        j = json::parse(readText(path));
    } catch (const json::exception& e) {
        throw FormatError(path, std::string("not valid JSON: ") + e.what());
    }
    if (!j.is_object() || !j.contains("model") || !j["model"].is_object())
        throw FormatError(path, "key \"model\": missing");
    const json& model = j["model"];
    if (model.value("type", "BPE") != "BPE")
        throw FormatError(path, "key \"model.type\": \"" + model.value("type", "") + "\"; only BPE vocabularies are exported to GGUF");
    if (!model.contains("vocab") || !model["vocab"].is_object())
        throw FormatError(path, "key \"model.vocab\": missing");

    std::vector<std::string> tokens(static_cast<size_t>(vocabSize));
    std::vector<int32_t> types(static_cast<size_t>(vocabSize), Unused);
    std::vector<bool> named(static_cast<size_t>(vocabSize), false);
    auto place = [&](const std::string& token, int64_t id, int32_t type, const std::string& where) {
        if (id < 0 || id >= vocabSize)
            throw FormatError(path, where + ": id " + std::to_string(id) + " of \"" + token + "\" is outside config.json's vocab_size "
                                        + std::to_string(vocabSize));
        tokens[id] = token;
        types[id] = type;
        named[id] = true;
    };
    std::unordered_map<std::string, int64_t> idOf;
    for (const auto& [token, id] : model["vocab"].items()) {
        if (!id.is_number_integer())
            throw FormatError(path, "key \"model.vocab\": the id of \"" + token + "\" is not an integer");
        place(token, id.get<int64_t>(), Normal, "key \"model.vocab\"");
        idOf[token] = id.get<int64_t>();
    }

    const bool byteFallback = model.value("byte_fallback", false);
    const bool ignoreMerges = model.value("ignore_merges", false);
    GgufVocabulary v;
    v.model = byteFallback ? "llama" : "gpt2";
    v.pre = byteFallback ? "default" : preTokenizerName(j, path, ignoreMerges);

    if (byteFallback)
        for (int64_t id = 0; id < vocabSize; ++id)
            if (named[id] && isBytePiece(tokens[id]))
                types[id] = Byte;
    if (model.contains("unk_token") && model["unk_token"].is_string()) {
        const auto it = idOf.find(model["unk_token"].get<std::string>());
        if (it != idOf.end())
            types[it->second] = Unknown;
    }
    if (j.contains("added_tokens") && j["added_tokens"].is_array()) {
        for (const auto& t : j["added_tokens"]) {
            if (!t.is_object() || !t.contains("id") || !t["id"].is_number_integer() || !t.contains("content") || !t["content"].is_string())
                throw FormatError(path, "key \"added_tokens\": an entry without an integer id and a string content");
            const std::string content = t["content"].get<std::string>();
            const int64_t id = t["id"].get<int64_t>();
            const bool unknown = id >= 0 && id < vocabSize && types[id] == Unknown;
            place(content, id, unknown ? Unknown : (t.value("special", false) ? Control : UserDefined), "key \"added_tokens\"");
            idOf[content] = id;
        }
    }
    for (int64_t id = 0; id < vocabSize; ++id)
        if (!named[id])
            tokens[id] = "[PAD" + std::to_string(id) + "]";

    const auto merges = readMerges(model, path);
    std::vector<GgufKeyValue>& m = v.metadata;
    m.push_back({"tokenizer.ggml.model", GgufValue::string(v.model)});
    m.push_back({"tokenizer.ggml.pre", GgufValue::string(v.pre)});
    m.push_back({"tokenizer.ggml.tokens", GgufValue::strings(tokens)});
    if (byteFallback) {
        std::vector<float> scores(static_cast<size_t>(vocabSize), 0.0f);
        std::vector<bool> scored(static_cast<size_t>(vocabSize), false);
        for (size_t rank = 0; rank < merges.size(); ++rank) {
            const auto it = idOf.find(merges[rank].first + merges[rank].second);
            if (it != idOf.end() && !scored[it->second]) {
                scores[it->second] = -static_cast<float>(rank);
                scored[it->second] = true;
            }
        }
        m.push_back({"tokenizer.ggml.scores", GgufValue::floats(scores)});
    }
    m.push_back({"tokenizer.ggml.token_type", GgufValue::ints(types)});
    if (!byteFallback) {
        std::vector<std::string> mergeLines;
        mergeLines.reserve(merges.size());
        for (const auto& [a, b] : merges)
            mergeLines.push_back(a + " " + b);
        m.push_back({"tokenizer.ggml.merges", GgufValue::strings(mergeLines)});
    }

    // Special tokens: tokenizer_config.json names them; config.json's ids are the fallback.
    const std::string configPath = (fs::path(modelDir) / "tokenizer_config.json").string();
    const TokenizerConfig config = TokenizerConfig::fromFile(configPath);
    auto idFor = [&](const std::string& token, const char* key) -> int64_t {
        if (token.empty())
            return -1;
        const auto it = idOf.find(token);
        if (it == idOf.end())
            throw FormatError(configPath, std::string("key \"") + key + "\": \"" + token + "\" is not in tokenizer.json's vocabulary");
        return it->second;
    };
    const int64_t bos = idFor(config.bosToken, "bos_token");
    int64_t eos = idFor(config.eosToken, "eos_token");
    const int64_t unk = idFor(config.unkToken, "unk_token");
    const int64_t pad = idFor(config.padToken, "pad_token");
    if (eos < 0) {
        const std::string modelConfig = (fs::path(modelDir) / "config.json").string();
        const json c = json::parse(readText(modelConfig), nullptr, false);
        if (c.is_object() && c.contains("eos_token_id")) {
            const json& e = c["eos_token_id"];
            if (e.is_number_integer())
                eos = e.get<int64_t>();
            else if (e.is_array() && !e.empty() && e[0].is_number_integer())
                eos = e[0].get<int64_t>();
        }
    }
    if (bos >= 0)
        m.push_back({"tokenizer.ggml.bos_token_id", GgufValue::u32(static_cast<uint32_t>(bos))});
    if (eos >= 0)
        m.push_back({"tokenizer.ggml.eos_token_id", GgufValue::u32(static_cast<uint32_t>(eos))});
    if (unk >= 0)
        m.push_back({"tokenizer.ggml.unknown_token_id", GgufValue::u32(static_cast<uint32_t>(unk))});
    if (pad >= 0)
        m.push_back({"tokenizer.ggml.padding_token_id", GgufValue::u32(static_cast<uint32_t>(pad))});

    // The chat template comes before the end-of-turn choice, which prefers the turn end it writes.
    v.chatTemplate = config.chatTemplate;
    if (v.chatTemplate.empty() && fs::exists(fs::path(modelDir) / "chat_template.jinja"))
        v.chatTemplate = readText(fs::path(modelDir) / "chat_template.jinja");
    const int64_t eot = endOfTurnId(idOf, v.chatTemplate);
    if (eot >= 0)
        m.push_back({"tokenizer.ggml.eot_token_id", GgufValue::u32(static_cast<uint32_t>(eot))});
    if (const auto eom = idOf.find(kEndOfMessage); eom != idOf.end())
        m.push_back({"tokenizer.ggml.eom_token_id", GgufValue::u32(static_cast<uint32_t>(eom->second))});

    // What the post-processor adds is what Hugging Face's encode(add_special_tokens=True) does.
    const Tokenizer tokenizer = Tokenizer::fromFile(path);
    const std::vector<int32_t> empty = tokenizer.encode("", true);
    const bool addBos = !empty.empty() && bos >= 0 && empty.front() == bos;
    const bool addEos = !empty.empty() && eos >= 0 && empty.back() == eos && (empty.size() > 1 || !addBos);
    m.push_back({"tokenizer.ggml.add_bos_token", GgufValue::boolean(addBos)});
    m.push_back({"tokenizer.ggml.add_eos_token", GgufValue::boolean(addEos)});
    if (byteFallback)
        m.push_back({"tokenizer.ggml.add_space_prefix", GgufValue::boolean(prependsSpace(j))});

    if (!v.chatTemplate.empty())
        m.push_back({"tokenizer.chat_template", GgufValue::string(v.chatTemplate)});

    v.bosToken = bos >= 0 ? tokens[bos] : "";
    v.eosToken = eos >= 0 ? tokens[eos] : "";
    if (eos >= 0)
        v.endOfTurnTokens.push_back(tokens[eos]);
    // The turn ends of the chat families llama.cpp itself recognizes as end-of-generation.
    for (const char* end : {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>"})
        if (idOf.count(end) && std::find(v.endOfTurnTokens.begin(), v.endOfTurnTokens.end(), end) == v.endOfTurnTokens.end())
            v.endOfTurnTokens.push_back(end);
    return v;
}

} // namespace tb
