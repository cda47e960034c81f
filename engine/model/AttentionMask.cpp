#include "model/AttentionMask.h"

#include <limits>

namespace tb {

AttentionMask::AttentionMask(int64_t past, int64_t queryLen, at::Tensor keyPadding, int64_t window,
                             at::ScalarType dtype, at::Device device)
    : m_past(past), m_queryLen(queryLen), m_window(window), m_keyPadding(std::move(keyPadding)), m_dtype(dtype),
      m_device(device)
{
}

const at::Tensor& AttentionMask::keyValidBytes() const
{
    if (m_keyPadding.defined() && !m_keyValidBytes.defined())
        m_keyValidBytes = m_keyPadding.to(at::kByte).contiguous();
    return m_keyValidBytes;
}

void AttentionMask::adoptAdditive(at::Tensor additive)
{
    m_additive = std::move(additive);
    m_additiveBuilt = true;
}

const at::Tensor& AttentionMask::additive() const
{
    if (m_additiveBuilt)
        return m_additive;
    m_additiveBuilt = true;
    const int64_t t = m_queryLen, total = keyLen();
    const bool windowed = m_window > 0 && total > m_window;
    if (t == 1 && !m_keyPadding.defined() && !windowed)
        return m_additive; // one new token sees every cached position
    const auto longOpts = at::TensorOptions().dtype(at::kLong).device(m_device);
    const at::Tensor queryPos = at::arange(m_past, total, longOpts).unsqueeze(1); // [T, 1]
    const at::Tensor keyPos = at::arange(0, total, longOpts).unsqueeze(0);        // [1, Tk]
    at::Tensor blocked = keyPos > queryPos;
    if (windowed)
        blocked = blocked.logical_or(keyPos <= queryPos - m_window);
    blocked = blocked.view({1, 1, t, total});
    if (m_keyPadding.defined())
        blocked = blocked.logical_or(m_keyPadding.logical_not().view({m_keyPadding.size(0), 1, 1, total}));
    // The most negative finite value rather than -inf, so a fully padded row gives a uniform
    // softmax instead of NaN (as transformers does). On CUDA the fused attention adds the mask
    // in the activations' dtype: it is built in that dtype here, with that dtype's own lowest
    // value (float's is -inf in bf16 and fp16).
    at::ScalarType maskType = m_dtype == at::kDouble ? at::kDouble : at::kFloat;
    double lowest = std::numeric_limits<float>::lowest();
    if (m_device.is_cuda() && m_dtype == at::kBFloat16) {
        maskType = m_dtype;
        lowest = static_cast<double>(std::numeric_limits<c10::BFloat16>::lowest());
    } else if (m_device.is_cuda() && m_dtype == at::kHalf) {
        maskType = m_dtype;
        lowest = static_cast<double>(std::numeric_limits<c10::Half>::lowest());
    }
    m_additive = at::zeros(blocked.sizes(), at::TensorOptions().dtype(maskType).device(m_device)).masked_fill_(blocked, lowest);
    return m_additive;
}

} // namespace tb
