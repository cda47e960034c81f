// What a LoRA adapter is: rank, alpha, dropout, rsLoRA, and which projections it wraps.
// Names and defaults follow PEFT's LoraConfig (r=8, lora_alpha=8, lora_dropout=0.0), except the
// targets: all seven linear layers of each block, as QLoRA recommends, where PEFT would pick
// q_proj and v_proj for Llama.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tb {

struct LoraSettings {
    int64_t rank = 8;
    double alpha = 8.0;
    double dropout = 0.0;
    bool rslora = false;
    std::vector<std::string> targets = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};

    double scaling() const; // alpha / rank, or alpha / sqrt(rank) with rsLoRA
};

} // namespace tb
