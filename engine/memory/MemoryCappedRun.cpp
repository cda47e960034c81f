#include "memory/MemoryCappedRun.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

extern char** environ;

namespace tb {

namespace {

struct Resident {
    int64_t now = -1;  // VmRSS, bytes
    int64_t peak = -1; // VmHWM, bytes
};

// VmRSS and VmHWM of a live process ("self" for this one); -1 once it is gone.
Resident residentOf(const std::string& pid)
{
    Resident r;
    std::ifstream status("/proc/" + pid + "/status");
    std::string line;
    while (std::getline(status, line)) {
        for (auto [key, out] : {std::pair<const char*, int64_t*>{"VmRSS:", &r.now}, {"VmHWM:", &r.peak}}) {
            if (line.rfind(key, 0) == 0) {
                try {
                    *out = std::stoll(line.substr(6)) * 1024;
                } catch (const std::exception&) {
                }
            }
        }
    }
    return r;
}

} // namespace

CappedRunResult runMemoryCapped(const std::string& executable, const std::vector<std::string>& arguments,
                                int64_t capBytes, const std::string& logPath, const std::atomic<bool>* cancel, int pollMs)
{
    CappedRunResult result;
    if (::access(executable.c_str(), X_OK) != 0) {
        result.error = executable + ": cannot run it (" + std::strerror(errno) + ")";
        return result;
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    const std::string log = logPath.empty() ? std::string("/dev/null") : logPath;
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(executable.c_str()));
    for (const auto& a : arguments)
        argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    pid_t pid = -1;
    // The kernel starts a spawned child's ru_maxrss at this process's own peak (exec records
    // the peak of the address space it replaces, which posix_spawn shares with us), so it is
    // the child's own only when it is larger; below that, the child's VmHWM as last polled.
    const int64_t parentPeak = residentOf("self").peak;
    int64_t polledPeak = -1;
    const auto start = std::chrono::steady_clock::now();
    const int rc = ::posix_spawn(&pid, executable.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
        result.error = executable + ": cannot start it (" + std::strerror(rc) + ")";
        return result;
    }
    result.started = true;

    int status = 0;
    struct rusage usage {};
    bool killed = false;
    for (;;) {
        const pid_t done = ::wait4(pid, &status, WNOHANG, &usage);
        if (done == pid)
            break;
        if (done < 0 && errno != EINTR) {
            result.error = std::string("wait4: ") + std::strerror(errno);
            break;
        }
        if (!killed) {
            const Resident child = residentOf(std::to_string(pid));
            polledPeak = std::max(polledPeak, child.peak);
            if (cancel && cancel->load()) {
                result.cancelled = true;
                ::kill(pid, SIGKILL);
                killed = true;
            } else if (capBytes > 0 && child.now > capBytes) {
                result.overCap = true;
                ::kill(pid, SIGKILL);
                killed = true;
            }
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(killed ? 1 : pollMs));
    }
    result.wallSeconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (WIFEXITED(status))
        result.exitCode = WEXITSTATUS(status);
    else if (WIFSIGNALED(status))
        result.signal = WTERMSIG(status);
    const int64_t maxrss = static_cast<int64_t>(usage.ru_maxrss) * 1024; // Linux: kilobytes
    result.peakResidentBytes = maxrss > parentPeak ? maxrss : std::max(polledPeak, int64_t(0));
    if (capBytes > 0 && result.peakResidentBytes > capBytes)
        result.overCap = true;
    return result;
}

std::string fileTail(const std::string& path, size_t maxBytes)
{
    std::ifstream in(path, std::ios::binary | std::ios::ate);
    if (!in)
        return {};
    const std::streamoff size = in.tellg();
    const std::streamoff from = size > static_cast<std::streamoff>(maxBytes) ? size - static_cast<std::streamoff>(maxBytes) : 0;
    in.seekg(from);
    std::string text(static_cast<size_t>(size - from), '\0');
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    return text;
}

} // namespace tb
