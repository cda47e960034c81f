// The report's rows from given run records: what is measured, derived and estimated in each
// cell, the rows for a method left out for the budget (its estimate, marked), a failed run, the
// cost rows with and without a price, the table's markers, the memory chart's hatching, and
// report.json's round trip.
#include "report/ReportDocument.h"
#include "report/ReportRows.h"

#include <QTest>

#include <cmath>

namespace {

tb::MethodMeasurement measuredLora()
{
    tb::MethodMeasurement m;
    m.column.method = "lora";
    m.column.status = "finished";
    m.column.runId = 7;
    m.column.loss = {{1, 8.0}, {2, 7.5}};
    m.column.valLoss = {{2, 7.6}};
    tb::RunDetails d;
    d.summary.id = 7;
    d.summary.status = tb::RunStatus::Finished;
    d.summary.finalLoss = 7.5;
    d.summary.finalValLoss = 7.6;
    d.summary.bestValLoss = 7.4;
    d.results.peakMemory = {{"peak_rss", 300 << 20}, {"base_weights", 8 << 20}, {"adapters", 1 << 20},
                            {"gradients", 1 << 20},  {"optimizer", 2 << 20}};
    d.results.meanTokensPerSecond = 500;
    d.results.trainableParameters = 150000;
    d.results.wallSeconds = 20;
    d.results.adapterBytes = 600000;
    m.run = d;
    return m;
}

tb::MethodMeasurement fullLeftOutForBudget()
{
    tb::MethodMeasurement m;
    m.column.method = "full";
    m.column.status = "not run";
    m.column.reason = "its estimated peak memory does not fit the budget";
    m.estimate.unavailable.clear();
    m.estimate.estimator = "MemoryEstimator";
    m.estimate.peakBytes = int64_t(900) << 20;
    m.estimate.baseWeightBytes = int64_t(16) << 20;
    m.estimate.gradientBytes = int64_t(16) << 20;
    m.estimate.optimizerBytes = int64_t(32) << 20;
    m.estimate.trainableParameters = 4000000;
    return m;
}

tb::MethodMeasurement failedQlora()
{
    tb::MethodMeasurement m;
    m.column.method = "qlora";
    m.column.status = "failed";
    m.column.reason = "out of memory";
    m.column.runId = 8;
    tb::RunDetails d;
    d.summary.id = 8;
    d.summary.status = tb::RunStatus::Failed;
    m.run = d;
    m.estimate.unavailable = "no estimator here";
    return m;
}

const tb::ReportCell& cell(const std::vector<tb::ReportRow>& rows, const std::string& key, size_t column)
{
    for (const tb::ReportRow& row : rows)
        if (row.key == key)
            return row.cells.at(column);
    throw std::runtime_error("no row " + key);
}

} // namespace

