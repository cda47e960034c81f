// Fused causal attention rate (kernels/cpu/CausalAttention.h) in GFLOP/s, bf16, B = 1, H = 16,
// D = 64, KV = 16 and 4, T = 512 and 2048, on 1 and 2 threads (std::thread over task ranges),
// next to LibTorch's unfused path (matmul, softmax, matmul in bf16, and its autograd backward;
// the full T x T scores, no skipped causal half) on the same threads.
// BM_FusedPass times one pass alone (forward, BackwardKv, BackwardQ) at the `small` demo
// preset's heads (H = 12, KV = 4, D = 64; and KV = 12 for comparison), 2 threads, as ms per call:
// where the step's attention time goes; and on 1 thread, whose CPU time column stays put while
// other work shares the machine. Select with --benchmark_filter=BM_FusedPass.
// FLOPs counted are the useful causal ones: forward 4 * B * H * D * T (T + 1) / 2, backward 2.5x
// forward (FlashAttention-2's convention), whatever each path actually computes. The machine's
// bf16 matmul peak (oneDNN, large squares) is ~1,100 GFLOP/s on its 2 cores.
// Run: build/tests/kernels/bench_causalattention --benchmark_min_time=1s
#include <benchmark/benchmark.h>

#include <torch/torch.h>

#include <cmath>
#include <random>
#include <thread>
#include <vector>

#include "cpu/Bf16.h"
#include "cpu/CausalAttention.h"

using namespace tbk;

namespace {

constexpr int64_t kHeads = 16, kDim = 64;

struct Problem {
    AttentionShape shape;
    std::vector<uint16_t> q, k, v, o, dO, dQ, dK, dV;
    std::vector<float> lse;
    AttentionArgs args;

