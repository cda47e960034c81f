// Runs (or methods, or anything measured) side by side as a table of text cells: one column
// per compared thing, rows grouped in sections ("Settings", "Results"), each row knowing
// whether its values differ across the columns, and renderers to plain text, Markdown, CSV
// and HTML. The table takes arbitrary rows, so a report (LoRA vs QLoRA vs full) fills its own;
// comparisonTableOf() is the builder for `runs compare` and the GUI's Compare view.
//
// No Qt, no Torch, no database access: plain values in, strings out; any thread.
#pragma once

#include "store/StoreTypes.h"

#include <string>
#include <vector>

namespace tb {

struct ComparisonColumn {
    std::string title;                    // e.g. the run's name
    std::string detail;                   // e.g. "#3, qlora"; "" for none
    std::string label() const;            // "title (detail)", or the title alone
};

struct ComparisonRow {
    std::string section;                  // rows of one section are kept consecutive by the caller
    std::string property;                 // e.g. "lora.rank", "best validation loss"
    std::vector<std::string> cells;       // one per column, as shown; "-" where there is no value
    std::string note;                     // how the figure was obtained; "" for none
    bool differs = false;                 // the values are not the same in every column
};

class ComparisonTable {
public:
    ComparisonTable() = default;
    explicit ComparisonTable(std::vector<ComparisonColumn> columns, std::string title = {});

    const std::string& title() const { return m_title; }
    const std::vector<ComparisonColumn>& columns() const { return m_columns; }
    const std::vector<ComparisonRow>& rows() const { return m_rows; }
    // The first row with this property, or nullptr.
    const ComparisonRow* findRow(const std::string& property) const;
    bool hasNotes() const;

    // `differs` is computed from the cells' text. Throws std::invalid_argument when there is
    // not one cell per column.
    void addRow(const std::string& section, const std::string& property, std::vector<std::string> cells,
                const std::string& note = {});
    // Keeps row.differs as given: for values whose shown text hides a difference (two model
    // folders of the same name) or a tolerance the caller applies.
    void addRow(ComparisonRow row);
    static bool cellsDiffer(const std::vector<std::string>& cells);

    // Fixed-width columns (cells cut to cellWidth - 1) under a line of column titles and one of
    // details, a section line before each section, differing rows marked with "*" in the
    // first column; for a terminal.
    std::string toText(int labelWidth = 28, int cellWidth = 18) const;
    // One GitHub-flavoured Markdown table: "### title", a "Property" column, one column per
    // compared thing, a "How obtained" column when any row has a note; section rows in
    // italics, the property of a differing row in bold; "|" in a cell is escaped.
    std::string toMarkdown() const;
    // RFC 4180: CRLF line ends; a field with a comma, double quote, CR or LF is quoted, a
    // quote in it doubled. Columns: section, property, differs (yes/no), one per compared
    // thing (its label), note.
    std::string toCsv() const;
    // A <table class="tb-comparison"> fragment (caption = title): a section row
    // <tr class="section">, differing rows <tr class="differs"> with a background colour set
    // inline so it shows without a style sheet (Qt's rich text included); text escaped.
    std::string toHtml() const;

private:
    std::string m_title;
    std::vector<ComparisonColumn> m_columns;
    std::vector<ComparisonRow> m_rows;
};

// The table of compared runs: columns "name (#id, method)"; section "Settings" with the key
// settings (model, dataset, method, rank, alpha, learning rate, batch size, sequence length,
// quantization, steps, seed, device) always, then every other config key that differs;
// section "Results" with final loss, final and best validation loss, perplexity, mean tokens/s,
// wall time, trainable parameters, peak memory per category and adapter size.
// details[i] is RunQueries::getRun(comparison.runs[i].id) and supplies the key settings the
// comparison does not carry (alpha, learning rate, batch size, ...); with details empty those
// rows show "-". Throws std::invalid_argument when details is neither empty nor one per run.
ComparisonTable comparisonTableOf(const RunComparison& comparison, const std::vector<RunDetails>& details);

// Text made safe for HTML element content and attribute values (& < > " ' escaped); toHtml and
// the method report's HTML use it.
std::string htmlEscape(const std::string& s);

} // namespace tb
