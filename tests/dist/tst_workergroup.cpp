// C10dWorkerGroup over loopback with its ranks as threads of this process (Gloo allows it):
// sums and gathers give every rank the same values, gradients in several buckets, a failure
// one worker reports is named by the others, and a rendezvous that cannot complete fails within
// its timeout saying how many workers came.
#include "dist/C10dWorkerGroup.h"
#include "dist/RendezvousHost.h"

#include <QTest>

#include <unistd.h>

#include <chrono>
#include <functional>
#include <mutex>
#include <thread>

using namespace tb;

namespace {


WorkerPlacement placement(int rank, int size, int port)
{
    WorkerPlacement p;
    p.rank = rank;
    p.worldSize = size;
    p.localRank = rank;
    p.localWorldSize = size;
    p.masterAddress = "127.0.0.1";
    p.masterPort = port;
    p.launcher = "test";
    return p;
}

// Runs body(rank) on `size` threads; returns each rank's error message ("" when none).
std::vector<std::string> onRanks(int size, const std::function<void(int)>& body)
{
    std::vector<std::string> errors(static_cast<size_t>(size));
    std::vector<std::thread> threads;
    for (int r = 0; r < size; ++r)
        threads.emplace_back([&, r] {
            try {
                body(r);
            } catch (const std::exception& e) {
                errors[static_cast<size_t>(r)] = e.what();
            }
        });
    for (auto& t : threads)
        t.join();
    return errors;
}

} // namespace

