// llama_oracle: llama.cpp itself as the reference for the GGUF export tests. A small command-line
// front end to the prebuilt libllama of @node-llama-cpp/linux-x64 (tests/llamacpp/node_modules),
// compiled against the headers of the same release (tests/llamacpp/llama.cpp, unpacked by
// installer/setup.sh). Tests run it as a child process (tests/common/LlamaOracle.h): llama.cpp
// aborts on some malformed files, and a child's abort is a failed call, not a dead test.
//
// Output: one JSON document on stdout (tokenize: JSON Lines), nothing on stderr. On failure:
// exit 1 (2: bad usage), and stderr holds what failed followed by llama.cpp's own log of the run,
// which is captured all along and printed only then (also from ggml's abort callback).
//
// Numerics: contexts use an f32 KV cache and no flash attention, so the logits are those of the
// model's weights in f32 arithmetic (llama.cpp's defaults, an f16 cache, would round K and V).
// Plain C++17 and nlohmann/json; no Qt, no Torch.
#include <ggml-backend.h>
#include <ggml.h>
#include <llama.h>

#include <nlohmann/json.hpp>

#include <dlfcn.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

using Json = nlohmann::json;

namespace {

const char* const kUsage =
    "usage: llama_oracle COMMAND ...   (JSON on stdout; on failure exit 1 and llama.cpp's log on stderr)\n"
    "  info MODEL.gguf\n"
    "      {arch, n_vocab, n_ctx_train, n_embd, n_layer, n_head, n_head_kv, n_params, size, ftype, desc,\n"
    "       meta: {key: value string, arrays left out}, chat_template (null if none),\n"
    "       bos, eos, eot (ids as llama.cpp's vocabulary took them, -1 for none), eog: [ids ending generation]}\n"
    "  logits MODEL.gguf --tokens 1,2,3 [--lora ADAPTER.gguf [--lora-scale S]] [--all] [--threads N]\n"
    "      {n_vocab, logits}: raw logits at the last position, or [[...] per position] with --all\n"
    "  greedy MODEL.gguf --tokens 1,2,3 --n 32 [--lora ADAPTER.gguf [--lora-scale S]] [--threads N]\n"
    "      {ids, margins}: argmax of the raw logits (lowest id on ties), fed back n times; margin = top1 - top2\n"
    "  tokenize MODEL.gguf --in CORPUS.jsonl [--add-special] [--parse-special]\n"
    "      JSON Lines: {\"ids\": [...]} per input line {\"text\": \"...\"} (blank lines skipped)\n"
    "  perplexity MODEL.gguf --in TOKENS.jsonl [--ctx N] [--threads N]\n"
    "      {nll, count, ppl}: natural-log NLL of every next token of each {\"ids\": [...]} line (cut to N)\n"
    "  quantize IN.gguf OUT.gguf TYPE [--threads N]   TYPE: f32 f16 bf16 q8_0 q4_0 q4_k_m q5_k_m q6_k\n"
    "      {ok, seconds}\n";

// ---- llama.cpp's log, kept until we know whether the call failed --------------------------------

// Only the tail is kept: the reason for a failure is logged last. Guarded by nothing: llama.cpp
// logs from the calling thread here (no server, no async loading).
constexpr size_t kLogKeep = 64 * 1024;
std::string g_log;

// Debug lines (one per tensor created, ...) are dropped; a CONT piece continues the last level.
void captureLog(ggml_log_level level, const char* text, void*)
{
    static ggml_log_level last = GGML_LOG_LEVEL_INFO;
    if (level != GGML_LOG_LEVEL_CONT)
        last = level;
    if (!text || last == GGML_LOG_LEVEL_DEBUG)
        return;
    g_log += text;
    if (g_log.size() > 2 * kLogKeep)
        g_log.erase(0, g_log.size() - kLogKeep);
}

std::string logTail()
{
    if (g_log.size() <= kLogKeep)
        return g_log;
    return "[...]" + g_log.substr(g_log.size() - kLogKeep);
}

// ggml calls this instead of printing a backtrace, then calls abort().
void onGgmlAbort(const char* message)
{
    std::fprintf(stderr, "llama_oracle: llama.cpp aborted: %s\n--- llama.cpp log ---\n%s\n",
                 message ? message : "(no message)", logTail().c_str());
    std::fflush(stderr);
}

struct Failure : std::runtime_error {
    using std::runtime_error::runtime_error;
};
struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// ---- command line -------------------------------------------------------------------------------

struct Args {
    std::vector<std::string> positional; // after the command
    std::map<std::string, std::string> options; // "--x" -> value ("" for flags)
};

Args parseArgs(int argc, char** argv, const std::vector<std::string>& flags,
               const std::vector<std::string>& valued)
{
    Args a;
    for (int i = 2; i < argc; ++i) {
        const std::string s = argv[i];
        if (s.rfind("--", 0) != 0) {
            a.positional.push_back(s);
        } else if (std::find(flags.begin(), flags.end(), s) != flags.end()) {
            a.options[s] = "";
        } else if (std::find(valued.begin(), valued.end(), s) != valued.end()) {
            if (i + 1 >= argc)
                throw UsageError(s + " needs a value");
            a.options[s] = argv[++i];
        } else {
            throw UsageError("unknown option " + s);
        }
    }
    return a;
}

long long parseInteger(const std::string& s, const std::string& what)
{
    char* end = nullptr;
    errno = 0;
    const long long v = std::strtoll(s.c_str(), &end, 10);
    if (s.empty() || errno != 0 || *end != '\0')
        throw UsageError(what + ": not an integer: '" + s + "'");
    return v;
}

std::vector<llama_token> parseTokenList(const std::string& s)
{
    std::vector<llama_token> ids;
    size_t start = 0;
    while (start <= s.size()) {
        const size_t comma = s.find(',', start);
        const std::string item = s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        const long long v = parseInteger(item, "--tokens");
        if (v < 0 || v > std::numeric_limits<llama_token>::max())
            throw UsageError("--tokens: id out of range: " + item);
        ids.push_back(static_cast<llama_token>(v));
        if (comma == std::string::npos)
            break;
        start = comma + 1;
    }
    if (ids.empty())
        throw UsageError("--tokens: empty list");
    return ids;
}

int threadsOption(const Args& a)
{
    auto it = a.options.find("--threads");
    if (it != a.options.end()) {
        const long long n = parseInteger(it->second, "--threads");
        if (n < 1 || n > 512)
            throw UsageError("--threads must be in [1, 512]");
        return static_cast<int>(n);
    }
    // One thread unless asked: the test models are small, and ggml's workers spin while they
    // wait, which on a shared 2-core CI machine turns seconds into minutes.
    return 1;
}

const std::string& onePositional(const Args& a, const char* command)
{
    if (a.positional.size() != 1)
        throw UsageError(std::string(command) + " takes exactly one MODEL.gguf");
    return a.positional[0];
}

// ---- llama.cpp objects --------------------------------------------------------------------------

struct ModelDeleter {
    void operator()(llama_model* m) const { llama_model_free(m); }
};
struct ContextDeleter {
    void operator()(llama_context* c) const { llama_free(c); }
};
using ModelPtr = std::unique_ptr<llama_model, ModelDeleter>;
using ContextPtr = std::unique_ptr<llama_context, ContextDeleter>;

// The CPU backend is a separate library per instruction set (libggml-cpu-haswell.so, ...), picked
// at run time by ggml's registry from the folder it is given: the folder libllama was loaded from.
void loadBackends()
{
    std::string dir;
    Dl_info info{};
    if (dladdr(reinterpret_cast<void*>(&llama_backend_init), &info) && info.dli_fname) {
        dir = info.dli_fname;
        const size_t slash = dir.rfind('/');
        dir = slash == std::string::npos ? std::string(".") : dir.substr(0, slash);
    }
#ifdef LLAMA_ORACLE_BIN_DIR
    if (dir.empty())
        dir = LLAMA_ORACLE_BIN_DIR;
#endif
    ggml_backend_load_all_from_path(dir.empty() ? nullptr : dir.c_str());
    if (!ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU))
        throw Failure("no ggml CPU backend found in " + (dir.empty() ? std::string("(default paths)") : dir));
    llama_backend_init();
}

