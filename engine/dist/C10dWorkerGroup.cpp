#include "dist/C10dWorkerGroup.h"

#include "dist/RendezvousStore.h"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <mutex>
#include <sstream>

namespace tb {

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kHeartbeat = std::chrono::milliseconds(500);
// A heartbeat that has not moved for this long means the worker is gone (or hung).
constexpr auto kHeartbeatStale = std::chrono::seconds(5);

std::vector<uint8_t> bytesOf(const std::string& s)
{
    return {s.begin(), s.end()};
}

std::string stringOf(const std::vector<uint8_t>& b)
{
    return {b.begin(), b.end()};
}

// When each other worker's heartbeat last moved, from repeated reads of the store: a worker
// whose beat has not moved for a while is gone (or hung). A missing beat counts as 0.
class HeartbeatWatch {
public:
    bool stale(c10d::Store& store, int rank, Clock::duration limit)
    {
        const int64_t beat = store.check({heartbeatKey(rank)}) ? std::stoll(stringOf(store.get(heartbeatKey(rank)))) : 0;
        const auto now = Clock::now();
        const auto it = m_last.find(rank);
        if (it == m_last.end() || it->second.first != beat) {
            m_last[rank] = {beat, now};
            return false;
        }
        return now - it->second.second >= limit;
    }

private:
    std::map<int, std::pair<int64_t, Clock::time_point>> m_last; // rank -> (beat, when it last moved)
};

} // namespace

struct C10dWorkerGroup::Impl {
    std::string host;
    bool hostsStore = false;         // rank 0, unless a launcher hosts the store
    bool launcherHostsStore = false; // torchrun's agent or tunebench-cli's launcher
    int attempt = 0;
    c10::intrusive_ptr<c10d::TCPStore> tcp;
    c10::intrusive_ptr<c10d::Store> store; // this attempt's keys
    c10::intrusive_ptr<c10d::ProcessGroupGloo> gloo;
#ifdef TUNEBENCH_HAVE_NCCL
    c10::intrusive_ptr<c10d::ProcessGroupNCCL> nccl;
#endif
    std::thread heartbeat;
    std::atomic<bool> stopHeartbeat{false};
    int64_t barriers = 0;
};

