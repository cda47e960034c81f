// Activation (gradient) checkpointing of one decoder layer (Chen et al. 2016): the forward
// pass keeps only the layer's input; backward runs the layer again with gradients on, then
// back-propagates through that recomputation. Memory per layer drops from all intermediate
// activations to one [B, T, hidden] tensor, for about one extra forward pass of compute.
// The CPU generator's state is restored for the recomputation, so LoRA dropout draws the
// same mask both times.
#pragma once

// The mask travels as its description (key padding, window, span); an additive mask the
// layer's forward built (unfused path) is kept for the recomputation, shared with the other
// layers as in forward, and the fused path keeps none.
#include <ATen/ATen.h>

namespace tb {

class AttentionMask;
class LlamaDecoderLayer;

at::Tensor checkpointedLayerForward(LlamaDecoderLayer& layer, const at::Tensor& x, const at::Tensor& cos,
                                    const at::Tensor& sin, const AttentionMask& mask);

} // namespace tb
