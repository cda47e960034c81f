// A resumable training checkpoint: run_dir/checkpoints/step-NNNNNNNN/ holding
//   trainable.safetensors       the trainable parameters by model name, fp32
//   training_state.safetensors  AdamW moments ("exp_avg.<name>", "exp_avg_sq.<name>"), the CPU
//                               generator state ("rng.cpu"), and in __metadata__ "trainer_state":
//                               JSON with step, optimizer step count, tokens seen, ...
//   train_config.json           the run's TrainConfig
// Written to "step-NNNNNNNN.tmp-<pid>", each file fsync'ed, then renamed: a checkpoint folder
// without the ".tmp" suffix is always complete; a kill mid-write leaves only a .tmp folder,
// which loading ignores and the next save removes.
#pragma once

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <map>
#include <string>

namespace tb {

struct CheckpointContents {
    int64_t step = 0;
    std::map<std::string, at::Tensor> trainable;      // CPU tensors
    std::map<std::string, at::Tensor> optimizerState; // CPU tensors
    at::Tensor rngState;     // the CPU generator ("rng.cpu")
    at::Tensor cudaRngState; // the training device's generator on CUDA ("rng.cuda"), else undefined
    nlohmann::json trainerState; // step, optimizer_steps, tokens_seen, bad_steps, ...
    nlohmann::json config;
};

// Returns the folder written.
std::string saveTrainingCheckpoint(const std::string& runDir, const CheckpointContents& contents);

// The highest complete step folder under runDir/checkpoints, or "" when none.
std::string latestCheckpoint(const std::string& runDir);

// Throws FormatError naming the file on any inconsistency.
CheckpointContents loadTrainingCheckpoint(const std::string& checkpointDir);

} // namespace tb