C10dWorkerGroup::C10dWorkerGroup(const WorkerPlacement& placement, WorkerGroupOptions options)
    : m_rank(placement.rank), m_size(placement.worldSize), m_options(options), m_impl(std::make_unique<Impl>())
{
    const std::string where = placement.masterAddress + ":" + std::to_string(placement.masterPort);
    Impl& d = *m_impl;
    d.host = placement.masterAddress;
    d.launcherHostsStore = placement.storeHostedByLauncher;
    d.hostsStore = m_rank == 0 && !d.launcherHostsStore;
    d.attempt = placement.attempt;
    try {
        d.tcp = connectTcpStore(placement.masterAddress, placement.masterPort, d.hostsStore, m_size, options.timeout);
    } catch (const std::exception& e) {
        throw WorkerGroupError("rank " + std::to_string(m_rank) + ": could not "
                               + (d.hostsStore ? "host the rendezvous store at " : "reach the rendezvous store at ") + where
                               + " within " + std::to_string(options.timeout.count() / 1000) + " s (" + e.what() + ")");
    }
    d.store = attemptStore(d.tcp, d.attempt);
    const int port = static_cast<int>(d.tcp->getPort());
    d.store->add("tunebench/arrived", 1);
    try {
        auto glooOptions = c10d::ProcessGroupGloo::Options::create(options.timeout);
        // The interface to talk on: GLOO_SOCKET_IFNAME as PyTorch reads it, loopback for a run on
        // one machine, else the one this host's name resolves to (not the master's address,
        // which only the master can bind).
        const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
        const std::string& master = placement.masterAddress;
        if (ifname && *ifname)
            glooOptions->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
        else if (master == "localhost" || master.rfind("127.", 0) == 0 || master == "::1")
            glooOptions->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
        else
            glooOptions->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
        glooOptions->threads = 2;
        d.gloo = c10::make_intrusive<c10d::ProcessGroupGloo>(
            c10::make_intrusive<c10d::PrefixStore>("gloo", d.store), m_rank, m_size, glooOptions);
#ifdef TUNEBENCH_HAVE_NCCL
        if (options.cuda) {
            // Without blocking waits NCCL's wait() only orders streams: a dead peer would stall the
            // next read until the watchdog aborts the process, instead of an error naming it.
            ::setenv("TORCH_NCCL_BLOCKING_WAIT", "1", 0);
            ::setenv("NCCL_BLOCKING_WAIT", "1", 0); // LibTorch 1.x's name
            auto ncclOptions = c10d::ProcessGroupNCCL::Options::create();
            ncclOptions->timeout = options.timeout;
            d.nccl = c10::make_intrusive<c10d::ProcessGroupNCCL>(c10::make_intrusive<c10d::PrefixStore>("nccl", d.store),
                                                                 m_rank, m_size, ncclOptions);
        }
#endif
    } catch (const std::exception& e) {
        int64_t arrived = -1;
        try {
            arrived = d.store->add("tunebench/arrived", 0);
        } catch (const std::exception&) {
        }
        std::ostringstream msg;
        msg << "rank " << m_rank << ": the rendezvous at " << where << " did not complete within "
            << options.timeout.count() / 1000 << " s";
        if (arrived >= 0)
            msg << ": " << arrived << " of " << m_size << " workers arrived";
        msg << " (" << e.what() << ")";
        throw WorkerGroupError(msg.str());
    }
#ifndef TUNEBENCH_HAVE_NCCL
    if (options.cuda)
        throw WorkerGroupError("this LibTorch has no NCCL: data-parallel training on CUDA devices needs a CUDA build of LibTorch");
#endif
    // The heartbeat has its own connection: the store's client is used by one thread at a time.
    d.heartbeat = std::thread([this, port] {
        Impl& d = *m_impl;
        try {
            const auto beat = attemptStore(connectTcpStore(d.host, port, false, m_size, m_options.timeout), d.attempt);
            for (int64_t n = 1; !d.stopHeartbeat.load(); ++n) {
                beat->set(heartbeatKey(m_rank), bytesOf(std::to_string(n)));
                for (auto t = Clock::now(); !d.stopHeartbeat.load() && Clock::now() - t < kHeartbeat;)
                    std::this_thread::sleep_for(std::chrono::milliseconds(20));
            }
        } catch (const std::exception&) {
            // The store is gone (its host ended): nothing left to beat for.
        }
    });
}

C10dWorkerGroup::~C10dWorkerGroup()
{
    // The process groups' connections close first: a worker still in a collective with this one
    // (this one stopped on an error) fails at once instead of after the timeout.
#ifdef TUNEBENCH_HAVE_NCCL
    m_impl->nccl.reset();
#endif
    m_impl->gloo.reset();
    // A rank 0 that hosts the store stays until the others are done with it (a worker still in
    // the last barrier would otherwise lose it), or until those missing stop beating.
    try {
        c10d::Store& store = *m_impl->store;
        if (!m_impl->hostsStore) {
            store.set(doneKey(m_rank), bytesOf("1"));
        } else if (m_size > 1) {
            HeartbeatWatch watch;
            const auto start = Clock::now();
            while (Clock::now() - start < m_options.timeout) {
                bool waiting = false;
                for (int r = 1; r < m_size; ++r)
                    if (!store.check({doneKey(r)}) && !watch.stale(store, r, kHeartbeatStale))
                        waiting = true;
                if (!waiting)
                    break;
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
            }
        }
    } catch (const std::exception&) {
    }
    m_impl->stopHeartbeat.store(true);
    if (m_impl->heartbeat.joinable())
        m_impl->heartbeat.join();
}

int C10dWorkerGroup::storePort() const
{
    return static_cast<int>(m_impl->tcp->getPort());
}