    Problem(int64_t t, int64_t kv, AttentionIsa isa, int64_t heads = kHeads)
    {
        shape = {1, t, t, heads, kv, kDim, 0};
        std::mt19937 rng(1);
        std::normal_distribution<float> dist(0.0f, 1.0f);
        auto fill = [&](std::vector<uint16_t>& x, int64_t n) {
            x.resize(size_t(t * n * kDim));
            for (uint16_t& e : x)
                e = floatToBf16(dist(rng));
        };
        fill(q, heads), fill(k, kv), fill(v, kv), fill(dO, heads);
        o.resize(q.size()), dQ.resize(q.size()), dK.resize(k.size()), dV.resize(v.size());
        lse.resize(size_t(t * heads));
        args.shape = shape;
        args.dtype = AttentionDtype::Bf16;
        args.isa = isa;
        args.scale = float(1.0 / std::sqrt(double(kDim)));
        const AttentionStrides qs = contiguousAttentionStrides(t, heads, kDim);
        const AttentionStrides ks = contiguousAttentionStrides(t, kv, kDim);
        args.q = q.data(), args.qStride = qs;
        args.k = k.data(), args.kStride = ks;
        args.v = v.data(), args.vStride = ks;
        args.o = o.data(), args.oStride = qs;
        args.lse = lse.data();
        args.dO = dO.data(), args.dOStride = qs;
        args.dQ = dQ.data(), args.dQStride = qs;
        args.dK = dK.data(), args.dKStride = ks;
        args.dV = dV.data(), args.dVStride = ks;
    }
};

// Tasks [0, tasks) split into `threads` contiguous ranges, the caller taking the first.
template <typename Fn>
void parallelTasks(int64_t tasks, int threads, Fn fn)
{
    std::vector<std::thread> workers;
    for (int p = 1; p < threads; ++p)
        workers.emplace_back([=] { fn(tasks * p / threads, tasks * (p + 1) / threads); });
    fn(0, tasks / threads);
    for (std::thread& w : workers)
        w.join();
}

void forward(const AttentionArgs& a, int threads)
{
    parallelTasks(causalAttentionForwardTasks(a.shape), threads,
                  [&](int64_t t0, int64_t t1) { causalAttentionForward(a, t0, t1); });
}

void backward(const AttentionArgs& a, int threads)
{
    parallelTasks(causalAttentionBackwardKvTasks(a.shape), threads,
                  [&](int64_t t0, int64_t t1) { causalAttentionBackwardKv(a, t0, t1); });
    parallelTasks(causalAttentionBackwardQTasks(a.shape), threads,
                  [&](int64_t t0, int64_t t1) { causalAttentionBackwardQ(a, t0, t1); });
}

double usefulForwardFlops(int64_t t) { return 4.0 * kHeads * kDim * double(t) * double(t + 1) / 2.0; }

// args: T, KV, threads, isa, with backward (0/1)
void BM_FusedAttention(benchmark::State& state)
{
    const int64_t t = state.range(0), kv = state.range(1);
    const int threads = int(state.range(2));
    const AttentionIsa isa = AttentionIsa(state.range(3));
    const bool withBackward = state.range(4) != 0;
    if (!attentionIsaSupported(isa)) {
        state.SkipWithError("instruction set not available on this CPU");
        return;
    }
    Problem p(t, kv, isa);
    for (auto _ : state) {
        forward(p.args, threads);
        if (withBackward)
            backward(p.args, threads);
        benchmark::ClobberMemory();
    }
    const double flops = usefulForwardFlops(t) * (withBackward ? 3.5 : 1.0);
    state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
    state.SetLabel(std::string(attentionIsaName(isa)) + (withBackward ? " fwd+bwd" : " fwd"));
}

// LibTorch unfused: softmax(q k^T * scale + causal mask) v in bf16, [B, H, T, D] layout.
// args: T, KV, threads, with backward (0/1)
void BM_TorchUnfused(benchmark::State& state)
{
    const int64_t t = state.range(0), kv = state.range(1);
    const int threads = int(state.range(2));
    const bool withBackward = state.range(3) != 0;
    at::set_num_threads(threads);
    at::manual_seed(1);
    const auto opts = at::TensorOptions().dtype(at::kBFloat16);
    const at::Tensor q = at::randn({1, kHeads, t, kDim}, opts).requires_grad_(withBackward);
    const at::Tensor k = at::randn({1, kv, t, kDim}, opts).requires_grad_(withBackward);
    const at::Tensor v = at::randn({1, kv, t, kDim}, opts).requires_grad_(withBackward);
    const at::Tensor dO = at::randn({1, kHeads, t, kDim}, opts);
    const at::Tensor mask = at::ones({t, t}, at::kBool).triu(1);
    const double scale = 1.0 / std::sqrt(double(kDim));
    for (auto _ : state) {
        const at::Tensor kk = k.repeat_interleave(kHeads / kv, 1), vv = v.repeat_interleave(kHeads / kv, 1);
        const at::Tensor s = (at::matmul(q, kk.transpose(-1, -2)) * scale).masked_fill(mask, -INFINITY);
        const at::Tensor o = at::matmul(at::softmax(s, -1), vv);
        if (withBackward)
            o.backward(dO);
        benchmark::DoNotOptimize(o.data_ptr());
    }
    const double flops = usefulForwardFlops(t) * (withBackward ? 3.5 : 1.0);
    state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
    state.SetLabel(withBackward ? "torch unfused fwd+bwd" : "torch unfused fwd");
}

void fusedArgs(benchmark::internal::Benchmark* b)
{
    b->ArgNames({"T", "KV", "threads", "isa", "bwd"});
    for (int64_t bwd : {0, 1})
        for (int64_t t : {512, 2048})
            for (int64_t kv : {16, 4})
                for (int64_t threads : {1, 2})
                    b->Args({t, kv, threads, int64_t(AttentionIsa::Avx512Bf16), bwd});
    // The other variants once, for scale.
    for (int64_t bwd : {0, 1}) {
        b->Args({512, 16, 1, int64_t(AttentionIsa::Avx512), bwd});
        b->Args({512, 16, 1, int64_t(AttentionIsa::Scalar), bwd});
    }
}

// args: T, H, KV, threads, pass (0 forward, 1 BackwardKv, 2 BackwardQ); Avx512Bf16 where offered.
void BM_FusedPass(benchmark::State& state)
{
    const int64_t t = state.range(0), heads = state.range(1), kv = state.range(2);
    const int threads = int(state.range(3));
    const int pass = int(state.range(4));
    const AttentionIsa isa = attentionBestIsa();
    Problem p(t, kv, isa, heads);
    forward(p.args, threads); // lse and o for the backward passes
    const AttentionArgs& a = p.args;
    for (auto _ : state) {
        if (pass == 0)
            forward(a, threads);
        else if (pass == 1)
            parallelTasks(causalAttentionBackwardKvTasks(a.shape), threads,
                          [&](int64_t t0, int64_t t1) { causalAttentionBackwardKv(a, t0, t1); });
        else
            parallelTasks(causalAttentionBackwardQTasks(a.shape), threads,
                          [&](int64_t t0, int64_t t1) { causalAttentionBackwardQ(a, t0, t1); });
        benchmark::ClobberMemory();
    }
    // Forward FLOPs for pass 0; each backward pass counted as half of FA2's 2.5x.
    const double flops = 4.0 * double(heads * kDim) * double(t) * double(t + 1) / 2.0 * (pass == 0 ? 1.0 : 1.25);
    state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
    static const char* names[] = {"forward", "backward kv", "backward q"};
    state.SetLabel(std::string(attentionIsaName(isa)) + " " + names[pass]);
}

void passArgs(benchmark::internal::Benchmark* b)
{
    b->ArgNames({"T", "H", "KV", "threads", "pass"});
    for (int64_t threads : {2, 1})
        for (int64_t t : {512, 2048})
            for (int64_t kv : {4, 12})
                for (int64_t pass : {0, 1, 2})
                    b->Args({t, 12, kv, threads, pass});
}

void torchArgs(benchmark::internal::Benchmark* b)
{
    b->ArgNames({"T", "KV", "threads", "bwd"});
    for (int64_t bwd : {0, 1})
        for (int64_t t : {512, 2048})
            for (int64_t threads : {1, 2})
                b->Args({t, 16, threads, bwd});
}

} // namespace

BENCHMARK(BM_FusedAttention)->Apply(fusedArgs)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_FusedPass)->Apply(passArgs)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_TorchUnfused)->Apply(torchArgs)->Unit(benchmark::kMillisecond)->UseRealTime();

BENCHMARK_MAIN();
