#include "train/OverlappedGradientSum.h"

#include <map>

namespace tb {

struct OverlappedGradientSum::Bucket {
    std::vector<size_t> members; // parameter indices
    at::Tensor flat;
    size_t bytes = 0;
    int64_t numel = 0;
    size_t ready = 0; // members whose step gradient is in `flat`
    std::unique_ptr<PendingSum> pending;
};

OverlappedGradientSum::OverlappedGradientSum(WorkerGroup& group, const std::vector<std::pair<std::string, at::Tensor>>& parameters,
                                             size_t bucketBytes)
    : m_group(group)
{
    for (const auto& [name, p] : parameters)
        m_parameters.push_back(p);
    m_bucketBytes = bucketBytes;
    std::vector<size_t> order;
    for (size_t i = m_parameters.size(); i-- > 0;)
        order.push_back(i);
    layBuckets(order);
    reset();
    for (size_t i = 0; i < m_parameters.size(); ++i)
        m_hooks.push_back(m_parameters[i].register_hook([this, i](const at::Tensor& grad) { onGradient(i, grad); }));
}

void OverlappedGradientSum::layBuckets(const std::vector<size_t>& order)
{
    m_buckets.clear();
    m_slot.assign(m_parameters.size(), {0, 0});
    std::map<std::pair<int, std::string>, size_t> open; // (dtype, device) -> bucket being filled
    for (const size_t i : order) {
        const at::Tensor& p = m_parameters[i];
        const auto key = std::make_pair(static_cast<int>(p.scalar_type()), p.device().str());
        const size_t bytes = static_cast<size_t>(p.numel()) * p.element_size();
        auto it = open.find(key);
        if (it == open.end() || m_buckets[it->second]->bytes + bytes > m_bucketBytes) {
            m_buckets.push_back(std::make_unique<Bucket>());
            it = open.insert_or_assign(key, m_buckets.size() - 1).first;
        }
        Bucket& b = *m_buckets[it->second];
        m_slot[i] = {it->second, static_cast<size_t>(b.numel)};
        b.members.push_back(i);
        b.bytes += bytes;
        b.numel += p.numel();
    }
    for (auto& b : m_buckets)
        b->flat = at::zeros({b->numel}, m_parameters[b->members.front()].options());
}

OverlappedGradientSum::~OverlappedGradientSum()
{
    // The hooks hold `this`: a backward pass after this object is gone must not call them.
    for (size_t i = 0; i < m_parameters.size(); ++i)
        m_parameters[i].remove_hook(m_hooks[i]);
}

size_t OverlappedGradientSum::bucketCount() const
{
    return m_buckets.size();
}

void OverlappedGradientSum::arm()
{
    m_startedDuringBackward = 0;
    m_armed = true;
}

void OverlappedGradientSum::reset()
{
    for (auto& b : m_buckets) {
        b->ready = 0;
        b->pending.reset();
    }
    m_in.assign(m_parameters.size(), false);
    m_reached.assign(m_parameters.size(), false);
    m_nextToStart = 0;
    m_armed = false;
}

void OverlappedGradientSum::onGradient(size_t parameter, const at::Tensor& grad)
{
    if (!m_armed)
        return; // an earlier micro-batch: AccumulateGrad sums it into .grad
    const auto [bucketIndex, offset] = m_slot[parameter];
    Bucket& b = *m_buckets[bucketIndex];
    if (m_in[parameter])
        return;
    const at::Tensor& p = m_parameters[parameter];
    at::Tensor slot = b.flat.narrow(0, static_cast<int64_t>(offset), p.numel()).view(p.sizes());
    if (p.grad().defined())
        at::add_out(slot, p.grad(), grad);
    else
        slot.copy_(grad);
    m_in[parameter] = true;
    m_reached[parameter] = true;
    ++b.ready;
    const size_t before = m_nextToStart;
    startReadyBuckets();
    m_startedDuringBackward += m_nextToStart - before;
}

void OverlappedGradientSum::startReadyBuckets()
{
    while (m_nextToStart < m_buckets.size() && m_buckets[m_nextToStart]->ready == m_buckets[m_nextToStart]->members.size())
        startBucket(*m_buckets[m_nextToStart++]);
}

void OverlappedGradientSum::startBucket(Bucket& b)
{
    b.pending = m_group.startSum(b.flat);
}

void OverlappedGradientSum::finish()
{
    m_armed = false; // whatever backward comes next belongs to the next step
    // What backward did not hand over: the .grad of earlier micro-batches, or zeros.
    for (auto& b : m_buckets) {
        if (b->ready == b->members.size())
            continue;
        for (size_t m : b->members) {
            if (m_in[m])
                continue;
            const at::Tensor& p = m_parameters[m];
            at::Tensor slot = b->flat.narrow(0, static_cast<int64_t>(m_slot[m].second), p.numel()).view(p.sizes());
            if (p.grad().defined())
                slot.copy_(p.grad());
            else
                slot.zero_();
            m_in[m] = true;
            ++b->ready;
        }
    }
    startReadyBuckets();
    for (auto& b : m_buckets)
        b->pending->wait();
    for (size_t i = 0; i < m_parameters.size(); ++i) {
        at::Tensor& p = m_parameters[i];
        const at::Tensor sum = m_buckets[m_slot[i].first]->flat.narrow(0, static_cast<int64_t>(m_slot[i].second), p.numel()).view(p.sizes());
        if (p.grad().defined())
            p.mutable_grad().copy_(sum);
        else
            p.mutable_grad() = sum.clone();
    }
    if (!m_rebuilt)
        moveUnreachedLast();
    reset();
}

void OverlappedGradientSum::moveUnreachedLast()
{
    // After the first step, as DDP rebuilds its buckets: a parameter no worker's backward
    // reached (a layer the model does not use) would hold its bucket, and every bucket after
    // it, until finish(). The workers agree on the set (one exchange, once), so their buckets
    // stay alike.
    m_rebuilt = true;
    std::vector<double> reached(m_parameters.size());
    for (size_t i = 0; i < reached.size(); ++i)
        reached[i] = m_reached[i] ? 1.0 : 0.0;
    reached = m_group.sumValues(reached);
    std::vector<size_t> order, last;
    for (size_t i = m_parameters.size(); i-- > 0;)
        (reached[i] > 0 ? order : last).push_back(i);
    if (last.empty() || order.empty())
        return;
    order.insert(order.end(), last.begin(), last.end());
    layBuckets(order);
}

} // namespace tb
