// tensor_peak_probe: a developer's instrument behind docs/memory.md's activation terms. It counts
// every byte LibTorch's CPU allocator hands out (a counting allocator installed in front of
// the default one) while one training step runs as the Trainer runs it, and prints the live
// and peak tensor bytes of each phase as JSON. Not a test: run it by hand when the model or
// the training step changes, and compare with MemoryEstimator's terms.
//
//   tensor_peak_probe --preset small|tiny --method lora|qlora|full --batch B --seq T [--ckpt]
//                     [--layers N] [--threads N] [--quant nf4|int8] [--default-malloc]
#include "core/ThreadSettings.h"
#include "demo/DemoModelMaker.h"
#include "lora/LoraInjector.h"
#include "model/LlamaForCausalLM.h"
#include "quant/ModelQuantizer.h"
#include "train/AdamW.h"
#include "train/BatchStream.h"
#include "train/CausalLmLoss.h"
#include "train/MemoryProbe.h"

#include "CountingAllocator.h"

#include <ATen/Parallel.h>
#include <c10/core/CPUAllocator.h>
#include <nlohmann/json.hpp>

#include <malloc.h>

#include <cstring>
#include <iostream>
#include <string>

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
