#include "store/ComparisonTable.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>

namespace tb {

namespace {

// What a person calls a config key (TrainConfig::toJson's names) in a table; the key itself is
// in the row's note. Keys not listed read with '_' and '.' as spaces.
std::string configKeyLabel(const std::string& key)
{
    static const std::map<std::string, std::string> labels = {
        {"name", "run name"}, {"output_dir", "output folder"}, {"validation_data", "validation file"},
        {"initial_adapter", "continued adapter"}, {"quant_cache_dir", "quantized-base cache"},
        {"dataset.format", "dataset format"}, {"dataset.pack", "packing"}, {"dataset.train_on_prompt", "train on prompt"},
        {"dataset.validation_fraction", "held-out fraction"}, {"dataset.split_seed", "split seed"},
        {"lora.dropout", "LoRA dropout"}, {"lora.rslora", "rsLoRA"}, {"lora.targets", "target modules"},
        {"quant.double_quant", "double quantization"}, {"quant.block_size", "quantization block size"},
        {"schedule", "learning-rate schedule"}, {"warmup_steps", "warmup steps"}, {"grad_accum", "gradient accumulation"},
        {"max_grad_norm", "gradient clipping (max norm)"}, {"adam_beta1", "Adam beta1"}, {"adam_beta2", "Adam beta2"},
        {"adam_eps", "Adam epsilon"}, {"eval_every", "evaluate every (steps)"}, {"save_every", "save every (steps)"},
        {"max_bad_steps", "non-finite steps allowed"}, {"base_dtype", "base dtype"}};
    const auto it = labels.find(key);
    if (it != labels.end())
        return it->second;
    std::string text = key;
    for (char& c : text)
        if (c == '_' || c == '.')
            c = ' ';
    return text;
}

// The memory categories RunRecorder records, as the GUI's memory views name them.
std::string memoryCategoryLabel(const std::string& category)
{
    static const std::map<std::string, std::string> labels = {
        {"base_weights", "base weights"}, {"adapters", "adapters (trained)"}, {"gradients", "gradients"},
        {"optimizer", "optimizer state"}, {"rss", "process RSS"}, {"peak_rss", "peak RSS"},
        {"cuda_allocated", "CUDA allocated"}, {"cuda_reserved", "CUDA reserved"}, {"cuda_peak_allocated", "CUDA peak allocated"}};
    const auto it = labels.find(category);
    return it == labels.end() ? category : it->second;
}

const char* const kSettings = "Settings";
const char* const kResults = "Results";
const char* const kMissing = "-";
// A pale yellow that keeps black text readable in every renderer that honours it.
const char* const kDiffersBackground = "#fff2b3";

std::string fixed(std::optional<double> v, int precision)
{
    if (!v || !std::isfinite(*v))
        return v ? std::to_string(*v) : kMissing; // nan / inf shown as such, never as a number
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%.*f", precision, *v);
    return buffer;
}

std::string general(std::optional<double> v)
{
    if (!v)
        return kMissing;
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%g", *v);
    return buffer;
}

std::string integer(std::optional<int64_t> v)
{
    return v ? std::to_string(*v) : kMissing;
}

std::string text(const std::string& s)
{
    return s.empty() ? kMissing : s;
}

// 1536 -> "1.5 KiB"; binary units as the CLI and the GUI show memory.
std::string bytes(std::optional<int64_t> v)
{
    if (!v)
        return kMissing;
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double x = static_cast<double>(*v);
    int u = 0;
    while (std::fabs(x) >= 1024 && u < 4) {
        x /= 1024;
        ++u;
    }
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, u ? "%.1f %s" : "%.0f %s", x, units[u]);
    return buffer;
}

// The last path component of each path, unless two different paths share it: then the
// whole paths, so that the shown text tells them apart.
std::vector<std::string> pathCells(const std::vector<std::string>& paths)
{
    std::map<std::string, std::set<std::string>> pathsByName;
    std::vector<std::string> names;
    for (const auto& p : paths) {
        names.push_back(p.empty() ? std::string(kMissing) : std::filesystem::path(p).filename().string());
        pathsByName[names.back()].insert(p);
    }
    for (size_t i = 0; i < paths.size(); ++i)
        if (pathsByName[names[i]].size() > 1)
            names[i] = text(paths[i]);
    return names;
}

std::string markdownCell(const std::string& s)
{
    std::string out;
    for (const char c : s) {
        if (c == '|')
            out += "\\|";
        else if (c == '\n' || c == '\r')
            out += ' ';
        else
            out += c;
    }
    return out;
}

std::string csvField(const std::string& s)
{
    if (s.find_first_of(",\"\r\n") == std::string::npos)
        return s;
    std::string out = "\"";
    for (const char c : s) {
        if (c == '"')
            out += '"';
        out += c;
    }
    return out + "\"";
}

// Calls onSection(name) before the first row of each section, then onRow(row).
void forEachRow(const std::vector<ComparisonRow>& rows, const std::function<void(const std::string&)>& onSection,
                const std::function<void(const ComparisonRow&)>& onRow)
{
    const std::string* current = nullptr;
    for (const ComparisonRow& row : rows) {
        if (!row.section.empty() && (!current || *current != row.section))
            onSection(row.section);
        current = &row.section;
        onRow(row);
    }
}

} // namespace

