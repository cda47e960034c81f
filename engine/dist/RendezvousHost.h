// The rendezvous store hosted by a launcher rather than by rank 0 (RendezvousStore.h says why):
// tunebench-cli's --nproc-per-node launcher binds it on a port the kernel picks and hands that
// port to its workers with TORCHELASTIC_USE_AGENT_STORE=True, as torchrun's agent does. It
// lives until the launcher has reaped every worker, so a dead rank 0 does not take the store
// (and the others' way of learning who failed) with it.
#pragma once

#include <chrono>
#include <memory>
#include <string>

namespace tb {

class RendezvousHost {
public:
    // Binds a free port on all interfaces (workers on this machine reach it at 127.0.0.1).
    // Throws std::runtime_error when it cannot.
    RendezvousHost(int workers, std::chrono::milliseconds timeout);
    ~RendezvousHost();
    RendezvousHost(const RendezvousHost&) = delete;
    RendezvousHost& operator=(const RendezvousHost&) = delete;

    int port() const;
    // The environment the workers need besides RANK and the rest: the store is the launcher's.
    static constexpr const char* kAgentStoreVariable = "TORCHELASTIC_USE_AGENT_STORE";

    // Records why `rank` stopped (the launcher saw it die: "killed by signal 9"), so the other
    // workers' errors name it. Best effort.
    void reportFailure(int rank, const std::string& reason) noexcept;

private:
    struct Impl;
    std::unique_ptr<Impl> m_impl;
};

} // namespace tb
