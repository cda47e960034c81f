#include "dist/RendezvousStore.h"

namespace tb {

std::string heartbeatKey(int rank)
{
    return "tunebench/heartbeat/" + std::to_string(rank);
}

std::string failedKey(int rank)
{
    return "tunebench/failed/" + std::to_string(rank);
}

std::string doneKey(int rank)
{
    return "tunebench/done/" + std::to_string(rank);
}

c10::intrusive_ptr<c10d::TCPStore> connectTcpStore(const std::string& host, int port, bool server, int workers,
                                                   std::chrono::milliseconds timeout)
{
    c10d::TCPStoreOptions o;
    o.port = static_cast<std::uint16_t>(port);
    o.isServer = server;
    if (server)
        o.numWorkers = static_cast<size_t>(workers);
    o.waitWorkers = false;
    o.timeout = timeout;
    return c10::make_intrusive<c10d::TCPStore>(host, o);
}

c10::intrusive_ptr<c10d::Store> attemptStore(const c10::intrusive_ptr<c10d::TCPStore>& store, int attempt)
{
    return c10::make_intrusive<c10d::PrefixStore>("attempt_" + std::to_string(attempt), store);
}

} // namespace tb