ModelPtr loadModel(const std::string& path, bool vocabOnly)
{
    llama_model_params mp = llama_model_default_params();
    mp.vocab_only = vocabOnly;
    mp.n_gpu_layers = 0;
    ModelPtr model(llama_model_load_from_file(path.c_str(), mp));
    if (!model)
        throw Failure("llama_model_load_from_file failed for " + path);
    return model;
}

ContextPtr makeContext(llama_model* model, uint32_t nCtx, uint32_t nBatch, int threads)
{
    llama_context_params cp = llama_context_default_params();
    cp.n_ctx = std::max<uint32_t>(nCtx, 8);
    cp.n_batch = std::max<uint32_t>(nBatch, 1);
    cp.n_ubatch = cp.n_batch;
    cp.n_seq_max = 1;
    cp.n_threads = threads;
    cp.n_threads_batch = threads;
    cp.type_k = GGML_TYPE_F32;
    cp.type_v = GGML_TYPE_F32;
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    cp.no_perf = true;
    ContextPtr ctx(llama_init_from_model(model, cp));
    if (!ctx)
        throw Failure("llama_init_from_model failed (n_ctx " + std::to_string(cp.n_ctx) + ")");
    return ctx;
}

// Applies --lora/--lora-scale; the adapter belongs to the model (freed with it).
void applyLora(const Args& a, llama_model* model, llama_context* ctx)
{
    auto it = a.options.find("--lora");
    if (it == a.options.end()) {
        if (a.options.count("--lora-scale"))
            throw UsageError("--lora-scale without --lora");
        return;
    }
    float scale = 1.0f;
    if (auto s = a.options.find("--lora-scale"); s != a.options.end()) {
        char* end = nullptr;
        scale = std::strtof(s->second.c_str(), &end);
        if (s->second.empty() || *end != '\0' || !std::isfinite(scale))
            throw UsageError("--lora-scale: not a number: '" + s->second + "'");
    }
    llama_adapter_lora* adapter = llama_adapter_lora_init(model, it->second.c_str());
    if (!adapter)
        throw Failure("llama_adapter_lora_init failed for " + it->second);
    if (llama_set_adapters_lora(ctx, &adapter, 1, &scale) != 0)
        throw Failure("llama_set_adapters_lora failed");
}

