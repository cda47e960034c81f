#include "cli/SignalCancellation.h"

#include <chrono>
#include <csignal>

namespace tbcli {

namespace {

std::atomic<bool> g_signalled{false};

void onSignal(int)
{
    g_signalled.store(true);
}

} // namespace

SignalCancellation::SignalCancellation(std::function<void()> cancel)
{
    g_signalled.store(false);
    struct sigaction action {};
    action.sa_handler = onSignal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, nullptr);
    sigaction(SIGTERM, &action, nullptr);
    m_watcher = std::thread([this, cancel = std::move(cancel)] {
        while (!m_done.load()) {
            if (g_signalled.load()) {
                cancel();
                return;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    });
}

SignalCancellation::~SignalCancellation()
{
    m_done.store(true);
    m_watcher.join();
}

bool SignalCancellation::signalled() const
{
    return g_signalled.load();
}

} // namespace tbcli