class TestReportRows : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void measuredDerivedAndEstimatedCells()
    {
        tb::MethodComparisonRequest q;
        q.methods = {"lora", "full", "qlora"};
        q.watts = 100;
        const int64_t budget = int64_t(512) << 20;
        const auto rows = tb::buildReportRows(q, {measuredLora(), fullLeftOutForBudget(), failedQlora()}, budget);

        // LoRA: measured, and the derived figures follow from it.
        QCOMPARE(cell(rows, "peak_memory", 0).source, tb::FigureSource::Measured);
        QCOMPARE(*cell(rows, "peak_memory", 0).value, double(300 << 20));
        QCOMPARE(*cell(rows, "other_bytes", 0).value, double((300 - 8 - 1 - 1 - 2) << 20));
        QCOMPARE(cell(rows, "other_bytes", 0).source, tb::FigureSource::Derived);
        QCOMPARE(*cell(rows, "seconds_per_million_tokens", 0).value, 2000.0);
        QCOMPARE(*cell(rows, "kwh_per_million_tokens", 0).value, 100 * 2000.0 / 3.6e6);
        QCOMPARE(cell(rows, "cost_per_million_tokens", 0).source, tb::FigureSource::NotAvailable);
        QVERIFY(cell(rows, "cost_per_million_tokens", 0).how.find("--price-per-hour") != std::string::npos);
        QVERIFY(std::fabs(*cell(rows, "best_val_perplexity", 0).value - std::exp(7.4)) < 1e-9);
        QCOMPARE(cell(rows, "fits_budget", 0).text, std::string("yes"));
        QCOMPARE(*cell(rows, "adapter_bytes", 0).value, 600000.0);

        // full, left out for the budget: memory from the estimate, marked; no speed or loss.
        QCOMPARE(cell(rows, "peak_memory", 1).source, tb::FigureSource::Estimated);
        QCOMPARE(*cell(rows, "peak_memory", 1).value, double(900 << 20));
        QCOMPARE(*cell(rows, "base_weight_bytes", 1).value, double(16 << 20));
        QCOMPARE(cell(rows, "trainable_parameters", 1).source, tb::FigureSource::Estimated);
        QCOMPARE(cell(rows, "fits_budget", 1).text, std::string("no"));
        QCOMPARE(cell(rows, "fits_budget", 1).source, tb::FigureSource::Estimated);
        QCOMPARE(cell(rows, "tokens_per_second", 1).source, tb::FigureSource::NotAvailable);
        QVERIFY(cell(rows, "tokens_per_second", 1).how.find("not run") != std::string::npos);
        QCOMPARE(cell(rows, "adapter_weight_bytes", 1).text, std::string("none"));

        // QLoRA failed with nothing recorded and no estimate: no numbers, the reason instead.
        for (const char* key : {"peak_memory", "tokens_per_second", "final_val_loss", "adapter_bytes"}) {
            QVERIFY2(!cell(rows, key, 2).value, key);
            QCOMPARE(cell(rows, key, 2).text, std::string("-"));
        }
        QVERIFY(cell(rows, "peak_memory", 2).how.find("out of memory") != std::string::npos);

        // The table marks the estimated cell; the memory chart hatches its bar.
        tb::MethodReport report;
        report.request = q;
        report.budgetBytes = budget;
        for (const auto& m : {measuredLora(), fullLeftOutForBudget(), failedQlora()})
            report.columns.push_back(m.column);
        report.rows = rows;
        const tb::ComparisonTable table = report.table();
        QCOMPARE(table.columns().size(), size_t(3));
        QCOMPARE(table.columns()[0].label(), std::string("LoRA (run #7)"));
        QCOMPARE(table.columns()[1].label(), std::string("full (not run)"));
        QVERIFY(table.findRow("peak memory")->cells[1].find("(estimated)") != std::string::npos);
        QVERIFY(table.findRow("peak memory")->cells[0].find("(") == std::string::npos);
        const tb::StackedBarChart chart = tb::reportMemoryChart(report);
        QCOMPARE(chart.bars.size(), size_t(3));
        QVERIFY(!chart.bars[0].hatched);
        QVERIFY(chart.bars[1].hatched);
        QCOMPARE(chart.yLabel, std::string("MiB"));
        double total = 0;
        for (double v : chart.bars[0].values)
            total += v;
        QVERIFY(std::fabs(total - 300) < 1e-9); // the stack reaches the peak

        // report.json round trip keeps every cell and curve.
        const tb::MethodReport back = tb::MethodReport::fromJson(report.toJson(), "test");
        QCOMPARE(back.rows.size(), report.rows.size());
        QCOMPARE(back.columns[0].loss.size(), size_t(2));
        QCOMPARE(back.columns[1].reason, report.columns[1].reason);
        QCOMPARE(back.findRow("peak_memory")->cells[1].source, tb::FigureSource::Estimated);
        QCOMPARE(*back.findRow("kwh_per_million_tokens")->cells[0].value, 100 * 2000.0 / 3.6e6);
        QVERIFY(!back.findRow("peak_memory")->cells[2].value);
    }

    void malformedReportJsonNamesTheSource()
    {
        try {
            tb::MethodReport::fromJson({{"format", "something-else"}}, "x/report.json");
            QFAIL("expected an error");
        } catch (const std::invalid_argument& e) {
            QVERIFY2(std::string(e.what()).find("x/report.json") != std::string::npos, e.what());
        }
    }

    void requestValidation()
    {
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, tb::comparisonMethodsFromList("lora,,bogus"));
        QCOMPARE(tb::comparisonMethodsFromList("full,lora"), (std::vector<std::string>{"full", "lora"}));
        tb::MethodComparisonRequest q;
        q.modelDir = "m";
        q.dataPath = "d";
        q.validate();
        q.watts = 0;
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, q.validate());
        q.watts.reset();
        q.methods = {"lora", "lora"};
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, q.validate());
    }

    void displayText()
    {
        QCOMPARE(tb::reportBytesText(1536), std::string("1.50 KiB"));
        QCOMPARE(tb::reportBytesText(512), std::string("512 B"));
        QCOMPARE(tb::reportDurationText(75.2), std::string("1 min 15 s"));
        QCOMPARE(tb::reportCountText(3950848), std::string("3,950,848"));
    }
};

QTEST_GUILESS_MAIN(TestReportRows)
#include "tst_reportrows.moc"