void checkTokens(const llama_model* model, const std::vector<llama_token>& ids)
{
    const int32_t nVocab = llama_vocab_n_tokens(llama_model_get_vocab(model));
    for (llama_token t : ids)
        if (t < 0 || t >= nVocab)
            throw Failure("token id " + std::to_string(t) + " is outside the vocabulary (" + std::to_string(nVocab) + ")");
}

// One llama_decode of tokens at positions start.., sequence 0; logits for every position when
// all, else for the last one only.
void decode(llama_context* ctx, const std::vector<llama_token>& ids, llama_pos start, bool all)
{
    const int32_t n = static_cast<int32_t>(ids.size());
    llama_batch batch = llama_batch_init(n, 0, 1);
    for (int32_t i = 0; i < n; ++i) {
        batch.token[i] = ids[i];
        batch.pos[i] = start + i;
        batch.n_seq_id[i] = 1;
        batch.seq_id[i][0] = 0;
        batch.logits[i] = (all || i == n - 1) ? 1 : 0;
    }
    batch.n_tokens = n;
    const int32_t rc = llama_decode(ctx, batch);
    llama_batch_free(batch);
    if (rc != 0)
        throw Failure("llama_decode returned " + std::to_string(rc));
}

const float* logitsAt(llama_context* ctx, int32_t i)
{
    const float* l = llama_get_logits_ith(ctx, i);
    if (!l)
        throw Failure("llama_get_logits_ith(" + std::to_string(i) + ") returned null");
    return l;
}

