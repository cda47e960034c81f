#include "model/KvCache.h"

namespace tb {

namespace {

at::Tensor grown(const at::Tensor& old, int64_t used, int64_t needed, const at::Tensor& like)
{
    if (old.defined() && old.size(2) >= needed)
        return old;
    const int64_t capacity = std::max<int64_t>(needed, old.defined() ? old.size(2) * 2 : 64);
    at::Tensor fresh = at::empty({like.size(0), like.size(1), capacity, like.size(3)}, like.options());
    if (old.defined() && used > 0)
        fresh.narrow(2, 0, used).copy_(old.narrow(2, 0, used));
    return fresh;
}

} // namespace

std::pair<at::Tensor, at::Tensor> KvCache::append(size_t layer, const at::Tensor& k, const at::Tensor& v)
{
    const int64_t t = k.size(2);
    const int64_t total = m_length + t;
    m_keys[layer] = grown(m_keys[layer], m_length, total, k);
    m_values[layer] = grown(m_values[layer], m_length, total, v);
    m_keys[layer].narrow(2, m_length, t).copy_(k);
    m_values[layer].narrow(2, m_length, t).copy_(v);
    auto result = std::make_pair(m_keys[layer].narrow(2, 0, total), m_values[layer].narrow(2, 0, total));
    if (layer + 1 == m_keys.size())
        m_length = total;
    return result;
}

void KvCache::clear()
{
    for (auto& t : m_keys)
        t = at::Tensor();
    for (auto& t : m_values)
        t = at::Tensor();
    m_length = 0;
}

int64_t KvCache::bytes() const
{
    int64_t total = 0;
    for (const auto* list : {&m_keys, &m_values})
        for (const auto& t : *list)
            if (t.defined())
                total += t.numel() * static_cast<int64_t>(t.element_size());
    return total;
}

} // namespace tb
