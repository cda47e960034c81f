// tunebench-cli estimate: the memory estimator (engine/memory) for one configuration, by
// category and phase, next to the device's free memory.
#include "cli/ArgList.h"
#include "cli/Commands.h"
#include "cli/TextFormat.h"

#include "core/DeviceMemory.h"
#include "memory/FitFinder.h"
#include "memory/MemoryEstimator.h"

#include <nlohmann/json.hpp>

#include <iomanip>
#include <iostream>
#include <sstream>

namespace tbcli {

namespace {

nlohmann::json breakdownJson(const tb::MemoryBreakdown& b)
{
    return {{"base_weights", b.baseWeights}, {"adapters", b.adapters},   {"gradients", b.gradients},
            {"optimizer", b.optimizer},      {"activations", b.activations}, {"allocator_slack", b.allocatorSlack},
            {"transient", b.transient},      {"overhead", b.overhead},   {"total", b.total()}};
}

} // namespace

int runEstimate(const std::vector<std::string>& args)
{
    const ArgList a(args,
                    {"model", "method", "batch-size", "seq-len", "device", "rank", "targets", "dropout", "quant", "blocksize",
                     "threads", "base-dtype", "budget", "quant-cache"},
                    {"json", "gradient-checkpointing", "no-double-quant", "double-quant"});
    tb::MemoryEstimateRequest r = tb::requestForModelFolder(a.required("model"));
    try {
        r.method = tb::trainMethodFromName(a.text("method", "lora"));
    } catch (const std::invalid_argument& e) {
        throw UsageError(e.what());
    }
    if ((a.has("quant") || a.has("blocksize") || a.has("no-double-quant") || a.has("double-quant") || a.has("quant-cache"))
        && r.method != tb::TrainMethod::Qlora)
        throw UsageError("--quant, --blocksize, --[no-]double-quant and --quant-cache need --method qlora");
    const auto type = tb::QuantSettings::typeFromName(a.text("quant", "nf4"));
    if (!type)
        throw UsageError("option --quant: expected nf4 or int8");
    r.quant.type = *type;
    r.quant.doubleQuant = !a.has("no-double-quant");
    r.quant.blockSize = a.integer("blocksize", 64, 32, 4096);
    if (r.method == tb::TrainMethod::Qlora) // reading a cached quantized base peaks differently from quantizing
        r.quantizedCacheExists = tb::quantizedCacheExists(a.required("model"), r.quant, a.text("quant-cache", ""));
    r.lora.rank = a.integer("rank", 8, 1, 4096);
    r.lora.dropout = a.number("dropout", 0.0, 0.0, 0.99);
    if (a.has("targets"))
        r.lora.targets = splitCommaList(a.required("targets"));
    r.batchSize = a.integer("batch-size", 4, 1, 1 << 20);
    r.seqLen = a.integer("seq-len", 512, 2, 1 << 22);
    r.gradientCheckpointing = a.has("gradient-checkpointing");
    r.device = a.text("device", "cpu");
    r.threads = static_cast<int>(a.integer("threads", 0, 0, 1024));
    r.baseDtype = a.text("base-dtype", "bf16");

    tb::MemoryEstimate e;
    try {
        e = tb::estimateMemory(r);
    } catch (const std::invalid_argument& err) {
        throw UsageError(err.what());
    }
    // An estimate for a device this machine lacks (planning a GPU run on a laptop) is still an
    // estimate; only its free memory is unknown.
    tb::DeviceMemoryInfo device;
    device.device = r.device;
    device.name = r.device + " (not present here)";
    try {
        device = tb::deviceMemory(r.device);
    } catch (const std::invalid_argument&) {
    }
    int64_t budget = device.freeBytes;
    if (a.has("budget")) {
        try {
            budget = tb::parseByteSize(a.required("budget"));
        } catch (const std::invalid_argument& err) {
            throw UsageError(std::string("option --budget: ") + err.what());
        }
    }
    const bool known = budget >= 0;
    const bool fits = known && e.peakBytes() <= budget;

    if (a.has("json")) {
        nlohmann::json phases = nlohmann::json::array();
        for (const auto& p : e.phases)
            phases.push_back({{"name", p.name}, {"note", p.note}, {"bytes", breakdownJson(p.bytes)}});
        const tb::ActivationDetail& act = e.activation;
        nlohmann::json j = {
            {"model", a.required("model")},
            {"method", tb::trainMethodName(r.method)},
            {"batch_size", r.batchSize},
            {"seq_len", r.seqLen},
            {"gradient_checkpointing", r.gradientCheckpointing},
            {"device", r.device},
            {"device_name", device.name},
            {"peak_bytes", e.peakBytes()},
            {"peak_phase", e.peak().name},
            {"categories", breakdownJson(e.peak().bytes)},
            {"phases", phases},
            {"activation", {{"tokens", act.tokens}, {"saved_per_layer", act.savedPerLayer}, {"saved_total", act.savedTotal},
                            {"head_saved", act.headSaved}, {"forward_peak", act.forwardPeak}, {"backward_peak", act.backwardPeak}}},
            {"trainable_parameters", e.trainableParameters},
            {"total_parameters", e.totalParameters},
            {"device_total_bytes", device.totalBytes},
            {"device_free_bytes", device.freeBytes},
            {"budget_bytes", known ? nlohmann::json(budget) : nlohmann::json(nullptr)},
            {"fits", known ? nlohmann::json(fits) : nlohmann::json(nullptr)},
            {"assumptions", e.assumptions},
        };
        std::cout << j.dump(2) << "\n";
        return 0;
    }

    const tb::MemoryBreakdown& b = e.peak().bytes;
    auto row = [](const char* name, int64_t bytes) {
        std::cout << "  " << std::left << std::setw(18) << name << std::right << std::setw(11) << humanBytes(bytes) << "  "
                  << bytes << " bytes\n";
    };
    std::cout << "Estimated peak: " << humanBytes(e.peakBytes()) << " (" << e.peakBytes() << " bytes), during the "
              << e.peak().name << " phase\n";
    row("base weights", b.baseWeights);
    row("adapters", b.adapters);
    row("gradients", b.gradients);
    row("optimizer state", b.optimizer);
    row("activations", b.activations);
    row("allocator slack", b.allocatorSlack);
    row("transient", b.transient);
    row("overhead", b.overhead);
    if (!e.peak().note.empty() && b.transient > 0)
        std::cout << "  (transient: " << e.peak().note << ")\n";
    std::cout << "Phases:";
    for (const auto& p : e.phases)
        std::cout << "  " << p.name << " " << humanBytes(p.bytes.total());
    std::cout << "\nTrainable parameters: " << e.trainableParameters << " of " << e.totalParameters << "\n";
    for (const auto& s : e.assumptions)
        std::cout << "Assumes " << s << "\n";
    std::cout << device.name << ": ";
    if (device.freeBytes >= 0)
        std::cout << humanBytes(device.freeBytes) << " free of " << humanBytes(device.totalBytes);
    else
        std::cout << "free memory unknown";
    if (a.has("budget"))
        std::cout << "; budget " << humanBytes(budget);
    std::cout << " -> " << (!known ? "unknown" : fits ? "fits" : "does not fit") << "\n";
    return 0;
}

} // namespace tbcli
