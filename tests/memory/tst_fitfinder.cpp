// The fit finder on the tiny demo model with small budgets, confirming with real
// `tunebench-cli train` child runs under a memory cap: answers within the budget, a child over
// the cap is killed (not this process) and the finder steps down, nothing fits below the
// framework's own memory, cancel stops the running child; and MemoryCappedRun on its own.
#include "memory/FitFinder.h"
#include "core/ChildProcess.h"

#include <QTemporaryDir>
#include <QTest>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <thread>

using namespace tb;

class TestFitFinder : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        // Made by a child, so this process stays smaller than the runs it measures.
        QVERIFY(runMemoryCapped(TB_CLI_PATH, {"make-demo-model", "--out", tiny(), "--preset", "tiny"}, 0).succeeded());
        ::setenv("OMP_WAIT_POLICY", "passive", 1); // loaded 2-core machines: no spinning threads
    }

    void cappedRunKillsAChildOverItsCap()
    {
        const std::vector<std::string> args = trainArgs(2, 128, m_dir.filePath("capped").toStdString());
        const CappedRunResult killed = runMemoryCapped(TB_CLI_PATH, args, 64 << 20);
        QVERIFY(killed.started);
        QVERIFY(killed.overCap);
        QCOMPARE(killed.signal, SIGKILL);
        QVERIFY(!killed.succeeded());
        const CappedRunResult free = runMemoryCapped(TB_CLI_PATH, args, 0);
        QVERIFY(free.succeeded());
        QVERIFY(free.peakResidentBytes > 64 << 20);
        const CappedRunResult missing = runMemoryCapped("/nonexistent/tunebench-cli", args, 0);
        QVERIFY(!missing.started);
        QVERIFY(missing.error.find("/nonexistent/tunebench-cli") != std::string::npos);
    }

    void confirmsTheLargestBatchAndLongestSequence()
    {
        FitRequest q = request();
        MemoryEstimateRequest r = requestForModelFolder(tiny());
        r.seqLen = 128;
        r.batchSize = 6;
        r.threads = 2;
        q.budgetBytes = estimateMemory(r).peakBytes() + (1 << 20);
        std::vector<std::string> messages;
        const FitReport report = FitFinder(q).run([&](const std::string& m) { messages.push_back(m); });
        QCOMPARE(report.budgetBytes, q.budgetBytes);
        QCOMPARE(report.methods.size(), size_t(1));
        const MethodFitResult& lora = report.methods[0];
        for (const FitPoint* p : {&lora.largestBatch, &lora.longestSequence}) {
            QVERIFY(!p->attempts.empty());
            QVERIFY2(p->confirmed, p->attempts.back().outcome.c_str());
            QVERIFY(p->measuredBytes > 0 && p->measuredBytes <= q.budgetBytes);
            QVERIFY(p->estimatedBytes <= q.budgetBytes);
        }
        // The estimate says 6; a real run may step it down by one, not more.
        QVERIFY(lora.largestBatch.batchSize >= 5 && lora.largestBatch.batchSize <= 6);
        QCOMPARE(lora.largestBatch.seqLen, int64_t(128));
        QCOMPARE(lora.longestSequence.batchSize, int64_t(1));
        QVERIFY(lora.longestSequence.seqLen > 128 && lora.longestSequence.seqLen < 1024);
        QVERIFY(!messages.empty());
    }

    void stepsDownWhenARunDoesNotFit()
    {
        // An estimator that forgets 60 MiB of the framework: its first answer is too large.
        FitRequest q = request();
        MemoryModelConstants optimistic = MemoryModelConstants::cpuDefaults();
        optimistic.frameworkBytes -= 60 << 20;
        q.constants = optimistic;
        q.maxTries = 4;
        MemoryEstimateRequest r = requestForModelFolder(tiny());
        r.seqLen = 128;
        r.batchSize = 4;
        r.threads = 2;
        q.budgetBytes = estimateMemory(r).peakBytes(); // honest estimate of batch 4
        const FitReport report = FitFinder(q).run();
        const FitPoint& batch = report.methods.at(0).largestBatch;
        QVERIFY(batch.attempts.size() >= 2);
        QCOMPARE(batch.attempts.front().outcome, std::string("over the budget"));
        QVERIFY2(batch.attempts.front().measuredBytes > q.budgetBytes,
                 (std::to_string(batch.attempts.front().measuredBytes) + " measured, " + std::to_string(q.budgetBytes) + " budget").c_str());
        for (size_t i = 1; i < batch.attempts.size(); ++i)
            QVERIFY(batch.attempts[i].batchSize < batch.attempts[i - 1].batchSize);
        if (batch.confirmed)
            QVERIFY(batch.measuredBytes <= q.budgetBytes);
    }

    void nothingFitsBelowTheFrameworksOwnMemory()
    {
        FitRequest q = request();
        q.budgetBytes = 50 << 20;
        const FitReport report = FitFinder(q).run();
        const MethodFitResult& lora = report.methods.at(0);
        QCOMPARE(lora.largestBatch.batchSize, int64_t(0));
        QCOMPARE(lora.longestSequence.seqLen, int64_t(0));
        QVERIFY(lora.largestBatch.attempts.empty()); // nothing was run
    }

    void cancelStopsTheRunningChild()
    {
        FitRequest q = request();
        q.methods = {TrainMethod::Lora, TrainMethod::Full};
        q.budgetBytes = int64_t(2) << 30;
        FitFinder finder(q);
        const auto start = std::chrono::steady_clock::now();
        FitReport report;
        std::thread worker([&] {
            report = finder.run([&](const std::string& m) {
                if (m.find("running") != std::string::npos)
                    finder.cancel(); // from the callback; cancel() is for any thread
            });
        });
        worker.join();
        QVERIFY(report.cancelled);
        QCOMPARE(report.methods.size(), size_t(1)); // full fine-tuning never started
        const FitPoint& batch = report.methods[0].largestBatch;
        QCOMPARE(batch.attempts.size(), size_t(1));
        QCOMPARE(batch.attempts[0].outcome, std::string("cancelled"));
        QVERIFY(std::chrono::steady_clock::now() - start < std::chrono::seconds(30));
    }

    void aFailedTrialSaysWhy()
    {
        // The trial's own reason (its end event), not "exit code 1".
        const std::string data = m_dir.filePath("unusable.jsonl").toStdString();
        {
            std::ofstream out(data);
            out << "this is not JSON\n";
        }
        FitRequest q = request();
        q.dataPath = data;
        q.budgetBytes = int64_t(2) << 30;
        const FitReport report = FitFinder(q).run();
        const FitPoint& batch = report.methods.at(0).largestBatch;
        QVERIFY(!batch.attempts.empty());
        const std::string& outcome = batch.attempts.front().outcome;
        QVERIFY2(outcome.rfind("failed: ", 0) == 0 && outcome.find("unusable.jsonl") != std::string::npos
                     && outcome.find("no usable records") != std::string::npos && outcome.find("line 1") != std::string::npos,
                 outcome.c_str());
    }

    void rejectsRequestsItCannotServe()
    {
        FitRequest q = request();
        q.cliExecutable.clear();
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, FitFinder(q).run());
        q = request();
        q.device = "tpu";
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, FitFinder(q).run());
    }

private:
    std::string tiny() const { return m_dir.filePath("tiny").toStdString(); }

    FitRequest request() const
    {
        FitRequest q;
        q.modelDir = tiny();
        q.dataPath = std::string(TB_SOURCE_DIR) + "/resources/datasets/reviews-train.jsonl";
        q.methods = {TrainMethod::Lora};
        q.seqLen = 128;
        q.threads = 2;
        q.cliExecutable = TB_CLI_PATH;
        q.workDir = m_dir.path().toStdString();
        return q;
    }

    std::vector<std::string> trainArgs(int batch, int seq, const std::string& out) const
    {
        return {"train", "--model", tiny(), "--data", std::string(TB_SOURCE_DIR) + "/resources/datasets/reviews-train.jsonl",
                "--batch-size", std::to_string(batch), "--seq-len", std::to_string(seq), "--steps", "2", "--pack",
                "--threads", "2", "--no-db", "--out", out};
    }

    QTemporaryDir m_dir;
};

QTEST_GUILESS_MAIN(TestFitFinder)
#include "tst_fitfinder.moc"
