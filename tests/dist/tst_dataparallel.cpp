// Data-parallel training as users start it: real tunebench-cli worker processes on the tiny demo
// model (fp32 base, so sums in another order are the only difference), Gloo over loopback.
//  - 1, 2 and 3 workers with the same global batch (6 = 6x1 = 3x2 = 2x3, accumulation 2, 20
//    steps, sharded evaluation): losses within 1e-5 relative, adapters within 1e-5;
//  - torchrun's environment (set here, no Python; the store hosted as torchrun's agent hosts
//    it) gives the same run as --nproc-per-node, and so does a plain env:// launcher;
//  - a run resumes at world size 2 from a checkpoint written at world size 1, and back;
//  - kill -9 of one worker mid-run (rank 1, and rank 0 which records the run): the others stop
//    within the timeout and the database says which rank failed; SIGTERM to the launcher stops all workers with a checkpoint; a pause
//    longer than the collective timeout holds every worker without failing;
//  - a rendezvous that cannot complete fails within its timeout.
// Every worker process is reaped by the launcher (or by ChildProcess here).
#include "core/ChildProcess.h"
#include "dist/RendezvousHost.h"
#include "dist/WorkerPlacement.h"
#include "formats/SafetensorsReader.h"
#include "model/TensorIO.h"
#include "store/RunQueries.h"
#include "store/RunStore.h"

#include <nlohmann/json.hpp>

#include <QTemporaryDir>
#include <QTest>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

using namespace tb;

namespace {

struct RunOutput {
    ChildExit exit;
    std::vector<double> losses;    // per step, from rank 0's event stream
    std::vector<double> valLosses; // per evaluation
    size_t workerRates = 0;        // per-worker tokens/s in the last step event
    std::string stderrText;
    std::string log; // rank 0's log events, one per line
    double seconds = 0;
};

std::map<std::string, at::Tensor> adapterOf(const std::string& runDir)
{
    SafetensorsReader file(runDir + "/adapter/adapter_model.safetensors");
    std::map<std::string, at::Tensor> out;
    for (const auto& info : file.tensors())
        out[info.name] = readTensor(file, info).to(at::kDouble);
    return out;
}

// Largest |a - b| over all adapter tensors.
double adapterDifference(const std::string& a, const std::string& b)
{
    const auto x = adapterOf(a), y = adapterOf(b);
    if (x.size() != y.size() || x.empty())
        return 1e9;
    double worst = 0;
    for (const auto& [name, t] : x)
        worst = std::max(worst, (t - y.at(name)).abs().max().item<double>());
    return worst;
}

double worstRelative(const std::vector<double>& a, const std::vector<double>& b)
{
    if (a.size() != b.size() || a.empty())
        return 1e9;
    double worst = 0;
    for (size_t i = 0; i < a.size(); ++i)
        worst = std::max(worst, std::abs(a[i] - b[i]) / std::max(1e-12, std::abs(b[i])));
    return worst;
}


// The pids of a process's children.
std::vector<pid_t> childrenOf(pid_t pid)
{
    std::ifstream in("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children");
    std::vector<pid_t> out;
    for (pid_t c; in >> c;)
        out.push_back(c);
    return out;
}

bool environmentHas(pid_t pid, const std::string& entry)
{
    std::ifstream in("/proc/" + std::to_string(pid) + "/environ", std::ios::binary);
    std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return s.find(std::string(1, '\0') + entry + '\0') != std::string::npos || s.rfind(entry + '\0', 0) == 0;
}

// Reads a run's stdout events as they come; `onStep(n)` after each step event.
RunOutput collect(ChildProcess& child, const std::function<void(int)>& onStep = {})
{
    RunOutput out;
    const auto start = std::chrono::steady_clock::now();
    while (child.readLines(200, [&](const std::string& line) {
        const auto j = nlohmann::json::parse(line, nullptr, false);
        if (!j.is_object())
            return;
        if (j.value("event", "") == "step") {
            out.losses.push_back(j.at("loss").get<double>());
            out.workerRates = 0;
            for (const auto& rate : j.value("worker_tokens_per_second", nlohmann::json::array()))
                out.workerRates += rate.get<double>() > 0 ? 1 : 0;
            if (onStep)
                onStep(static_cast<int>(out.losses.size()));
        } else if (j.value("event", "") == "eval") {
            out.valLosses.push_back(j.at("loss").get<double>());
        } else if (j.value("event", "") == "log") {
            out.log += j.value("message", "") + "\n";
        }
    })) {
    }
    out.exit = child.wait();
    out.stderrText = child.standardError();
    out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return out;
}

} // namespace

