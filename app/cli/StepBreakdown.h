// Where a training step's time goes, for `tunebench-cli bench`: each part of the step re-timed
// on its own, on the model's own modules and the step's shapes, forward and backward:
//   projections  the frozen base matmuls of the seven projections (adapters switched off;
//                QLoRA's NF4 decoding included)
//   lora         the adapters' low-rank path (each projection with its adapter on, minus off)
//   attention    the attention block without its projections and rotary embedding
//   elementwise  RMSNorms, rotary embedding of q and k, SwiGLU, residual additions and layout
//                changes: the rest of a decoder layer
//   loss         the language-model head and cross-entropy over every position
//   optimizer    one AdamW update of the trained parameters and zeroing their gradients
//   other        the measured step minus the parts: embedding, final norm, autograd's own
//                bookkeeping, and what isolation measures differently (cache effects)
// Layer parts are timed on layer 0 and multiplied by the layer count. Each is the median of
// `reps` timings after a warm-up; the parts are estimates that need not add up to the step.
#pragma once

#include "formats/ModelConfig.h"
#include "model/LlamaForCausalLM.h"
#include "train/AdamW.h"
#include "train/BatchStream.h"

#include <string>
#include <vector>

namespace tbcli {

struct StepPart {
    std::string name;
    double seconds = 0; // per step
};

// The parts named above, in that order, "other" last (stepSeconds minus the rest, >= 0).
// Leaves the model's gradients zeroed.
std::vector<StepPart> timeStepParts(tb::LlamaForCausalLM& model, const tb::ModelConfig& config,
                                    const tb::TrainingBatch& batch, tb::AdamW& optimizer, double stepSeconds,
                                    const at::Device& device, int reps = 3);

} // namespace tbcli