class TestWorkerGroup : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void sumsAndGathersAgreeOnEveryRank()
    {
        const int size = 3, port = freeLoopbackPort();
        std::mutex mutex;
        std::vector<std::vector<at::Tensor>> results(size);
        std::vector<std::vector<double>> sums(size);
        std::vector<std::vector<std::vector<double>>> gathered(size);
        const auto errors = onRanks(size, [&](int r) {
            WorkerGroupOptions options;
            options.timeout = std::chrono::seconds(30);
            options.bucketBytes = 256; // several buckets for these tensors
            C10dWorkerGroup group(placement(r, size, port), options);
            QCOMPARE(group.rank(), r);
            QCOMPARE(group.size(), size);
            // Float tensors of several sizes and shapes, and a double one (its own bucket).
            std::vector<at::Tensor> tensors = {at::full({3, 5}, 1.0f + r, at::kFloat), at::arange(100, at::kFloat) * (r + 1),
                                               at::full({7}, 0.5 * r, at::kDouble), at::full({2, 2, 2}, -1.0f, at::kFloat)};
            group.sumTensors(tensors);
            const auto s = group.sumValues({1.0 * r, 2.5});
            const auto g = group.gatherValues({10.0 * r, -1.0 * r});
            group.barrier("done", std::chrono::seconds(30));
            std::lock_guard<std::mutex> lock(mutex);
            results[static_cast<size_t>(r)] = tensors;
            sums[static_cast<size_t>(r)] = s;
            gathered[static_cast<size_t>(r)] = g;
        });
        for (const auto& e : errors)
            QVERIFY2(e.empty(), e.c_str());
        for (int r = 0; r < size; ++r) {
            const auto& t = results[static_cast<size_t>(r)];
            QVERIFY(at::equal(t[0], at::full({3, 5}, 6.0f, at::kFloat))); // 1 + 2 + 3
            QVERIFY(at::equal(t[1], at::arange(100, at::kFloat) * 6));
            QVERIFY(at::equal(t[2], at::full({7}, 1.5, at::kDouble)));
            QVERIFY(at::equal(t[3], at::full({2, 2, 2}, -3.0f, at::kFloat)));
            QCOMPARE(sums[static_cast<size_t>(r)], (std::vector<double>{3.0, 7.5}));
            QCOMPARE(gathered[static_cast<size_t>(r)],
                     (std::vector<std::vector<double>>{{0.0, 0.0}, {10.0, -1.0}, {20.0, -2.0}}));
        }
    }

    // A worker that stops on an error says why; the others' next collective fails naming it.
    void aReportedFailureIsNamed()
    {
        const int port = freeLoopbackPort();
        auto start = std::chrono::steady_clock::now();
        double failedAfter = 0;
        const auto errors = onRanks(2, [&](int r) {
            WorkerGroupOptions options;
            options.timeout = std::chrono::seconds(20);
            C10dWorkerGroup group(placement(r, 2, port), options);
            group.sumValues({1.0}); // both are in
            if (r == 1) {
                group.reportFailure("CUDA out of memory at step 3");
                return; // leaves: its connections close
            }
            start = std::chrono::steady_clock::now();
            try {
                group.sumValues({2.0});
            } catch (...) {
                failedAfter = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
                throw;
            }
        });
        QVERIFY(errors[1].empty());
        QVERIFY2(errors[0].find("worker rank 1 failed: CUDA out of memory at step 3") != std::string::npos, errors[0].c_str());
        qInfo("rank 0 failed %.1f s after rank 1 left (timeout 20 s)", failedAfter);
        QVERIFY(failedAfter < 20);
    }

    // The same while the others wait in a barrier (a phase of unbounded length: loading).
    void aBarrierNamesAFailedWorker()
    {
        const int port = freeLoopbackPort();
        const auto errors = onRanks(2, [&](int r) {
            C10dWorkerGroup group(placement(r, 2, port), {});
            group.sumValues({1.0});
            if (r == 1) {
                group.reportFailure("tokenizer.json: line 3: expected a string");
                std::this_thread::sleep_for(std::chrono::milliseconds(500)); // rank 0 sees the key while we live
                return;
            }
            group.barrier("the end of setup", std::chrono::seconds(60));
        });
        QVERIFY2(errors[0].find("waiting for \"the end of setup\": worker rank 1 failed: tokenizer.json: line 3") != std::string::npos,
                 errors[0].c_str());
    }

    // A launcher hosts the store (torchrun's agent, tunebench-cli's launcher): rank 0 is a client
    // like the others, and when rank 0 dies the launcher's word names it to the others.
    void aLauncherHostedStoreOutlivesRankZero()
    {
        RendezvousHost host(2, std::chrono::seconds(20));
        auto start = std::chrono::steady_clock::now();
        double failedAfter = 0;
        std::vector<std::vector<double>> sums(2);
        const auto errors = onRanks(2, [&](int r) {
            WorkerGroupOptions options;
            options.timeout = std::chrono::seconds(20);
            WorkerPlacement p = placement(r, 2, host.port());
            p.storeHostedByLauncher = true;
            C10dWorkerGroup group(p, options);
            sums[static_cast<size_t>(r)] = group.sumValues({1.0 + r});
            if (r == 0) {
                host.reportFailure(0, "killed by signal 9"); // what the launcher writes for a worker it saw die
                return;
            }
            start = std::chrono::steady_clock::now();
            try {
                group.sumValues({2.0});
            } catch (...) {
                failedAfter = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
                throw;
            }
        });
        QVERIFY2(errors[0].empty(), errors[0].c_str());
        QCOMPARE(sums[0], std::vector<double>{3.0});
        QCOMPARE(sums[1], std::vector<double>{3.0});
        QVERIFY2(errors[1].find("worker rank 0 failed: killed by signal 9") != std::string::npos, errors[1].c_str());
        QVERIFY(failedAfter < 20);
    }

    // Keys are per attempt (torchrun restarts failed workers against the same store): a failure
    // recorded in the first start does not stop the second's barrier, which rank 0 waits in
    // while rank 1 comes late.
    void aRestartDoesNotSeeTheLastAttemptsKeys()
    {
        RendezvousHost host(2, std::chrono::seconds(20));
        host.reportFailure(1, "killed by signal 9"); // attempt 0
        const auto errors = onRanks(2, [&](int r) {
            WorkerPlacement p = placement(r, 2, host.port());
            p.storeHostedByLauncher = true;
            p.attempt = 1;
            C10dWorkerGroup group(p, {});
            if (r == 1)
                std::this_thread::sleep_for(std::chrono::milliseconds(700));
            group.barrier("setup", std::chrono::seconds(20));
        });
        QVERIFY2(errors[0].empty(), errors[0].c_str());
        QVERIFY2(errors[1].empty(), errors[1].c_str());
    }

    void rendezvousTimesOut()
    {
        WorkerGroupOptions options;
        options.timeout = std::chrono::seconds(2);
        const auto start = std::chrono::steady_clock::now();
        QString error;
        try {
            C10dWorkerGroup group(placement(0, 2, freeLoopbackPort()), options); // rank 1 never comes
        } catch (const WorkerGroupError& e) {
            error = e.what();
        }
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        QVERIFY2(error.contains("did not complete within 2 s: 1 of 2 workers arrived"), qPrintable(error));
        QVERIFY2(seconds < 15, qPrintable(QString::number(seconds)));
        // A worker whose master is not there.
        error.clear();
        try {
            C10dWorkerGroup group(placement(1, 2, freeLoopbackPort()), options);
        } catch (const WorkerGroupError& e) {
            error = e.what();
        }
        QVERIFY2(error.contains("rank 1: could not reach the rendezvous store at 127.0.0.1:"), qPrintable(error));
    }
};

QTEST_GUILESS_MAIN(TestWorkerGroup)
#include "tst_workergroup.moc"
