// The figures of a LoRA vs QLoRA vs full comparison: one column per method, one row per
// property, and in every cell the figure, its text and how it was obtained (measured,
// estimated or derived). It is what MethodComparison produces, what the report folder's
// report.json holds (so the GUI loads a finished report), and what the Markdown/HTML table is
// rendered from (through ComparisonTable).
//
// Plain values; no Qt, no Torch, no database; any thread.
#pragma once

#include "report/MachineDescription.h"
#include "report/MethodComparisonRequest.h"
#include "store/ComparisonTable.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tb {

enum class FigureSource {
    Measured,     // read from the run's recorded metrics / memory samples / artifacts
    Estimated,    // from the memory estimator: measuring would not fit in the budget, or was not done
    Derived,      // computed from measured figures (perplexity = exp(loss), cost = 1e6 / tokens/s, ...)
    NotAvailable  // no figure (a failed run, no price given, ...); the cell's `how` says why
};

const char* figureSourceName(FigureSource source); // "measured", "estimated", "derived", "not available"
FigureSource figureSourceFromName(const std::string& name); // throws std::invalid_argument

struct ReportCell {
    std::optional<double> value; // in the row's unit; nullopt: no figure
    std::string text;            // as shown: "1.2 GiB", "3.412", "-"
    FigureSource source = FigureSource::NotAvailable;
    std::string how;             // this cell's provenance in words, e.g. "max peak_rss of run #3"
};

struct ReportRow {
    std::string section;  // "Memory", "Speed and cost", "Within the budget", "Quality", "Output"
    std::string key;      // stable name for programs and tests: "peak_memory", "tokens_per_second", ...
    std::string property; // as shown: "peak memory"
    std::string unit;     // "bytes", "seconds", "tokens/s", "parameters", "kWh", "money", "tokens", ""
    std::string note;     // how the row's figures are obtained (the table's "How obtained" column)
    std::vector<ReportCell> cells; // one per column, in column order
};

struct CurvePoint {
    int64_t step = 0;
    double value = 0; // NaN where the trainer reported a non-finite loss
};

// One method's column: the run it made and its curves.
struct MethodColumn {
    std::string method;            // "lora", "qlora", "full"
    std::string status = "not run"; // the run's database status ("finished", "failed", "cancelled") or "not run"
    std::string reason;            // why it failed or was not run; "" otherwise
    std::optional<int64_t> runId;
    std::string runName;           // "report-lora", ...
    std::string runDir;
    std::optional<double> learningRate; // the run's (each method keeps `train`'s default for it)
    std::string trainCommand;      // the exact `tunebench-cli train ...` the run was made with; "" if not run
    std::vector<CurvePoint> loss;    // training loss per step
    std::vector<CurvePoint> valLoss; // validation loss at each evaluation

    // "LoRA", "QLoRA", "full" as the table's column titles spell them.
    std::string title() const;
};

struct MethodReport {
    MethodComparisonRequest request;
    MachineDescription machine;
    int64_t budgetBytes = -1;      // the budget applied; -1: unknown (no --budget, device memory unknown)
    std::string budgetSource;      // "--budget", or "free memory of cpu when the report started"
    std::string createdAt;         // ISO-8601 UTC
    std::string outputDir;         // where the report was written; "" before it is
    std::vector<MethodColumn> columns;
    std::vector<ReportRow> rows;

    // The row with this key, or nullptr.
    const ReportRow* findRow(const std::string& key) const;
    // The rows as a ComparisonTable (columns: method title, detail "run #id"): a cell whose
    // source is not the row's main source carries it in brackets, e.g. "1.2 GiB (estimated)".
    ComparisonTable table() const;

    // report.json: {"format": "tunebench-method-report", "version": 1, "request", "machine",
    // "budget_bytes", "budget_source", "created_at", "columns": [{method, status, reason,
    // run_id, run_name, run_dir, loss: [[step, value]...], val_loss}], "rows": [{section, key,
    // property, unit, note, cells: [{value, text, source, how}]}]}. Non-finite values are null.
    nlohmann::json toJson() const;
    // Throws std::invalid_argument naming `source` and the field for a malformed document.
    static MethodReport fromJson(const nlohmann::json& j, const std::string& source);
};

} // namespace tb