std::string htmlEscape(const std::string& s)
{
    std::string out;
    for (const char c : s) {
        switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        case '\'': out += "&#39;"; break;
        default: out += c;
        }
    }
    return out;
}

std::string ComparisonColumn::label() const
{
    return detail.empty() ? title : title + " (" + detail + ")";
}

ComparisonTable::ComparisonTable(std::vector<ComparisonColumn> columns, std::string title)
    : m_title(std::move(title)), m_columns(std::move(columns))
{
}

const ComparisonRow* ComparisonTable::findRow(const std::string& property) const
{
    for (const ComparisonRow& row : m_rows)
        if (row.property == property)
            return &row;
    return nullptr;
}

bool ComparisonTable::hasNotes() const
{
    for (const ComparisonRow& row : m_rows)
        if (!row.note.empty())
            return true;
    return false;
}

bool ComparisonTable::cellsDiffer(const std::vector<std::string>& cells)
{
    for (const std::string& cell : cells)
        if (cell != cells.front())
            return true;
    return false;
}

void ComparisonTable::addRow(const std::string& section, const std::string& property, std::vector<std::string> cells,
                             const std::string& note)
{
    const bool differs = cellsDiffer(cells);
    addRow(ComparisonRow{section, property, std::move(cells), note, differs});
}

void ComparisonTable::addRow(ComparisonRow row)
{
    if (row.cells.size() != m_columns.size())
        throw std::invalid_argument("comparison row \"" + row.property + "\" has " + std::to_string(row.cells.size()) +
                                    " cells for " + std::to_string(m_columns.size()) + " columns");
    m_rows.push_back(std::move(row));
}

std::string ComparisonTable::toText(int labelWidth, int cellWidth) const
{
    std::ostringstream out;
    auto pad = [](const std::string& s, int width) {
        std::string cut = s.substr(0, static_cast<size_t>(std::max(width - 1, 0)));
        return cut + std::string(static_cast<size_t>(width) - cut.size(), ' ');
    };
    auto line = [&](const std::string& label, const std::vector<std::string>& cells) {
        std::string s = pad(label, labelWidth);
        for (const auto& cell : cells)
            s += pad(cell, cellWidth);
        while (!s.empty() && s.back() == ' ')
            s.pop_back();
        out << s << "\n";
    };
    if (!m_title.empty())
        out << m_title << "\n";
    // Titles on one line and details on the next, so that narrow columns keep both readable.
    std::vector<std::string> titles, details;
    bool anyDetail = false;
    for (const auto& column : m_columns) {
        titles.push_back(column.title);
        details.push_back(column.detail);
        anyDetail = anyDetail || !column.detail.empty();
    }
    line("", titles);
    if (anyDetail)
        line("", details);
    bool anyDiffers = false;
    forEachRow(
        m_rows, [&](const std::string& section) { out << section << "\n"; },
        [&](const ComparisonRow& row) {
            anyDiffers = anyDiffers || row.differs;
            line((row.differs ? "* " : "  ") + row.property, row.cells);
        });
    if (anyDiffers)
        out << "(* differs between the columns)\n";
    return out.str();
}

std::string ComparisonTable::toMarkdown() const
{
    std::ostringstream out;
    const bool notes = hasNotes();
    if (!m_title.empty())
        out << "### " << markdownCell(m_title) << "\n\n";
    out << "| Property |";
    for (const auto& column : m_columns)
        out << " " << markdownCell(column.label()) << " |";
    if (notes)
        out << " How obtained |";
    out << "\n|---|";
    for (size_t i = 0; i < m_columns.size(); ++i)
        out << "---|";
    out << (notes ? "---|\n" : "\n");
    const size_t emptyCells = m_columns.size() + (notes ? 1 : 0);
    forEachRow(
        m_rows,
        [&](const std::string& section) {
            out << "| *" << markdownCell(section) << "* |";
            for (size_t i = 0; i < emptyCells; ++i)
                out << " |";
            out << "\n";
        },
        [&](const ComparisonRow& row) {
            const std::string property = markdownCell(row.property);
            out << "| " << (row.differs ? "**" + property + "**" : property) << " |";
            for (const auto& cell : row.cells)
                out << " " << markdownCell(cell) << " |";
            if (notes)
                out << " " << markdownCell(row.note) << " |";
            out << "\n";
        });
    out << "\nRows in **bold** differ between the columns.\n";
    return out.str();
}

