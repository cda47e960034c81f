// The other workers of a data-parallel run, as the training recipe sees them: collectives over
// host values and gradient tensors, and a barrier for phases of unbounded length. The
// implementation is torch.distributed's c10d (engine/dist/C10dWorkerGroup: a TCP store, Gloo
// for CPU tensors, NCCL for CUDA); the recipe depends only on this interface, so engine/train
// builds without the c10d and Gloo headers. A run without one is a single worker.
//
// Every call is collective: all workers make the same calls in the same order. A call that
// cannot complete (a worker died, or did not answer within the group's timeout) throws
// WorkerGroupError, whose message names the worker that failed and why, as far as known.
#pragma once

#include <ATen/ATen.h>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace tb {

class WorkerGroupError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// A sum started by WorkerGroup::startSum: wait() returns once the tensor holds the sum (and
// throws WorkerGroupError as a blocking call would).
class PendingSum {
public:
    virtual ~PendingSum() = default;
    virtual void wait() = 0;
};

class WorkerGroup {
public:
    virtual ~WorkerGroup() = default;
    virtual int rank() const = 0;
    virtual int size() const = 0;

    // Sums the tensors across workers in place, in buckets (one all-reduce per bucket, issued
    // together). Every worker ends with the same bytes.
    virtual void sumTensors(const std::vector<at::Tensor>& tensors) = 0;
    // Starts summing one flat, contiguous tensor in place and returns at once, so the caller's
    // backward pass goes on while it travels. Sums started are collective calls like the
    // others: every worker starts the same ones in the same order.
    virtual std::unique_ptr<PendingSum> startSum(const at::Tensor& flat) = 0;
    // Sums a few host numbers across workers (loss sums, token counts, control flags), in double.
    virtual std::vector<double> sumValues(const std::vector<double>& values) = 0;
    // Every worker's numbers, in rank order (each worker passes the same count).
    virtual std::vector<std::vector<double>> gatherValues(const std::vector<double>& values) = 0;
    // Waits until every worker has called it with the same name, for up to `timeout`: for
    // phases whose length the group's collective timeout does not bound (loading and
    // quantizing the model, rank 0 writing a checkpoint).
    virtual void barrier(const std::string& name, std::chrono::seconds timeout) = 0;
    // Tells the others why this worker stops (before it ends): best effort, never throws.
    virtual void reportFailure(const std::string& reason) noexcept = 0;
};

} // namespace tb
