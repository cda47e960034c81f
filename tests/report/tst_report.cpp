// `tunebench-cli report` as a user runs it: the tiny demo model, the shipped review dataset,
// LoRA, QLoRA and full for 3 steps at seq len 64, each trained by a real child tunebench-cli
// into a scratch database. Checks the runs in the database, the report's files, that its
// figures are the database's (peak memory) or follow from them (perplexity, cost) or are the
// memory estimator's (the budget rows), the expected orderings between the methods, a method
// left out for the budget, bad input, and cancelling through the engine API.
#include "demo/DemoModelMaker.h"
#include "memory/FitFinder.h"
#include "memory/MemoryEstimator.h"
#include "report/MethodComparison.h"
#include "report/ReportFolder.h"
#include "store/RunQueries.h"
#include "store/RunStore.h"

#include <cairo.h>

#include <QFile>
#include <QJsonDocument>
#include <QProcess>
#include <QTemporaryDir>
#include <QTest>

#include <cmath>
#include <map>

namespace {

const char* const kCli = TB_BINARY_DIR "/app/tunebench-cli";
const char* const kTrainData = TB_SOURCE_DIR "/resources/datasets/reviews-train.jsonl";

struct Run {
    int exitCode = -1;
    QByteArray out, err;
};

Run cli(const QStringList& args)
{
    QProcess p;
    p.start(kCli, args);
    if (!p.waitForStarted())
        return {};
    p.closeWriteChannel();
    p.waitForFinished(240000);
    return {p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -2, p.readAllStandardOutput(),
            p.readAllStandardError()};
}

QByteArray readFile(const QString& path)
{
    QFile f(path);
    return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

std::pair<int, int> pngSize(const QString& path)
{
    cairo_surface_t* s = cairo_image_surface_create_from_png(path.toLocal8Bit().constData());
    std::pair<int, int> size{-1, -1};
    if (cairo_surface_status(s) == CAIRO_STATUS_SUCCESS)
        size = {cairo_image_surface_get_width(s), cairo_image_surface_get_height(s)};
    cairo_surface_destroy(s);
    return size;
}

double cellValue(const tb::MethodReport& r, const std::string& key, size_t column)
{
    const tb::ReportRow* row = r.findRow(key);
    if (!row || column >= row->cells.size() || !row->cells[column].value)
        return NAN;
    return *row->cells[column].value;
}

// Stops the comparison at the first training step it hears of.
class CancelAtFirstStep : public tb::MethodComparisonCallbacks {
public:
    explicit CancelAtFirstStep(tb::MethodComparison& c) : m_comparison(c) {}
    void onStep(const std::string&, int64_t, int64_t, double) override
    {
        ++steps;
        m_comparison.cancel();
    }
    void onMethodFinished(const tb::MethodColumn& c) override { finished.push_back(c); }
    int steps = 0;
    std::vector<tb::MethodColumn> finished;

private:
    tb::MethodComparison& m_comparison;
};

} // namespace

class TestReport : public QObject {
    Q_OBJECT
private:
    QTemporaryDir m_tmp;
    QString m_model, m_db;

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_tmp.isValid());
        // Nothing a test records may reach the user's database.
        qputenv("TUNEBENCH_DB", m_tmp.filePath("default.db").toUtf8());
        m_model = m_tmp.filePath("demo");
        tb::makeDemoModel(m_model.toStdString(), "tiny", 7);
        m_db = m_tmp.filePath("report.db");
    }

    void reportOfThreeMethods()
    {
        const QString out = m_tmp.filePath("report");
        const Run r = cli({"report", "--model", m_model, "--data", kTrainData, "--methods", "lora,qlora,full",
                           "--steps", "3", "--seq-len", "64", "--batch-size", "2", "--watts", "250",
                           "--price-per-hour", "3.5", "--budget", "400M", "--fit", "estimate", "--db", m_db,
                           "--out", out, "--json"});
        QVERIFY2(r.exitCode == 0, r.err.constData());

        // The three runs are ordinary finished runs in the database.
        tb::RunStore store(m_db.toStdString());
        tb::RunQueries queries(store.database());
        std::map<std::string, tb::RunSummary> runs;
        for (const tb::RunSummary& s : queries.listRuns())
            runs[s.method] = s;
        QCOMPARE(runs.size(), size_t(3));
        for (const char* method : {"lora", "qlora", "full"}) {
            QVERIFY2(runs.count(method), method);
            QCOMPARE(runs[method].name, std::string("report-") + method);
            QCOMPARE(runs[method].status, tb::RunStatus::Finished);
            QCOMPARE(runs[method].lastStep, int64_t(3));
        }

        // The folder holds the five files; the charts are 1200x700 PNGs.
        for (const char* f : {"report.md", "report.html", "report.json", "loss.png", "memory.png"})
            QVERIFY2(QFile::exists(out + "/" + f), f);
        QCOMPARE(pngSize(out + "/loss.png"), std::make_pair(1200, 700));
        QCOMPARE(pngSize(out + "/memory.png"), std::make_pair(1200, 700));

        // report.md: one column per method (and "How obtained"), the rows the issue names.
        const QString md = QString::fromUtf8(readFile(out + "/report.md"));
        QString header;
        for (const QString& line : md.split('\n'))
            if (line.startsWith("| Property |")) {
                header = line;
                break;
            }
        QVERIFY2(!header.isEmpty(), qPrintable(md));
        QCOMPARE(header.count('|'), 6); // Property, LoRA, QLoRA, full, How obtained
        QVERIFY(header.contains("| LoRA (run #" + QString::number(runs["lora"].id) + ") |"));
        QVERIFY(header.contains("| QLoRA (run #" + QString::number(runs["qlora"].id) + ") |"));
        QVERIFY(header.contains("| full (run #" + QString::number(runs["full"].id) + ") |"));
        for (const char* property :
             {"peak memory", "base-weight bytes", "adapter weights", "gradients", "optimizer state",
              "activations and runtime", "trainable parameters", "tokens/s", "wall time",
              "time per 1M training tokens", "energy per 1M training tokens", "cost per 1M training tokens",
              "largest batch size at seq len 64", "longest sequence length at batch 1", "final validation loss",
              "best validation loss", "final validation perplexity", "best validation perplexity",
              "adapter size on disk"})
            QVERIFY2(md.contains(QString("| ") + property + " |") || md.contains(QString("| **") + property + "** |"),
                     property);
        QVERIFY(md.contains("![Training and validation loss against step](loss.png)"));
        QVERIFY(md.contains("tunebench-cli report --model"));
        QVERIFY(md.contains("LibTorch"));
        const QByteArray html = readFile(out + "/report.html");
        QVERIFY(html.contains("<img src=\"loss.png\""));
        QVERIFY(html.contains("<img src=\"memory.png\""));
        QVERIFY(html.contains("<table class=\"tb-comparison\""));

        // report.json parses (as plain JSON and as a report).
        QJsonParseError error{};
        QJsonDocument::fromJson(readFile(out + "/report.json"), &error);
        QCOMPARE(error.error, QJsonParseError::NoError);
        const tb::MethodReport report = tb::readReportFolder(out.toStdString());
        QCOMPARE(report.columns.size(), size_t(3));

        size_t lora = 3, qlora = 3, full = 3;
        for (size_t i = 0; i < report.columns.size(); ++i) {
            const tb::MethodColumn& c = report.columns[i];
            (c.method == "lora" ? lora : c.method == "qlora" ? qlora : full) = i;
            QVERIFY(c.runId);
            QCOMPARE(*c.runId, runs[c.method].id);
            QCOMPARE(c.status, std::string("finished"));
            QCOMPARE(c.loss.size(), size_t(3));
            QVERIFY(!c.valLoss.empty());
            // The command runs a config file whose contents the report shows.
            QVERIFY(c.trainCommand.find("train --config report-" + c.method + ".json") != std::string::npos);
            QVERIFY(c.trainCommand.find("\"method\": \"" + c.method + "\"") != std::string::npos);

            // Figures equal the database's, or follow from them.
            const tb::RunDetails d = queries.getRun(*c.runId);
            QCOMPARE(cellValue(report, "peak_memory", i), static_cast<double>(d.results.peakMemory.at("peak_rss")));
            QCOMPARE(report.findRow("peak_memory")->cells[i].source, tb::FigureSource::Measured);
            QCOMPARE(cellValue(report, "trainable_parameters", i), static_cast<double>(*d.results.trainableParameters));
            QCOMPARE(cellValue(report, "tokens_per_second", i), *d.results.meanTokensPerSecond);
            QCOMPARE(cellValue(report, "final_val_loss", i), *d.summary.finalValLoss);
            QVERIFY(std::fabs(cellValue(report, "final_val_perplexity", i) - std::exp(*d.summary.finalValLoss)) < 1e-9);
            QCOMPARE(report.findRow("final_val_perplexity")->cells[i].source, tb::FigureSource::Derived);
            const double secondsPerMillion = 1e6 / *d.results.meanTokensPerSecond;
            QVERIFY(std::fabs(cellValue(report, "seconds_per_million_tokens", i) / secondsPerMillion - 1) < 1e-12);
            QVERIFY(std::fabs(cellValue(report, "kwh_per_million_tokens", i) / (250 * secondsPerMillion / 3.6e6) - 1) < 1e-12);
            QVERIFY(std::fabs(cellValue(report, "cost_per_million_tokens", i) / (3.5 * secondsPerMillion / 3600) - 1) < 1e-12);
            QVERIFY(cellValue(report, "wall_seconds", i) > 0);
            // Within the budget: the peak against 400 MiB, and the estimator's fit (--fit estimate).
            const int64_t budget = int64_t(400) << 20;
            QCOMPARE(report.budgetBytes, budget);
            QCOMPARE(cellValue(report, "fits_budget", i), d.results.peakMemory.at("peak_rss") <= budget ? 1.0 : 0.0);
            tb::MemoryEstimateRequest e = tb::requestForModelFolder(m_model.toStdString());
            e.method = tb::trainMethodFromName(c.method);
            e.lora.rank = 8;
            e.seqLen = 64;
            if (e.method == tb::TrainMethod::Qlora)
                e.quantizedCacheExists = true; // the run just made it
            QCOMPARE(cellValue(report, "largest_batch_size", i),
                     double(tb::FitFinder::largestBatchByEstimate(e, budget, 4096)));
            e.batchSize = 1;
            QCOMPARE(cellValue(report, "longest_seq_len", i), double(tb::FitFinder::longestSeqLenByEstimate(e, budget)));
            QCOMPARE(report.findRow("largest_batch_size")->cells[i].source, tb::FigureSource::Estimated);
            QVERIFY(cellValue(report, "largest_batch_size", i) >= 1);
            QVERIFY(cellValue(report, "adapter_bytes", i) > 0);
            // The breakdown adds up to the peak.
            double parts = 0;
            for (const char* key : {"base_weight_bytes", "adapter_weight_bytes", "gradient_bytes", "optimizer_bytes",
                                    "other_bytes"})
                if (!std::isnan(cellValue(report, key, i)))
                    parts += cellValue(report, key, i);
            QCOMPARE(parts, cellValue(report, "peak_memory", i));
        }
        QVERIFY(lora < 3 && qlora < 3 && full < 3);
        QVERIFY2(cellValue(report, "base_weight_bytes", qlora) < cellValue(report, "base_weight_bytes", lora),
                 "QLoRA holds its base in NF4");
        QVERIFY(cellValue(report, "trainable_parameters", full) > cellValue(report, "trainable_parameters", lora));
        QVERIFY(cellValue(report, "trainable_parameters", full) > cellValue(report, "trainable_parameters", qlora));
        // LoRA and QLoRA train the same adapters; full saves the whole model.
        QCOMPARE(cellValue(report, "trainable_parameters", lora), cellValue(report, "trainable_parameters", qlora));
        QVERIFY(cellValue(report, "adapter_bytes", full) > cellValue(report, "adapter_bytes", lora));

        // The same folder again is refused before any training.
        const Run again = cli({"report", "--model", m_model, "--data", kTrainData, "--steps", "3", "--db", m_db,
                               "--out", out});
        QCOMPARE(again.exitCode, 1);
        QVERIFY2(again.err.contains("not empty") && again.err.contains("--force"), again.err.constData());
        QCOMPARE(queries.listRuns().size(), size_t(3));
    }

    void badInputFailsClearly()
    {
        const QString out = m_tmp.filePath("bad");
        const Run methods = cli({"report", "--model", m_model, "--data", kTrainData, "--methods", "lora,lorax",
                                 "--db", m_db, "--out", out});
        QCOMPARE(methods.exitCode, 2);
        QVERIFY2(methods.err.contains("unknown method \"lorax\"") && methods.err.contains("lora, qlora or full"),
                 methods.err.constData());

        const Run twice = cli({"report", "--model", m_model, "--data", kTrainData, "--methods", "lora,lora", "--db",
                               m_db, "--out", out});
        QCOMPARE(twice.exitCode, 2);
        QVERIFY2(twice.err.contains("listed twice"), twice.err.constData());

        const QString missing = m_tmp.filePath("no-such-model");
        const Run model = cli({"report", "--model", missing, "--data", kTrainData, "--db", m_db, "--out", out});
        QCOMPARE(model.exitCode, 1);
        QVERIFY2(model.err.contains(missing.toUtf8()) && model.err.contains("no such folder"), model.err.constData());

        const Run noOut = cli({"report", "--model", m_model, "--data", kTrainData});
        QCOMPARE(noOut.exitCode, 2);
        QVERIFY2(noOut.err.contains("--out"), noOut.err.constData());
        QVERIFY(!QFile::exists(out));
    }

    void methodOverTheBudgetIsEstimatedNotRun()
    {
        // A budget between LoRA's and full's estimated peaks: LoRA is trained, full is not.
        tb::MemoryEstimateRequest e = tb::requestForModelFolder(m_model.toStdString());
        e.batchSize = 2;
        e.seqLen = 64;
        e.lora.rank = 8;
        const int64_t loraPeak = tb::estimateMemory(e).peakBytes();
        e.method = tb::TrainMethod::Full;
        const int64_t fullPeak = tb::estimateMemory(e).peakBytes();
        QVERIFY2(loraPeak < fullPeak, "full fine-tuning needs gradients and optimizer state for every weight");

        tb::MethodComparisonRequest q;
        q.modelDir = m_model.toStdString();
        q.dataPath = kTrainData;
        q.methods = {"lora", "full"};
        q.steps = 2;
        q.seqLen = 64;
        q.batchSize = 2;
        q.budgetBytes = (loraPeak + fullPeak) / 2;
        q.fit = tb::FitMode::Estimate;
        q.databasePath = m_tmp.filePath("budget.db").toStdString();
        tb::MethodComparison comparison(q, kCli);
        tb::MethodComparisonCallbacks quiet;
        const tb::MethodReport report = comparison.run(quiet);
        QCOMPARE(report.columns.size(), size_t(2));
        QCOMPARE(report.columns[0].status, std::string("finished"));
        QCOMPARE(report.columns[1].status, std::string("not run"));
        QVERIFY2(report.columns[1].reason.find("does not fit the budget") != std::string::npos,
                 report.columns[1].reason.c_str());
        QVERIFY(!report.columns[1].runId);

        const tb::ReportRow* peak = report.findRow("peak_memory");
        QCOMPARE(peak->cells[0].source, tb::FigureSource::Measured);
        QCOMPARE(peak->cells[1].source, tb::FigureSource::Estimated);
        QCOMPARE(*peak->cells[1].value, double(fullPeak));
        QCOMPARE(report.findRow("trainable_parameters")->cells[1].source, tb::FigureSource::Estimated);
        QCOMPARE(report.findRow("fits_budget")->cells[1].text, std::string("no"));
        QVERIFY(!report.findRow("tokens_per_second")->cells[1].value);
        QVERIFY(report.table().findRow("peak memory")->cells[1].find("(estimated)") != std::string::npos);

        tb::RunStore store(q.databasePath);
        const auto runs = tb::RunQueries(store.database()).listRuns();
        QCOMPARE(runs.size(), size_t(1));
        QCOMPARE(runs[0].method, std::string("lora"));
    }

    void cancelStopsTheRunningChild()
    {
        tb::MethodComparisonRequest q;
        q.modelDir = m_model.toStdString();
        q.dataPath = kTrainData;
        q.methods = {"lora", "full"};
        q.steps = 500; // far more than it will run
        q.seqLen = 64;
        q.batchSize = 2;
        q.databasePath = m_tmp.filePath("cancel.db").toStdString();
        tb::MethodComparison comparison(q, kCli);
        CancelAtFirstStep callbacks(comparison);
        const tb::MethodReport report = comparison.run(callbacks);
        QVERIFY(comparison.cancelled());
        QCOMPARE(callbacks.steps >= 1, true);
        QCOMPARE(report.columns.size(), size_t(2));
        QCOMPARE(report.columns[0].status, std::string("cancelled"));
        QVERIFY(report.columns[0].runId);
        QCOMPARE(report.columns[1].status, std::string("not run")); // full never started
        QVERIFY(!report.columns[1].runId);

        tb::RunStore store(q.databasePath);
        tb::RunQueries queries(store.database());
        const auto runs = queries.listRuns();
        QCOMPARE(runs.size(), size_t(1));
        QCOMPARE(runs[0].status, tb::RunStatus::Cancelled);
        QVERIFY(runs[0].lastStep < 500);
    }

    void checkInputsNamesTheFile()
    {
        tb::MethodComparisonRequest q;
        q.modelDir = m_model.toStdString();
        q.dataPath = m_tmp.filePath("missing.jsonl").toStdString();
        try {
            tb::MethodComparison(q, kCli).checkInputs();
            QFAIL("expected an error");
        } catch (const std::invalid_argument& e) {
            QVERIFY2(std::string(e.what()).find("missing.jsonl") != std::string::npos, e.what());
        }
        q.dataPath = kTrainData;
        try {
            tb::MethodComparison(q, m_tmp.filePath("no-cli").toStdString()).checkInputs();
            QFAIL("expected an error");
        } catch (const std::invalid_argument& e) {
            QVERIFY2(std::string(e.what()).find("no-cli") != std::string::npos, e.what());
        }
    }
};

QTEST_GUILESS_MAIN(TestReport)
#include "tst_report.moc"