std::string ComparisonTable::toCsv() const
{
    std::ostringstream out;
    out << "section,property,differs";
    for (const auto& column : m_columns)
        out << "," << csvField(column.label());
    out << ",note\r\n";
    for (const ComparisonRow& row : m_rows) {
        out << csvField(row.section) << "," << csvField(row.property) << "," << (row.differs ? "yes" : "no");
        for (const auto& cell : row.cells)
            out << "," << csvField(cell);
        out << "," << csvField(row.note) << "\r\n";
    }
    return out.str();
}

std::string ComparisonTable::toHtml() const
{
    std::ostringstream out;
    const bool notes = hasNotes();
    const size_t width = 1 + m_columns.size() + (notes ? 1 : 0);
    out << "<table class=\"tb-comparison\" border=\"1\" cellspacing=\"0\" cellpadding=\"4\">\n";
    if (!m_title.empty())
        out << "<caption>" << htmlEscape(m_title) << "</caption>\n";
    out << "<thead><tr><th>Property</th>";
    for (const auto& column : m_columns)
        out << "<th>" << htmlEscape(column.label()) << "</th>";
    if (notes)
        out << "<th>How obtained</th>";
    out << "</tr></thead>\n<tbody>\n";
    forEachRow(
        m_rows,
        [&](const std::string& section) {
            out << "<tr class=\"section\"><th colspan=\"" << width << "\" align=\"left\">" << htmlEscape(section)
                << "</th></tr>\n";
        },
        [&](const ComparisonRow& row) {
            // The colour goes on every cell too: Qt's rich text ignores it on <tr>.
            const std::string cellStyle =
                row.differs ? std::string(" style=\"background-color:") + kDiffersBackground + "\"" : std::string();
            out << (row.differs ? std::string("<tr class=\"differs\"") + cellStyle + ">" : std::string("<tr>"));
            out << "<th align=\"left\"" << cellStyle << ">" << htmlEscape(row.property) << "</th>";
            for (const auto& cell : row.cells)
                out << "<td" << cellStyle << ">" << htmlEscape(cell) << "</td>";
            if (notes)
                out << "<td" << cellStyle << ">" << htmlEscape(row.note) << "</td>";
            out << "</tr>\n";
        });
    out << "</tbody>\n</table>\n";
    return out.str();
}

