// WorkerGroup (engine/train/WorkerGroup.h) on torch.distributed's c10d, the engine PyTorch's
// DDP uses: a TCP store hosted by rank 0 for the rendezvous (env:// in PyTorch's terms), the
// Gloo process group for CPU tensors and host values, and NCCL for CUDA tensors where LibTorch
// was built with it.
//
// The store is hosted by rank 0, or by the launcher when it says so (dist/RendezvousStore.h).
// Knowing who failed: each worker beats a heartbeat key in the store (its own connection,
// every 500 ms) and a worker that stops on an error writes "failed/<rank>" with its reason
// (reportFailure; the --nproc-per-node launcher writes it too for a worker it saw die). When a
// collective or a barrier fails, the error names the rank from those keys: the one that said
// why, else the one whose heartbeat stopped, else rank 0 when the store itself is gone.
#pragma once

#include "dist/WorkerPlacement.h"
#include "train/WorkerGroup.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>

namespace tb {

struct WorkerGroupOptions {
    // Rendezvous, and each collective: how long a worker waits for the others before the run
    // fails (tunebench-cli train --dist-timeout).
    std::chrono::milliseconds timeout{std::chrono::seconds(60)};
    // Gradients are summed in buckets of at most this many bytes (DDP's default, 25 MiB).
    size_t bucketBytes = size_t(25) << 20;
    // Where the gradients live: CPU tensors go through Gloo, CUDA ones through NCCL.
    bool cuda = false;
};

class C10dWorkerGroup : public WorkerGroup {
public:
    // Joins the group: rank 0 hosts the store at masterAddress:masterPort (port 0 picks a free
    // one, for tests) unless the placement says the launcher does; the others connect to it. Throws WorkerGroupError when the rendezvous
    // does not complete within the timeout, saying how many workers arrived.
    C10dWorkerGroup(const WorkerPlacement& placement, WorkerGroupOptions options = {});
    ~C10dWorkerGroup() override;

    int rank() const override { return m_rank; }
    int size() const override { return m_size; }
    int storePort() const;

    void sumTensors(const std::vector<at::Tensor>& tensors) override;
    std::unique_ptr<PendingSum> startSum(const at::Tensor& flat) override;
    std::vector<double> sumValues(const std::vector<double>& values) override;
    std::vector<std::vector<double>> gatherValues(const std::vector<double>& values) override;
    void barrier(const std::string& name, std::chrono::seconds timeout) override;
    void reportFailure(const std::string& reason) noexcept override;

private:
    friend class C10dPendingSum; // reports its failure as the group's
    struct Impl;
    // The failure behind a collective's error, as "worker rank R ...".
    std::string whoFailed(const std::string& error);
    [[noreturn]] void fail(const std::string& what, const std::exception& e);
    // Who a worker loses when the store goes: rank 0 or the launcher.
    std::string storeHostName() const;

    int m_rank = 0;
    int m_size = 1;
    WorkerGroupOptions m_options;
    std::unique_ptr<Impl> m_impl;
};

} // namespace tb
