// UsableCores: the thread count the engine defaults to, from the affinity mask and the CPU
// quotas of cgroup v2 and v1 along the cgroup's path, read from stand-in trees this test writes
// (the layouts of /proc/self/cgroup and /sys/fs/cgroup), and from this process's own.
#include "core/UsableCores.h"

#include <QTemporaryDir>
#include <QTest>

#include <filesystem>
#include <fstream>

using namespace tb;

namespace {

void write(const std::string& path, const std::string& text)
{
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    std::ofstream(path) << text;
}

} // namespace

class TestUsableCores : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void parsesCpuMax()
    {
        QCOMPARE(parseCgroupCpuMax("max 100000\n"), std::optional<double>());
        QCOMPARE(parseCgroupCpuMax("150000 100000\n"), std::optional<double>(1.5));
        QCOMPARE(parseCgroupCpuMax("50000 100000"), std::optional<double>(0.5));
        for (const char* bad : {"", "max", "12x 100000", "-5 100000", "100000 0"}) {
            try {
                parseCgroupCpuMax(bad);
                QFAIL(bad);
            } catch (const std::invalid_argument& e) {
                QVERIFY2(std::string(e.what()).find("cpu.max") != std::string::npos, e.what());
            }
        }
    }

    void noQuotaMeansTheAffinityMask()
    {
        QTemporaryDir dir;
        const std::string root = dir.path().toStdString();
        write(root + "/proc/cgroup", "0::/user.slice/session-1.scope\n");
        write(root + "/sys/user.slice/cpu.max", "max 100000\n");
        const CoreBudget b = coreBudget(8, root + "/proc/cgroup", root + "/sys");
        QCOMPARE(b.usable, 8);
        QVERIFY(!b.quota);
        QCOMPARE(coreBudget(3, root + "/missing", root + "/sys").usable, 3);
    }

    void cgroupV2QuotaCapsThreads()
    {
        // docker run --cpus 1.5: the container's own cgroup; an ancestor allows 4 cores.
        QTemporaryDir dir;
        const std::string root = dir.path().toStdString();
        write(root + "/proc/cgroup", "0::/system.slice/docker-abc.scope\n");
        write(root + "/sys/system.slice/docker-abc.scope/cpu.max", "150000 100000\n");
        write(root + "/sys/system.slice/cpu.max", "400000 100000\n");
        const CoreBudget b = coreBudget(16, root + "/proc/cgroup", root + "/sys");
        QCOMPARE(b.quota, std::optional<double>(1.5));
        QCOMPARE(b.usable, 2); // rounded up
        QVERIFY(b.quotaFile.find("docker-abc.scope/cpu.max") != std::string::npos);
        // The tighter limit of an ancestor wins.
        write(root + "/sys/system.slice/cpu.max", "100000 100000\n");
        QCOMPARE(coreBudget(16, root + "/proc/cgroup", root + "/sys").usable, 1);
        // A quota above the affinity mask does not add cores.
        write(root + "/sys/system.slice/cpu.max", "max 100000\n");
        QCOMPARE(coreBudget(1, root + "/proc/cgroup", root + "/sys").usable, 1);
    }

    void cgroupV1QuotaCapsThreads()
    {
        QTemporaryDir dir;
        const std::string root = dir.path().toStdString();
        write(root + "/proc/cgroup", "12:memory:/kubepods/pod1\n4:cpu,cpuacct:/kubepods/pod1\n0::/\n");
        write(root + "/sys/cpu,cpuacct/kubepods/pod1/cpu.cfs_quota_us", "300000\n");
        write(root + "/sys/cpu,cpuacct/kubepods/pod1/cpu.cfs_period_us", "100000\n");
        write(root + "/sys/cpu,cpuacct/kubepods/cpu.cfs_quota_us", "-1\n");
        write(root + "/sys/cpu,cpuacct/kubepods/cpu.cfs_period_us", "100000\n");
        const CoreBudget b = coreBudget(64, root + "/proc/cgroup", root + "/sys");
        QCOMPARE(b.usable, 3);
        QCOMPARE(b.quota, std::optional<double>(3.0));
    }

    void thisProcess()
    {
        const CoreBudget b = usableCores();
        QVERIFY(b.affinityCpus >= 1);
        QVERIFY(b.usable >= 1 && b.usable <= b.affinityCpus);
        QCOMPARE(defaultThreadCount(), b.usable);
    }
};

QTEST_GUILESS_MAIN(TestUsableCores)
#include "tst_usablecores.moc"
