// The one way the engine runs another program: a child process whose stdout is read line by
// line (or sent to a log file), whose stderr tail is kept for the error message, with signals
// for control, an optional resident-memory cap and its exit status. The workbench runs each
// training run through it (`tunebench-cli train --config ... --json`, paused and resumed by
// SIGUSR1 / SIGUSR2, stopped by SIGTERM), the method report one run per method, the fit finder and the
// estimator's validation each configuration under a memory cap (a fresh process per
// configuration, since a process's peak only grows).
//
// Peak resident memory: the larger of the kernel's (wait4's ru_maxrss) and the child's VmHWM as
// last polled. ru_maxrss catches a spike shorter than the polling interval (it counts as over
// the cap), but Linux starts a spawned child's ru_maxrss at its parent's peak, so it is used only
// when above that; and a child killed for its cap can report a ru_maxrss below the sample that
// killed it, which the polled figure covers. The cap is enforced by reading the child's VmRSS
// (/proc/PID/status) at each poll and killing it (SIGKILL) once it is over.
//
// POSIX only (posix_spawn, pipes, poll). stdin is /dev/null; the child inherits the
// environment (plus ChildOptions::environment). Thread contract: one thread reads and waits; signal() may come from any thread
// (it does nothing once the child has been reaped).
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

namespace tb {

struct ChildOptions {
    // stdout lines go to readLines() and the last 64 KiB of stderr is kept; false: both go to
    // logPath ("" : /dev/null) and readLines() only waits.
    bool captureOutput = true;
    std::string logPath;
    int64_t residentCapBytes = 0; // > 0: SIGKILL once the child's VmRSS is above it
    // The child gets its own session (setsid): a terminal's Ctrl-C for this process does not
    // reach it, and it may outlive this process (a training run kept in the background).
    bool ownSession = false;
    // Signals the child starts with blocked (and at their default action): sent before the
    // program has installed its handlers, they wait instead of killing it. The program must
    // unblock them (tunebench-cli train does once its handlers are in place).
    std::vector<int> blockedSignals;
    // Variables set in the child's environment (over the inherited ones): a data-parallel
    // worker's RANK, WORLD_SIZE, MASTER_PORT...
    std::vector<std::pair<std::string, std::string>> environment;
    // With captureOutput: stderr is not captured but goes where this process's goes (the
    // launcher's workers print their progress and errors straight to the terminal).
    bool inheritStderr = false;
};

struct ChildExit {
    int exitCode = -1;        // when it exited normally
    int signal = 0;           // when a signal ended it
    bool overCap = false;     // resident memory exceeded the cap (killed, or its peak is over)
    int64_t peakResidentBytes = -1;
    double wallSeconds = 0;

    bool succeeded() const { return signal == 0 && exitCode == 0 && !overCap; }
    // "exited with code 1", "killed by signal 9 (SIGKILL: out of memory, or killed)",
    // "killed: its resident memory went over the cap of N bytes".
    std::string describe() const;
};

class ChildProcess {
public:
    // Starts `executable` with `arguments` (argv[1..]). Throws std::runtime_error naming the
    // executable when it cannot be started (missing, not executable).
    ChildProcess(const std::string& executable, const std::vector<std::string>& arguments, ChildOptions options = {});
    // A child still running is killed (SIGKILL) and reaped, unless detach() was called.
    ~ChildProcess();
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;

    // Waits up to timeoutMs for output, hands every complete stdout line (without '\n') to
    // onLine, keeps stderr and enforces the memory cap. Returns false once the child is done:
    // its output pipes closed (capturing) or it has exited (not capturing), after handing over a
    // last unterminated line.
    bool readLines(int timeoutMs, const std::function<void(const std::string&)>& onLine);
    // Sends `sig` while the child is not reaped (its pid cannot have been reused).
    void signal(int sig);
    // SIGTERM: `tunebench-cli train` stops cleanly at the next step with a checkpoint.
    void terminate();
    void kill(); // SIGKILL
    // Leaves the child running when this object goes (the workbench closed, run kept training).
    void detach();
    // Reaps the child (blocking).
    ChildExit wait();

    const std::string& standardError() const { return m_stderr; }
    // The last non-blank line of standardError(): the reason a failed child gave.
    std::string lastErrorLine() const;
    pid_t pid() const { return m_pid; }

private:
    void pollResident();
    int64_t peakOf(const rusage& usage) const;

    ChildOptions m_options;
    pid_t m_pid = -1;
    int m_stdout = -1;
    int m_stderrFd = -1;
    std::mutex m_reapMutex;        // signal() against the reaping wait
    std::string m_pending;         // stdout read past the last '\n'
    std::string m_stderr;
    std::atomic<bool> m_reaped{false};
    bool m_detached = false;
    bool m_killedForCap = false;
    int64_t m_parentPeak = -1;
    int64_t m_polledPeak = -1;
    double m_startSeconds = 0;
    ChildExit m_exit;
};

// Runs `executable` to the end with its output in `logPath` ("" : discarded) under a
// resident-memory cap (<= 0: none), polling every pollMs; `cancel` (any thread) kills it. A
// child that cannot start, dies, is killed or cancelled is a result, never an exception.
struct CappedRunResult : ChildExit {
    bool started = false;     // false: the program could not be started (see error)
    bool cancelled = false;   // killed because `cancel` was set
    std::string error;        // why it could not start

    bool succeeded() const { return started && !cancelled && ChildExit::succeeded(); }
};
CappedRunResult runMemoryCapped(const std::string& executable, const std::vector<std::string>& arguments,
                                int64_t capBytes, const std::string& logPath = {},
                                const std::atomic<bool>* cancel = nullptr, int pollMs = 5);

// The last `maxBytes` of a text file (a child's log), "" when unreadable.
std::string fileTail(const std::string& path, size_t maxBytes = 2000);

} // namespace tb
