#include "report/ReportDocument.h"

#include "report/ReportRows.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace tb {

const char* const kReportLossChartFile = "loss.png";
const char* const kReportMemoryChartFile = "memory.png";

namespace {

std::string methodTitles(const MethodReport& r)
{
    std::string s;
    for (const MethodColumn& c : r.columns)
        s += (s.empty() ? "" : " vs ") + c.title();
    return s;
}

std::string general(double v)
{
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%g", v);
    return buffer;
}

// The settings every method shared, as one sentence.
std::string settingsText(const MethodReport& r)
{
    const MethodComparisonRequest& q = r.request;
    std::ostringstream out;
    out << "Model " << q.modelDir << ", training data " << q.dataPath << " (validation: "
        << (q.validationPath.empty() ? "10% split off the training data" : q.validationPath) << "); " << q.steps
        << " steps of batch " << q.batchSize << " x " << q.seqLen << " tokens, rank " << q.rank << " (alpha "
        << q.rank * 2 << "), seed " << q.seed << ", device " << q.device << ".";
    return out.str();
}

std::string budgetText(const MethodReport& r)
{
    if (r.budgetBytes <= 0)
        return "unknown (none given, and the device's free memory could not be read)";
    return reportBytesText(r.budgetBytes) + " (" + r.budgetSource + ")";
}

std::string runLine(const MethodColumn& c)
{
    std::string s = c.title() + ": ";
    s += c.runId ? "run #" + std::to_string(*c.runId) + " \"" + c.runName + "\", " + c.status : c.status;
    if (!c.reason.empty())
        s += " (" + c.reason + ")";
    if (c.learningRate)
        s += ", learning rate " + general(*c.learningRate);
    if (!c.runDir.empty())
        s += ", folder " + c.runDir;
    return s;
}

// Per-row provenance: the row's note, then each cell's own account.
std::vector<std::pair<std::string, std::vector<std::string>>> provenance(const MethodReport& r)
{
    std::vector<std::pair<std::string, std::vector<std::string>>> out;
    for (const ReportRow& row : r.rows) {
        std::vector<std::string> cells;
        for (size_t i = 0; i < row.cells.size() && i < r.columns.size(); ++i)
            cells.push_back(r.columns[i].title() + ": " + figureSourceName(row.cells[i].source) +
                            (row.cells[i].how.empty() ? std::string() : ", " + row.cells[i].how));
        out.emplace_back(row.property + " — " + row.note, std::move(cells));
    }
    return out;
}

double rowValue(const MethodReport& r, const std::string& key, size_t column, bool* estimated = nullptr)
{
    const ReportRow* row = r.findRow(key);
    if (!row || column >= row->cells.size() || !row->cells[column].value)
        return 0;
    if (estimated && row->cells[column].source == FigureSource::Estimated)
        *estimated = true;
    return *row->cells[column].value;
}

} // namespace

std::string reportMarkdown(const MethodReport& r)
{
    std::ostringstream out;
    out << "# Tunebench method comparison: " << methodTitles(r) << "\n\n";
    out << settingsText(r) << " Memory budget: " << budgetText(r) << ". Made " << r.createdAt << ".\n\n";
    out << r.table().toMarkdown() << "\n";
    out << "A cell marked (estimated) or (derived) was obtained differently from the rest of its row; "
           "\"How obtained\" says how the row's figures were obtained, and the list below says it for every cell.\n\n";
    out << "## Curves\n\n";
    out << "![Training and validation loss against step](" << kReportLossChartFile << ")\n\n";
    out << "![Peak memory by category](" << kReportMemoryChartFile << ")\n\n";
    out << "## Runs\n\n";
    for (const MethodColumn& c : r.columns)
        out << "- " << runLine(c) << "\n";
    out << "\n## How each figure was obtained\n\n";
    for (const auto& [row, cells] : provenance(r)) {
        out << "- **" << row << "**\n";
        for (const auto& cell : cells)
            out << "  - " << cell << "\n";
    }
    out << "\n## How this report was made\n\n";
    out << "```sh\n" << r.request.commandLine(r.outputDir.empty() ? "REPORT_DIR" : r.outputDir) << "\n```\n\n";
    out << "Each method was trained in its own process (so that its peak memory is its own):\n\n```sh\n";
    for (const MethodColumn& c : r.columns)
        if (!c.trainCommand.empty())
            out << c.trainCommand << "\n";
    out << "```\n\n";
    out << "Machine: " << r.machine.summary() << ".\n";
    return out.str();
}

