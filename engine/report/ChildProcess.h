// A child process whose stdout is read line by line and whose stderr is kept (its last 64 KiB)
// for the error message: how the comparison report runs `tunebench-cli train --json` once per
// method, so that each method's peak RSS (VmHWM) is its own process's.
//
// POSIX only (posix_spawn, pipes, poll). stdin is /dev/null. The child inherits the
// environment. Thread contract: one thread uses an object; terminate() may come from the same
// thread between readLines() calls (the caller polls its cancel flag there).
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

namespace tb {

class ChildProcess {
public:
    // Starts `executable` with `arguments` (argv[1..]). Throws std::runtime_error naming the
    // executable when it cannot be started (missing, not executable).
    ChildProcess(const std::string& executable, const std::vector<std::string>& arguments);
    // A child still running is killed (SIGKILL) and reaped.
    ~ChildProcess();
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;

    // Waits up to timeoutMs for output, hands every complete stdout line (without '\n') to
    // onLine and keeps stderr. Returns false once both pipes are closed (the child has exited
    // or closed them), after handing over a last unterminated line.
    bool readLines(int timeoutMs, const std::function<void(const std::string&)>& onLine);
    // SIGTERM: `tunebench-cli train` stops cleanly at the next step with a checkpoint.
    void terminate();
    // Reaps the child (blocking). Returns its exit code, or 128 + signal when a signal ended it.
    int wait();

    const std::string& standardError() const { return m_stderr; }
    pid_t pid() const { return m_pid; }

private:
    pid_t m_pid = -1;
    int m_stdout = -1;
    int m_stderr_fd = -1;
    std::string m_pending; // stdout read past the last '\n'
    std::string m_stderr;
    bool m_reaped = false;
    int m_exitCode = -1;
};

} // namespace tb
