// tunebench-cli report: LoRA vs QLoRA vs full on the same model, data, seed and steps, each
// trained by a child `tunebench-cli train` (this very executable), written as a report folder.
#include "cli/ArgList.h"
#include "cli/Commands.h"
#include "cli/SignalCancellation.h"

#include "memory/FitFinder.h"
#include "report/MethodComparison.h"
#include "report/ReportFolder.h"
#include "report/ReportRows.h"

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <iostream>

namespace tbcli {

namespace {


// Progress for people on stderr, or JSON Lines events on stdout.
class ReportProgress : public tb::MethodComparisonCallbacks {
public:
    explicit ReportProgress(bool json) : m_json(json) {}

    void onMethodStarted(const std::string& method, size_t index, size_t count) override
    {
        m_prefix = "[" + std::to_string(index + 1) + "/" + std::to_string(count) + "] " + method;
        if (m_json)
            emit({{"event", "method_started"}, {"method", method}, {"index", index}, {"count", count}});
        else
            line() << m_prefix << ": training\n";
    }
    void onStep(const std::string& method, int64_t step, int64_t totalSteps, double loss) override
    {
        if (m_json)
            emit({{"event", "step"}, {"method", method}, {"step", step}, {"total_steps", totalSteps}, {"loss", loss}});
        else {
            std::cerr << "\r" << m_prefix << ": step " << step << "/" << totalSteps << ", loss " << loss << "      "
                      << std::flush;
            m_lineOpen = true;
        }
    }
    void onEval(const std::string& method, int64_t step, double valLoss) override
    {
        if (m_json)
            emit({{"event", "eval"}, {"method", method}, {"step", step}, {"loss", valLoss}});
    }
    void onLog(const std::string& message) override
    {
        if (m_json)
            emit({{"event", "log"}, {"message", message}});
        else
            line() << message << "\n";
    }
    void onMethodFinished(const tb::MethodColumn& c) override
    {
        if (m_json) {
            emit({{"event", "method_finished"},
                  {"method", c.method},
                  {"status", c.status},
                  {"reason", c.reason},
                  {"run_id", c.runId ? nlohmann::json(*c.runId) : nlohmann::json(nullptr)}});
            return;
        }
        line() << m_prefix << ": " << c.status;
        if (c.runId)
            std::cerr << " (run " << *c.runId << ")";
        if (!c.reason.empty())
            std::cerr << ": " << c.reason;
        std::cerr << "\n";
    }
    void emit(const nlohmann::json& j) { std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl; }

private:
    // stderr at the start of a line: ends the "\r" progress line first when one is open.
    std::ostream& line()
    {
        if (m_lineOpen)
            std::cerr << "\n";
        m_lineOpen = false;
        return std::cerr;
    }

    bool m_json;
    bool m_lineOpen = false;
    std::string m_prefix;
};

} // namespace

int runReport(const std::vector<std::string>& args)
{
    const ArgList a(args,
                    {"model", "data", "val-data", "methods", "steps", "seq-len", "batch-size", "rank", "seed", "threads",
                     "device", "budget", "price-per-hour", "watts", "db", "out", "fit"},
                    {"json", "force"});
    tb::MethodComparisonRequest q;
    q.modelDir = a.required("model");
    q.dataPath = a.required("data");
    q.validationPath = a.text("val-data", "");
    const std::string out = a.required("out");
    try {
        if (a.has("methods"))
            q.methods = tb::comparisonMethodsFromList(a.required("methods"));
    } catch (const std::invalid_argument& e) {
        throw UsageError(std::string("option --") + e.what());
    }
    q.steps = a.integer("steps", q.steps, 1, 1LL << 40);
    q.seqLen = a.integer("seq-len", q.seqLen, 2, 1 << 22);
    q.batchSize = a.integer("batch-size", q.batchSize, 1, 1 << 20);
    q.rank = a.integer("rank", q.rank, 1, 4096);
    q.seed = static_cast<uint64_t>(a.integer("seed", 42, 0, 1LL << 62));
    q.threads = static_cast<int>(a.integer("threads", 0, 0, 1024));
    q.device = a.text("device", "cpu");
    try {
        if (a.has("budget"))
            q.budgetBytes = tb::parseByteSize(a.required("budget"));
        // Confirming runs at the device's whole free memory would train huge batches for long;
        // without a budget the fit rows are the estimator's unless asked otherwise.
        q.fit = tb::fitModeFromName(a.text("fit", a.has("budget") ? "confirm" : "estimate"));
    } catch (const std::invalid_argument& e) {
        throw UsageError(std::string("option --") + (a.has("budget") && !q.budgetBytes ? "budget: " : "") + e.what());
    }
    if (a.has("price-per-hour"))
        q.pricePerHour = a.number("price-per-hour", 0, 0, 1e12);
    if (a.has("watts"))
        q.watts = a.number("watts", 0, 1e-3, 1e9);
    if (a.has("db") && a.required("db").empty())
        throw UsageError("option --db needs a path");
    q.databasePath = a.text("db", "");
    const bool json = a.has("json"), force = a.has("force");

    std::error_code ec;
    const std::string self = std::filesystem::read_symlink("/proc/self/exe", ec).string();
    if (ec)
        throw std::runtime_error("cannot find this program's own path (/proc/self/exe): " + ec.message());
    tb::MethodComparison comparison(q, self);
    try {
        comparison.checkInputs();
    } catch (const std::invalid_argument& e) {
        throw std::runtime_error(e.what());
    }
    // Refuse a non-empty output folder now, not after the training.
    tb::checkReportFolder(out, force);

    ReportProgress progress(json);
    tb::MethodReport report;
    {
        // Ctrl-C / SIGTERM: the running child gets SIGTERM (from the terminal's process group,
        // or from cancel()) and ends cleanly; no report is written.
        SignalCancellation onSignal([&comparison] { comparison.cancel(); });
        report = comparison.run(progress);
    }
    if (comparison.cancelled()) {
        std::cerr << "cancelled: no report written\n";
        return 1;
    }
    tb::writeReportFolder(report, out, force);

    // A method left out because its estimate exceeds the budget is a result, not a failure.
    std::vector<std::string> failed;
    for (const tb::MethodColumn& c : report.columns)
        if (c.status != "finished" && c.status != "not run")
            failed.push_back(c.method);
    if (json) {
        nlohmann::json runs = nlohmann::json::object();
        for (const tb::MethodColumn& c : report.columns)
            runs[c.method] = {{"status", c.status},
                              {"reason", c.reason},
                              {"run_id", c.runId ? nlohmann::json(*c.runId) : nlohmann::json(nullptr)}};
        progress.emit({{"event", "end"},
                       {"out", report.outputDir},
                       {"files", {tb::kReportMarkdownFile, tb::kReportHtmlFile, tb::kReportJsonFile, "loss.png", "memory.png"}},
                       {"runs", runs}});
    } else {
        std::cout << report.table().toText(40, 22);
        std::cerr << "wrote " << report.outputDir << "/{report.md,report.html,report.json,loss.png,memory.png}\n";
    }
    if (!failed.empty()) {
        std::string list;
        for (const auto& f : failed)
            list += (list.empty() ? "" : ", ") + f;
        std::cerr << "failed: " << list << " (see the report's Runs section)\n";
        return 1;
    }
    return 0;
}

} // namespace tbcli
