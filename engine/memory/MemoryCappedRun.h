// Runs a program as a child process under a resident-memory cap and reports its peak resident
// memory: how the fit finder confirms on the CPU that a configuration fits a budget, and how
// the estimator's validation test measures real training runs (a fresh process per
// configuration, since a process's peak only grows).
//
// The cap is enforced by watching the child's VmRSS (/proc/PID/status) every few milliseconds
// and killing it (SIGKILL) once it is over. The peak reported is the kernel's (wait4's
// ru_maxrss) when it is above this process's own peak, so a spike shorter than the polling
// interval still shows (and the run counts as over the cap); Linux starts a spawned child's
// ru_maxrss at its parent's peak, so below that the child's VmHWM as last polled is reported
// (exact unless the child's peak falls within the last polling interval before it exits).
// A child that dies, is killed or is cancelled is a result, never an exception of the
// caller's process.
//
// POSIX only. stdin is /dev/null; stdout and stderr go to `logPath` (or /dev/null). The child
// inherits the environment. Thread contract: blocking; `cancel` may be set from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

namespace tb {

struct CappedRunResult {
    bool started = false;     // false: the program could not be started (see error)
    int exitCode = -1;        // when it exited normally
    int signal = 0;           // when a signal ended it
    bool overCap = false;     // resident memory exceeded the cap (killed, or its peak is over)
    bool cancelled = false;   // killed because `cancel` was set
    int64_t peakResidentBytes = -1; // VmHWM of the child (ru_maxrss)
    double wallSeconds = 0;
    std::string error;        // why it could not start

    bool succeeded() const { return started && signal == 0 && exitCode == 0 && !overCap && !cancelled; }
};

// capBytes <= 0: no cap. pollMs: how often VmRSS is read.
CappedRunResult runMemoryCapped(const std::string& executable, const std::vector<std::string>& arguments,
                                int64_t capBytes, const std::string& logPath = {},
                                const std::atomic<bool>* cancel = nullptr, int pollMs = 5);

// The last `maxBytes` of a text file (a child's log), "" when unreadable.
std::string fileTail(const std::string& path, size_t maxBytes = 2000);

} // namespace tb
