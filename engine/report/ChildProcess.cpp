#include "report/ChildProcess.h"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdexcept>
#include <sys/wait.h>
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

} // namespace

ChildProcess::ChildProcess(const std::string& executable, const std::vector<std::string>& arguments)
{
    if (::access(executable.c_str(), X_OK) != 0)
        throw std::runtime_error(executable + ": cannot run it (" + std::strerror(errno) + ")");
    // O_CLOEXEC: the parent's ends never leak into this or any other child; dup2 onto 1 and 2
    // clears the flag on the child's copies.
    int out[2], err[2];
    if (::pipe2(out, O_CLOEXEC) != 0)
        throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
    if (::pipe2(err, O_CLOEXEC) != 0) {
        const int e = errno;
        ::close(out[0]);
        ::close(out[1]);
        throw std::runtime_error(std::string("pipe: ") + std::strerror(e));
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    posix_spawn_file_actions_adddup2(&actions, err[1], 2);

    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(executable.c_str()));
    for (const auto& a : arguments)
        argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    const int rc = ::posix_spawn(&m_pid, executable.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(out[1]);
    ::close(err[1]);
    if (rc != 0) {
        ::close(out[0]);
        ::close(err[0]);
        throw std::runtime_error(executable + ": cannot start it (" + std::strerror(rc) + ")");
    }
    m_stdout = out[0];
    m_stderr_fd = err[0];
}

ChildProcess::~ChildProcess()
{
    if (!m_reaped && m_pid > 0) {
        ::kill(m_pid, SIGKILL);
        int status = 0;
        while (::waitpid(m_pid, &status, 0) < 0 && errno == EINTR) {
        }
    }
    closeFd(m_stdout);
    closeFd(m_stderr_fd);
}

bool ChildProcess::readLines(int timeoutMs, const std::function<void(const std::string&)>& onLine)
{
    if (m_stdout < 0 && m_stderr_fd < 0)
        return false;
    pollfd fds[2];
    nfds_t n = 0;
    if (m_stdout >= 0)
        fds[n++] = {m_stdout, POLLIN, 0};
    if (m_stderr_fd >= 0)
        fds[n++] = {m_stderr_fd, POLLIN, 0};
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
                closeFd(m_stderr_fd);
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
    return m_stdout >= 0 || m_stderr_fd >= 0;
}

void ChildProcess::terminate()
{
    if (!m_reaped && m_pid > 0)
        ::kill(m_pid, SIGTERM);
}

int ChildProcess::wait()
{
    if (m_reaped)
        return m_exitCode;
    int status = 0;
    pid_t r;
    while ((r = ::waitpid(m_pid, &status, 0)) < 0 && errno == EINTR) {
    }
    m_reaped = true;
    if (r < 0)
        m_exitCode = -1;
    else if (WIFEXITED(status))
        m_exitCode = WEXITSTATUS(status);
    else if (WIFSIGNALED(status))
        m_exitCode = 128 + WTERMSIG(status);
    return m_exitCode;
}

} // namespace tb
