#include "core/ChildProcess.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <poll.h>
#include <spawn.h>
#include <stdexcept>
#include <sys/resource.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

extern char** environ;

namespace tb {

namespace {

constexpr size_t kStderrKept = 64 * 1024;

void closeFd(int& fd)
{
    if (fd >= 0)
        ::close(fd);
    fd = -1;
}

double nowSeconds()
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

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

const char* signalName(int sig)
{
    switch (sig) {
    case SIGKILL: return "SIGKILL: out of memory, or killed";
    case SIGSEGV: return "SIGSEGV: a crash";
    case SIGABRT: return "SIGABRT: aborted";
    case SIGTERM: return "SIGTERM";
    case SIGBUS: return "SIGBUS: a crash";
    case SIGFPE: return "SIGFPE: a crash";
    case SIGILL: return "SIGILL: an instruction this processor lacks";
    default: return nullptr;
    }
}

} // namespace

std::string ChildExit::describe() const
{
    if (overCap)
        return "killed: its resident memory went over the cap (peak " + std::to_string(peakResidentBytes) + " bytes)";
    if (signal != 0) {
        const char* name = signalName(signal);
        return "killed by signal " + std::to_string(signal) + (name ? std::string(" (") + name + ")" : std::string());
    }
    return "exited with code " + std::to_string(exitCode);
}

ChildProcess::ChildProcess(const std::string& executable, const std::vector<std::string>& arguments, ChildOptions options)
    : m_options(std::move(options))
{
    if (::access(executable.c_str(), X_OK) != 0)
        throw std::runtime_error(executable + ": cannot run it (" + std::strerror(errno) + ")");
    // O_CLOEXEC: the parent's ends never leak into this or any other child; dup2 onto 1 and 2
    // clears the flag on the child's copies.
    int out[2] = {-1, -1}, err[2] = {-1, -1};
    auto closeAll = [&] {
        for (int* fds : {out, err})
            for (int k = 0; k < 2; ++k)
                if (fds[k] >= 0)
                    ::close(fds[k]);
    };
    const bool pipeStderr = m_options.captureOutput && !m_options.inheritStderr;
    if (m_options.captureOutput && (::pipe2(out, O_CLOEXEC) != 0 || (pipeStderr && ::pipe2(err, O_CLOEXEC) != 0))) {
        const int e = errno;
        closeAll();
        throw std::runtime_error(std::string("pipe: ") + std::strerror(e));
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    if (m_options.captureOutput) {
        posix_spawn_file_actions_adddup2(&actions, out[1], 1);
        if (pipeStderr)
            posix_spawn_file_actions_adddup2(&actions, err[1], 2);
    } else {
        const std::string log = m_options.logPath.empty() ? std::string("/dev/null") : m_options.logPath;
        posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        posix_spawn_file_actions_adddup2(&actions, 1, 2);
    }
    posix_spawnattr_t attributes;
    posix_spawnattr_init(&attributes);
    short flags = m_options.ownSession ? POSIX_SPAWN_SETSID : 0;
    if (!m_options.blockedSignals.empty()) {
        sigset_t blocked, defaults;
        sigemptyset(&blocked);
        for (int sig : m_options.blockedSignals)
            sigaddset(&blocked, sig);
        defaults = blocked;
        posix_spawnattr_setsigmask(&attributes, &blocked);
        posix_spawnattr_setsigdefault(&attributes, &defaults);
        flags |= POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
    }
    posix_spawnattr_setflags(&attributes, flags);

    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(executable.c_str()));
    for (const auto& a : arguments)
        argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    // The kernel starts a spawned child's ru_maxrss at this process's own peak (see the header).
    m_parentPeak = residentOf("self").peak;
    m_startSeconds = nowSeconds();
    // The inherited environment with the options' variables replacing or added.
    std::vector<std::string> envStrings;
    for (char** e = environ; *e; ++e) {
        const std::string entry(*e);
        const std::string name = entry.substr(0, entry.find('='));
        bool replaced = false;
        for (const auto& [key, value] : m_options.environment)
            replaced = replaced || key == name;
        if (!replaced)
            envStrings.push_back(entry);
    }
    for (const auto& [key, value] : m_options.environment)
        envStrings.push_back(key + "=" + value);
    std::vector<char*> envp;
    for (auto& e : envStrings)
        envp.push_back(e.data());
    envp.push_back(nullptr);
    const int rc = ::posix_spawn(&m_pid, executable.c_str(), &actions, &attributes, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
    for (int* fd : {&out[1], &err[1]})
        closeFd(*fd);
    if (rc != 0) {
        closeAll();
        throw std::runtime_error(executable + ": cannot start it (" + std::strerror(rc) + ")");
    }
    m_stdout = out[0];
    m_stderrFd = err[0];
}

ChildProcess::~ChildProcess()
{
    if (!m_reaped && m_pid > 0 && !m_detached) {
        ::kill(m_pid, SIGKILL); // not yet reaped: the pid is still this child's
        int status = 0;
        while (::waitpid(m_pid, &status, 0) < 0 && errno == EINTR) {
        }
    }
    closeFd(m_stdout);
    closeFd(m_stderrFd);
}

int64_t ChildProcess::peakOf(const rusage& usage) const
{
    // The larger of the kernel's figure (when it is the child's own, above this process's peak)
    // and the polled VmHWM: a child killed for its cap can report a ru_maxrss below the VmRSS
    // sample that killed it (the kernel's per-thread RSS counters are folded in lazily).
    const int64_t maxrss = static_cast<int64_t>(usage.ru_maxrss) * 1024; // Linux: kilobytes
    return std::max(maxrss > m_parentPeak ? maxrss : int64_t(0), std::max(m_polledPeak, int64_t(0)));
}

void ChildProcess::pollResident()
{
    if (m_reaped || m_killedForCap)
        return;
    const Resident child = residentOf(std::to_string(m_pid));
    m_polledPeak = std::max(m_polledPeak, child.peak);
    if (m_options.residentCapBytes > 0 && child.now > m_options.residentCapBytes) {
        m_killedForCap = true;
        ::kill(m_pid, SIGKILL);
    }
}

bool ChildProcess::readLines(int timeoutMs, const std::function<void(const std::string&)>& onLine)
{
    pollResident();
    if (!m_options.captureOutput) {
        if (m_reaped)
            return false;
        // Not capturing: wait for the exit itself, a polling interval at a time.
        int status = 0;
        struct rusage usage {};
        std::unique_lock<std::mutex> lock(m_reapMutex);
        const pid_t done = ::wait4(m_pid, &status, WNOHANG, &usage);
        if (done == m_pid) {
            m_reaped = true;
            lock.unlock();
            m_exit.wallSeconds = nowSeconds() - m_startSeconds;
            if (WIFEXITED(status))
                m_exit.exitCode = WEXITSTATUS(status);
            else if (WIFSIGNALED(status))
                m_exit.signal = WTERMSIG(status);
            m_exit.peakResidentBytes = peakOf(usage);
            return false;
        }
        lock.unlock();
        std::this_thread::sleep_for(std::chrono::milliseconds(timeoutMs));
        return true;
    }
    if (m_stdout < 0 && m_stderrFd < 0)
        return false;
    pollfd fds[2];
    nfds_t n = 0;
    if (m_stdout >= 0)
        fds[n++] = {m_stdout, POLLIN, 0};
    if (m_stderrFd >= 0)
        fds[n++] = {m_stderrFd, POLLIN, 0};
    const int ready = ::poll(fds, n, timeoutMs);
    if (ready < 0) {
        if (errno == EINTR)
            return true;
        throw std::runtime_error(std::string("poll: ") + std::strerror(errno));
    }
    char buffer[16384];
    for (nfds_t i = 0; i < n; ++i) {
        if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        const ssize_t got = ::read(fds[i].fd, buffer, sizeof buffer);
        if (got < 0 && errno == EINTR)
            continue;
        const bool isStdout = fds[i].fd == m_stdout;
        if (got <= 0) {
            if (isStdout) {
                if (!m_pending.empty())
                    onLine(m_pending);
                m_pending.clear();
                closeFd(m_stdout);
            } else {
                closeFd(m_stderrFd);
            }
            continue;
        }
        if (isStdout) {
            m_pending.append(buffer, static_cast<size_t>(got));
            size_t start = 0;
            for (size_t nl; (nl = m_pending.find('\n', start)) != std::string::npos; start = nl + 1)
                onLine(m_pending.substr(start, nl - start));
            m_pending.erase(0, start);
        } else {
            m_stderr.append(buffer, static_cast<size_t>(got));
            if (m_stderr.size() > kStderrKept)
                m_stderr.erase(0, m_stderr.size() - kStderrKept);
        }
    }
    return m_stdout >= 0 || m_stderrFd >= 0;
}

std::string ChildProcess::lastErrorLine() const
{
    const size_t end = m_stderr.find_last_not_of(" \t\r\n");
    if (end == std::string::npos)
        return {};
    const size_t newline = m_stderr.rfind('\n', end);
    const size_t start = newline == std::string::npos ? 0 : newline + 1;
    return m_stderr.substr(start, end - start + 1);
}

void ChildProcess::signal(int sig)
{
    std::lock_guard<std::mutex> lock(m_reapMutex);
    if (!m_reaped && m_pid > 0)
        ::kill(m_pid, sig);
}

void ChildProcess::terminate()
{
    signal(SIGTERM);
}

void ChildProcess::kill()
{
    signal(SIGKILL);
}

void ChildProcess::detach()
{
    m_detached = true;
}

ChildExit ChildProcess::wait()
{
    if (m_reaped) {
        m_exit.overCap = m_killedForCap || (m_options.residentCapBytes > 0 && m_exit.peakResidentBytes > m_options.residentCapBytes);
        return m_exit;
    }
    int status = 0;
    struct rusage usage {};
    // Wait for the exit without reaping (waitid WNOWAIT), so signal() never races a reused pid,
    // then reap under the lock.
    siginfo_t info {};
    while (::waitid(P_PID, static_cast<id_t>(m_pid), &info, WEXITED | WNOWAIT) < 0 && errno == EINTR) {
    }
    pid_t r;
    {
        std::lock_guard<std::mutex> lock(m_reapMutex);
        while ((r = ::wait4(m_pid, &status, 0, &usage)) < 0 && errno == EINTR) {
        }
        m_reaped = true;
    }
    m_exit.wallSeconds = nowSeconds() - m_startSeconds;
    if (r < 0) {
        m_exit.exitCode = -1;
    } else if (WIFEXITED(status)) {
        m_exit.exitCode = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        m_exit.signal = WTERMSIG(status);
    }
    m_exit.peakResidentBytes = peakOf(usage);
    m_exit.overCap = m_killedForCap || (m_options.residentCapBytes > 0 && m_exit.peakResidentBytes > m_options.residentCapBytes);
    return m_exit;
}

CappedRunResult runMemoryCapped(const std::string& executable, const std::vector<std::string>& arguments,
                                int64_t capBytes, const std::string& logPath, const std::atomic<bool>* cancel, int pollMs)
{
    CappedRunResult result;
    ChildOptions options;
    options.captureOutput = false;
    options.logPath = logPath;
    options.residentCapBytes = capBytes;
    try {
        ChildProcess child(executable, arguments, options);
        result.started = true;
        while (child.readLines(pollMs, [](const std::string&) {}))
            if (cancel && cancel->load() && !result.cancelled) {
                result.cancelled = true;
                child.kill();
            }
        static_cast<ChildExit&>(result) = child.wait();
    } catch (const std::runtime_error& e) {
        result.error = e.what();
    }
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
