// Sums the trained parameters' gradients across the workers of a data-parallel run while the
// last micro-batch's backward pass is still running, as DDP's reducer does: the parameters
// are put in buckets (at most `bucketBytes`, one dtype and device each) in the reverse of
// their registration order, which is roughly the order backward finishes them (the last
// layers first); a gradient hook copies each parameter's step gradient into its bucket as
// autograd produces it, and a bucket whose members are all in starts its all-reduce at once.
//
// Invariants:
// - Buckets start strictly in index order on every worker (a full bucket waits for the ones
//   before it), so the workers issue the same collectives in the same order whatever order
//   autograd happens to finish the parameters in.
// - The hook sees the gradient before AccumulateGrad adds it to .grad; the step's gradient is
//   .grad (earlier micro-batches) + that, the same float sum AccumulateGrad makes.
// - A parameter whose hook did not fire (no loss tokens on this worker, a parameter the batch
//   did not reach) goes in with its .grad, or zeros, when finish() starts what is left.
// - finish() writes the sums back into .grad: every worker then holds the same bytes.
// - After the first step, parameters no worker's backward reached move to the last buckets
//   (agreed by all workers), so they do not hold back the others' buckets.
#pragma once

#include "train/WorkerGroup.h"

#include <ATen/ATen.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace tb {

class OverlappedGradientSum {
public:
    OverlappedGradientSum(WorkerGroup& group, const std::vector<std::pair<std::string, at::Tensor>>& parameters,
                          size_t bucketBytes = size_t(25) << 20);
    ~OverlappedGradientSum();
    OverlappedGradientSum(const OverlappedGradientSum&) = delete;
    OverlappedGradientSum& operator=(const OverlappedGradientSum&) = delete;

    // The next backward pass is the step's last: its hooks start the sums. A worker with
    // nothing to run backward on (no loss tokens) goes straight to finish().
    void arm();
    // Starts what has not started, waits for every bucket and writes the sums into .grad.
    // Every worker calls it once per step. Throws WorkerGroupError as WorkerGroup's calls do.
    void finish();

    size_t bucketCount() const;
    // Buckets started from inside the last backward pass (the rest in finish()): how much
    // of the communication could overlap with compute.
    size_t startedDuringBackward() const { return m_startedDuringBackward; }

private:
    struct Bucket;
    void onGradient(size_t parameter, const at::Tensor& grad);
    void startReadyBuckets();
    void startBucket(Bucket& bucket);
    void layBuckets(const std::vector<size_t>& order);
    void moveUnreachedLast();
    void reset(); // ready for the next step's micro-batches

    WorkerGroup& m_group;
    std::vector<at::Tensor> m_parameters;
    std::vector<std::pair<size_t, size_t>> m_slot; // parameter -> (bucket, offset in elements)
    std::vector<std::unique_ptr<Bucket>> m_buckets;
    size_t m_bucketBytes = 0;
    std::vector<bool> m_in;          // parameter: its step gradient is in its bucket
    std::vector<bool> m_reached;     // parameter: handed over by backward this step
    bool m_rebuilt = false;
    std::vector<unsigned> m_hooks;   // parameter: its hook's handle
    size_t m_nextToStart = 0;
    size_t m_startedDuringBackward = 0;
    bool m_armed = false;
};

} // namespace tb
