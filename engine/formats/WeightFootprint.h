// Bytes the weights of a model take in each storage precision, from config.json alone.
// NF4 follows QLoRA (Dettmers et al. 2023): only the decoder layers' linear weights are
// quantized (4 bits + per-64-block absmax; with double quantization the absmax is 8-bit with an
// fp32 scale per 256 blocks: 4.127 bits per parameter); embeddings, norms, biases and lm_head
// stay in bf16, as bitsandbytes leaves them.
#pragma once

#include "formats/ModelConfig.h"

#include <cstdint>

namespace tb {

struct WeightFootprint {
    int64_t totalParameters = 0;
    int64_t quantizableParameters = 0; // q/k/v/o/gate/up/down_proj weights
    int64_t fp32Bytes = 0;
    int64_t bf16Bytes = 0;
    int64_t nf4Bytes = 0;       // NF4 + double quantization, blocksize 64
    int64_t nf4NoDqBytes = 0;   // NF4 with fp32 absmax per block
};

WeightFootprint weightFootprint(const ModelConfig& config, int64_t blockSize = 64);

} // namespace tb
