// Rate of GGUF export's conversion step: MB/s of fp32 weights read by ggmlQuantizeRows for
// each ggml type on 1 and 2 threads, next to memcpy of the same 64 MiB split the same way
// (the machine's limit for a pass that reads every weight once). Input: 4096 rows of 4096
// normal(0, 0.02) values, beyond the last-level cache. The k-quants spend their time in the
// scale search (make_qkx2_quants tries 21 / 16 scales per 32 values), far below memcpy;
// BM_GgmlQuantizeIsa runs them once per variant of that search (GgmlIsa: scalar, avx2,
// avx512; one this CPU lacks reports an error).
// Run: build-k/tests/kernels/bench_ggmlquant --benchmark_min_time=1
#include <benchmark/benchmark.h>

#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cpu/GgmlQuant.h"

using namespace tbk;

namespace {

constexpr int64_t kRows = 4096;
constexpr int64_t kRowElements = 4096;
constexpr int64_t kElements = kRows * kRowElements;

const std::vector<float>& weights()
{
    static const std::vector<float> x = [] {
        std::mt19937 rng(1);
        std::normal_distribution<float> dist(0.0f, 0.02f);
        std::vector<float> v(static_cast<size_t>(kElements));
        for (float& f : v)
            f = dist(rng);
        return v;
    }();
    return x;
}

// args: GgmlType id, threads
void BM_GgmlQuantize(benchmark::State& state)
{
    const GgmlType type = static_cast<GgmlType>(state.range(0));
    const int threads = static_cast<int>(state.range(1));
    const std::vector<float>& x = weights();
    std::vector<uint8_t> out(static_cast<size_t>(kRows * ggmlRowBytes(type, kRowElements)));
    for (auto _ : state) {
        if (ggmlQuantizeRows(type, x.data(), out.data(), kRows, kRowElements, threads) != KernelStatus::Ok) {
            state.SkipWithError("ggmlQuantizeRows failed");
            return;
        }
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(state.iterations() * kElements * int64_t(sizeof(float)));
    state.SetLabel(ggmlTypeInfo(type)->name);
}

// args: GgmlType id, GgmlIsa; one thread.
void BM_GgmlQuantizeIsa(benchmark::State& state)
{
    const GgmlType type = static_cast<GgmlType>(state.range(0));
    const GgmlIsa isa = static_cast<GgmlIsa>(state.range(1));
    if (!ggmlIsaSupported(isa)) {
        state.SkipWithError("variant not compiled in or not offered by this CPU");
        return;
    }
    const std::vector<float>& x = weights();
    std::vector<uint8_t> out(static_cast<size_t>(kRows * ggmlRowBytes(type, kRowElements)));
    for (auto _ : state) {
        if (ggmlQuantizeRows(type, x.data(), out.data(), kRows, kRowElements, 1, isa) != KernelStatus::Ok) {
            state.SkipWithError("ggmlQuantizeRows failed");
            return;
        }
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(state.iterations() * kElements * int64_t(sizeof(float)));
    state.SetLabel(std::string(ggmlTypeInfo(type)->name) + " " + ggmlIsaName(isa));
}

// The limit: copy the fp32 input's bytes, split over `threads` std::threads like the quantizer.
void BM_Memcpy(benchmark::State& state)
{
    const int threads = static_cast<int>(state.range(0));
    const size_t bytes = static_cast<size_t>(kElements) * sizeof(float);
    std::vector<char> src(bytes, 1), dst(bytes, 0);
    for (auto _ : state) {
        std::vector<std::thread> workers;
        for (int t = 1; t < threads; ++t)
            workers.emplace_back([&, t] {
                const size_t b0 = bytes * t / threads, b1 = bytes * (t + 1) / threads;
                std::memcpy(dst.data() + b0, src.data() + b0, b1 - b0);
            });
        std::memcpy(dst.data(), src.data(), bytes / threads);
        for (std::thread& worker : workers)
            worker.join();
        benchmark::DoNotOptimize(dst.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(bytes));
}

} // namespace

BENCHMARK(BM_Memcpy)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_GgmlQuantize)
    ->ArgsProduct({{int(GgmlType::F32), int(GgmlType::F16), int(GgmlType::BF16), int(GgmlType::Q8_0),
                    int(GgmlType::Q5_1), int(GgmlType::Q5_0), int(GgmlType::Q4_0), int(GgmlType::Q4_K), int(GgmlType::Q5_K), int(GgmlType::Q6_K)},
                   {1, 2}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK(BM_GgmlQuantizeIsa)
    ->ArgsProduct({{int(GgmlType::Q4_K), int(GgmlType::Q5_K), int(GgmlType::Q6_K)},
                   {int(GgmlIsa::Scalar), int(GgmlIsa::Avx2), int(GgmlIsa::Avx512)}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

BENCHMARK_MAIN();