ComparisonTable comparisonTableOf(const RunComparison& comparison, const std::vector<RunDetails>& details)
{
    const size_t n = comparison.runs.size();
    if (!details.empty() && details.size() != n)
        throw std::invalid_argument("comparisonTableOf: " + std::to_string(details.size()) + " run details for " +
                                    std::to_string(n) + " runs");
    if (comparison.results.size() != n)
        throw std::invalid_argument("comparisonTableOf: " + std::to_string(comparison.results.size()) + " results for " +
                                    std::to_string(n) + " runs");

    std::vector<ComparisonColumn> columns;
    std::string title = "Runs";
    for (size_t i = 0; i < n; ++i) {
        const RunSummary& run = comparison.runs[i];
        columns.push_back({run.name, "#" + std::to_string(run.id) + ", " + run.method});
        title += (i ? ", " : " ") + std::to_string(run.id);
    }
    ComparisonTable table(std::move(columns), title + " compared");

    auto cellsOf = [&](const std::function<std::string(size_t)>& cell) {
        std::vector<std::string> cells;
        for (size_t i = 0; i < n; ++i)
            cells.push_back(cell(i));
        return cells;
    };
    auto detail = [&](size_t i) -> const RunDetails* { return details.empty() ? nullptr : &details[i]; };

    // Key settings, each with the config key (TrainConfig::toJson) that holds the same value:
    // a differing config key already shown differing by its key row is not listed twice.
    std::set<std::string> shownConfigKeys;
    auto keySetting = [&](const std::string& property, const std::string& configKey,
                          const std::function<std::string(size_t)>& cell, const std::string& note = {}) {
        std::vector<std::string> cells = cellsOf(cell);
        const bool differs = ComparisonTable::cellsDiffer(cells);
        if (differs)
            shownConfigKeys.insert(configKey);
        table.addRow({kSettings, property, std::move(cells), note, differs});
    };

    std::vector<std::string> modelPaths, datasetPaths;
    for (const auto& run : comparison.runs) {
        modelPaths.push_back(run.modelPath);
        datasetPaths.push_back(run.datasetPath);
    }
    const std::vector<std::string> models = pathCells(modelPaths), datasets = pathCells(datasetPaths);
    // Compared by the whole path: two folders with the same name are different models.
    const bool modelsDiffer = ComparisonTable::cellsDiffer(modelPaths);
    table.addRow({kSettings, "model", models, "the model folder's name", modelsDiffer});
    if (modelsDiffer)
        shownConfigKeys.insert("model");
    const bool datasetsDiffer = ComparisonTable::cellsDiffer(datasetPaths);
    table.addRow({kSettings, "dataset", datasets, "the training data file's name", datasetsDiffer});
    if (datasetsDiffer)
        shownConfigKeys.insert("data");

    keySetting("method", "method", [&](size_t i) { return text(comparison.runs[i].method); });
    keySetting("rank", "lora.rank", [&](size_t i) { return integer(comparison.runs[i].loraRank); });
    keySetting("alpha", "lora.alpha", [&](size_t i) { return detail(i) ? general(detail(i)->loraAlpha) : kMissing; });
    keySetting("learning rate", "learning_rate",
               [&](size_t i) { return detail(i) ? general(detail(i)->learningRate) : kMissing; });
    keySetting("batch size", "batch_size", [&](size_t i) { return detail(i) ? integer(detail(i)->batchSize) : kMissing; });
    keySetting("sequence length", "dataset.seq_len",
               [&](size_t i) { return detail(i) ? integer(detail(i)->seqLen) : kMissing; });
    keySetting("quantization", "quant.type", [&](size_t i) {
        if (!detail(i))
            return std::string(kMissing);
        return detail(i)->quant.empty() ? std::string("none") : detail(i)->quant;
    });
    keySetting("steps", "max_steps", [&](size_t i) { return integer(comparison.runs[i].totalSteps); },
               "optimizer steps planned");
    keySetting("seed", "seed", [&](size_t i) { return detail(i) ? integer(detail(i)->seed) : kMissing; });
    keySetting("device", "device", [&](size_t i) { return detail(i) ? text(detail(i)->device) : kMissing; });

    for (const ConfigDifference& difference : comparison.differences) {
        if (shownConfigKeys.count(difference.key))
            continue;
        std::vector<std::string> cells;
        for (const auto& value : difference.values)
            cells.push_back(value ? *value : kMissing);
        // ConfigDiff found them different (8 vs 8.0 is a difference), whatever the text shows.
        table.addRow({kSettings, configKeyLabel(difference.key), std::move(cells), "config key " + difference.key, true});
    }

    const auto& results = comparison.results;
    auto result = [&](const std::string& property, const std::function<std::string(const RunResults&)>& cell,
                      const std::string& note = {}) {
        table.addRow(kResults, property, cellsOf([&](size_t i) { return cell(results[i]); }), note);
    };
    result("final training loss", [](const RunResults& r) { return fixed(r.finalLoss, 4); },
           "training loss at the last recorded step");
    result("final validation loss", [](const RunResults& r) { return fixed(r.finalValLoss, 4); });
    result("best validation loss", [](const RunResults& r) { return fixed(r.bestValLoss, 4); });
    result("perplexity", [](const RunResults& r) {
        return r.bestValLoss ? fixed(std::exp(*r.bestValLoss), 2) : std::string(kMissing);
    }, "exp(best validation loss)");
    result("tokens/s", [](const RunResults& r) { return fixed(r.meanTokensPerSecond, 0); },
           "mean of the per-step tokens_per_second metric");
    result("wall time (s)", [](const RunResults& r) { return fixed(r.wallSeconds, 1); }, "summed over the run's sessions");
    result("trainable parameters", [](const RunResults& r) { return integer(r.trainableParameters); });
    std::set<std::string> categories;
    for (const RunResults& r : results)
        for (const auto& entry : r.peakMemory)
            categories.insert(entry.first);
    for (const std::string& category : categories)
        result("peak memory: " + memoryCategoryLabel(category), [&](const RunResults& r) {
            const auto it = r.peakMemory.find(category);
            return it == r.peakMemory.end() ? std::string(kMissing) : bytes(it->second);
        }, "largest sample of the memory category " + category);
    result("adapter size", [](const RunResults& r) { return bytes(r.adapterBytes); },
           "files of the newest adapter artifact on disk");
    return table;
}

} // namespace tb
