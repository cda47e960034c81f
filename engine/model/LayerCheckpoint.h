// Activation (gradient) checkpointing of one decoder layer (Chen et al. 2016): the forward
// pass keeps only the layer's input; backward runs the layer again with gradients on, then
// back-propagates through that recomputation. Memory per layer drops from all intermediate
// activations to one [B, T, hidden] tensor, for about one extra forward pass of compute.
// The CPU generator's state is restored for the recomputation, so LoRA dropout draws the
// same mask both times.
#pragma once

#include <ATen/ATen.h>

namespace tb {

class LlamaDecoderLayer;

at::Tensor checkpointedLayerForward(LlamaDecoderLayer& layer, const at::Tensor& x, const at::Tensor& cos,
                                    const at::Tensor& sin, const at::Tensor& mask);

} // namespace tb
