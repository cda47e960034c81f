#include "report/MethodReport.h"

#include <cmath>
#include <map>
#include <stdexcept>

namespace tb {

namespace {

nlohmann::json number(std::optional<double> v)
{
    return v && std::isfinite(*v) ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

nlohmann::json curveJson(const std::vector<CurvePoint>& curve)
{
    nlohmann::json out = nlohmann::json::array();
    for (const CurvePoint& p : curve)
        out.push_back({p.step, number(p.value)});
    return out;
}

std::vector<CurvePoint> curveFromJson(const nlohmann::json& j)
{
    std::vector<CurvePoint> out;
    for (const auto& p : j) {
        if (!p.is_array() || p.size() != 2)
            throw std::invalid_argument("expected [step, value] pairs");
        out.push_back({p.at(0).get<int64_t>(), p.at(1).is_null() ? NAN : p.at(1).get<double>()});
    }
    return out;
}

// The source most cells of a row have; on a tie the more direct one (measured, then derived,
// then estimated), so that the less direct figure is the one marked in the table.
FigureSource mainSource(const ReportRow& row)
{
    std::map<FigureSource, int> counts;
    for (const ReportCell& c : row.cells)
        ++counts[c.source];
    FigureSource best = FigureSource::NotAvailable;
    int most = 0;
    for (const FigureSource source : {FigureSource::Measured, FigureSource::Derived, FigureSource::Estimated})
        if (counts[source] > most) {
            best = source;
            most = counts[source];
        }
    return best;
}

} // namespace

const char* figureSourceName(FigureSource source)
{
    switch (source) {
    case FigureSource::Measured: return "measured";
    case FigureSource::Estimated: return "estimated";
    case FigureSource::Derived: return "derived";
    case FigureSource::NotAvailable: return "not available";
    }
    return "not available";
}

FigureSource figureSourceFromName(const std::string& name)
{
    if (name == "measured") return FigureSource::Measured;
    if (name == "estimated") return FigureSource::Estimated;
    if (name == "derived") return FigureSource::Derived;
    if (name == "not available") return FigureSource::NotAvailable;
    throw std::invalid_argument("figure source \"" + name + "\": expected measured, estimated, derived or not available");
}

std::string MethodColumn::title() const
{
    if (method == "lora")
        return "LoRA";
    if (method == "qlora")
        return "QLoRA";
    return method;
}

const ReportRow* MethodReport::findRow(const std::string& key) const
{
    for (const ReportRow& row : rows)
        if (row.key == key)
            return &row;
    return nullptr;
}

ComparisonTable MethodReport::table() const
{
    std::vector<ComparisonColumn> tableColumns;
    for (const MethodColumn& c : columns)
        tableColumns.push_back({c.title(), c.runId ? "run #" + std::to_string(*c.runId) : c.status});
    std::string methods;
    for (const MethodColumn& c : columns)
        methods += (methods.empty() ? "" : " vs ") + c.title();
    ComparisonTable t(std::move(tableColumns), methods);
    for (const ReportRow& row : rows) {
        const FigureSource main = mainSource(row);
        std::vector<std::string> cells;
        for (const ReportCell& c : row.cells) {
            std::string text = c.text.empty() ? "-" : c.text;
            if (c.source != main && c.source != FigureSource::NotAvailable)
                text += std::string(" (") + figureSourceName(c.source) + ")";
            cells.push_back(std::move(text));
        }
        t.addRow(row.section, row.property, std::move(cells), row.note);
    }
    return t;
}

nlohmann::json MethodReport::toJson() const
{
    nlohmann::json j = {{"format", "tunebench-method-report"},
                        {"version", 1},
                        {"request", request.toJson()},
                        {"machine", machine.toJson()},
                        {"budget_bytes", budgetBytes},
                        {"budget_source", budgetSource},
                        {"created_at", createdAt},
                        {"output_dir", outputDir}};
    nlohmann::json cols = nlohmann::json::array();
    for (const MethodColumn& c : columns)
        cols.push_back({{"method", c.method},
                        {"title", c.title()},
                        {"status", c.status},
                        {"reason", c.reason},
                        {"run_id", c.runId ? nlohmann::json(*c.runId) : nlohmann::json(nullptr)},
                        {"run_name", c.runName},
                        {"run_dir", c.runDir},
                        {"learning_rate", number(c.learningRate)},
                        {"train_command", c.trainCommand},
                        {"loss", curveJson(c.loss)},
                        {"val_loss", curveJson(c.valLoss)}});
    j["columns"] = std::move(cols);
    nlohmann::json rowsJson = nlohmann::json::array();
    for (const ReportRow& row : rows) {
        nlohmann::json cells = nlohmann::json::array();
        for (const ReportCell& c : row.cells)
            cells.push_back(
                {{"value", number(c.value)}, {"text", c.text}, {"source", figureSourceName(c.source)}, {"how", c.how}});
        rowsJson.push_back({{"section", row.section},
                            {"key", row.key},
                            {"property", row.property},
                            {"unit", row.unit},
                            {"note", row.note},
                            {"cells", std::move(cells)}});
    }
    j["rows"] = std::move(rowsJson);
    return j;
}

MethodReport MethodReport::fromJson(const nlohmann::json& j, const std::string& source)
{
    if (!j.is_object() || j.value("format", "") != "tunebench-method-report")
        throw std::invalid_argument(source + ": not a Tunebench method report (\"format\" is not tunebench-method-report)");
    if (j.value("version", 0) != 1)
        throw std::invalid_argument(source + ": report version " + j.value("version", nlohmann::json(nullptr)).dump() +
                                    " is not supported (expected 1)");
    MethodReport r;
    std::string field = "request";
    try {
        r.request = MethodComparisonRequest::fromJson(j.at("request"), source);
        field = "machine";
        r.machine = MachineDescription::fromJson(j.at("machine"));
        field = "budget_bytes";
        r.budgetBytes = j.value("budget_bytes", int64_t{-1});
        r.budgetSource = j.value("budget_source", "");
        r.createdAt = j.value("created_at", "");
        r.outputDir = j.value("output_dir", "");
        field = "columns";
        for (const auto& c : j.at("columns")) {
            MethodColumn col;
            col.method = c.at("method").get<std::string>();
            col.status = c.value("status", "not run");
            col.reason = c.value("reason", "");
            if (c.contains("run_id") && !c.at("run_id").is_null())
                col.runId = c.at("run_id").get<int64_t>();
            col.runName = c.value("run_name", "");
            col.runDir = c.value("run_dir", "");
            if (c.contains("learning_rate") && !c.at("learning_rate").is_null())
                col.learningRate = c.at("learning_rate").get<double>();
            col.trainCommand = c.value("train_command", "");
            col.loss = curveFromJson(c.value("loss", nlohmann::json::array()));
            col.valLoss = curveFromJson(c.value("val_loss", nlohmann::json::array()));
            r.columns.push_back(std::move(col));
        }
        field = "rows";
        for (const auto& rowJson : j.at("rows")) {
            ReportRow row;
            row.section = rowJson.value("section", "");
            row.key = rowJson.at("key").get<std::string>();
            row.property = rowJson.value("property", row.key);
            row.unit = rowJson.value("unit", "");
            row.note = rowJson.value("note", "");
            for (const auto& c : rowJson.at("cells")) {
                ReportCell cell;
                if (c.contains("value") && !c.at("value").is_null())
                    cell.value = c.at("value").get<double>();
                cell.text = c.value("text", "");
                cell.source = figureSourceFromName(c.value("source", "not available"));
                cell.how = c.value("how", "");
                row.cells.push_back(std::move(cell));
            }
            if (row.cells.size() != r.columns.size())
                throw std::invalid_argument("row \"" + row.key + "\" has " + std::to_string(row.cells.size()) +
                                            " cells for " + std::to_string(r.columns.size()) + " columns");
            r.rows.push_back(std::move(row));
        }
    } catch (const nlohmann::json::exception& e) {
        throw std::invalid_argument(source + ": " + field + ": " + e.what());
    } catch (const std::invalid_argument& e) {
        const std::string what = e.what();
        if (what.rfind(source, 0) == 0)
            throw;
        throw std::invalid_argument(source + ": " + field + ": " + what);
    }
    return r;
}

} // namespace tb
