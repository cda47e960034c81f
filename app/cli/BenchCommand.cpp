#include "cli/ArgList.h"
#include "cli/Commands.h"

#include "cli/StepBreakdown.h"
#include "core/ThreadCountGovernor.h"
#include "core/ThreadPoolEnvironment.h"
#include "core/ThreadSettings.h"
#include "core/UsableCores.h"
#include "core/TorchCompat.h"
#include "lora/LoraInjector.h"
#include "quant/ModelQuantizer.h"
#include "model/ModelLoader.h"
#include "train/AdamW.h"
#include "train/BatchStream.h"
#include "train/CausalLmLoss.h"
#include "train/TrainingFlops.h"

#include <ATen/CPUGeneratorImpl.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <iomanip>
#include <iostream>
#include <optional>

namespace tbcli {

namespace {

using Clock = std::chrono::steady_clock;

double seconds(Clock::time_point a, Clock::time_point b)
{
    return std::chrono::duration<double>(b - a).count();
}

// Best of `reps` square matmuls: the rate the same build reaches on plain GEMM.
double matmulGflops(at::ScalarType dtype, int64_t n, int reps, const at::Device& device)
{
    const at::Tensor a = at::randn({n, n}, at::TensorOptions().dtype(at::kFloat)).to(device, dtype);
    const at::Tensor b = at::randn({n, n}, at::TensorOptions().dtype(at::kFloat)).to(device, dtype);
    at::matmul(a, b); // warm-up: oneDNN picks and caches its kernel
    double best = 1e30;
    for (int i = 0; i < reps; ++i) {
        const auto t0 = Clock::now();
        at::Tensor c = at::matmul(a, b);
        tb::compat::synchronize(device);
        best = std::min(best, seconds(t0, Clock::now()));
    }
    return 2.0 * n * n * n / best / 1e9;
}

} // namespace

int runBench(const std::vector<std::string>& args)
{
    const ArgList a(args, {"model", "method", "seq-len", "batch-size", "steps", "rank", "threads", "device", "matmul-size", "attention",
                                 "lora"},
                    {"json", "gradient-checkpointing"});
    const std::string method = a.text("method", "lora");
    if (method != "lora" && method != "qlora" && method != "full")
        throw UsageError("option --method: expected lora, qlora or full");
    const int64_t seqLen = a.integer("seq-len", 512, 2, 1 << 20);
    const int64_t batch = a.integer("batch-size", 1, 1, 1 << 16);
    const int steps = static_cast<int>(a.integer("steps", 5, 1, 10000));
    const int requestedThreads = static_cast<int>(a.integer("threads", 0, 0, 1024));
    const int threads = tb::configureThreads(requestedThreads);
    // As the trainer: the default count follows the cores other processes leave free.
    std::optional<tb::ThreadCountGovernor> governor;
    if (requestedThreads <= 0)
        governor.emplace(threads);
    const bool checkpointing = a.has("gradient-checkpointing");
    // The fused CPU kernel or the unfused reference path, to compare them in the same build.
    const std::string attention = a.text("attention", "fused");
    if (attention != "fused" && attention != "unfused")
        throw UsageError("option --attention: expected fused or unfused");
    // The adapters' fused node or the plain composition of operators (LoraLinear.h), likewise.
    const std::string loraPath = a.text("lora", "fused");
    if (loraPath != "fused" && loraPath != "plain")
        throw UsageError("option --lora: expected fused or plain");

    tb::LoadOptions load;
    load.dtype = method == "full" ? at::kFloat : at::kBFloat16;
    const std::string deviceName = a.text("device", "cpu");
    const at::Device device = tb::parseDevice(deviceName);
    // As the trainer does: QLoRA on a GPU quantizes on the host and moves the quantized model.
    load.device = method == "qlora" ? "cpu" : deviceName;
    tb::LoadedModel loaded = tb::loadModel(a.required("model"), load);
    for (const auto& warning : loaded.warnings)
        std::cerr << "warning: " << warning << "\n";
    tb::LlamaForCausalLM& model = *loaded.model;
    const tb::ModelConfig& config = loaded.config;
    if (seqLen > config.maxPositionEmbeddings)
        throw UsageError("option --seq-len: the model's context is " + std::to_string(config.maxPositionEmbeddings));

    tb::LoraSettings lora;
    lora.rank = a.integer("rank", 16, 1, 4096);
    lora.alpha = static_cast<double>(lora.rank) * 2;
    int64_t trained = 0;
    if (method == "qlora") { // NF4 + double quantization, blocksize 64 (QLoRA's setting)
        tb::ModelQuantizer::quantizeBase(model, tb::QuantSettings{});
        if (device.is_cuda())
            model.to(device);
    }
    if (method != "full") {
        tb::applyLora(model, lora, 1);
        tb::setLoraFused(model, loraPath == "fused");
        trained = tb::loraParameterCount(model);
    } else {
        for (auto& p : model.parameters())
            p.set_requires_grad(true);
        trained = config.parameterCount();
    }
    model.setGradientCheckpointing(checkpointing);
    model.setAttentionKernel(attention == "fused" ? tb::AttentionKernel::Fused : tb::AttentionKernel::Unfused);
    model.train();
    std::vector<std::pair<std::string, at::Tensor>> params;
    for (const auto& item : model.named_parameters(true))
        if (item.value().requires_grad())
            params.emplace_back(item.key(), item.value());
    tb::AdamW optimizer(params, {});

    // Random tokens, every position a target: the cost of a step does not depend on the text.
    std::vector<tb::TokenizedExample> examples(static_cast<size_t>(batch));
    auto generator = at::make_generator<at::CPUGeneratorImpl>(3);
    for (auto& e : examples) {
        const at::Tensor ids = at::randint(0, config.vocabSize, {seqLen}, generator, at::kLong);
        e.ids.assign(ids.data_ptr<int64_t>(), ids.data_ptr<int64_t>() + seqLen);
        e.lossMask.assign(static_cast<size_t>(seqLen), 1);
    }
    std::vector<const tb::TokenizedExample*> pointers;
    for (const auto& e : examples)
        pointers.push_back(&e);
    const tb::TrainingBatch data = tb::BatchStream::collate(pointers, 0, device);

    std::vector<double> times;
    for (int s = 0; s < steps + 1; ++s) { // the first step warms caches and oneDNN primitives
        if (governor)
            governor->update();
        const auto t0 = Clock::now();
        (tb::summedTokenLoss(model, data) / static_cast<double>(data.lossTokens)).backward();
        optimizer.step(1e-5);
        optimizer.zeroGrad();
        tb::compat::synchronize(device);
        if (s > 0)
            times.push_back(seconds(t0, Clock::now()));
    }
    std::sort(times.begin(), times.end());
    const double median = times[times.size() / 2];
    const double tokens = static_cast<double>(batch * seqLen);
    const double flopsPerToken = tb::trainingFlopsPerToken(config, seqLen, method == "full", method == "full" ? 0 : trained, checkpointing);
    const double stepGflops = flopsPerToken * tokens / median / 1e9;
    const std::vector<StepPart> parts = timeStepParts(model, config, data, optimizer, median, device);
    nlohmann::json breakdown = nlohmann::json::object();
    for (const StepPart& p : parts)
        breakdown[p.name] = p.seconds;
    const int64_t gemm = a.integer("matmul-size", 2048, 64, 16384);
    const double bf16 = matmulGflops(at::kBFloat16, gemm, 5, device);
    const double fp32 = matmulGflops(at::kFloat, gemm, 5, device);

    const nlohmann::json j = {{"model", a.required("model")}, {"method", method}, {"parameters", config.parameterCount()},
                              {"trainable_parameters", trained}, {"seq_len", seqLen}, {"batch_size", batch},
                              {"threads", threads}, {"gradient_checkpointing", checkpointing}, {"attention", attention},
                              {"lora_path", method == "full" ? "none" : loraPath},
                              {"steps", steps},
                              {"median_step_seconds", median}, {"tokens_per_second", tokens / median},
                              {"flops_per_token", flopsPerToken}, {"step_gflops", stepGflops},
                              {"matmul_size", gemm}, {"bf16_matmul_gflops", bf16}, {"fp32_matmul_gflops", fp32},
                              {"fraction_of_bf16_matmul", stepGflops / bf16}, {"breakdown_seconds", breakdown},
                              {"usable_cores", tb::usableCores().usable}, {"thread_wait_policy", tb::threadWaitPolicy()}};
    if (a.has("json")) {
        std::cout << j.dump(2) << "\n";
        return 0;
    }
    std::cout << std::fixed << std::setprecision(1) << method << " step, " << config.parameterCount() / 1e6 << " M parameters ("
              << trained << " trained), batch " << batch << " x " << seqLen << " tokens, " << threads << " threads, "
              << attention << " attention" << (method == "full" ? "" : ", " + loraPath + " LoRA path") << "\n"
              << "  median step " << std::setprecision(3) << median << " s, " << std::setprecision(0) << tokens / median
              << " tokens/s, " << stepGflops << " GFLOP/s\n"
              << "  bf16 matmul " << gemm << "^3: " << bf16 << " GFLOP/s (step reaches " << std::setprecision(0)
              << 100 * stepGflops / bf16 << "%); fp32 matmul: " << fp32 << " GFLOP/s\n"
              << "  where the step goes (each part re-timed alone):\n";
    for (const StepPart& p : parts)
        std::cout << "    " << std::left << std::setw(12) << p.name << std::right << std::setw(8) << std::setprecision(1)
                  << 1000 * p.seconds << " ms " << std::setw(4) << std::setprecision(0) << 100 * p.seconds / median << "%\n";
    return 0;
}

} // namespace tbcli