Json floatArray(const float* v, int32_t n)
{
    Json a = Json::array();
    a.get_ref<Json::array_t&>().reserve(static_cast<size_t>(n));
    for (int32_t i = 0; i < n; ++i)
        a.push_back(static_cast<double>(v[i])); // the float exactly; non-finite becomes null
    return a;
}

std::string stringFromBuffer(const std::function<int32_t(char*, size_t)>& get)
{
    std::vector<char> buf(256);
    int32_t n = get(buf.data(), buf.size());
    if (n < 0)
        return {};
    if (static_cast<size_t>(n) >= buf.size()) {
        buf.resize(static_cast<size_t>(n) + 1);
        n = get(buf.data(), buf.size());
        if (n < 0)
            return {};
    }
    return std::string(buf.data(), static_cast<size_t>(n));
}

std::vector<std::string> readLines(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw Failure("cannot open " + path);
    std::vector<std::string> lines;
    std::string line;
    while (std::getline(in, line)) {
        if (!line.empty() && line.back() == '\r')
            line.pop_back();
        if (line.find_first_not_of(" \t") != std::string::npos)
            lines.push_back(line);
    }
    return lines;
}

// ---- commands -----------------------------------------------------------------------------------

Json cmdInfo(const Args& a)
{
    const std::string& path = onePositional(a, "info");
    ModelPtr model = loadModel(path, false);
    const llama_model* m = model.get();

    Json meta = Json::object();
    const int32_t nMeta = llama_model_meta_count(m);
    for (int32_t i = 0; i < nMeta; ++i) {
        const std::string key = stringFromBuffer([&](char* b, size_t n) { return llama_model_meta_key_by_index(m, i, b, n); });
        meta[key] = stringFromBuffer([&](char* b, size_t n) { return llama_model_meta_val_str_by_index(m, i, b, n); });
    }
    const char* tmpl = llama_model_chat_template(m, nullptr);

    Json out;
    out["arch"] = meta.value("general.architecture", std::string());
    out["n_vocab"] = llama_vocab_n_tokens(llama_model_get_vocab(m));
    out["n_ctx_train"] = llama_model_n_ctx_train(m);
    out["n_embd"] = llama_model_n_embd(m);
    out["n_layer"] = llama_model_n_layer(m);
    out["n_head"] = llama_model_n_head(m);
    out["n_head_kv"] = llama_model_n_head_kv(m);
    out["n_params"] = llama_model_n_params(m);
    out["size"] = llama_model_size(m);
    out["ftype"] = llama_ftype_name(llama_model_ftype(m));
    out["desc"] = stringFromBuffer([&](char* b, size_t n) { return llama_model_desc(m, b, n); });
    out["meta"] = std::move(meta);
    out["chat_template"] = tmpl ? Json(tmpl) : Json(nullptr);
    // The special tokens after llama.cpp's own rules: keys from the file, else guessed from the
    // token texts (src/llama-vocab.cpp), and every token that ends generation (eos, eot, eom, ...).
    const llama_vocab* vocab = llama_model_get_vocab(m);
    out["bos"] = llama_vocab_bos(vocab);
    out["eos"] = llama_vocab_eos(vocab);
    out["eot"] = llama_vocab_eot(vocab);
    Json eog = Json::array();
    for (llama_token t = 0; t < llama_vocab_n_tokens(vocab); ++t)
        if (llama_vocab_is_eog(vocab, t))
            eog.push_back(t);
    out["eog"] = std::move(eog);
    return out;
}

