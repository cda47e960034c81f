// Ctrl-C / SIGTERM for CLI commands whose work runs in a blocking engine call that has its own
// thread-safe cancel() (fit finder, method comparison): while an object of this class lives, the
// signals set a flag (the only thing a handler may safely do) and a watcher thread turns the
// flag into one call of `cancel`. The destructor stops and joins the watcher, also when the
// work threw.
#pragma once

#include <atomic>
#include <functional>
#include <thread>

namespace tbcli {

class SignalCancellation {
public:
    explicit SignalCancellation(std::function<void()> cancel);
    ~SignalCancellation();
    SignalCancellation(const SignalCancellation&) = delete;
    SignalCancellation& operator=(const SignalCancellation&) = delete;

    // A signal arrived (and cancel was called).
    bool signalled() const;

private:
    std::atomic<bool> m_done{false};
    std::thread m_watcher;
};

} // namespace tbcli
