// ThreadCountGovernor: the rule (usable cores minus what others keep busy, rounded, at least
// one), /proc/stat parsing restricted to the affinity mask's CPUs, and the real thing: with a
// busy child process on every usable core, the governor drops LibTorch's thread count to one.
#include "core/ChildProcess.h"
#include "core/ThreadCountGovernor.h"
#include "core/UsableCores.h"

#include <ATen/Parallel.h>
#include <QTest>

#include <chrono>
#include <memory>
#include <thread>

using namespace tb;

class TestThreadCountGovernor : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void ruleLeavesOthersTheirCores()
    {
        QCOMPARE(ThreadCountGovernor::threadsFor(2, 2, 0.0), 2);
        QCOMPARE(ThreadCountGovernor::threadsFor(2, 2, 0.4), 2);  // a burst elsewhere: keep both
        QCOMPARE(ThreadCountGovernor::threadsFor(2, 2, 0.6), 1);
        QCOMPARE(ThreadCountGovernor::threadsFor(2, 2, 5.0), 1);  // never fewer than one
        QCOMPARE(ThreadCountGovernor::threadsFor(8, 16, 4.0), 8); // never more than asked for
        QCOMPARE(ThreadCountGovernor::threadsFor(16, 16, 6.3), 10);
    }

    void parsesProcStatForItsCpus()
    {
        const std::string stat = "cpu  100 0 50 800 10 0 0 0 0 0\n"
                                 "cpu0 40 0 20 400 5 0 0 0 0 0\n"
                                 "cpu1 60 0 30 400 5 1 2 3 0 0\n"
                                 "intr 12345\nctxt 99\n";
        const auto both = ThreadCountGovernor::cpuTimes(stat, {0, 1});
        QCOMPARE(both.busy, int64_t(40 + 20 + 60 + 30 + 1 + 2 + 3));
        QCOMPARE(both.total, int64_t(465 + 501));
        const auto one = ThreadCountGovernor::cpuTimes(stat, {1});
        QCOMPARE(one.busy, int64_t(96));
        QCOMPARE(one.total, int64_t(501));
    }

    void busyNeighboursTakeThreadsAway()
    {
        const int usable = defaultThreadCount();
        if (usable < 2)
            QSKIP("one usable core: there is nothing to give away");
        at::set_num_threads(usable);
        ThreadCountGovernor governor(usable);
        governor.update();
        // A busy process on every usable core: the neighbours of a run on a shared machine.
        std::vector<std::unique_ptr<ChildProcess>> hogs;
        ChildOptions quiet;
        quiet.captureOutput = false;
        for (int i = 0; i < usable; ++i)
            hogs.push_back(std::make_unique<ChildProcess>("/bin/sh", std::vector<std::string>{"-c", "while :; do :; done"}, quiet));
        for (int i = 0; i < 6 && governor.threads() > 1; ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(300));
            governor.update();
        }
        for (auto& hog : hogs) {
            hog->kill();
            hog->wait();
        }
        QVERIFY2(governor.othersBusyCores() > 0.5, std::to_string(governor.othersBusyCores()).c_str());
        QCOMPARE(governor.threads(), 1);
        QCOMPARE(at::get_num_threads(), 1);
    }
};

QTEST_GUILESS_MAIN(TestThreadCountGovernor)
#include "tst_threadcountgovernor.moc"
