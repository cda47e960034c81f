// LoRA vs QLoRA vs full on the same model, data, seed and steps: trains each method in a fresh
// child process (`tunebench-cli train ... --db DB --name report-<method> --json`), so each
// method's peak RSS (VmHWM) is its own and each run is an ordinary run in the experiment
// database, then reads what the runs recorded back from the database and computes the report's
// rows (ReportRows). A method whose estimated peak memory does not fit the budget is not run;
// its memory figures are the estimator's, marked "estimated".
//
// Thread contract: run() blocks the calling thread (the CLI's main thread, a worker QThread in
// the GUI) for the whole comparison; the callbacks are called on that thread, in order, and
// must return quickly. cancel() may be called from any thread: the running child is asked to
// stop (SIGTERM: it saves a checkpoint and its run ends "cancelled"), no further method starts,
// and run() returns the report so far with cancelled() true.
#pragma once

#include "report/MethodComparisonRequest.h"
#include "report/MethodReport.h"

#include "train/TrainConfig.h"

#include <atomic>
#include <cstdint>
#include <string>

namespace tb {

class MethodComparisonCallbacks {
public:
    virtual ~MethodComparisonCallbacks() = default;
    // index counts from 0 to count - 1.
    virtual void onMethodStarted(const std::string& /*method*/, size_t /*index*/, size_t /*count*/) {}
    // The child's optimizer steps; totalSteps is the request's steps.
    virtual void onStep(const std::string& /*method*/, int64_t /*step*/, int64_t /*totalSteps*/, double /*loss*/) {}
    virtual void onEval(const std::string& /*method*/, int64_t /*step*/, double /*valLoss*/) {}
    // What the comparison decided (a method skipped for the budget) and the child's log lines.
    virtual void onLog(const std::string& /*message*/) {}
    // The method's column as the database recorded it (status "finished", "failed", ...).
    virtual void onMethodFinished(const MethodColumn& /*column*/) {}
};

class MethodComparison {
public:
    // cliExecutable: the tunebench-cli that trains each method (the CLI passes /proc/self/exe,
    // the GUI the tunebench-cli beside its own executable).
    MethodComparison(MethodComparisonRequest request, std::string cliExecutable);

    const MethodComparisonRequest& request() const { return m_request; }

    // Throws std::invalid_argument naming the field or file: the request's validate(), a model
    // folder without config.json, a missing data or validation file, a cliExecutable that is
    // not executable. Reads nothing else; run() calls it first.
    void checkInputs() const;

    // The whole comparison; the report's rows are built, its outputDir is empty (ReportFolder
    // writes it). Throws std::invalid_argument for bad input (checkInputs), std::runtime_error
    // when no method could be trained at all (the first failure's message, with the child's
    // error output), StoreError when the database cannot be opened.
    MethodReport run(MethodComparisonCallbacks& callbacks);

    void cancel() { m_cancel.store(true); }
    bool cancelled() const { return m_cancel.load(); }

    // The run that trains `method` for this request: TrainConfig's defaults for the method
    // with the request's model, data, steps, sequence, batch, rank, seed, device and threads;
    // output_dir empty (the child makes a new run folder in the database's workspace).
    TrainConfig runConfig(const std::string& method) const;
    // The arguments after the executable that run the config file `configPath` for `method`:
    // {"train", "--config", configPath, "--db", database, "--name", "report-METHOD", "--json"}.
    std::vector<std::string> trainArguments(const std::string& configPath, const std::string& method,
                                            const std::string& database) const;

private:
    MethodComparisonRequest m_request;
    std::string m_cli;
    std::atomic<bool> m_cancel{false};
};

} // namespace tb
