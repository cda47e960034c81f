// WorkerPlacement from the environments torchrun, srun and tunebench's own launcher set, with
// the errors a user sees when one is incomplete.
#include "dist/WorkerPlacement.h"

#include <QTest>

#include <map>

using namespace tb;

namespace {

EnvironmentLookup env(std::map<std::string, std::string> vars)
{
    return [vars](const std::string& name) -> std::optional<std::string> {
        const auto it = vars.find(name);
        return it == vars.end() ? std::nullopt : std::optional<std::string>(it->second);
    };
}

QString errorOf(const std::map<std::string, std::string>& vars)
{
    try {
        placementFromEnvironment(env(vars));
    } catch (const std::invalid_argument& e) {
        return QString::fromStdString(e.what());
    }
    return {};
}

} // namespace

class TestWorkerPlacement : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void noLauncherIsOneProcess()
    {
        QVERIFY(!placementFromEnvironment(env({})));
        QVERIFY(!placementFromEnvironment(env({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "1"}}))); // a plain job
    }

    void torchrun()
    {
        const auto p = placementFromEnvironment(env({{"RANK", "5"}, {"WORLD_SIZE", "16"}, {"LOCAL_RANK", "1"},
                                                     {"LOCAL_WORLD_SIZE", "8"}, {"MASTER_ADDR", "node07"},
                                                     {"MASTER_PORT", "29400"}, {"TORCHELASTIC_RUN_ID", "x"}}));
        QVERIFY(p);
        QCOMPARE(p->rank, 5);
        QCOMPARE(p->worldSize, 16);
        QCOMPARE(p->localRank, 1);
        QCOMPARE(p->localWorldSize, 8);
        QCOMPARE(p->masterAddress, std::string("node07"));
        QCOMPARE(p->masterPort, 29400);
        QCOMPARE(p->launcher, std::string("torchrun"));
        QVERIFY(!p->storeHostedByLauncher); // rank 0 hosts the store, as env:// does
        QCOMPARE(p->attempt, 0);
        // torchrun's agent hosting the store, on its third start of the workers.
        const auto agent = placementFromEnvironment(env({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "node07"},
                                                         {"MASTER_PORT", "29400"}, {"TORCHELASTIC_USE_AGENT_STORE", "True"},
                                                         {"TORCHELASTIC_RESTART_COUNT", "2"}}));
        QVERIFY(agent->storeHostedByLauncher);
        QCOMPARE(agent->attempt, 2);
        // PyTorch's spelling only: "true" or "1" leave rank 0 hosting it, as in Python.
        QVERIFY(!placementFromEnvironment(env({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "a"}, {"MASTER_PORT", "1"},
                                               {"TORCHELASTIC_USE_AGENT_STORE", "true"}}))
                     ->storeHostedByLauncher);
    }

    void localRankDefaultsToOneMachine()
    {
        const auto p = placementFromEnvironment(
            env({{"RANK", "2"}, {"WORLD_SIZE", "3"}, {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", "1234"}, {"TUNEBENCH_LAUNCHER", "tunebench"}}));
        QCOMPARE(p->localRank, 2);
        QCOMPARE(p->localWorldSize, 3);
        QCOMPARE(p->launcher, std::string("tunebench"));
    }

    void slurm()
    {
        const auto p = placementFromEnvironment(env({{"SLURM_PROCID", "3"}, {"SLURM_NTASKS", "4"}, {"SLURM_LOCALID", "1"},
                                                     {"SLURM_TASKS_PER_NODE", "2(x2)"}, {"SLURM_JOB_ID", "123456"},
                                                     {"SLURM_JOB_NODELIST", "gpu[07-08]"}}));
        QVERIFY(p);
        QCOMPARE(p->rank, 3);
        QCOMPARE(p->worldSize, 4);
        QCOMPARE(p->localRank, 1);
        QCOMPARE(p->localWorldSize, 2);
        QCOMPARE(p->masterAddress, std::string("gpu07"));
        QCOMPARE(p->masterPort, 20000 + 123456 % 20000);
        QCOMPARE(p->launcher, std::string("slurm"));
        // MASTER_ADDR / MASTER_PORT given win; torchrun's variables win over Slurm's.
        const auto q = placementFromEnvironment(env({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "2"}, {"SLURM_JOB_NODELIST", "a,b"},
                                                     {"MASTER_ADDR", "10.0.0.1"}, {"MASTER_PORT", "4000"}}));
        QCOMPARE(q->masterAddress, std::string("10.0.0.1"));
        QCOMPARE(q->masterPort, 4000);
        const auto t = placementFromEnvironment(env({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "8"}, {"RANK", "1"}, {"WORLD_SIZE", "2"},
                                                     {"MASTER_ADDR", "h"}, {"MASTER_PORT", "1"}}));
        QCOMPARE(t->worldSize, 2);
    }

    void slurmNodeLists_data()
    {
        QTest::addColumn<QString>("list");
        QTest::addColumn<QString>("first");
        QTest::newRow("one host") << "node1" << "node1";
        QTest::newRow("list") << "a,b,c" << "a";
        QTest::newRow("range") << "gpu[03-05,07],cpu01" << "gpu03";
        QTest::newRow("single in brackets") << "n[12]" << "n12";
        QTest::newRow("suffix") << "n[1-2]-ib" << "n1-ib";
    }

    void slurmNodeLists()
    {
        QFETCH(QString, list);
        QFETCH(QString, first);
        QCOMPARE(QString::fromStdString(firstSlurmHost(list.toStdString())), first);
    }

    void errorsNameTheVariable_data()
    {
        QTest::addColumn<QString>("vars");
        QTest::addColumn<QString>("expected");
        QTest::newRow("no master") << "RANK=0 WORLD_SIZE=2" << "MASTER_ADDR is not set";
        QTest::newRow("not a number") << "RANK=x WORLD_SIZE=2 MASTER_ADDR=h MASTER_PORT=1" << "RANK=\"x\": not a whole number";
        QTest::newRow("rank too large") << "RANK=2 WORLD_SIZE=2 MASTER_ADDR=h MASTER_PORT=1" << "RANK=2: must be below the number of workers (2)";
        QTest::newRow("port") << "RANK=0 WORLD_SIZE=2 MASTER_ADDR=h MASTER_PORT=70000" << "MASTER_PORT=\"70000\": must be between 1 and 65535";
        QTest::newRow("local rank") << "RANK=0 WORLD_SIZE=2 LOCAL_RANK=2 LOCAL_WORLD_SIZE=2 MASTER_ADDR=h MASTER_PORT=1"
                                    << "LOCAL_RANK=2: must be below the number of workers on this machine (2)";
        QTest::newRow("slurm without nodes") << "SLURM_PROCID=0 SLURM_NTASKS=2 SLURM_JOB_ID=1" << "no node list is set";
        QTest::newRow("slurm broken list") << "SLURM_PROCID=0 SLURM_NTASKS=2 SLURM_JOB_ID=1 SLURM_JOB_NODELIST=n[1-2"
                                           << "SLURM_JOB_NODELIST=\"n[1-2\": Slurm node list \"n[1-2\": unbalanced brackets";
    }

    void errorsNameTheVariable()
    {
        QFETCH(QString, vars);
        QFETCH(QString, expected);
        std::map<std::string, std::string> m;
        for (const QString& item : vars.split(' ')) {
            const int eq = int(item.indexOf('='));
            m[item.left(eq).toStdString()] = item.mid(eq + 1).toStdString();
        }
        const QString error = errorOf(m);
        QVERIFY2(error.contains(expected), qPrintable(error));
    }
};

QTEST_GUILESS_MAIN(TestWorkerPlacement)
#include "tst_workerplacement.moc"
