// The rendezvous store's layout, shared by the workers (C10dWorkerGroup) and whoever hosts the
// store when rank 0 does not (RendezvousHost: tunebench-cli's launcher; torchrun's agent).
//
// Who hosts it. torch.distributed's env:// rendezvous has rank 0 host a TCPStore at
// MASTER_ADDR:MASTER_PORT. torchrun's agent hosts one itself at that address and tells its
// workers so with TORCHELASTIC_USE_AGENT_STORE=True: then every rank, 0 included, is a client
// (rank 0 binding the agent's port would fail). tunebench-cli's launcher does the same, so the
// port it hands out is the one it has bound (no window in which another process takes it) and
// the store outlives any worker, rank 0 included.
//
// Keys, under "attempt_<TORCHELASTIC_RESTART_COUNT>/" (an agent's store outlives the workers it
// restarts; a new attempt must not read the last one's keys):
//   tunebench/arrived          workers that reached the rendezvous (a counter)
//   tunebench/heartbeat/<r>    a counter rank r moves every 500 ms
//   tunebench/failed/<r>       why rank r stopped (written by r, or by the launcher for a
//                              worker it saw die)
//   tunebench/done/<r>         rank r is finished with the store
//   tunebench/barrier/<n>/<name>  store barriers
//   gloo/..., nccl/...         the process groups' own rendezvous
#pragma once

#include "dist/C10dHeaders.h"

#include <chrono>
#include <string>

namespace tb {

std::string heartbeatKey(int rank);
std::string failedKey(int rank);
std::string doneKey(int rank);

// A client of (server: the host of) the TCP store at host:port. A server on port 0 takes a
// free port (getPort() says which).
c10::intrusive_ptr<c10d::TCPStore> connectTcpStore(const std::string& host, int port, bool server, int workers,
                                                   std::chrono::milliseconds timeout);

// The keys of one attempt of the run, as the workers of that attempt see them.
c10::intrusive_ptr<c10d::Store> attemptStore(const c10::intrusive_ptr<c10d::TCPStore>& store, int attempt);

} // namespace tb
