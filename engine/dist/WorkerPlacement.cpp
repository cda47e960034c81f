#include "dist/WorkerPlacement.h"

#include <cstdlib>
#include <stdexcept>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace tb {

namespace {

std::string describe(const std::string& name, const std::string& value)
{
    return "environment variable " + name + "=\"" + value + "\"";
}

int wholeNumber(const EnvironmentLookup& env, const std::string& name, int min, int max)
{
    const std::string value = *env(name);
    size_t used = 0;
    long long n = 0;
    try {
        n = std::stoll(value, &used, 10);
    } catch (const std::exception&) {
        used = 0;
    }
    if (used == 0 || used != value.size())
        throw std::invalid_argument(describe(name, value) + ": not a whole number");
    if (n < min || n > max)
        throw std::invalid_argument(describe(name, value) + ": must be between " + std::to_string(min) + " and "
                                    + std::to_string(max));
    return static_cast<int>(n);
}

std::optional<int> optionalNumber(const EnvironmentLookup& env, const std::string& name, int min, int max)
{
    if (!env(name))
        return std::nullopt;
    return wholeNumber(env, name, min, max);
}

// SLURM_NTASKS_PER_NODE "4", SLURM_TASKS_PER_NODE "4(x2),3": the count on the first node.
std::optional<int> slurmTasksPerNode(const EnvironmentLookup& env)
{
    for (const char* name : {"SLURM_NTASKS_PER_NODE", "SLURM_TASKS_PER_NODE"}) {
        const auto value = env(name);
        if (!value || value->empty())
            continue;
        size_t used = 0;
        int n = 0;
        try {
            n = std::stoi(*value, &used, 10);
        } catch (const std::exception&) {
            used = 0;
        }
        if (used == 0 || n < 1)
            throw std::invalid_argument(describe(name, *value) + ": expected a task count such as 4 or 4(x2)");
        return n;
    }
    return std::nullopt;
}

void checkPlacement(const WorkerPlacement& p, const std::string& rankVar, const std::string& localVar)
{
    if (p.rank >= p.worldSize)
        throw std::invalid_argument("environment variable " + rankVar + "=" + std::to_string(p.rank)
                                    + ": must be below the number of workers (" + std::to_string(p.worldSize) + ")");
    if (p.localRank >= p.localWorldSize)
        throw std::invalid_argument("environment variable " + localVar + "=" + std::to_string(p.localRank)
                                    + ": must be below the number of workers on this machine (" + std::to_string(p.localWorldSize) + ")");
}

} // namespace

EnvironmentLookup processEnvironment()
{
    return [](const std::string& name) -> std::optional<std::string> {
        const char* v = std::getenv(name.c_str());
        return v ? std::optional<std::string>(v) : std::nullopt;
    };
}

int freeLoopbackPort()
{
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        throw std::runtime_error("cannot open a socket to find a free port");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0
        && ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
    ::close(fd);
    if (!ok)
        throw std::runtime_error("cannot find a free port on 127.0.0.1");
    return ntohs(addr.sin_port);
}

std::string firstSlurmHost(const std::string& nodeList)
{
    // The first entry ends at the first comma outside brackets.
    size_t end = 0;
    int depth = 0;
    for (; end < nodeList.size(); ++end) {
        const char c = nodeList[end];
        if (c == '[')
            ++depth;
        else if (c == ']')
            --depth;
        else if (c == ',' && depth == 0)
            break;
        if (depth < 0 || depth > 1)
            throw std::invalid_argument("Slurm node list \"" + nodeList + "\": unbalanced brackets");
    }
    if (depth != 0)
        throw std::invalid_argument("Slurm node list \"" + nodeList + "\": unbalanced brackets");
    const std::string entry = nodeList.substr(0, end);
    const size_t open = entry.find('[');
    if (open == std::string::npos) {
        if (entry.empty())
            throw std::invalid_argument("Slurm node list \"" + nodeList + "\": no host");
        return entry;
    }
    const size_t close = entry.find(']', open);
    const std::string ranges = entry.substr(open + 1, close - open - 1);
    const size_t stop = ranges.find_first_of("-,");
    const std::string first = ranges.substr(0, stop);
    if (first.empty() || first.find_first_not_of("0123456789") != std::string::npos)
        throw std::invalid_argument("Slurm node list \"" + nodeList + "\": expected numbers in brackets");
    return entry.substr(0, open) + first + entry.substr(close + 1);
}

