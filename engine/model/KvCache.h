// Keys and values of past positions for incremental decoding, one pair per decoder layer.
// Buffers are [B, num_key_value_heads, capacity, head_dim] (before the grouped-query repeat,
// so they take num_heads/num_key_value_heads times less memory) and grow by doubling.
#pragma once

#include <ATen/ATen.h>

#include <vector>

namespace tb {

class KvCache {
public:
    explicit KvCache(int64_t numLayers) : m_keys(numLayers), m_values(numLayers) {}

    // Number of positions already stored (equal for every layer between forward calls).
    int64_t length() const { return m_length; }

    // Stores k/v [B, KV, T, D] for `layer` after the existing positions and returns views of
    // all positions so far [B, KV, length + T, D]. The last layer's call advances length().
    std::pair<at::Tensor, at::Tensor> append(size_t layer, const at::Tensor& k, const at::Tensor& v);

    void clear();
    int64_t bytes() const;

private:
    std::vector<at::Tensor> m_keys;
    std::vector<at::Tensor> m_values;
    int64_t m_length = 0;
};

} // namespace tb