std::string reportHtml(const MethodReport& r)
{
    std::ostringstream out;
    out << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Tunebench method comparison: "
        << htmlEscape(methodTitles(r)) << "</title>\n"
        << "<style>body{font-family:sans-serif;max-width:1250px;margin:2em auto;padding:0 1em;color:#111}"
           "table.tb-comparison{border-collapse:collapse;margin:1em 0}"
           "table.tb-comparison td,table.tb-comparison th{padding:4px 8px;border:1px solid #bbb;vertical-align:top}"
           "tr.section th{background:#eee}img{max-width:100%;height:auto;border:1px solid #ddd;margin:0.5em 0}"
           "pre{background:#f5f5f5;padding:0.8em;overflow-x:auto}li li{color:#333}</style>\n</head>\n<body>\n";
    out << "<h1>Tunebench method comparison: " << htmlEscape(methodTitles(r)) << "</h1>\n";
    out << "<p>" << htmlEscape(settingsText(r)) << " Memory budget: " << htmlEscape(budgetText(r)) << ". Made "
        << htmlEscape(r.createdAt) << ".</p>\n";
    out << r.table().toHtml();
    out << "<p>A cell marked (estimated) or (derived) was obtained differently from the rest of its row; "
           "&ldquo;How obtained&rdquo; says how the row's figures were obtained, and the list below says it for every "
           "cell.</p>\n";
    out << "<h2>Curves</h2>\n<p><img src=\"" << kReportLossChartFile
        << "\" width=\"1200\" height=\"700\" alt=\"Training and validation loss against step\"></p>\n"
        << "<p><img src=\"" << kReportMemoryChartFile
        << "\" width=\"1200\" height=\"700\" alt=\"Peak memory by category\"></p>\n";
    out << "<h2>Runs</h2>\n<ul>\n";
    for (const MethodColumn& c : r.columns)
        out << "<li>" << htmlEscape(runLine(c)) << "</li>\n";
    out << "</ul>\n<h2>How each figure was obtained</h2>\n<ul>\n";
    for (const auto& [row, cells] : provenance(r)) {
        out << "<li><b>" << htmlEscape(row) << "</b><ul>";
        for (const auto& cell : cells)
            out << "<li>" << htmlEscape(cell) << "</li>";
        out << "</ul></li>\n";
    }
    out << "</ul>\n<h2>How this report was made</h2>\n<pre>"
        << htmlEscape(r.request.commandLine(r.outputDir.empty() ? "REPORT_DIR" : r.outputDir)) << "</pre>\n";
    out << "<p>Each method was trained in its own process (so that its peak memory is its own):</p>\n<pre>";
    for (const MethodColumn& c : r.columns)
        if (!c.trainCommand.empty())
            out << htmlEscape(c.trainCommand) << "\n";
    out << "</pre>\n<p>Machine: " << htmlEscape(r.machine.summary()) << ".</p>\n</body>\n</html>\n";
    return out.str();
}

LineChart reportLossChart(const MethodReport& r)
{
    LineChart chart;
    chart.title = "Training and validation loss";
    chart.xLabel = "step";
    chart.yLabel = "loss";
    for (size_t i = 0; i < r.columns.size(); ++i) {
        const MethodColumn& c = r.columns[i];
        LineSeries train{c.title() + " training", {}, chartColour(i), false, c.loss.size() <= 1};
        for (const CurvePoint& p : c.loss)
            train.points.emplace_back(static_cast<double>(p.step), p.value);
        LineSeries val{c.title() + " validation", {}, chartColour(i), true, true};
        for (const CurvePoint& p : c.valLoss)
            val.points.emplace_back(static_cast<double>(p.step), p.value);
        chart.series.push_back(std::move(train));
        chart.series.push_back(std::move(val));
    }
    return chart;
}

StackedBarChart reportMemoryChart(const MethodReport& r)
{
    const char* const parts[] = {"base_weight_bytes", "adapter_weight_bytes", "gradient_bytes", "optimizer_bytes"};
    double largest = 0;
    for (size_t i = 0; i < r.columns.size(); ++i)
        largest = std::max(largest, rowValue(r, "peak_memory", i));
    const bool gib = largest >= 4.0 * (1 << 30);
    const double unit = gib ? 1024.0 * 1024 * 1024 : 1024.0 * 1024;

    StackedBarChart chart;
    chart.title = "Peak memory by category";
    chart.yLabel = gib ? "GiB" : "MiB";
    chart.segmentLabels = {"base weights", "adapter weights", "gradients", "optimizer state", "activations and runtime"};
    for (size_t i = 0; i < r.columns.size(); ++i) {
        StackedBar bar;
        bar.label = r.columns[i].title();
        bool estimated = false;
        double sum = 0;
        for (const char* key : parts) {
            const double v = rowValue(r, key, i, &estimated);
            bar.values.push_back(v / unit);
            sum += v;
        }
        const double peak = rowValue(r, "peak_memory", i, &estimated);
        // The rest of the peak: the derived row where measured, else what the estimate leaves.
        const ReportRow* other = r.findRow("other_bytes");
        const double rest = other && i < other->cells.size() && other->cells[i].value ? *other->cells[i].value
                                                                                        : std::max(0.0, peak - sum);
        bar.values.push_back(rest / unit);
        bar.hatched = estimated;
        if (peak > 0)
            bar.annotation = reportBytesText(static_cast<int64_t>(peak)) + (estimated ? " (estimated)" : "");
        else
            bar.annotation = "not measured";
        chart.bars.push_back(std::move(bar));
    }
    return chart;
}

} // namespace tb