std::optional<WorkerPlacement> placementFromEnvironment(const EnvironmentLookup& env)
{
    constexpr int kMaxWorkers = 1 << 20;
    WorkerPlacement p;
    if (env("RANK") || env("WORLD_SIZE")) {
        for (const char* name : {"RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"})
            if (!env(name))
                throw std::invalid_argument(std::string("environment variable ") + name
                                            + " is not set: a launcher that sets RANK and WORLD_SIZE (torchrun) sets "
                                              "RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT");
        p.worldSize = wholeNumber(env, "WORLD_SIZE", 1, kMaxWorkers);
        p.rank = wholeNumber(env, "RANK", 0, kMaxWorkers);
        // Without LOCAL_* the workers are taken to share one machine.
        p.localWorldSize = optionalNumber(env, "LOCAL_WORLD_SIZE", 1, kMaxWorkers).value_or(p.worldSize);
        p.localRank = optionalNumber(env, "LOCAL_RANK", 0, kMaxWorkers).value_or(p.rank % p.localWorldSize);
        p.masterAddress = *env("MASTER_ADDR");
        p.masterPort = wholeNumber(env, "MASTER_PORT", 1, 65535);
        const auto launcher = env("TUNEBENCH_LAUNCHER");
        p.launcher = launcher ? *launcher : env("TORCHELASTIC_RUN_ID") ? "torchrun" : "environment";
        // PyTorch's own test of the variable (torch/distributed/rendezvous.py): exactly "True".
        p.storeHostedByLauncher = env("TORCHELASTIC_USE_AGENT_STORE").value_or("") == "True";
        p.attempt = optionalNumber(env, "TORCHELASTIC_RESTART_COUNT", 0, kMaxWorkers).value_or(0);
        checkPlacement(p, "RANK", "LOCAL_RANK");
    } else if (env("SLURM_PROCID") && env("SLURM_NTASKS")) {
        p.worldSize = wholeNumber(env, "SLURM_NTASKS", 1, kMaxWorkers);
        if (p.worldSize == 1)
            return std::nullopt; // a plain one-task job
        p.rank = wholeNumber(env, "SLURM_PROCID", 0, kMaxWorkers);
        p.localRank = optionalNumber(env, "SLURM_LOCALID", 0, kMaxWorkers).value_or(0);
        p.localWorldSize = slurmTasksPerNode(env).value_or(p.localRank + 1);
        if (const auto addr = env("MASTER_ADDR")) {
            p.masterAddress = *addr;
        } else {
            const char* listVar = env("SLURM_STEP_NODELIST") ? "SLURM_STEP_NODELIST"
                : env("SLURM_JOB_NODELIST")                 ? "SLURM_JOB_NODELIST"
                : env("SLURM_NODELIST")                     ? "SLURM_NODELIST"
                                                            : nullptr;
            if (!listVar)
                throw std::invalid_argument("Slurm placed this task but no node list is set (SLURM_STEP_NODELIST, "
                                            "SLURM_JOB_NODELIST) and no MASTER_ADDR: set MASTER_ADDR to the first node");
            try {
                p.masterAddress = firstSlurmHost(*env(listVar));
            } catch (const std::invalid_argument& e) {
                throw std::invalid_argument(describe(listVar, *env(listVar)) + ": " + e.what());
            }
        }
        if (env("MASTER_PORT")) {
            p.masterPort = wholeNumber(env, "MASTER_PORT", 1, 65535);
        } else if (env("SLURM_JOB_ID")) {
            p.masterPort = 20000 + wholeNumber(env, "SLURM_JOB_ID", 0, 2147483647) % 20000;
        } else {
            throw std::invalid_argument("Slurm placed this task but neither MASTER_PORT nor SLURM_JOB_ID is set");
        }
        p.launcher = "slurm";
        checkPlacement(p, "SLURM_PROCID", "SLURM_LOCALID");
    } else {
        return std::nullopt;
    }
    return p;
}

} // namespace tb
