// runParallelTasks really runs on LibTorch's threads: with two threads set, two distinct threads
// take the tasks (at::parallel_for compiled without OpenMP runs everything on the caller: the
// fused kernels ran on one thread that way), every task exactly once, and nested calls run
// serially inside the outer one.
#include "core/ParallelTasks.h"

#include <ATen/Parallel.h>
#include <QTest>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

using namespace tb;

class TestParallelTasks : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void twoThreadsTakeTheTasks()
    {
        QVERIFY2(parallelTasksAreParallel(), "built without OpenMP: the fused kernels would run on one thread");
        at::set_num_threads(2);
        std::mutex mutex;
        std::set<std::thread::id> threads;
        std::vector<std::atomic<int>> seen(64);
        runParallelTasks(64, 1, [&](int64_t begin, int64_t end) {
            {
                std::lock_guard<std::mutex> lock(mutex);
                threads.insert(std::this_thread::get_id());
            }
            for (int64_t i = begin; i < end; ++i)
                ++seen[static_cast<size_t>(i)];
            // Long enough that one thread cannot finish everything before the other starts.
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        });
        QCOMPARE(int(threads.size()), 2);
        for (const auto& n : seen)
            QCOMPARE(n.load(), 1);
    }

    void nestedCallsRunInside()
    {
        at::set_num_threads(2);
        std::atomic<int64_t> total{0};
        runParallelTasks(4, 1, [&](int64_t b, int64_t e) {
            for (int64_t i = b; i < e; ++i)
                runParallelTasks(10, 1, [&](int64_t b2, int64_t e2) { total += e2 - b2; });
        });
        QCOMPARE(total.load(), int64_t(40));
    }

    void emptyRangeDoesNothing()
    {
        bool called = false;
        runParallelTasks(0, 1, [&](int64_t, int64_t) { called = true; });
        QVERIFY(!called);
    }
};

QTEST_GUILESS_MAIN(TestParallelTasks)
#include "tst_paralleltasks.moc"
