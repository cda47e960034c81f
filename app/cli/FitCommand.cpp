// tunebench-cli fit: the largest batch size and the longest sequence length that fit a memory
// budget, per method (engine/memory/FitFinder), confirmed with real training steps unless
// --no-confirm.
#include "cli/ArgList.h"
#include "cli/Commands.h"
#include "cli/TextFormat.h"
#include "cli/SignalCancellation.h"

#include "memory/FitFinder.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <unistd.h>

namespace tbcli {

namespace {


std::string mib(int64_t bytes)
{
    std::ostringstream out;
    out << std::fixed << std::setprecision(0) << static_cast<double>(bytes) / (1 << 20) << " MiB";
    return out.str();
}

// The running executable, for the confirming child runs.
std::string selfExecutable()
{
    std::error_code ec;
    const auto path = std::filesystem::read_symlink("/proc/self/exe", ec);
    return ec ? std::string() : path.string();
}

nlohmann::json pointJson(const tb::FitPoint& p)
{
    nlohmann::json attempts = nlohmann::json::array();
    for (const auto& t : p.attempts)
        attempts.push_back({{"batch_size", t.batchSize}, {"seq_len", t.seqLen}, {"estimated_bytes", t.estimatedBytes},
                            {"measured_bytes", t.measuredBytes}, {"fits", t.fits}, {"outcome", t.outcome}});
    return {{"batch_size", p.batchSize},           {"seq_len", p.seqLen},
            {"estimated_bytes", p.estimatedBytes}, {"confirmed", p.confirmed},
            {"measured_bytes", p.measuredBytes},   {"attempts", attempts}};
}

std::string pointText(const tb::FitPoint& p, bool batch, bool confirming)
{
    if (p.batchSize == 0)
        return "none fits";
    std::ostringstream out;
    out << (batch ? "batch " + std::to_string(p.batchSize) : std::to_string(p.seqLen) + " tokens") << " (estimated "
        << mib(p.estimatedBytes);
    if (p.confirmed)
        out << ", measured " << mib(p.measuredBytes);
    else if (confirming)
        out << ", not confirmed" << (p.attempts.empty() ? "" : ": " + p.attempts.back().outcome);
    out << ")";
    return out.str();
}

} // namespace

int runFit(const std::vector<std::string>& args)
{
    const ArgList a(args,
                    {"model", "data", "methods", "seq-len", "budget", "device", "threads", "rank", "targets", "quant",
                     "blocksize", "steps", "tries", "max-batch-size", "quant-cache"},
                    {"json", "no-confirm", "gradient-checkpointing", "no-double-quant"});
    tb::FitRequest q;
    q.modelDir = a.required("model");
    q.confirm = !a.has("no-confirm");
    q.dataPath = q.confirm ? a.required("data") : a.text("data", "");
    if (a.has("methods")) {
        q.methods.clear();
        for (const auto& name : splitCommaList(a.required("methods"))) {
            try {
                q.methods.push_back(tb::trainMethodFromName(name));
            } catch (const std::invalid_argument& e) {
                throw UsageError(std::string("option --methods: ") + e.what());
            }
        }
        if (q.methods.empty())
            throw UsageError("option --methods: expected a list such as lora,qlora,full");
    }
    q.seqLen = a.integer("seq-len", 512, 2, 1 << 22);
    if (a.has("budget")) {
        try {
            q.budgetBytes = tb::parseByteSize(a.required("budget"));
        } catch (const std::invalid_argument& e) {
            throw UsageError(std::string("option --budget: ") + e.what());
        }
    }
    q.device = a.text("device", "cpu");
    q.threads = static_cast<int>(a.integer("threads", 0, 0, 1024));
    q.lora.rank = a.integer("rank", 8, 1, 4096);
    if (a.has("targets"))
        q.lora.targets = splitCommaList(a.required("targets"));
    const auto type = tb::QuantSettings::typeFromName(a.text("quant", "nf4"));
    if (!type)
        throw UsageError("option --quant: expected nf4 or int8");
    q.quant.type = *type;
    q.quant.doubleQuant = !a.has("no-double-quant");
    q.quant.blockSize = a.integer("blocksize", 64, 32, 4096);
    q.quantCacheDir = a.text("quant-cache", "");
    q.gradientCheckpointing = a.has("gradient-checkpointing");
    q.confirmSteps = static_cast<int>(a.integer("steps", 2, 1, 100));
    q.maxTries = static_cast<int>(a.integer("tries", 3, 1, 20));
    q.maxBatchSize = a.integer("max-batch-size", 4096, 1, 1 << 20);
    q.cliExecutable = selfExecutable();

    tb::FitFinder finder(q);
    const bool json = a.has("json");
    tb::FitReport report;
    {
        // Ctrl-C: the running child is killed and the finder returns what it has.
        SignalCancellation onSignal([&finder] { finder.cancel(); });
        try {
            report = finder.run([&](const std::string& message) {
                if (!json)
                    std::cerr << message << "\n";
            });
        } catch (const std::invalid_argument& e) {
            throw UsageError(e.what());
        }
    }

    if (json) {
        nlohmann::json methods = nlohmann::json::array();
        for (const auto& m : report.methods)
            methods.push_back({{"method", tb::trainMethodName(m.method)},
                               {"largest_batch", pointJson(m.largestBatch)},
                               {"longest_sequence", pointJson(m.longestSequence)}});
        std::cout << nlohmann::json{{"device", report.device},  {"budget_bytes", report.budgetBytes},
                                    {"seq_len", q.seqLen},      {"confirmed_with_runs", q.confirm},
                                    {"methods", methods},       {"cancelled", report.cancelled}}
                         .dump(2)
                  << "\n";
    } else {
        std::cout << "Budget " << mib(report.budgetBytes) << " on " << report.device << "\n";
        for (const auto& m : report.methods) {
            std::cout << std::left << std::setw(6) << tb::trainMethodName(m.method) << " largest batch at " << q.seqLen
                      << " tokens: " << pointText(m.largestBatch, true, q.confirm) << "\n"
                      << "       longest sequence at batch 1: " << pointText(m.longestSequence, false, q.confirm) << "\n";
        }
        if (report.cancelled)
            std::cout << "cancelled\n";
    }
    return report.cancelled ? 1 : 0;
}

} // namespace tbcli