Json cmdLogits(const Args& a)
{
    const std::string& path = onePositional(a, "logits");
    if (!a.options.count("--tokens"))
        throw UsageError("logits needs --tokens");
    const std::vector<llama_token> ids = parseTokenList(a.options.at("--tokens"));
    const bool all = a.options.count("--all") > 0;
    const int threads = threadsOption(a);

    ModelPtr model = loadModel(path, false);
    checkTokens(model.get(), ids);
    const uint32_t n = static_cast<uint32_t>(ids.size());
    ContextPtr ctx = makeContext(model.get(), n, n, threads);
    applyLora(a, model.get(), ctx.get());
    decode(ctx.get(), ids, 0, all);

    const int32_t nVocab = llama_vocab_n_tokens(llama_model_get_vocab(model.get()));
    Json out;
    out["n_vocab"] = nVocab;
    if (all) {
        Json rows = Json::array();
        for (uint32_t i = 0; i < n; ++i)
            rows.push_back(floatArray(logitsAt(ctx.get(), static_cast<int32_t>(i)), nVocab));
        out["logits"] = std::move(rows);
    } else {
        out["logits"] = floatArray(logitsAt(ctx.get(), -1), nVocab);
    }
    return out;
}

Json cmdGreedy(const Args& a)
{
    const std::string& path = onePositional(a, "greedy");
    if (!a.options.count("--tokens") || !a.options.count("--n"))
        throw UsageError("greedy needs --tokens and --n");
    const std::vector<llama_token> prompt = parseTokenList(a.options.at("--tokens"));
    const long long steps = parseInteger(a.options.at("--n"), "--n");
    if (steps < 1 || steps > 100000)
        throw UsageError("--n must be in [1, 100000]");
    const int threads = threadsOption(a);

    ModelPtr model = loadModel(path, false);
    checkTokens(model.get(), prompt);
    const uint32_t nCtx = static_cast<uint32_t>(prompt.size() + static_cast<size_t>(steps));
    ContextPtr ctx = makeContext(model.get(), nCtx, static_cast<uint32_t>(prompt.size()), threads);
    applyLora(a, model.get(), ctx.get());
    const int32_t nVocab = llama_vocab_n_tokens(llama_model_get_vocab(model.get()));
    if (nVocab < 2)
        throw Failure("greedy needs a vocabulary of at least 2 tokens");

    Json ids = Json::array();
    Json margins = Json::array();
    decode(ctx.get(), prompt, 0, false);
    llama_pos pos = static_cast<llama_pos>(prompt.size());
    for (long long step = 0; step < steps; ++step) {
        const float* l = logitsAt(ctx.get(), -1);
        int32_t best = 0;
        for (int32_t v = 1; v < nVocab; ++v)
            if (l[v] > l[best])
                best = v;
        float second = -std::numeric_limits<float>::infinity();
        for (int32_t v = 0; v < nVocab; ++v)
            if (v != best && l[v] > second)
                second = l[v];
        ids.push_back(best);
        margins.push_back(static_cast<double>(l[best]) - static_cast<double>(second));
        if (step + 1 < steps)
            decode(ctx.get(), { best }, pos++, false);
    }
    return Json{ { "ids", std::move(ids) }, { "margins", std::move(margins) } };
}

