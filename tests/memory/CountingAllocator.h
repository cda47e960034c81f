// A LibTorch CPU allocator that counts the bytes of every tensor alive and their peak, put in
// front of the default one (c10::SetCPUAllocator at a high priority): the estimator tests
// compare the estimator's activation terms with what a real forward/backward pass allocates.
// Install at most one per process, before any tensor that should be counted exists.
#pragma once

#include <c10/core/CPUAllocator.h>

#include <atomic>
#include <mutex>
#include <stdexcept>
#include <unordered_map>

namespace tbtest {

// Each allocation keeps its pointer as the context (oneDNN's raw_allocate requires that), so
// the sizes live in a side table.
class CountingAllocator : public c10::Allocator {
public:
    explicit CountingAllocator(c10::Allocator* inner) : m_inner(inner) { self() = this; }

    c10::DataPtr allocate(size_t n) const override
    {
        c10::DataPtr inner = m_inner->allocate(n);
        void* data = inner.get();
        if (inner.get_context() != data)
            throw std::runtime_error("the default CPU allocator's context is not its pointer");
        inner.release_context();
        {
            std::lock_guard<std::mutex> lock(m_mutex);
            m_sizes[data] = n;
        }
        const int64_t now = m_current.fetch_add(static_cast<int64_t>(n)) + static_cast<int64_t>(n);
        int64_t peak = m_peak.load();
        while (now > peak && !m_peak.compare_exchange_weak(peak, now)) {
        }
        return c10::DataPtr(data, data, &CountingAllocator::release, c10::Device(c10::DeviceType::CPU));
    }
    c10::DeleterFnPtr raw_deleter() const override { return &CountingAllocator::release; }

    int64_t current() const { return m_current.load(); }
    int64_t peak() const { return m_peak.load(); }
    void resetPeak() { m_peak.store(m_current.load()); }

private:
    static CountingAllocator*& self()
    {
        static CountingAllocator* instance = nullptr;
        return instance;
    }
    static void release(void* p)
    {
        if (!p)
            return;
        CountingAllocator* owner = self();
        size_t n = 0;
        {
            std::lock_guard<std::mutex> lock(owner->m_mutex);
            auto it = owner->m_sizes.find(p);
            if (it != owner->m_sizes.end()) {
                n = it->second;
                owner->m_sizes.erase(it);
            }
        }
        owner->m_current.fetch_sub(static_cast<int64_t>(n));
        owner->m_inner->raw_deleter()(p);
    }

    c10::Allocator* m_inner;
    mutable std::mutex m_mutex;
    mutable std::unordered_map<void*, size_t> m_sizes;
    mutable std::atomic<int64_t> m_current{0};
    mutable std::atomic<int64_t> m_peak{0};
};

} // namespace tbtest
