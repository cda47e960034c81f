// engine/store/ComparisonTable: two runs recorded in a real database in a temporary folder
// (a LoRA and a QLoRA run with different settings and metrics), compared through RunQueries
// and turned into a table: which rows exist and which differ, the figures, and the Markdown,
// CSV (read back by an independent RFC 4180 reader), HTML and text renderings.
#include "StoreTestSupport.h"

#include "store/ComparisonTable.h"
#include "store/MetricBuffer.h"
#include "store/RunQueries.h"
#include "store/RunStore.h"

#include <QTemporaryDir>
#include <QTest>

#include <cmath>
#include <sstream>
#include <stdexcept>
#include <tuple>

using namespace tbtest;

namespace {

bool contains(const std::string& haystack, const std::string& needle)
{
    return haystack.find(needle) != std::string::npos;
}

// RFC 4180 records, read character by character: quoted fields may hold commas, CR/LF and
// doubled quotes; records end in CRLF. Returns nothing on a malformed input.
std::vector<std::vector<std::string>> readCsv(const std::string& text, bool* ok)
{
    std::vector<std::vector<std::string>> records;
    std::vector<std::string> record;
    std::string field;
    bool quoted = false, fieldStarted = false;
    *ok = true;
    for (size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (quoted) {
            if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
                field += '"';
                ++i;
            } else if (c == '"') {
                quoted = false;
            } else {
                field += c;
            }
        } else if (c == '"' && !fieldStarted) {
            quoted = fieldStarted = true;
        } else if (c == ',') {
            record.push_back(field);
            field.clear();
            fieldStarted = false;
        } else if (c == '\r') {
            if (i + 1 >= text.size() || text[i + 1] != '\n') {
                *ok = false;
                return {};
            }
            ++i;
            record.push_back(field);
            records.push_back(record);
            record.clear();
            field.clear();
            fieldStarted = false;
        } else if (c == '\n' || c == '"') {
            *ok = false; // a bare LF or a quote inside an unquoted field
            return {};
        } else {
            field += c;
            fieldStarted = true;
        }
    }
    if (quoted || !record.empty() || !field.empty())
        *ok = false;
    return records;
}

size_t count(const std::string& haystack, const std::string& needle)
{
    size_t n = 0;
    for (size_t at = haystack.find(needle); at != std::string::npos; at = haystack.find(needle, at + 1))
        ++n;
    return n;
}

} // namespace

