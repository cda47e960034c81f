// engine/core/DeviceMemory: /proc/meminfo text, cgroup limits read from a made-up cgroup tree
// (v2 nested groups, v1 memory hierarchy, a group missing under a container's root), this
// machine's devices, and an unknown device refused by name.
#include "core/DeviceMemory.h"
#include "train/MemoryProbe.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QTemporaryDir>
#include <QTest>

#include <cstring>
#include <memory>
#include <stdexcept>

using namespace tb;

namespace {

void writeFile(const QString& path, const QByteArray& text)
{
    QDir().mkpath(QFileInfo(path).path());
    QFile f(path);
    QVERIFY2(f.open(QIODevice::WriteOnly | QIODevice::Truncate), qPrintable(path));
    f.write(text);
}

} // namespace

class TestDeviceMemory : public QObject {
    Q_OBJECT
private Q_SLOTS:
    // A process that trains several runs (the workbench) must report each run's own peak RSS.
    void peakResidentResets()
    {
        const size_t bytes = size_t(256) << 20;
        {
            std::unique_ptr<char[]> block(new char[bytes]);
            std::memset(block.get(), 1, bytes); // resident now
            QVERIFY(tb::processMemory().peakResidentBytes >= int64_t(bytes));
        }
        const tb::ProcessMemory before = tb::processMemory();
        if (!tb::resetPeakResident())
            QSKIP("/proc/self/clear_refs is not writable here");
        const tb::ProcessMemory after = tb::processMemory();
        QVERIFY2(after.peakResidentBytes < before.peakResidentBytes - int64_t(bytes) / 2,
                 qPrintable(QString("peak %1 -> %2").arg(before.peakResidentBytes).arg(after.peakResidentBytes)));
        QVERIFY(after.peakResidentBytes >= after.residentBytes - (int64_t(1) << 20));
    }

    void parsesMeminfo()
    {
        const DeviceMemoryInfo info = parseMeminfo("MemTotal:       16314960 kB\n"
                                                   "MemFree:         1000000 kB\n"
                                                   "MemAvailable:   12000000 kB\n"
                                                   "Buffers:          123456 kB\n");
        QCOMPARE(info.device, std::string("cpu"));
        QCOMPARE(info.totalBytes, int64_t(16314960) * 1024);
        QCOMPARE(info.freeBytes, int64_t(12000000) * 1024);

        // Old kernels have no MemAvailable: MemFree stands in. Missing keys stay unknown.
        const DeviceMemoryInfo old = parseMeminfo("MemTotal: 2048 kB\nMemFree: 1024 kB\n");
        QCOMPARE(old.totalBytes, int64_t(2048) * 1024);
        QCOMPARE(old.freeBytes, int64_t(1024) * 1024);
        const DeviceMemoryInfo empty = parseMeminfo("Cached: 5 kB\n");
        QCOMPARE(empty.totalBytes, int64_t(-1));
        QCOMPARE(empty.freeBytes, int64_t(-1));
    }

    void cgroupV2TakesTheTightestLimitOnThePath()
    {
        QTemporaryDir root;
        QVERIFY(root.isValid());
        const QString r = root.path();
        // /sys/fs/cgroup/app (4 GiB) / job (max): the parent's limit holds for the job.
        writeFile(r + "/app/memory.max", "4294967296\n");
        writeFile(r + "/app/memory.current", "1073741824\n");
        writeFile(r + "/app/memory.stat", "anon 805306368\ninactive_file 268435456\nactive_file 1\n");
        writeFile(r + "/app/job/memory.max", "max\n");
        writeFile(r + "/app/job/memory.current", "536870912\n");
        CgroupMemoryLimit limit = cgroupMemoryLimit("0::/app/job\n", r.toStdString());
        QCOMPARE(limit.limitBytes, int64_t(4) << 30);
        QCOMPARE(limit.usedBytes, int64_t(1073741824 - 268435456));

        // A tighter limit deeper down wins.
        writeFile(r + "/app/job/memory.max", "2147483648\n");
        limit = cgroupMemoryLimit("0::/app/job\n", r.toStdString());
        QCOMPARE(limit.limitBytes, int64_t(2) << 30);
        QCOMPARE(limit.usedBytes, int64_t(536870912)); // no memory.stat: nothing to subtract

        // No limit anywhere.
        QTemporaryDir bare;
        QCOMPARE(cgroupMemoryLimit("0::/\n", bare.path().toStdString()).limitBytes, int64_t(-1));
        QCOMPARE(cgroupMemoryLimit("", r.toStdString()).limitBytes, int64_t(-1));
    }

    void cgroupV1AndAGroupMissingUnderTheRoot()
    {
        QTemporaryDir root;
        QVERIFY(root.isValid());
        const QString r = root.path();
        // A container without its own cgroup namespace: /proc/self/cgroup names the host's
        // path, the container sees its own group as the mount's root.
        writeFile(r + "/memory/memory.limit_in_bytes", "1073741824\n");
        writeFile(r + "/memory/memory.usage_in_bytes", "600000000\n");
        writeFile(r + "/memory/memory.stat", "inactive_file 1\ntotal_inactive_file 100000000\n");
        writeFile(r + "/memory.max", "5\n"); // v2 files are ignored while v1 holds the memory controller
        const std::string procCgroup = "9:name=systemd:/\n4:cpu,memory:/docker/abc123\n0::/\n";
        CgroupMemoryLimit limit = cgroupMemoryLimit(procCgroup, r.toStdString());
        QCOMPARE(limit.limitBytes, int64_t(1073741824));
        QCOMPARE(limit.usedBytes, int64_t(500000000));

        // v1's "unlimited" comes back as read, for the caller to compare with the RAM.
        writeFile(r + "/memory/memory.limit_in_bytes", "9223372036854771712\n");
        QCOMPARE(cgroupMemoryLimit(procCgroup, r.toStdString()).limitBytes, int64_t(9223372036854771712));
    }

    void cpuComesFirst()
    {
        const std::vector<DeviceMemoryInfo> devices = availableDevices();
        QVERIFY(!devices.empty());
        QCOMPARE(devices.front().device, std::string("cpu"));
        QVERIFY(!devices.front().name.empty());
        QVERIFY(devices.front().freeBytes > 0);
        QVERIFY2(devices.front().totalBytes >= devices.front().freeBytes,
                 qPrintable(QString("total %1 < free %2").arg(devices.front().totalBytes).arg(devices.front().freeBytes)));
        for (size_t i = 1; i < devices.size(); ++i) {
            QCOMPARE(devices[i].device, "cuda:" + std::to_string(i - 1));
            QVERIFY(devices[i].totalBytes >= devices[i].freeBytes);
        }
        const DeviceMemoryInfo cpu = deviceMemory("cpu");
        QCOMPARE(cpu.device, std::string("cpu"));
        QVERIFY(cpu.totalBytes > 0);
        if (devices.size() > 1)
            QCOMPARE(deviceMemory("cuda").device, std::string("cuda:0"));
    }

    void unknownDeviceIsRefusedByName()
    {
        for (const char* name : {"cuda:7", "cuda:x", "tpu", ""}) {
            if (std::string(name) == "cuda:7" && availableDevices().size() > 8)
                continue; // a machine with eight GPUs has cuda:7
            try {
                deviceMemory(name);
                QFAIL(qPrintable(QString("no error for '%1'").arg(name)));
            } catch (const std::invalid_argument& e) {
                QVERIFY2(QString(e.what()).contains(QString("'%1'").arg(name)), e.what());
            }
        }
    }
};

QTEST_GUILESS_MAIN(TestDeviceMemory)
#include "tst_devicememory.moc"