// Writes JSON Lines itself (one line per input line); returns nothing to print.
void cmdTokenize(const Args& a)
{
    const std::string& path = onePositional(a, "tokenize");
    if (!a.options.count("--in"))
        throw UsageError("tokenize needs --in CORPUS.jsonl");
    const bool addSpecial = a.options.count("--add-special") > 0;
    const bool parseSpecial = a.options.count("--parse-special") > 0;
    const std::vector<std::string> lines = readLines(a.options.at("--in"));

    ModelPtr model = loadModel(path, true);
    const llama_vocab* vocab = llama_model_get_vocab(model.get());

    std::string out;
    std::vector<llama_token> ids(256);
    for (size_t li = 0; li < lines.size(); ++li) {
        Json in;
        try {
            in = Json::parse(lines[li]);
        } catch (const Json::exception& e) {
            throw Failure("line " + std::to_string(li + 1) + " of the corpus is not JSON: " + e.what());
        }
        if (!in.is_object() || !in.contains("text") || !in["text"].is_string())
            throw Failure("line " + std::to_string(li + 1) + " of the corpus has no \"text\" string");
        const std::string text = in["text"].get<std::string>();
        if (text.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max() / 2))
            throw Failure("line " + std::to_string(li + 1) + " is too long");
        const int32_t len = static_cast<int32_t>(text.size());
        int32_t n = llama_tokenize(vocab, text.data(), len, ids.data(), static_cast<int32_t>(ids.size()), addSpecial, parseSpecial);
        if (n < 0 && n != std::numeric_limits<int32_t>::min()) {
            ids.resize(static_cast<size_t>(-n));
            n = llama_tokenize(vocab, text.data(), len, ids.data(), static_cast<int32_t>(ids.size()), addSpecial, parseSpecial);
        }
        if (n < 0)
            throw Failure("llama_tokenize failed on line " + std::to_string(li + 1) + " (" + std::to_string(n) + ")");
        out += Json{ { "ids", std::vector<llama_token>(ids.begin(), ids.begin() + n) } }.dump();
        out += '\n';
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
}

Json cmdPerplexity(const Args& a)
{
    const std::string& path = onePositional(a, "perplexity");
    if (!a.options.count("--in"))
        throw UsageError("perplexity needs --in TOKENS.jsonl");
    const int threads = threadsOption(a);
    const std::vector<std::string> lines = readLines(a.options.at("--in"));

    std::vector<std::vector<llama_token>> seqs;
    size_t longest = 0;
    for (size_t li = 0; li < lines.size(); ++li) {
        Json in;
        try {
            in = Json::parse(lines[li]);
            seqs.push_back(in.at("ids").get<std::vector<llama_token>>());
        } catch (const Json::exception& e) {
            throw Failure("line " + std::to_string(li + 1) + " is not {\"ids\": [int, ...]}: " + e.what());
        }
        longest = std::max(longest, seqs.back().size());
    }

    ModelPtr model = loadModel(path, false);
    size_t ctxLen = longest;
    if (auto it = a.options.find("--ctx"); it != a.options.end()) {
        const long long c = parseInteger(it->second, "--ctx");
        if (c < 2 || c > (1 << 20))
            throw UsageError("--ctx must be in [2, 1048576]");
        ctxLen = std::min(ctxLen, static_cast<size_t>(c));
    }
    for (auto& s : seqs) {
        if (s.size() > ctxLen)
            s.resize(ctxLen);
        checkTokens(model.get(), s);
    }
    const int32_t nVocab = llama_vocab_n_tokens(llama_model_get_vocab(model.get()));

    double nll = 0.0;
    long long count = 0;
    if (ctxLen >= 2) {
        ContextPtr ctx = makeContext(model.get(), static_cast<uint32_t>(ctxLen), static_cast<uint32_t>(ctxLen), threads);
        for (const auto& s : seqs) {
            if (s.size() < 2)
                continue;
            llama_memory_clear(llama_get_memory(ctx.get()), true);
            decode(ctx.get(), s, 0, true);
            for (size_t i = 0; i + 1 < s.size(); ++i) {
                const float* l = logitsAt(ctx.get(), static_cast<int32_t>(i));
                double maxLogit = -std::numeric_limits<double>::infinity();
                for (int32_t v = 0; v < nVocab; ++v)
                    maxLogit = std::max(maxLogit, static_cast<double>(l[v]));
                double sum = 0.0;
                for (int32_t v = 0; v < nVocab; ++v)
                    sum += std::exp(static_cast<double>(l[v]) - maxLogit);
                const double logProb = static_cast<double>(l[s[i + 1]]) - maxLogit - std::log(sum);
                nll -= logProb;
                ++count;
            }
        }
    }
    Json out;
    out["nll"] = nll;
    out["count"] = count;
    out["ppl"] = count > 0 ? std::exp(nll / static_cast<double>(count)) : std::nan("");
    return out;
}