class TestComparisonTable : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    tb::ComparisonTable m_table;
    int64_t m_lora = 0, m_qlora = 0;

    const tb::ComparisonRow& row(const std::string& property)
    {
        const tb::ComparisonRow* r = m_table.findRow(property);
        if (!r)
            throw std::runtime_error("no row " + property);
        return *r;
    }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        tb::RunStore store(m_dir.filePath("tunebench.db").toStdString());
        tb::ModelRecord model{"/models/tiny-llama", "LlamaForCausalLM", 4000000, "hash-tiny"};
        const int64_t modelId = store.registerModel(model);

        // A name with a comma and quotes, and one with a pipe: CSV and Markdown must keep them.
        tb::NewRun lora = sampleRun("lora, \"r8\"", 8, 2e-4);
        lora.modelId = modelId;
        lora.config["schedule"] = "cosine";
        lora.config["eval_every"] = 10;
        tb::NewRun qlora = sampleRun("qlora|r16", 16, 1e-4);
        qlora.method = "qlora";
        qlora.quant = "nf4";
        qlora.modelId = modelId;
        qlora.config["schedule"] = "linear";
        qlora.config["eval_every"] = 10;
        m_lora = store.createRun(lora);
        m_qlora = store.createRun(qlora);
        for (const auto& [id, valLoss, peak] : {std::tuple{m_lora, 2.0, int64_t(3) << 20}, std::tuple{m_qlora, 1.8, int64_t(1) << 20}}) {
            tb::MetricBuffer buffer(store.database(), id);
            recordStep(buffer, 1);
            recordStep(buffer, 2);
            buffer.appendMetric(2, 4096, 1.0, "val_loss", valLoss + 0.5);
            buffer.appendMetric(3, 6144, 1.5, "val_loss", valLoss);
            buffer.appendMetric(4, 8192, 2.0, "val_loss", valLoss + 0.25);
            buffer.appendMemory(4, 2.0, "cuda_peak_allocated", peak);
        }
        store.addArtifact(m_qlora, tb::ArtifactKind::Adapter, "/nowhere/adapter", std::nullopt, 4096);
        store.finishRun(m_lora, {tb::RunStatus::Finished, "", -1, "", 1000, 3.0});
        store.finishRun(m_qlora, {tb::RunStatus::Finished, "", -1, "", 2000, 4.5});

        tb::RunQueries queries(store.database());
        const tb::RunComparison comparison = queries.compareRuns({m_lora, m_qlora});
        m_table = tb::comparisonTableOf(comparison, {queries.getRun(m_lora), queries.getRun(m_qlora)});
    }

    void columnsAreTheRuns()
    {
        QCOMPARE(m_table.columns().size(), size_t(2));
        QCOMPARE(m_table.columns()[0].label(), "lora, \"r8\" (#" + std::to_string(m_lora) + ", lora)");
        QCOMPARE(m_table.columns()[1].label(), "qlora|r16 (#" + std::to_string(m_qlora) + ", qlora)");
        for (const tb::ComparisonRow& r : m_table.rows())
            QCOMPARE(r.cells.size(), size_t(2));
    }

    void settingsRowsAndDifferences()
    {
        QCOMPARE(row("method").cells, (std::vector<std::string>{"lora", "qlora"}));
        QVERIFY(row("method").differs);
        QCOMPARE(row("rank").cells, (std::vector<std::string>{"8", "16"}));
        QVERIFY(row("rank").differs);
        QCOMPARE(row("alpha").cells, (std::vector<std::string>{"16", "32"}));
        QCOMPARE(row("learning rate").cells, (std::vector<std::string>{"0.0002", "0.0001"}));
        QCOMPARE(row("quantization").cells, (std::vector<std::string>{"none", "nf4"}));
        QVERIFY(row("quantization").differs);
        // Equal key settings are shown, not marked.
        QCOMPARE(row("model").cells, (std::vector<std::string>{"tiny-llama", "tiny-llama"}));
        QVERIFY(!row("model").differs);
        QCOMPARE(row("batch size").cells, (std::vector<std::string>{"4", "4"}));
        QVERIFY(!row("batch size").differs);
        QCOMPARE(row("sequence length").cells, (std::vector<std::string>{"512", "512"}));
        QCOMPARE(row("steps").cells, (std::vector<std::string>{"100", "100"}));
        QVERIFY(!row("seed").differs);
        QCOMPARE(row("device").cells, (std::vector<std::string>{"cpu", "cpu"}));
        QCOMPARE(row("dataset").cells, (std::vector<std::string>{"-", "-"}));

        // Other config keys: only the differing ones, as JSON text; the config's lora.rank and
        // learning_rate are not repeated below their key rows; equal keys are left out.
        // ... named as a person would (the key is in the note), not by the raw key.
        QCOMPARE(row("learning-rate schedule").cells, (std::vector<std::string>{"\"cosine\"", "\"linear\""}));
        QVERIFY(row("learning-rate schedule").differs);
        QCOMPARE(row("learning-rate schedule").section, std::string("Settings"));
        QCOMPARE(row("learning-rate schedule").note, std::string("config key schedule"));
        QVERIFY(!m_table.findRow("schedule"));
        QVERIFY(!m_table.findRow("output_dir"));
        QVERIFY(!m_table.findRow("lora.rank"));
        QVERIFY(!m_table.findRow("learning_rate"));
        QVERIFY(!m_table.findRow("eval_every"));
        QVERIFY(!m_table.findRow("batch_size"));
    }

    void resultRows()
    {
        QCOMPARE(row("final validation loss").cells, (std::vector<std::string>{"2.2500", "2.0500"}));
        QCOMPARE(row("best validation loss").cells, (std::vector<std::string>{"2.0000", "1.8000"}));
        QVERIFY(row("best validation loss").differs);
        QCOMPARE(row("perplexity").cells[0], QString::number(std::exp(2.0), 'f', 2).toStdString());
        QCOMPARE(row("perplexity").cells[1], QString::number(std::exp(1.8), 'f', 2).toStdString());
        QCOMPARE(row("perplexity").note, std::string("exp(best validation loss)"));
        QCOMPARE(row("perplexity").section, std::string("Results"));
        // recordStep's loss at step 2 and tokens/s 4001, 4002 are the same for both runs.
        QCOMPARE(row("final training loss").cells[0], QString::number(3.0 / 1.02, 'f', 4).toStdString());
        QVERIFY(!row("final training loss").differs);
        QCOMPARE(row("tokens/s").cells, (std::vector<std::string>{"4002", "4002"}));
        QVERIFY(!row("tokens/s").differs);
        QCOMPARE(row("wall time (s)").cells, (std::vector<std::string>{"3.0", "4.5"}));
        QCOMPARE(row("trainable parameters").cells, (std::vector<std::string>{"1000", "2000"}));
        QCOMPARE(row("peak memory: CUDA peak allocated").cells, (std::vector<std::string>{"3.0 MiB", "1.0 MiB"}));
        QVERIFY(row("peak memory: CUDA peak allocated").differs);
        QVERIFY(!row("peak memory: base weights").differs);
        QVERIFY(!m_table.findRow("peak memory: peak_rss"));
        QCOMPARE(row("adapter size").cells, (std::vector<std::string>{"-", "4.0 KiB"}));
    }

    void markdown()
    {
        const std::string md = m_table.toMarkdown();
        QVERIFY2(contains(md, "| **method** | lora | qlora | "), md.c_str());
        QVERIFY2(contains(md, "| batch size | 4 | 4 | "), md.c_str());
        QVERIFY2(contains(md, "| *Settings* |"), md.c_str());
        QVERIFY2(contains(md, "| *Results* |"), md.c_str());
        QVERIFY2(contains(md, "| **perplexity** | " + row("perplexity").cells[0]), md.c_str());
        QVERIFY2(contains(md, "exp(best validation loss) |"), md.c_str());
        // The pipe in the run name is escaped so the header keeps its column count.
        QVERIFY2(contains(md, "qlora\\|r16 (#"), md.c_str());
        QVERIFY2(contains(md, "|---|---|---|---|\n"), md.c_str()); // property, 2 runs, note
        // Every table line has the same number of unescaped pipes.
        std::istringstream lines(md);
        std::string line;
        size_t pipes = 0;
        while (std::getline(lines, line)) {
            if (line.rfind("|", 0) != 0)
                continue;
            const size_t n = count(line, "|") - count(line, "\\|");
            if (!pipes)
                pipes = n;
            QCOMPARE(n, pipes);
        }
        QCOMPARE(pipes, size_t(5));
    }

    void csvIsRfc4180()
    {
        const std::string csv = m_table.toCsv();
        bool ok = false;
        const auto records = readCsv(csv, &ok);
        QVERIFY2(ok, csv.c_str());
        QCOMPARE(records.size(), m_table.rows().size() + 1);
        const std::vector<std::string> header = {"section",
                                                 "property",
                                                 "differs",
                                                 "lora, \"r8\" (#" + std::to_string(m_lora) + ", lora)",
                                                 "qlora|r16 (#" + std::to_string(m_qlora) + ", qlora)",
                                                 "note"};
        QCOMPARE(records[0], header);
        QVERIFY(contains(csv, "\"lora, \"\"r8\"\" (#"));
        bool sawMethod = false, sawSchedule = false;
        for (const auto& r : records) {
            QCOMPARE(r.size(), size_t(6));
            if (r[1] == "method") {
                sawMethod = true;
                QCOMPARE(r, (std::vector<std::string>{"Settings", "method", "yes", "lora", "qlora", ""}));
            }
            if (r[1] == "learning-rate schedule") {
                sawSchedule = true;
                QCOMPARE(r[3], std::string("\"cosine\""));
            }
            if (r[1] == "batch size")
                QCOMPARE(r[2], std::string("no"));
        }
        QVERIFY(sawMethod && sawSchedule);
    }

    void htmlAndText()
    {
        const std::string html = m_table.toHtml();
        size_t differing = 0;
        for (const auto& r : m_table.rows())
            differing += r.differs ? 1 : 0;
        QVERIFY(differing > 0 && differing < m_table.rows().size());
        QCOMPARE(count(html, "<tr class=\"differs\""), differing);
        QVERIFY2(contains(html, "lora, &quot;r8&quot;"), html.c_str());
        QVERIFY(contains(html, "<tr class=\"section\">"));

        const std::string text = m_table.toText();
        QVERIFY2(contains(text, "\n* method"), text.c_str());
        QVERIFY2(contains(text, "\n  batch size"), text.c_str());
        QVERIFY2(contains(text, "\nResults\n"), text.c_str());
    }

    void arbitraryRowsForReports()
    {
        tb::ComparisonTable report({{"LoRA", ""}, {"QLoRA", "nf4"}, {"full", ""}}, "Methods");
        report.addRow("Memory", "peak RSS", {"1.0 GiB", "0.5 GiB", "3.0 GiB"}, "measured by /proc");
        report.addRow("Memory", "threads", {"2", "2", "2"});
        report.addRow({"Quality", "loss", {"2.0", "2.0", "2.0"}, "", true}); // a difference below the shown precision
        QCOMPARE(report.columns()[1].label(), std::string("QLoRA (nf4)"));
        QVERIFY(report.findRow("peak RSS")->differs);
        QVERIFY(!report.findRow("threads")->differs);
        QVERIFY(report.findRow("loss")->differs);
        QVERIFY(report.hasNotes());
        QVERIFY(contains(report.toMarkdown(), "### Methods\n"));
        QVERIFY(contains(report.toMarkdown(), "| *Quality* |"));
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, report.addRow("Memory", "short", {"1", "2"}));

        // Details must be one per run.
        tb::RunComparison two;
        two.runs.resize(2);
        two.results.resize(2);
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, tb::comparisonTableOf(two, {tb::RunDetails{}}));
        // Without details, the key settings that only RunDetails carries show "-".
        two.runs[0].modelPath = "/a/models/tiny";
        two.runs[1].modelPath = "/b/models/tiny";
        const tb::ComparisonTable bare = tb::comparisonTableOf(two, {});
        QCOMPARE(bare.findRow("alpha")->cells, (std::vector<std::string>{"-", "-"}));
        // Two model folders of the same name show their whole paths and differ.
        QCOMPARE(bare.findRow("model")->cells, (std::vector<std::string>{"/a/models/tiny", "/b/models/tiny"}));
        QVERIFY(bare.findRow("model")->differs);
    }
};

QTEST_GUILESS_MAIN(TestComparisonTable)
#include "tst_comparisontable.moc"
