// tensor_peak_probe: a developer's instrument behind docs/memory.md's activation terms. It counts
// every byte LibTorch's CPU allocator hands out (a counting allocator installed in front of
// the default one) while one training step runs as the Trainer runs it, and prints the live
// and peak tensor bytes of each phase as JSON. Not a test: run it by hand when the model or
// the training step changes, and compare with MemoryEstimator's terms.
//
//   tensor_peak_probe --preset small|tiny --method lora|qlora|full --batch B --seq T [--ckpt]
//                     [--threads N] [--quant nf4|int8]
#include "core/ThreadSettings.h"
#include <ATen/Parallel.h>
#include "demo/DemoModelMaker.h"
#include "lora/LoraInjector.h"
#include "model/LlamaForCausalLM.h"
#include "quant/ModelQuantizer.h"
#include "train/AdamW.h"
#include "train/BatchStream.h"
#include "train/CausalLmLoss.h"
#include "train/MemoryProbe.h"

#include "CountingAllocator.h"

#include <c10/core/CPUAllocator.h>
#include <nlohmann/json.hpp>

#include <malloc.h>

#include <atomic>
#include <cstring>
#include <functional>
#include <iostream>
#include <mutex>
#include <string>
#include <unordered_map>

namespace {

std::string arg(int argc, char** argv, const char* name, const std::string& fallback)
{
    for (int i = 1; i + 1 < argc; ++i)
        if (std::strcmp(argv[i], name) == 0)
            return argv[i + 1];
    return fallback;
}

bool flag(int argc, char** argv, const char* name)
{
    for (int i = 1; i < argc; ++i)
        if (std::strcmp(argv[i], name) == 0)
            return true;
    return false;
}

} // namespace