class TestDataParallel : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_dir.isValid());
        const ChildExit made = ChildProcess(TB_CLI_PATH, {"make-demo-model", "--out", path("model"), "--preset", "tiny"}).wait();
        QCOMPARE(made.exitCode, 0);
    }

    // The classic check: the same global batch on 1, 2 and 3 workers is the same run.
    void sameRunOnOneTwoAndThreeWorkers()
    {
        const RunOutput one = train("w1", {"--batch-size", "6", "--steps", "20"});
        const RunOutput two = train("w2", {"--batch-size", "3", "--steps", "20", "--nproc-per-node", "2"});
        const RunOutput three = train("w3", {"--batch-size", "2", "--steps", "20", "--nproc-per-node", "3"});
        for (const RunOutput* r : {&one, &two, &three}) {
            QVERIFY2(r->exit.succeeded(), r->stderrText.c_str());
            QCOMPARE(int(r->losses.size()), 20);
            QCOMPARE(int(r->valLosses.size()), 3); // before, at step 10, at the end: sharded and summed
        }
        qInfo("1 worker %.1f s, 2 workers %.1f s, 3 workers %.1f s; loss %.4f -> %.4f", one.seconds, two.seconds, three.seconds,
              one.losses.front(), one.losses.back());
        QVERIFY(one.losses.back() < one.losses.front()); // it learns
        QCOMPARE(one.workerRates, size_t(0)); // each worker's own speed, in data-parallel runs only
        QCOMPARE(two.workerRates, size_t(2));
        QCOMPARE(three.workerRates, size_t(3));
        for (const RunOutput* r : {&two, &three}) {
            QVERIFY2(worstRelative(r->losses, one.losses) <= 1e-5, qPrintable(QString::number(worstRelative(r->losses, one.losses))));
            QVERIFY(worstRelative(r->valLosses, one.valLosses) <= 1e-5);
        }
        const double d2 = adapterDifference(path("w2"), path("w1")), d3 = adapterDifference(path("w3"), path("w1"));
        qInfo("adapters: largest difference %.2e (2 workers), %.2e (3 workers)", d2, d3);
        QVERIFY(d2 <= 1e-5);
        QVERIFY(d3 <= 1e-5);
        // The workers checked at every checkpoint that they hold the same bytes.
        QVERIFY2(two.log.find("Step 20: trained weights identical on all 2 workers") != std::string::npos, two.log.c_str());
        QVERIFY(three.log.find("Step 20: trained weights identical on all 3 workers") != std::string::npos);
        QVERIFY2(two.stderrText.find("error") == std::string::npos, two.stderrText.c_str());
        m_twoWorkers = two.losses;
    }

    // torchrun's variables, set here for two processes started by the test, with the store
    // hosted as torchrun's agent hosts it (TORCHELASTIC_USE_AGENT_STORE; this is its second
    // start of the workers, and the first one's failure key must not matter): the same run as
    // --nproc-per-node 2, bit for bit. Then a plain env:// launcher, where rank 0 hosts the store.
    void torchrunEnvironmentGivesTheSameRun()
    {
        if (m_twoWorkers.empty()) // run alone: the --nproc-per-node run to compare with
            m_twoWorkers = train("w2", {"--batch-size", "3", "--steps", "20", "--nproc-per-node", "2"}).losses;
        RendezvousHost agent(2, std::chrono::seconds(60));
        agent.reportFailure(1, "killed by signal 9"); // the first attempt's
        const RunOutput torchrun = trainPlaced("torchrun", 20, {{"TORCHELASTIC_RUN_ID", "test"},
                                                                {"TORCHELASTIC_USE_AGENT_STORE", "True"},
                                                                {"TORCHELASTIC_RESTART_COUNT", "1"}},
                                               agent.port());
        QCOMPARE(torchrun.losses, m_twoWorkers);
        QCOMPARE(adapterDifference(path("torchrun"), path("w2")), 0.0);
        // The launcher's store is the agent's: rank 0 hosting one on its port would have failed.
        const RunOutput envLaunched = trainPlaced("env", 6, {}, freeLoopbackPort());
        QCOMPARE(envLaunched.losses, std::vector<double>(m_twoWorkers.begin(), m_twoWorkers.begin() + 6)); // constant schedule
    }

    // The data position is a count of global examples: a run written at one world size
    // continues at another with the same global batch, as if it had not stopped.
    void resumesAtAnotherWorldSize()
    {
        const RunOutput whole = train("whole", {"--batch-size", "6", "--steps", "16"});
        QVERIFY2(whole.exit.succeeded(), whole.stderrText.c_str());
        // 1 worker, then 2.
        QVERIFY(train("up", {"--batch-size", "6", "--steps", "8"}).exit.succeeded());
        const RunOutput up = train("up", {"--batch-size", "3", "--steps", "16", "--nproc-per-node", "2"}, true);
        QVERIFY2(up.exit.succeeded(), up.stderrText.c_str());
        // 2 workers, then 1.
        QVERIFY(train("down", {"--batch-size", "3", "--steps", "8", "--nproc-per-node", "2"}).exit.succeeded());
        const RunOutput down = train("down", {"--batch-size", "6", "--steps", "16"}, true);
        QVERIFY2(down.exit.succeeded(), down.stderrText.c_str());
        const std::vector<double> tail(whole.losses.begin() + 8, whole.losses.end());
        QVERIFY(worstRelative(up.losses, tail) <= 1e-5);
        QVERIFY(worstRelative(down.losses, tail) <= 1e-5);
        QVERIFY(adapterDifference(path("up"), path("whole")) <= 1e-5);
        QVERIFY(adapterDifference(path("down"), path("whole")) <= 1e-5);
        // Another global batch is refused, saying what would fit.
        const RunOutput other = train("down", {"--batch-size", "2", "--steps", "20", "--nproc-per-node", "2"}, true);
        QVERIFY(!other.exit.succeeded());
        QVERIFY2(other.stderrText.find("global batch of 12 examples per step; this run's is 8") != std::string::npos,
                 other.stderrText.c_str());
    }

    // kill -9 of rank 1 mid-run: rank 0 fails within the timeout naming it, the database says
    // so, and the launcher reaps everything.
    void aKilledWorkerFailsTheRunNamingIt()
    {
        const std::string db = path("runs.db");
        ChildProcess launcher(TB_CLI_PATH, trainArgs("killed", {"--batch-size", "3", "--steps", "5000", "--nproc-per-node", "2",
                                                                "--dist-timeout", "20"},
                                                     false, db));
        pid_t victim = -1, rank0 = -1;
        auto killedAt = std::chrono::steady_clock::now();
        const RunOutput out = collect(launcher, [&](int steps) {
            if (steps != 3)
                return;
            for (pid_t c : childrenOf(launcher.pid()))
                (environmentHas(c, "RANK=1") ? victim : rank0) = c;
            if (victim > 0) {
                ::kill(victim, SIGKILL);
                killedAt = std::chrono::steady_clock::now();
            }
        });
        QVERIFY(victim > 0 && rank0 > 0);
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - killedAt).count();
        qInfo("the run ended %.1f s after rank 1 was killed (timeout 20 s)", seconds);
        QVERIFY(seconds < 60);
        QVERIFY(!out.exit.succeeded());
        QVERIFY(out.losses.size() < 5000);
        QVERIFY2(out.stderrText.find("worker rank 1 killed by signal 9") != std::string::npos, out.stderrText.c_str());
        QCOMPARE(::kill(rank0, 0), -1); // reaped: gone
        QCOMPARE(::kill(victim, 0), -1);
        RunStore store(db);
        RunQueries queries(store.database());
        const auto runs = queries.listRuns();
        QCOMPARE(int(runs.size()), 1);
        QCOMPARE(runs[0].status, RunStatus::Failed);
        QVERIFY2(runs[0].reason.find("worker rank 1 failed: killed by signal 9") != std::string::npos, runs[0].reason.c_str());
    }

    // kill -9 of rank 0, which records the run: rank 1 fails naming it (the launcher's store
    // outlives rank 0), and the launcher marks the run failed with the reason in the database.
    void aKilledRankZeroFailsTheRunInTheDatabase()
    {
        const std::string db = path("rank0.db");
        ChildProcess launcher(TB_CLI_PATH, trainArgs("rank0-killed", {"--batch-size", "3", "--steps", "5000", "--nproc-per-node", "2",
                                                                      "--dist-timeout", "20"},
                                                     false, db));
        pid_t victim = -1, rank1 = -1;
        auto killedAt = std::chrono::steady_clock::now();
        const RunOutput out = collect(launcher, [&](int steps) {
            if (steps != 3)
                return;
            for (pid_t c : childrenOf(launcher.pid()))
                (environmentHas(c, "RANK=0") ? victim : rank1) = c;
            if (victim > 0) {
                ::kill(victim, SIGKILL);
                killedAt = std::chrono::steady_clock::now();
            }
        });
        QVERIFY(victim > 0 && rank1 > 0);
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - killedAt).count();
        qInfo("the run ended %.1f s after rank 0 was killed (timeout 20 s)", seconds);
        QVERIFY(seconds < 60);
        QVERIFY(!out.exit.succeeded());
        QVERIFY2(out.stderrText.find("[rank 1]") != std::string::npos
                     && out.stderrText.find("worker rank 0 failed: killed by signal 9") != std::string::npos,
                 out.stderrText.c_str());
        QCOMPARE(::kill(victim, 0), -1); // reaped: gone
        QCOMPARE(::kill(rank1, 0), -1);
        RunStore store(db);
        const auto runs = RunQueries(store.database()).listRuns();
        QCOMPARE(int(runs.size()), 1);
        QCOMPARE(runs[0].status, RunStatus::Failed);
        QVERIFY2(runs[0].reason.find("worker rank 0 (which records the run) killed by signal 9") != std::string::npos,
                 runs[0].reason.c_str());
    }

    // Stop (SIGTERM to the launcher, as the workbench sends): all workers stop at the same step
    // and rank 0 leaves a checkpoint; the run is cancelled, not failed.
    void stopEndsEveryWorkerWithACheckpoint()
    {
        const std::string db = path("stopped.db");
        ChildProcess launcher(TB_CLI_PATH,
                              trainArgs("stopped", {"--batch-size", "3", "--steps", "5000", "--nproc-per-node", "2"}, false, db));
        const RunOutput out = collect(launcher, [&](int steps) {
            if (steps == 3)
                launcher.terminate();
        });
        QVERIFY2(out.exit.succeeded(), out.stderrText.c_str());
        QVERIFY(out.losses.size() < 50);
        RunStore store(db);
        RunQueries queries(store.database());
        const auto runs = queries.listRuns();
        QCOMPARE(int(runs.size()), 1);
        QCOMPARE(runs[0].status, RunStatus::Cancelled);
        // Stored per worker: each one's memory and its own tokens/s.
        const auto names = queries.metricNames(runs[0].id);
        QVERIFY(std::find(names.begin(), names.end(), "tokens_per_second.worker1") != names.end());
        const RunDetails details = queries.getRun(runs[0].id);
        QVERIFY(!details.lastCheckpoint.empty());
        QCOMPARE(childrenOf(launcher.pid()).size(), size_t(0));
    }

    // Stop while the workers are still setting up: none stops alone (the others would wait for
    // it at the setup barrier); all stop at the first step, the run cancelled, not failed.
    void stopDuringSetupStopsEveryWorker()
    {
        const std::string db = path("early.db");
        ChildOptions options; // as the workbench starts a run: a Stop before the handlers waits
        options.blockedSignals = {SIGINT, SIGTERM, SIGUSR1, SIGUSR2};
        ChildProcess launcher(TB_CLI_PATH,
                              trainArgs("early", {"--batch-size", "3", "--steps", "5000", "--nproc-per-node", "2"}, false, db),
                              options);
        std::this_thread::sleep_for(std::chrono::milliseconds(700)); // the workers are loading
        launcher.terminate();
        const RunOutput out = collect(launcher);
        QVERIFY2(out.exit.succeeded(), out.stderrText.c_str());
        QVERIFY(out.losses.empty());
        RunStore store(db);
        RunQueries queries(store.database());
        const auto runs = queries.listRuns();
        QCOMPARE(int(runs.size()), 1);
        QCOMPARE(runs[0].status, RunStatus::Cancelled);
    }

    // Pause (SIGUSR1 to the launcher, forwarded to every worker) holds all of them at one step
    // for longer than the collective timeout without failing; Resume (SIGUSR2) goes on.
    void pauseHoldsEveryWorkerPastTheTimeout()
    {
        ChildProcess launcher(TB_CLI_PATH, trainArgs("paused", {"--batch-size", "3", "--steps", "12", "--nproc-per-node", "2",
                                                               "--dist-timeout", "10"}));
        int pauses = 0, resumes = 0;
        RunOutput out;
        const auto start = std::chrono::steady_clock::now();
        bool sent = false;
        while (launcher.readLines(200, [&](const std::string& line) {
            const auto j = nlohmann::json::parse(line, nullptr, false);
            if (!j.is_object())
                return;
            const std::string event = j.value("event", "");
            if (event == "step") {
                out.losses.push_back(j.at("loss").get<double>());
                if (out.losses.size() == 3 && !sent) {
                    launcher.signal(SIGUSR1);
                    sent = true;
                }
            } else if (event == "log") {
                out.log += j.value("message", "") + "\n";
            } else if (event == "pause") {
                (j.value("paused", false) ? pauses : resumes) += 1;
                if (j.value("paused", false)) {
                    std::this_thread::sleep_for(std::chrono::seconds(22)); // over twice the timeout
                    launcher.signal(SIGUSR2);
                }
            }
        })) {
            QVERIFY(std::chrono::steady_clock::now() - start < std::chrono::minutes(5));
        }
        out.exit = launcher.wait();
        QVERIFY2(out.exit.succeeded(), (launcher.standardError() + out.log).c_str());
        QCOMPARE(pauses, 1);
        QCOMPARE(resumes, 1);
        QCOMPARE(int(out.losses.size()), 12);
    }

    void rendezvousThatCannotCompleteFailsClearly()
    {
        ChildOptions options;
        const int port = freeLoopbackPort(); // nobody hosts the store there
        options.environment = {{"RANK", "1"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", std::to_string(port)}};
        ChildProcess worker(TB_CLI_PATH, trainArgs("lonely", {"--dist-timeout", "2"}), options);
        const RunOutput out = collect(worker);
        QVERIFY(!out.exit.succeeded());
        QVERIFY2(out.stderrText.find("rank 1: could not reach the rendezvous store at 127.0.0.1:" + std::to_string(port) + " within 2 s")
                     != std::string::npos,
                 out.stderrText.c_str());
        QVERIFY(out.seconds < 20);
        // Without --out, the workers could not agree on a folder.
        options.environment.push_back({"MASTER_PORT", std::to_string(port)});
        ChildProcess noFolder(TB_CLI_PATH, {"train", "--model", path("model"), "--data", data(), "--no-db", "--steps", "1"}, options);
        const RunOutput refused = collect(noFolder);
        QVERIFY(refused.stderrText.find("needs --out RUN_DIR") != std::string::npos);
    }

private:
    std::string path(const std::string& name) const { return m_dir.filePath(QString::fromStdString(name)).toStdString(); }
    static std::string data() { return std::string(TB_DATA_DIR) + "/reviews-train.jsonl"; }

    std::vector<std::string> trainArgs(const std::string& out, const std::vector<std::string>& extra, bool resume = false,
                                       const std::string& db = "") const
    {
        // A constant schedule: a run cut in two follows the same learning rates.
        std::vector<std::string> args = {"train", "--model", path("model"), "--data", data(), "--seq-len", "64",
                                         "--grad-accum", "2", "--lr", "1e-3", "--schedule", "constant", "--eval-every", "10",
                                         "--base-dtype", "fp32", "--threads", "1", "--json", resume ? "--resume" : "--out", path(out)};
        if (db.empty())
            args.push_back("--no-db");
        else
            args.insert(args.end(), {"--db", db});
        args.insert(args.end(), extra.begin(), extra.end());
        return args;
    }

    // Two workers started by this test with an env:// launcher's variables (and `more`),
    // --batch-size 3: rank 0's output; both must succeed, and only rank 0 reports.
    RunOutput trainPlaced(const std::string& out, int steps, const std::vector<std::pair<std::string, std::string>>& more, int port)
    {
        std::vector<std::unique_ptr<ChildProcess>> workers;
        for (int r = 0; r < 2; ++r) {
            ChildOptions options;
            options.environment = {{"RANK", std::to_string(r)}, {"WORLD_SIZE", "2"}, {"LOCAL_RANK", std::to_string(r)},
                                   {"LOCAL_WORLD_SIZE", "2"}, {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", std::to_string(port)}};
            options.environment.insert(options.environment.end(), more.begin(), more.end());
            workers.push_back(std::make_unique<ChildProcess>(
                TB_CLI_PATH, trainArgs(out, {"--batch-size", "3", "--steps", std::to_string(steps)}), options));
        }
        const RunOutput rank0 = collect(*workers[0]);
        const RunOutput rank1 = collect(*workers[1]);
        [&] {
            QVERIFY2(rank0.exit.succeeded(), rank0.stderrText.c_str());
            QVERIFY2(rank1.exit.succeeded(), rank1.stderrText.c_str());
            QVERIFY(rank1.losses.empty()); // rank 0 reports the run
        }();
        return rank0;
    }

    RunOutput train(const std::string& out, const std::vector<std::string>& extra, bool resume = false)
    {
        ChildProcess child(TB_CLI_PATH, trainArgs(out, extra, resume));
        return collect(child);
    }

    QTemporaryDir m_dir;
    std::vector<double> m_twoWorkers;
};

QTEST_GUILESS_MAIN(TestDataParallel)
#include "tst_dataparallel.moc"
