// Rotary position embeddings (Su et al. 2021, arXiv 2104.09864) in transformers' "rotate_half"
// layout: dimension i pairs with i + D/2 (not interleaved), inverse frequencies
// theta^(-2i/D), optionally rescaled (linear, or Llama 3.1's "llama3" piecewise scaling).
// cos/sin are computed in fp32 and cast to the activations' dtype, as transformers does.
#pragma once

#include "formats/ModelConfig.h"

#include <ATen/ATen.h>

#include <mutex>

namespace tb {

class RotaryEmbedding {
public:
    RotaryEmbedding(const ModelConfig& config, const at::Device& device);

    // positions: [T] int64. Returns {cos, sin}, each [T, D] in `dtype`.
    std::pair<at::Tensor, at::Tensor> cosSin(const at::Tensor& positions, at::ScalarType dtype) const;

    // x: [B, H, T, D]; cos/sin: [T, D].
    static at::Tensor apply(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);

    const at::Tensor& inverseFrequencies() const { return m_invFreq; } // [D/2] fp32

private:
    // The model is built on the CPU and moved with Module::to(), which does not see this
    // tensor (it is not a registered buffer, so exports never write it): cosSin() keeps a copy
    // on the positions' device, made once.
    at::Tensor inverseFrequenciesOn(const at::Device& device) const; // by value: the copy may be replaced

    at::Tensor m_invFreq;
    mutable std::mutex m_deviceCopyMutex;
    mutable at::Tensor m_invFreqOnDevice;
};

} // namespace tb