Json cmdQuantize(const Args& a)
{
    if (a.positional.size() != 3)
        throw UsageError("quantize takes IN.gguf OUT.gguf TYPE");
    static const std::map<std::string, llama_ftype> kTypes = {
        { "f32", LLAMA_FTYPE_ALL_F32 },       { "f16", LLAMA_FTYPE_MOSTLY_F16 },
        { "bf16", LLAMA_FTYPE_MOSTLY_BF16 },  { "q8_0", LLAMA_FTYPE_MOSTLY_Q8_0 },
        { "q4_0", LLAMA_FTYPE_MOSTLY_Q4_0 },  { "q4_k_m", LLAMA_FTYPE_MOSTLY_Q4_K_M },
        { "q5_k_m", LLAMA_FTYPE_MOSTLY_Q5_K_M }, { "q6_k", LLAMA_FTYPE_MOSTLY_Q6_K },
    };
    auto type = kTypes.find(a.positional[2]);
    if (type == kTypes.end())
        throw UsageError("unknown quantization type '" + a.positional[2] + "'");

    llama_model_quantize_params qp = llama_model_quantize_default_params();
    qp.ftype = type->second;
    qp.nthread = threadsOption(a);
    const auto t0 = std::chrono::steady_clock::now();
    const uint32_t rc = llama_model_quantize(a.positional[0].c_str(), a.positional[1].c_str(), &qp);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (rc != 0)
        throw Failure("llama_model_quantize returned " + std::to_string(rc));
    return Json{ { "ok", true }, { "seconds", seconds } };
}

} // namespace

int main(int argc, char** argv)
{
    // A failed GGML_ASSERT would otherwise try to attach gdb for a backtrace.
    setenv("GGML_NO_BACKTRACE", "1", 0);
    llama_log_set(captureLog, nullptr);
    ggml_set_abort_callback(onGgmlAbort);

    if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) {
        std::fputs(kUsage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const std::string command = argv[1];
    try {
        Json out;
        if (command == "info") {
            const Args a = parseArgs(argc, argv, {}, {});
            loadBackends();
            out = cmdInfo(a);
        } else if (command == "logits") {
            const Args a = parseArgs(argc, argv, { "--all" }, { "--tokens", "--lora", "--lora-scale", "--threads" });
            loadBackends();
            out = cmdLogits(a);
        } else if (command == "greedy") {
            const Args a = parseArgs(argc, argv, {}, { "--tokens", "--n", "--lora", "--lora-scale", "--threads" });
            loadBackends();
            out = cmdGreedy(a);
        } else if (command == "tokenize") {
            const Args a = parseArgs(argc, argv, { "--add-special", "--parse-special" }, { "--in" });
            loadBackends();
            cmdTokenize(a);
            return std::fflush(stdout) == 0 ? 0 : 1;
        } else if (command == "perplexity") {
            const Args a = parseArgs(argc, argv, {}, { "--in", "--ctx", "--threads" });
            loadBackends();
            out = cmdPerplexity(a);
        } else if (command == "quantize") {
            const Args a = parseArgs(argc, argv, {}, { "--threads" });
            loadBackends();
            out = cmdQuantize(a);
        } else {
            throw UsageError("unknown command '" + command + "'");
        }
        const std::string text = out.dump() + "\n";
        std::fwrite(text.data(), 1, text.size(), stdout);
        return std::fflush(stdout) == 0 ? 0 : 1;
    } catch (const UsageError& e) {
        std::fprintf(stderr, "llama_oracle: %s\n%s", e.what(), kUsage);
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "llama_oracle %s: %s\n--- llama.cpp log ---\n%s\n", command.c_str(), e.what(), logTail().c_str());
        return 1;
    }
}