std::string C10dWorkerGroup::whoFailed(const std::string& error)
{
    c10d::Store& store = *m_impl->store;
    try {
        // A worker that stopped on an error says so; give it (or the launcher) a moment, then
        // name the first whose heartbeat did not move.
        HeartbeatWatch watch;
        const auto start = Clock::now();
        while (true) {
            for (int r = 0; r < m_size; ++r)
                if (r != m_rank && store.check({failedKey(r)}))
                    return "worker rank " + std::to_string(r) + " failed: " + stringOf(store.get(failedKey(r)));
            int staleRank = -1;
            for (int r = 0; r < m_size; ++r)
                if (r != m_rank && watch.stale(store, r, kHeartbeatStale) && staleRank < 0)
                    staleRank = r;
            if (Clock::now() - start >= kHeartbeatStale) {
                if (staleRank >= 0)
                    return "worker rank " + std::to_string(staleRank)
                        + " stopped responding (killed, out of memory, or hung); the collective reported: " + error;
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
    } catch (const std::exception&) {
        if (!m_impl->hostsStore)
            return storeHostName() + ", is gone (killed, out of memory, or failed); the collective reported: " + error;
    }
    return "a collective between the workers failed: " + error;
}

void C10dWorkerGroup::fail(const std::string& what, const std::exception& e)
{
    throw WorkerGroupError("rank " + std::to_string(m_rank) + ", " + what + ": " + whoFailed(e.what()));
}

void C10dWorkerGroup::sumTensors(const std::vector<at::Tensor>& tensors)
{
    if (m_size == 1 || tensors.empty())
        return;
    // Buckets of one dtype and device, packed flat, all issued before any is waited for.
    struct Bucket {
        std::vector<at::Tensor> members;
        size_t bytes = 0;
        at::Tensor flat;
    };
    std::vector<Bucket> buckets;
    std::map<std::pair<int, int>, size_t> open; // (dtype, is_cuda) -> bucket index
    for (const at::Tensor& t : tensors) {
        const auto key = std::make_pair(static_cast<int>(t.scalar_type()), t.is_cuda() ? 1 : 0);
        const size_t bytes = static_cast<size_t>(t.numel()) * t.element_size();
        auto it = open.find(key);
        if (it == open.end() || buckets[it->second].bytes + bytes > m_options.bucketBytes) {
            buckets.emplace_back();
            it = open.insert_or_assign(key, buckets.size() - 1).first;
        }
        buckets[it->second].members.push_back(t);
        buckets[it->second].bytes += bytes;
    }
    std::vector<std::unique_ptr<PendingSum>> pending;
    for (Bucket& b : buckets) {
        std::vector<at::Tensor> flat;
        for (const at::Tensor& t : b.members)
            flat.push_back(t.reshape({-1}));
        b.flat = at::cat(flat);
        pending.push_back(startSum(b.flat));
    }
    for (auto& p : pending)
        p->wait();
    for (Bucket& b : buckets) {
        int64_t offset = 0;
        for (const at::Tensor& t : b.members) {
            t.copy_(b.flat.narrow(0, offset, t.numel()).view(t.sizes()));
            offset += t.numel();
        }
    }
}

// One all-reduce in flight; its errors are reported as the group's.
class C10dPendingSum : public PendingSum {
public:
    C10dPendingSum(C10dWorkerGroup& group, std::function<void()> wait) : m_group(group), m_wait(std::move(wait)) {}
    void wait() override
    {
        if (!m_wait)
            return;
        try {
            auto w = std::move(m_wait);
            m_wait = nullptr;
            w();
        } catch (const std::exception& e) {
            m_group.fail("summing gradients", e);
        }
    }

private:
    C10dWorkerGroup& m_group;
    std::function<void()> m_wait;
};

std::unique_ptr<PendingSum> C10dWorkerGroup::startSum(const at::Tensor& flat)
{
    if (m_size == 1)
        return std::make_unique<C10dPendingSum>(*this, nullptr);
    std::vector<at::Tensor> io{flat};
    try {
#ifdef TUNEBENCH_HAVE_NCCL
        if (flat.is_cuda() && m_impl->nccl) {
            auto work = m_impl->nccl->allreduce(io);
            return std::make_unique<C10dPendingSum>(*this, [work] { work->wait(); });
        }
#endif
        auto work = m_impl->gloo->allreduce(io);
        return std::make_unique<C10dPendingSum>(*this, [work] { work->wait(); });
    } catch (const std::exception& e) {
        fail("summing gradients", e);
    }
}

std::vector<double> C10dWorkerGroup::sumValues(const std::vector<double>& values)
{
    if (m_size == 1 || values.empty())
        return values;
    at::Tensor t = at::tensor(values, at::kDouble);
    std::vector<at::Tensor> io{t};
    try {
        m_impl->gloo->allreduce(io)->wait();
    } catch (const std::exception& e) {
        fail("summing values", e);
    }
    return {t.data_ptr<double>(), t.data_ptr<double>() + t.numel()};
}

std::vector<std::vector<double>> C10dWorkerGroup::gatherValues(const std::vector<double>& values)
{
    if (m_size == 1)
        return {values};
    at::Tensor mine = at::tensor(values, at::kDouble);
    std::vector<std::vector<at::Tensor>> out(1);
    for (int r = 0; r < m_size; ++r)
        out[0].push_back(at::empty_like(mine));
    std::vector<at::Tensor> in{mine};
    try {
        m_impl->gloo->allgather(out, in)->wait();
    } catch (const std::exception& e) {
        fail("gathering samples", e);
    }
    std::vector<std::vector<double>> all;
    for (const at::Tensor& t : out[0])
        all.emplace_back(t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
    return all;
}

void C10dWorkerGroup::barrier(const std::string& name, std::chrono::seconds timeout)
{
    if (m_size == 1)
        return;
    c10d::Store& store = *m_impl->store;
    const std::string key = "tunebench/barrier/" + std::to_string(m_impl->barriers++) + "/" + name;
    const auto start = Clock::now();
    try {
        store.add(key, 1);
        HeartbeatWatch watch;
        while (store.add(key, 0) < m_size) {
            const auto now = Clock::now();
            if (now - start > timeout)
                throw WorkerGroupError("rank " + std::to_string(m_rank) + ": the workers did not all reach \"" + name
                                       + "\" within " + std::to_string(timeout.count()) + " s");
            for (int r = 0; r < m_size; ++r) {
                if (r == m_rank)
                    continue;
                if (store.check({failedKey(r)}))
                    throw WorkerGroupError("rank " + std::to_string(m_rank) + ", waiting for \"" + name + "\": worker rank "
                                           + std::to_string(r) + " failed: " + stringOf(store.get(failedKey(r))));
                if (watch.stale(store, r, kHeartbeatStale + std::chrono::seconds(5)))
                    throw WorkerGroupError("rank " + std::to_string(m_rank) + ", waiting for \"" + name + "\": worker rank "
                                           + std::to_string(r) + " stopped responding (killed, out of memory, or hung)");
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    } catch (const WorkerGroupError&) {
        throw;
    } catch (const std::exception& e) {
        throw WorkerGroupError("rank " + std::to_string(m_rank) + ", waiting for \"" + name + "\": "
                               + (m_impl->hostsStore ? std::string("the rendezvous store failed: ") + e.what()
                                                     : storeHostName() + ", is gone (" + std::string(e.what()) + ")"));
    }
}

void C10dWorkerGroup::reportFailure(const std::string& reason) noexcept
{
    try {
        m_impl->store->set(failedKey(m_rank), bytesOf(reason));
    } catch (...) {
    }
}

std::string C10dWorkerGroup::storeHostName() const
{
    return m_impl->launcherHostsStore ? "the launcher, which hosts the rendezvous store"
                                      : "worker rank 0, which hosts the rendezvous store";
}

} // namespace tb
