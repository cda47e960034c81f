#include "dist/RendezvousHost.h"

#include "dist/RendezvousStore.h"

#include <stdexcept>

namespace tb {

struct RendezvousHost::Impl {
    c10::intrusive_ptr<c10d::TCPStore> server;
    c10::intrusive_ptr<c10d::Store> keys; // attempt 0: this launcher starts its workers once
};

RendezvousHost::RendezvousHost(int workers, std::chrono::milliseconds timeout)
    : m_impl(std::make_unique<Impl>())
{
    try {
        m_impl->server = connectTcpStore("127.0.0.1", 0, true, workers, timeout);
    } catch (const std::exception& e) {
        throw std::runtime_error(std::string("cannot host the workers' rendezvous store on this machine: ") + e.what());
    }
    m_impl->keys = attemptStore(m_impl->server, 0);
}

RendezvousHost::~RendezvousHost() = default;

int RendezvousHost::port() const
{
    return static_cast<int>(m_impl->server->getPort());
}

void RendezvousHost::reportFailure(int rank, const std::string& reason) noexcept
{
    try {
        m_impl->keys->set(failedKey(rank), std::vector<uint8_t>(reason.begin(), reason.end()));
    } catch (...) {
    }
}

} // namespace tb
