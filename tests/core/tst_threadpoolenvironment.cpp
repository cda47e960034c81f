// ThreadPoolEnvironment with the real tunebench-cli as a child process: a compute command
// started without a waiting policy restarts itself with GOMP_SPINCOUNT set (same pid, the
// environment of the new image shows it), a policy the user set is kept as it is, and the
// restart happens once.
#include "core/ChildProcess.h"
#include "core/ThreadPoolEnvironment.h"

#include <QTemporaryDir>
#include <QTest>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <thread>

using namespace tb;

namespace {

// The NUL-separated environment of a live process as "A=1\nB=2\n"; empty once it is gone.
std::string environmentOf(pid_t pid)
{
    std::ifstream in("/proc/" + std::to_string(pid) + "/environ", std::ios::binary);
    std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    for (char& c : s)
        if (c == '\0')
            c = '\n';
    return s;
}

// Polls the child's environment until `wanted` shows or 20 s pass; returns the last seen.
std::string waitForEnvironment(const ChildProcess& child, const std::string& wanted)
{
    std::string env;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
        env = environmentOf(child.pid());
        if (env.find(wanted) != std::string::npos)
            break;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return env;
}

} // namespace

class TestThreadPoolEnvironment : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        const ChildExit made = ChildProcess(TB_CLI_PATH, {"make-demo-model", "--out", model(), "--preset", "tiny"}).wait();
        QCOMPARE(made.exitCode, 0);
    }

    void init()
    {
        // CTest gives every test the policy; these cases start from a clean slate.
        for (const char* name : {"GOMP_SPINCOUNT", "OMP_WAIT_POLICY", "TUNEBENCH_THREAD_ENV"})
            ::unsetenv(name);
    }

    void computeCommandRestartsWithTheSpinCount()
    {
        ChildProcess child(TB_CLI_PATH, benchArgs());
        const std::string wanted = "GOMP_SPINCOUNT=" + std::to_string(kGompSpinCount) + "\n";
        const std::string env = waitForEnvironment(child, wanted);
        child.kill();
        child.wait();
        QVERIFY2(env.find(wanted) != std::string::npos, env.c_str());
        QVERIFY(env.find("TUNEBENCH_THREAD_ENV=1\n") != std::string::npos);
    }

    void policyTheUserSetIsKept()
    {
        ::setenv("OMP_WAIT_POLICY", "passive", 1);
        ChildProcess child(TB_CLI_PATH, benchArgs());
        // The same pid either way: give a restart, were there one, time to happen.
        std::this_thread::sleep_for(std::chrono::seconds(2));
        const std::string env = environmentOf(child.pid());
        child.kill();
        child.wait();
        QVERIFY2(env.find("OMP_WAIT_POLICY=passive\n") != std::string::npos, env.c_str());
        QVERIFY2(env.find("GOMP_SPINCOUNT=") == std::string::npos, env.c_str());
    }

    void theRestartedProgramRuns()
    {
        ChildProcess child(TB_CLI_PATH, {"bench", "--model", model(), "--seq-len", "16", "--steps", "1", "--threads", "1",
                                         "--matmul-size", "64"});
        std::string out;
        while (child.readLines(1000, [&](const std::string& line) { out += line + "\n"; })) {
        }
        const ChildExit exit = child.wait();
        QVERIFY2(exit.exitCode == 0, child.lastErrorLine().c_str());
        QVERIFY2(out.find("tokens/s") != std::string::npos, out.c_str());
    }

    void reportsThePolicyInEffect()
    {
        QCOMPARE(threadWaitPolicy(), std::string("libgomp default"));
        ::setenv("GOMP_SPINCOUNT", "1234", 1);
        QCOMPARE(threadWaitPolicy(), std::string("GOMP_SPINCOUNT=1234"));
    }

private:
    std::string model() const { return m_dir.filePath("tiny").toStdString(); }
    std::vector<std::string> benchArgs() const
    {
        return {"bench", "--model", model(), "--seq-len", "64", "--steps", "10000", "--threads", "1"};
    }

    QTemporaryDir m_dir;
};

QTEST_GUILESS_MAIN(TestThreadPoolEnvironment)
#include "tst_threadpoolenvironment.moc"
