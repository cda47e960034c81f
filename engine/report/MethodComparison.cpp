#include "report/MethodComparison.h"

#include "core/DeviceMemory.h"
#include "core/ChildProcess.h"
#include "formats/FormatError.h"
#include "core/ScratchFolder.h"
#include "report/MethodBudget.h"
#include "report/ReportRows.h"
#include "store/RunQueries.h"
#include "store/RunStore.h"
#include "store/StorePaths.h"
#include "train/TrainEvents.h"

#include <nlohmann/json.hpp>

#include <csignal>
#include <ctime>
#include <filesystem>
#include <fstream>
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
    std::string exitText; // ChildExit::describe()
    std::string stderrLastLine; // ChildProcess::lastErrorLine()
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

TrainConfig MethodComparison::runConfig(const std::string& method) const
{
    const MethodComparisonRequest& q = m_request;
    // TrainConfig's defaults for the method (learning rate, alpha = 2 x rank, ...), then what
    // the request sets.
    TrainConfig c = TrainConfig::defaults(trainMethodFromName(method));
    c.modelDir = q.modelDir;
    c.dataPath = q.dataPath;
    c.validationPath = q.validationPath;
    c.maxSteps = q.steps;
    c.data.maxSeqLen = q.seqLen;
    c.batchSize = q.batchSize;
    c.seed = q.seed;
    // Evaluate about five times, so the validation curve has a shape.
    c.evalEvery = std::max<int64_t>(1, (q.steps + 4) / 5);
    c.device = q.device;
    c.threads = q.threads;
    if (c.method != TrainMethod::Full) {
        c.lora.rank = q.rank;
        c.lora.alpha = TrainConfig::defaultAlpha(q.rank);
    }
    c.makePathsAbsolute();
    return c;
}

std::vector<std::string> MethodComparison::trainArguments(const std::string& configPath, const std::string& method,
                                                          const std::string& database) const
{
    return {"train", "--config", configPath, "--db", database, "--name", "report-" + method, "--json"};
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

    const ScratchFolder configFolder("", "tunebench-report-"); // the runs' config files
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
            // The child runs the method's TrainConfig from a file (its run folder keeps a copy
            // as train_config.json); the report shows the command with the file's contents.
            const TrainConfig config = runConfig(method);
            const std::string configPath = (configFolder.path() / ("report-" + method + ".json")).string();
            {
                std::ofstream out(configPath);
                out << config.toJson().dump(2) << "\n";
                if (!out)
                    throw std::runtime_error(configPath + ": cannot write the run's config");
            }
            const std::vector<std::string> args = trainArguments(configPath, method, database);
            std::string command = "tunebench-cli";
            for (const auto& a : args)
                command += " " + (a == configPath ? std::string("report-" + method + ".json") : shellWord(a));
            m.column.trainCommand = command + "\n# report-" + method + ".json (output_dir left out: a new run folder)\n"
                                    + [&] {
                                          nlohmann::json j = config.toJson();
                                          j.erase("output_dir");
                                          return j.dump(2);
                                      }();
            // Ids of runs that exist now: a child that dies before its end event is found as
            // the newest run of its name created after them.
            const auto before = queries.listRuns(RunFilter{std::nullopt, "", 1});
            const int64_t lastIdBefore = before.empty() ? 0 : before.front().id;

            ChildOutcome outcome;
            {
                ChildProcess child(m_cli, args);
                bool asked = false;
                struct Forward : TrainEventSink {
                    MethodComparisonCallbacks* callbacks = nullptr;
                    const std::string* method = nullptr;
                    std::string title;
                    int64_t defaultTotal = 0;
                    ChildOutcome* outcome = nullptr;
                    void onStep(const StepReport& r) override
                    {
                        callbacks->onStep(*method, r.step, r.totalSteps > 0 ? r.totalSteps : defaultTotal, r.loss);
                    }
                    void onEval(const EvalReport& r) override { callbacks->onEval(*method, r.step, r.loss); }
                    void onLog(LogLevel, const std::string& message) override { callbacks->onLog(title + ": " + message); }
                    void onEnd(const EndEvent& e) override
                    {
                        if (e.runId >= 0)
                            outcome->runId = e.runId;
                        outcome->endStatus = trainStatusName(e.result.status);
                        outcome->endReason = e.result.reason;
                    }
                } forward;
                forward.callbacks = &callbacks;
                forward.method = &method;
                forward.title = m.column.title();
                forward.defaultTotal = m_request.steps;
                forward.outcome = &outcome;
                auto onLine = [&](const std::string& line) {
                    try {
                        if (const auto event = decodeTrainEvent(line, "tunebench-cli train --json"))
                            deliverTrainEvent(*event, forward);
                    } catch (const FormatError& e) {
                        callbacks.onLog(m.column.title() + ": " + e.what());
                    }
                };
                while (child.readLines(100, onLine))
                    if (cancelled() && !asked) {
                        child.terminate();
                        asked = true;
                    }
                const ChildExit exit = child.wait();
                outcome.exitCode = exit.signal != 0 ? 128 + exit.signal : exit.exitCode;
                outcome.exitText = exit.describe();
                outcome.stderrLastLine = child.lastErrorLine();
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
                    why = outcome.stderrLastLine;
                if (why.empty())
                    why = "tunebench-cli train " + outcome.exitText;
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
