// Floating-point operations of one training token, for reporting achieved GFLOP/s next to the
// machine's matmul rate. Counts multiply-adds as 2 FLOPs, matmuls only (norms, softmax and
// elementwise work are a few percent):
//   frozen base (LoRA):  2 N forward + 2 N input gradients        = 4 N
//   trained weights:     2 P forward + 2 P input grads + 2 P weight grads = 6 P
//   attention:           forward 4 L T d_attn per token (QK^T and PV over the full T x T
//                        product, as the kernels compute it), backward twice that
// with N the matmul weights of the model (decoder linears and lm_head), P the trained ones,
// L layers, T the sequence length and d_attn = heads * head_dim (REFERENCE.md: "about 4N plus
// attention, plus 6x the adapter parameters"; full fine-tuning: 6N plus attention).
#pragma once

#include "formats/ModelConfig.h"

#include <cstdint>

namespace tb {

double trainingFlopsPerToken(const ModelConfig& config, int64_t seqLen, bool fullFineTuning, int64_t adapterParameters,
                             bool gradientCheckpointing);

} // namespace tb
