#include "report/MethodComparison.h"

#include "core/DeviceMemory.h"
#include "report/ChildProcess.h"
#include "report/MethodBudget.h"
#include "report/ReportRows.h"
#include "store/RunQueries.h"
#include "store/RunStore.h"
#include "store/StorePaths.h"

#include <nlohmann/json.hpp>

#include <csignal>
#include <ctime>
#include <filesystem>
#include <sstream>
#include <stdexcept>
#include <unistd.h>

namespace fs = std::filesystem;

namespace tb {

namespace {

std::string nowUtc()
{
    const std::time_t now = std::time(nullptr);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
    return stamp;
}

std::string lastLine(const std::string& text)
{
    size_t end = text.find_last_not_of(" \t\r\n");
    if (end == std::string::npos)
        return {};
    const size_t start = text.rfind('\n', end);
    return text.substr(start == std::string::npos ? 0 : start + 1, end - (start == std::string::npos ? 0 : start + 1) + 1);
}

std::vector<CurvePoint> curveOf(const std::vector<MetricPoint>& points)
{
    std::vector<CurvePoint> out;
    out.reserve(points.size());
    for (const MetricPoint& p : points)
        out.push_back({p.step, p.value});
    return out;
}

// What one child run told us on stdout.
struct ChildOutcome {
    std::optional<int64_t> runId;
    std::string endStatus; // "finished", "failed", "cancelled"; "" when no end event came
    std::string endReason;
    int exitCode = -1;
    std::string stderrText;
};

} // namespace

MethodComparison::MethodComparison(MethodComparisonRequest request, std::string cliExecutable)
    : m_request(std::move(request)), m_cli(std::move(cliExecutable))
{
}

void MethodComparison::checkInputs() const
{
    m_request.validate();
    std::error_code ec;
    if (!fs::is_directory(m_request.modelDir, ec))
        throw std::invalid_argument("model: " + m_request.modelDir + ": no such folder");
    if (!fs::is_regular_file(fs::path(m_request.modelDir) / "config.json", ec))
        throw std::invalid_argument("model: " + m_request.modelDir +
                                    ": not a Hugging Face model folder (config.json is missing)");
    if (!fs::is_regular_file(m_request.dataPath, ec))
        throw std::invalid_argument("data: " + m_request.dataPath + ": no such file");
    if (!m_request.validationPath.empty() && !fs::is_regular_file(m_request.validationPath, ec))
        throw std::invalid_argument("val_data: " + m_request.validationPath + ": no such file");
    if (m_cli.empty() || ::access(m_cli.c_str(), X_OK) != 0)
        throw std::invalid_argument("tunebench-cli: " + (m_cli.empty() ? std::string("(none given)") : m_cli) +
                                    ": not an executable file (it trains each method)");
}

std::vector<std::string> MethodComparison::trainArguments(const std::string& method, const std::string& database) const
{
    const MethodComparisonRequest& q = m_request;
    // Evaluate about five times, so the validation curve has a shape.
    const int64_t evalEvery = std::max<int64_t>(1, (q.steps + 4) / 5);
    std::vector<std::string> args = {"train",        "--model",   q.modelDir,
                                     "--data",       q.dataPath,  "--method",
                                     method,         "--steps",   std::to_string(q.steps),
                                     "--seq-len",    std::to_string(q.seqLen),
                                     "--batch-size", std::to_string(q.batchSize),
                                     "--seed",       std::to_string(q.seed),
                                     "--eval-every", std::to_string(evalEvery),
                                     "--device",     q.device};
    if (method != "full") {
        args.push_back("--rank");
        args.push_back(std::to_string(q.rank));
    }
    if (!q.validationPath.empty()) {
        args.push_back("--val-data");
        args.push_back(q.validationPath);
    }
    if (q.threads > 0) {
        args.push_back("--threads");
        args.push_back(std::to_string(q.threads));
    }
    for (const std::string& a : {std::string("--db"), database, std::string("--name"), "report-" + method,
                                 std::string("--json")})
        args.push_back(a);
    return args;
}

MethodReport MethodComparison::run(MethodComparisonCallbacks& callbacks)
{
    checkInputs();
    MethodReport report;
    report.request = m_request;
    report.createdAt = nowUtc();
    report.machine = MachineDescription::current(m_request.device, m_request.threads);
    if (m_request.budgetBytes) {
        report.budgetBytes = *m_request.budgetBytes;
        report.budgetSource = "--budget";
    } else {
        try {
            const DeviceMemoryInfo device = deviceMemory(m_request.device);
            report.budgetBytes = device.freeBytes;
            report.budgetSource = "free memory of " + m_request.device + " when the report started";
        } catch (const std::exception&) {
            report.budgetBytes = -1;
        }
    }

    const std::string database = StorePaths::resolve(m_request.databasePath).database;
    RunStore store(database);
    RunQueries queries(store.database());

    std::vector<MethodMeasurement> measurements;
    std::string firstFailure;
    const size_t count = m_request.methods.size();
    for (size_t index = 0; index < count; ++index) {
        const std::string& method = m_request.methods[index];
        MethodMeasurement m;
        m.column.method = method;
        m.column.runName = "report-" + method;
        if (cancelled()) {
            m.column.reason = "the comparison was cancelled";
            measurements.push_back(std::move(m));
            continue;
        }
        callbacks.onMethodStarted(method, index, count);
        m.estimate = estimateMethodMemory(m_request, method);
        const bool leftOut =
            m.estimate.available() && report.budgetBytes > 0 && m.estimate.peakBytes > report.budgetBytes;
        if (leftOut) {
            m.column.reason = "its estimated peak memory, " + reportBytesText(m.estimate.peakBytes) +
                              ", does not fit the budget of " + reportBytesText(report.budgetBytes);
            callbacks.onLog(m.column.title() + " is not run: " + m.column.reason);
        } else {
            const std::vector<std::string> args = trainArguments(method, database);
            std::string command = "tunebench-cli";
            for (const auto& a : args)
                command += " " + shellWord(a);
            m.column.trainCommand = command;
            // Ids of runs that exist now: a child that dies before its end event is found as
            // the newest run of its name created after them.
            const auto before = queries.listRuns(RunFilter{std::nullopt, "", 1});
            const int64_t lastIdBefore = before.empty() ? 0 : before.front().id;

            ChildOutcome outcome;
            {
                ChildProcess child(m_cli, args);
                bool asked = false;
                auto onLine = [&](const std::string& line) {
                    const nlohmann::json e = nlohmann::json::parse(line, nullptr, false);
                    if (e.is_discarded() || !e.is_object())
                        return; // not an event (a library printing to stdout)
                    const std::string event = e.value("event", "");
                    if (event == "step")
                        callbacks.onStep(method, e.value("step", int64_t{0}), e.value("total_steps", m_request.steps),
                                         e.value("loss", 0.0));
                    else if (event == "eval")
                        callbacks.onEval(method, e.value("step", int64_t{0}), e.value("loss", 0.0));
                    else if (event == "log")
                        callbacks.onLog(m.column.title() + ": " + e.value("message", ""));
                    else if (event == "end") {
                        if (e.contains("run_id") && e.at("run_id").is_number_integer() && e.at("run_id").get<int64_t>() >= 0)
                            outcome.runId = e.at("run_id").get<int64_t>();
                        outcome.endStatus = e.value("status", "");
                        outcome.endReason = e.value("reason", "");
                    }
                };
                while (child.readLines(100, onLine))
                    if (cancelled() && !asked) {
                        child.terminate();
                        asked = true;
                    }
                outcome.exitCode = child.wait();
                outcome.stderrText = child.standardError();
            }
            if (!outcome.runId) {
                store.recoverInterruptedRuns(); // a killed child's run becomes "interrupted"
                for (const RunSummary& s : queries.listRuns())
                    if (s.id > lastIdBefore && s.name == m.column.runName) {
                        outcome.runId = s.id;
                        break;
                    }
            }
            if (outcome.runId) {
                m.run = queries.getRun(*outcome.runId);
                m.column.runId = outcome.runId;
                m.column.status = runStatusName(m.run->summary.status);
                m.column.runDir = m.run->runDir;
                m.column.learningRate = m.run->learningRate;
                m.column.loss = curveOf(queries.metricSeries(*outcome.runId, "loss"));
                m.column.valLoss = curveOf(queries.metricSeries(*outcome.runId, "val_loss"));
            } else {
                m.column.status = "failed";
            }
            if (m.column.status != "finished") {
                std::string why = outcome.endReason;
                if (why.empty())
                    why = lastLine(outcome.stderrText);
                if (why.empty() && outcome.exitCode > 128)
                    why = "killed by signal " + std::to_string(outcome.exitCode - 128) +
                          (outcome.exitCode - 128 == SIGKILL ? " (the system may have run out of memory)" : "");
                if (why.empty())
                    why = "tunebench-cli train exited with code " + std::to_string(outcome.exitCode);
                m.column.reason = why;
                if (firstFailure.empty() && !cancelled())
                    firstFailure = m.column.title() + ": " + why;
            }
        }
        // A method left out for the budget still gets the budget rows: a smaller batch or a
        // shorter sequence may fit where the requested ones do not.
        if (!cancelled() && (m.column.status == "finished" || leftOut))
            m.fit = findMethodFit(m_request, method, report.budgetBytes, m_cli, [this] { return cancelled(); },
                                  [&](const std::string& line) { callbacks.onLog(m.column.title() + " fit: " + line); });
        callbacks.onMethodFinished(m.column);
        measurements.push_back(std::move(m));
    }

    bool anyRun = false;
    for (const MethodMeasurement& m : measurements)
        anyRun = anyRun || (m.run && m.column.status == "finished");
    if (!anyRun && !cancelled() && !firstFailure.empty())
        throw std::runtime_error("no method could be trained; " + firstFailure);

    report.rows = buildReportRows(m_request, measurements, report.budgetBytes);
    for (MethodMeasurement& m : measurements)
        report.columns.push_back(std::move(m.column));
    return report;
}

} // namespace tb