int main(int argc, char** argv)
{
    if (flag(argc, argv, "--ops")) {
        // What single operators keep for backward: live bytes after the op, in units of the
        // input's element count (n), output dropped.
        static tbtest::CountingAllocator c(c10::GetDefaultCPUAllocator());
        c10::SetCPUAllocator(&c, 100);
        const int64_t n = 1 << 20;
        auto measure = [&](const char* name, const std::function<at::Tensor(const at::Tensor&, const at::Tensor&)>& op,
                           at::ScalarType dt) {
            at::Tensor x = at::randn({1024, 1024}).to(dt).requires_grad_(true);
            at::Tensor w = at::randn({1024, 1024}).to(dt); // frozen
            const int64_t before = c.current();
            at::Tensor y = op(x, w);
            const int64_t withOut = c.current() - before;
            const int64_t outBytes = y.numel() * static_cast<int64_t>(y.element_size());
            std::cout << name << " " << c10::toString(dt) << ": live incl. output " << double(withOut) / n
                      << " B/elem, output " << double(outBytes) / n << " B/elem" << std::endl;
        };
        for (auto dt : {at::kBFloat16, at::kFloat}) {
            measure("x*w(frozen)", [](const at::Tensor& x, const at::Tensor& w) { return x * w; }, dt);
            measure("x*x.detach()*2", [](const at::Tensor& x, const at::Tensor&) { return x * 2.0; }, dt);
            measure("x.to(other)", [dt](const at::Tensor& x, const at::Tensor&) { return x.to(dt == at::kFloat ? at::kBFloat16 : at::kFloat); }, dt);
            measure("linear(x, w frozen)", [](const at::Tensor& x, const at::Tensor& w) { return at::linear(x, w); }, dt);
            measure("linear(x.view(1,1024,1024), w frozen)", [](const at::Tensor& x, const at::Tensor& w) { return at::linear(x.view({1, 1024, 1024}), w); }, dt);
            measure("x.pow(2)", [](const at::Tensor& x, const at::Tensor&) { return x.pow(2); }, dt);
            measure("silu(x)", [](const at::Tensor& x, const at::Tensor&) { return at::silu(x); }, dt);
            measure("silu(x)*x", [](const at::Tensor& x, const at::Tensor&) { return at::silu(x) * x; }, dt);
            measure("softmax(x)", [](const at::Tensor& x, const at::Tensor&) { return at::softmax(x, -1); }, dt);
            measure("x+x", [](const at::Tensor& x, const at::Tensor&) { return x + x; }, dt);
            measure("cat(-x2,x1)", [](const at::Tensor& x, const at::Tensor&) { return at::cat({-x.narrow(-1, 512, 512), x.narrow(-1, 0, 512)}, -1); }, dt);
            measure("rsqrt(mean(x^2))*x", [](const at::Tensor& x, const at::Tensor&) { return x * at::rsqrt(x.pow(2).mean(-1, true) + 1e-5); }, dt);
            measure("matmul(x, x^T)", [](const at::Tensor& x, const at::Tensor&) { return at::matmul(x.view({1, 1, 1024, 1024}), x.view({1, 1, 1024, 1024}).transpose(-2, -1)); }, dt);
            measure("matmul(x, w^T) w frozen", [](const at::Tensor& x, const at::Tensor& w) { return at::matmul(x.view({1, 1, 1024, 1024}), w.view({1, 1, 1024, 1024}).transpose(-2, -1)); }, dt);
            measure("cross_entropy sum", [](const at::Tensor& x, const at::Tensor&) { return at::cross_entropy_loss(x, at::zeros({1024}, at::kLong), {}, at::Reduction::Sum, -100); }, dt);
            measure("log_softmax", [](const at::Tensor& x, const at::Tensor&) { return at::log_softmax(x, -1); }, dt);
            measure("expand+reshape", [](const at::Tensor& x, const at::Tensor&) { return x.view({1, 1, 1024, 1024}).unsqueeze(2).expand({1, 1, 2, 1024, 1024}).reshape({1, 2, 1024, 1024}); }, dt);
            measure("transpose.reshape", [](const at::Tensor& x, const at::Tensor&) { return x.view({1, 1024, 16, 64}).transpose(1, 2).reshape({1, 16, 65536}); }, dt);
        }
        return 0;
    }
    const std::string preset = arg(argc, argv, "--preset", "small");
    const std::string method = arg(argc, argv, "--method", "lora");
    const int64_t batch = std::stoll(arg(argc, argv, "--batch", "1"));
    const int64_t seq = std::stoll(arg(argc, argv, "--seq", "256"));
    const bool ckpt = flag(argc, argv, "--ckpt");
    if (flag(argc, argv, "--default-malloc")) // glibc's own thresholds: large blocks mmapped and returned on free
        at::set_num_threads(std::stoi(arg(argc, argv, "--threads", "1")));
    else
        tb::configureThreads(std::stoi(arg(argc, argv, "--threads", "1")));

    static tbtest::CountingAllocator counting(c10::GetDefaultCPUAllocator());
    c10::SetCPUAllocator(&counting, /*priority=*/100);

    nlohmann::json out;
    tb::ModelConfig config = tb::demoModelConfig(preset);
    config.numLayers = std::stoll(arg(argc, argv, "--layers", std::to_string(config.numLayers)));
    const bool full = method == "full";
    tb::LlamaForCausalLM model(config, at::TensorOptions().dtype(full ? at::kFloat : at::kBFloat16));
    model.initializeRandom(1, 0.02);
    for (auto& p : model.parameters())
        p.set_requires_grad(false);
    out["weights"] = counting.current();
    if (method == "qlora") {
        tb::QuantSettings q;
        if (arg(argc, argv, "--quant", "nf4") == "int8")
            q.type = tb::QuantSettings::Type::Int8;
        tb::ModelQuantizer::quantizeBase(model, q);
        out["weights_quantized"] = counting.current();
    }
    if (full) {
        for (auto& p : model.parameters())
            p.set_requires_grad(true);
    } else {
        tb::applyLora(model, tb::LoraSettings{}, 1);
    }
    model.setGradientCheckpointing(ckpt);
    model.train();
    std::vector<std::pair<std::string, at::Tensor>> trainable;
    for (const auto& item : model.named_parameters(true))
        if (item.value().requires_grad())
            trainable.emplace_back(item.key(), item.value());
    tb::AdamW optimizer(trainable, {});
    out["static"] = counting.current();

    tb::TrainingBatch b;
    b.inputIds = at::randint(0, config.vocabSize, {batch, seq}, at::kLong);
    b.targets = at::randint(0, config.vocabSize, {batch, seq}, at::kLong);
    b.tokens = b.lossTokens = batch * seq;
    const int64_t before = counting.current();
    out["rss_before_step"] = tb::processMemory().residentBytes;
    out["arena_before_step"] = static_cast<int64_t>(mallinfo2().arena);
    for (int step = 0; step < 2; ++step) {
        counting.resetPeak();
        const at::Tensor loss = tb::summedTokenLoss(model, b);
        out["forward_live"][step] = counting.current() - before;
        out["arena_after_forward"][step] = static_cast<int64_t>(mallinfo2().arena);
        out["in_use_after_forward"][step] = static_cast<int64_t>(mallinfo2().uordblks + mallinfo2().hblkhd);
        out["counted_after_forward"][step] = counting.current();
        out["forward_peak"][step] = counting.peak() - before;
        counting.resetPeak();
        (loss / static_cast<double>(b.lossTokens)).backward();
        out["backward_peak"][step] = counting.peak() - before;
        out["after_backward"][step] = counting.current() - before;
        out["arena_after_backward"][step] = static_cast<int64_t>(mallinfo2().arena);
        counting.resetPeak();
        optimizer.step(1e-4);
        out["optimizer_peak"][step] = counting.peak() - before;
        optimizer.zeroGrad();
    }
    const tb::ProcessMemory pm = tb::processMemory();
    out["rss"] = pm.residentBytes;
    out["peak_rss"] = pm.peakResidentBytes;
    const struct mallinfo2 mi = mallinfo2();
    out["heap_arena"] = mi.arena;       // bytes the main arena took from the kernel (brk)
    out["heap_in_use"] = mi.uordblks;   // of which in use
    out["heap_mmapped"] = mi.hblkhd;    // blocks served by mmap
    out["counted_now"] = counting.current();
    std::cout << out.dump() << std::endl;
    return 0;
}
