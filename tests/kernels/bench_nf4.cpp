// NF4 dequantization rate (GB/s of bf16 written) for the scalar, AVX2 and AVX-512 kernels on 1
// and 2 threads, next to this machine's limit measured the same way: memcpy of a buffer well
// beyond the last-level cache (rate = bytes written per second, like the dequantizers).
// Sizes: 32M elements -> 64 MiB of bf16 written from 16 MiB packed + 2 MiB absmax; memcpy of
// 64 MiB. (L3 here is 32 MiB.) Run: build-kern/tests/kernels/bench_nf4 --benchmark_min_time=1s
#include <benchmark/benchmark.h>

#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "cpu/Nf4Dequant.h"
#include "cpu/Nf4Quantizer.h"

using namespace tbk;

namespace {

constexpr int64_t kElements = int64_t(32) << 20;
constexpr int kBlocksize = 64;

struct Nf4Weights {
    std::vector<uint8_t> packed;
    std::vector<float> absmax;
    std::vector<uint8_t> qabsmax;
    std::vector<float> nested;
    float offset = 0;
    Nf4Weights()
    {
        std::mt19937 rng(1);
        std::normal_distribution<float> dist(0.0f, 0.02f);
        std::vector<float> x(static_cast<size_t>(kElements));
        for (float& v : x)
            v = dist(rng);
        packed.resize(static_cast<size_t>(nf4PackedBytes(kElements)));
        const int64_t nblocks = blockCount(kElements, kBlocksize);
        absmax.resize(static_cast<size_t>(nblocks));
        quantizeNf4(x.data(), kElements, kBlocksize, packed.data(), absmax.data());
        qabsmax.resize(static_cast<size_t>(nblocks));
        nested.resize(static_cast<size_t>(blockCount(nblocks, kNestedBlocksize)));
        doubleQuantizeAbsmax(absmax.data(), nblocks, qabsmax.data(), nested.data(), &offset);
    }
};

const Nf4Weights& weights()
{
    static const Nf4Weights w;
    return w;
}

// args: isa, threads, nested (0/1)
void BM_Nf4DequantBf16(benchmark::State& state)
{
    const Nf4Isa isa = static_cast<Nf4Isa>(state.range(0));
    const int threads = static_cast<int>(state.range(1));
    if (!nf4IsaSupported(isa)) {
        state.SkipWithError("instruction set not available on this CPU");
        return;
    }
    const Nf4Weights& w = weights();
    const Nf4Absmax absmax = state.range(2) ? Nf4Absmax::nested(w.qabsmax.data(), w.nested.data(), w.offset)
                                            : Nf4Absmax::plain(w.absmax.data());
    std::vector<uint16_t> out(static_cast<size_t>(kElements));
    for (auto _ : state) {
        dequantizeNf4Bf16(w.packed.data(), absmax, kElements, kBlocksize, out.data(), isa, threads);
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(state.iterations() * kElements * 2);
    state.SetLabel(std::string(nf4IsaName(isa)) + (state.range(2) ? " nested" : " fp32-absmax"));
}

// The limit: copy kElements*2 bytes, split over `threads` std::threads like the dequantizer.
void BM_Memcpy(benchmark::State& state)
{
    const int threads = static_cast<int>(state.range(0));
    const size_t bytes = static_cast<size_t>(kElements) * 2;
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
BENCHMARK(BM_Nf4DequantBf16)
    ->ArgsProduct({{int(Nf4Isa::Scalar), int(Nf4Isa::Avx2), int(Nf4Isa::Avx512)}, {1, 2}, {0}})
    ->Args({int(Nf4Isa::Avx512), 1, 1})
    ->Args({int(Nf4Isa::Avx512), 2, 1})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

BENCHMARK_MAIN();
