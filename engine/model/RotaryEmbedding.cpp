#include "model/RotaryEmbedding.h"

#include <cmath>

namespace tb {

namespace {

// transformers' _compute_llama3_parameters: long wavelengths are divided by `factor`, short
// ones kept, and the band between is blended smoothly.
at::Tensor llama3Scaled(const at::Tensor& invFreq, const RopeScaling& s)
{
    const double oldContext = static_cast<double>(s.originalMaxPositionEmbeddings);
    const double lowFreqWavelen = oldContext / s.lowFreqFactor;
    const double highFreqWavelen = oldContext / s.highFreqFactor;
    const at::Tensor wavelen = 2.0 * M_PI / invFreq;
    at::Tensor scaled = at::where(wavelen > lowFreqWavelen, invFreq / s.factor, invFreq);
    const at::Tensor smooth = (oldContext / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
    const at::Tensor smoothed = (1 - smooth) * scaled / s.factor + smooth * scaled;
    const at::Tensor medium = (wavelen >= highFreqWavelen).logical_and(wavelen <= lowFreqWavelen);
    return at::where(medium, smoothed, scaled);
}

} // namespace

RotaryEmbedding::RotaryEmbedding(const ModelConfig& config, const at::Device& device)
{
    const int64_t dim = config.headDim;
    // Same expression as transformers: 1 / base^(arange(0, dim, 2, int64).float() / dim).
    const at::Tensor exponents = at::arange(0, dim, 2, at::TensorOptions().dtype(at::kLong)).to(at::kFloat) / dim;
    at::Tensor invFreq = 1.0 / at::pow(config.ropeTheta, exponents);
    if (config.ropeScaling.type == RopeScalingType::Linear)
        invFreq = invFreq / config.ropeScaling.factor;
    else if (config.ropeScaling.type == RopeScalingType::Llama3)
        invFreq = llama3Scaled(invFreq, config.ropeScaling);
    m_invFreq = invFreq.to(device);
}

at::Tensor RotaryEmbedding::inverseFrequenciesOn(const at::Device& device) const
{
    if (m_invFreq.device() == device)
        return m_invFreq;
    std::lock_guard<std::mutex> lock(m_deviceCopyMutex);
    if (!m_invFreqOnDevice.defined() || m_invFreqOnDevice.device() != device)
        m_invFreqOnDevice = m_invFreq.to(device);
    return m_invFreqOnDevice;
}

std::pair<at::Tensor, at::Tensor> RotaryEmbedding::cosSin(const at::Tensor& positions, at::ScalarType dtype) const
{
    const at::Tensor freqs = at::outer(positions.to(at::kFloat), inverseFrequenciesOn(positions.device())); // [T, D/2]
    const at::Tensor emb = at::cat({freqs, freqs}, -1);                        // [T, D]
    return {emb.cos().to(dtype), emb.sin().to(dtype)};
}

at::Tensor RotaryEmbedding::apply(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin)
{
    const int64_t half = x.size(-1) / 2;
    const at::Tensor x1 = x.narrow(-1, 0, half);
    const at::Tensor x2 = x.narrow(-1, half, half);
    const at::Tensor rotated = at::cat({-x2, x1}, -1);
    return x * cos + rotated * sin;
}

} // namespace tb
