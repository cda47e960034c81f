#include "cli/WorkerLauncher.h"

#include "core/ChildProcess.h"
#include "core/UsableCores.h"
#include "dist/RendezvousHost.h"
#include "store/RunQueries.h"
#include "store/RunStore.h"

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <stdexcept>

#include <unistd.h>

namespace tbcli {

namespace {

std::atomic<unsigned> g_forward{0}; // control signals not yet forwarded, one bit each
std::atomic<bool> g_stopping{false};

std::string selfExecutable()
{
    char path[4096];
    const ssize_t n = ::readlink("/proc/self/exe", path, sizeof path - 1);
    if (n <= 0)
        throw std::runtime_error("cannot find this program's path (/proc/self/exe)");
    path[n] = '\0';
    return path;
}

// The description every worker reads, in a temporary file removed when the launch ends.
class TemporaryConfig {
public:
    explicit TemporaryConfig(const tb::TrainConfig& config)
    {
        char name[] = "/tmp/tunebench-workers-XXXXXX.json";
        const int fd = ::mkstemps(name, 5);
        if (fd < 0)
            throw std::runtime_error("cannot create a temporary file in /tmp for the workers' run description");
        ::close(fd);
        m_path = name;
        std::ofstream out(m_path, std::ios::trunc);
        out << config.toJson().dump(2) << "\n";
        if (!out.flush())
            throw std::runtime_error(m_path + ": cannot write the workers' run description");
    }
    ~TemporaryConfig() { ::unlink(m_path.c_str()); }
    const std::string& path() const { return m_path; }

private:
    std::string m_path;
};

// Rank 0 records the run and could not say how it ended: opening the store marks its row
// interrupted (its process is gone), and this launcher, which saw it die, says failed and why.
void recordRankZeroFailure(const std::string& database, const std::string& runFolder, const std::string& reason)
{
    try {
        tb::RunStore store(database);
        if (const auto runId = tb::RunQueries(store.database()).findRunByDir(runFolder))
            store.failInterruptedRun(*runId, reason);
    } catch (const std::exception& e) {
        std::cerr << database << ": could not record why the run ended: " << e.what() << "\n";
    }
}

} // namespace

int launchWorkers(const WorkerLaunch& launch)
{
    const std::vector<int>& devices = launch.config.devices;
    const int workers = devices.empty() ? launch.config.processes : static_cast<int>(devices.size());
    tb::TrainConfig config = launch.config;
    if (config.threads <= 0) // the cores this process may use, shared out
        config.threads = std::max(1, tb::usableCores().usable / workers);
    if (!devices.empty())
        config.device = "cuda:0"; // each worker sees only its own device
    const TemporaryConfig description(config);
    tb::RendezvousHost rendezvous(workers, std::chrono::seconds(config.distTimeoutSeconds));
    const int port = rendezvous.port();
    const std::string executable = selfExecutable();

    struct sigaction action {};
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    action.sa_handler = [](int sig) {
        if (sig == SIGINT || sig == SIGTERM)
            g_stopping.store(true);
        g_forward.fetch_or(1u << (sig == SIGINT ? SIGTERM : sig));
    };
    for (int sig : {SIGINT, SIGTERM, SIGUSR1, SIGUSR2})
        sigaction(sig, &action, nullptr);
    sigset_t controls;
    sigemptyset(&controls);
    for (int sig : {SIGINT, SIGTERM, SIGUSR1, SIGUSR2})
        sigaddset(&controls, sig);
    pthread_sigmask(SIG_UNBLOCK, &controls, nullptr);
    std::signal(SIGPIPE, SIG_IGN);

    std::cerr << "Starting " << workers << " workers (" << config.threads << " threads each), rendezvous on 127.0.0.1:" << port
              << "\n";
    std::vector<std::unique_ptr<tb::ChildProcess>> children;
    std::vector<bool> alive;
    std::vector<tb::ChildExit> exits(static_cast<size_t>(workers));
    for (int r = 0; r < workers; ++r) {
        tb::ChildOptions options;
        options.inheritStderr = true;
        options.blockedSignals = {SIGINT, SIGTERM, SIGUSR1, SIGUSR2}; // until its handlers are in place
        options.environment = {{"RANK", std::to_string(r)},          {"WORLD_SIZE", std::to_string(workers)},
                               {"LOCAL_RANK", std::to_string(r)},    {"LOCAL_WORLD_SIZE", std::to_string(workers)},
                               {"MASTER_ADDR", "127.0.0.1"},         {"MASTER_PORT", std::to_string(port)},
                               {"TUNEBENCH_LAUNCHER", "tunebench"},
                               {tb::RendezvousHost::kAgentStoreVariable, "True"}};
        if (!devices.empty())
            options.environment.emplace_back("CUDA_VISIBLE_DEVICES", std::to_string(devices[static_cast<size_t>(r)]));
        std::vector<std::string> args = {"train", "--config", description.path()};
        args.insert(args.end(), launch.recordingArgs.begin(), launch.recordingArgs.end());
        children.push_back(std::make_unique<tb::ChildProcess>(executable, args, options));
        alive.push_back(true);
    }

    using Clock = std::chrono::steady_clock;
    std::optional<Clock::time_point> killDeadline, lastResort;
    int running = workers;
    while (running > 0) {
        if (const unsigned pending = g_forward.exchange(0)) {
            // Stop first, then pause or resume, in the order a user would mean them.
            for (int sig : {SIGTERM, SIGUSR1, SIGUSR2})
                if (pending & (1u << sig))
                    for (int r = 0; r < workers; ++r)
                        if (alive[static_cast<size_t>(r)])
                            children[static_cast<size_t>(r)]->signal(sig);
        }
        for (int r = 0; r < workers; ++r) {
            if (!alive[static_cast<size_t>(r)])
                continue;
            tb::ChildProcess& child = *children[static_cast<size_t>(r)];
            const bool more = child.readLines(running > 1 ? 10 : 100, [&](const std::string& line) {
                if (r == 0)
                    std::cout << line << std::endl; // the run's event stream or output, as one run's
                else
                    std::cerr << "[rank " << r << "] " << line << "\n";
            });
            if (more)
                continue;
            const tb::ChildExit exit = child.wait();
            exits[static_cast<size_t>(r)] = exit;
            alive[static_cast<size_t>(r)] = false;
            --running;
            if (exit.signal != 0 || (exit.exitCode != 0 && !killDeadline)) {
                // A worker killed by a signal could not say why; the others learn it from here and
                // fail naming it (one that exited on an error has written its own reason).
                const std::string reason = exit.describe();
                if (exit.signal != 0)
                    rendezvous.reportFailure(r, reason);
                std::cerr << "worker rank " << r << " " << reason << "\n";
                if (!killDeadline && running > 0)
                    killDeadline = Clock::now() + std::chrono::seconds(config.distTimeoutSeconds + 15);
            }
        }
        // The others fail by themselves within the timeout, or at the end of a long phase (loading,
        // quantizing) where they wait in a barrier that sees the failure: asked to stop at the
        // timeout, killed only long after.
        if (killDeadline && Clock::now() > *killDeadline) {
            for (int r = 0; r < workers; ++r)
                if (alive[static_cast<size_t>(r)]) {
                    std::cerr << "worker rank " << r << " still running " << config.distTimeoutSeconds + 15
                              << " s after another worker failed: asked to stop\n";
                    children[static_cast<size_t>(r)]->terminate();
                }
            killDeadline.reset();
            lastResort = Clock::now() + std::chrono::minutes(10);
        }
        if (lastResort && Clock::now() > *lastResort) {
            for (int r = 0; r < workers; ++r)
                if (alive[static_cast<size_t>(r)]) {
                    std::cerr << "worker rank " << r << " did not stop: killed\n";
                    children[static_cast<size_t>(r)]->kill();
                }
            lastResort.reset();
        }
    }
    const tb::ChildExit& first = exits[0];
    if (first.signal != 0) {
        const std::string reason = "worker rank 0 (which records the run) " + first.describe();
        std::cerr << reason << "\n";
        if (!launch.database.empty())
            recordRankZeroFailure(launch.database, config.outputDir, reason);
        return 1;
    }
    return first.exitCode;
}

} // namespace tbcli
