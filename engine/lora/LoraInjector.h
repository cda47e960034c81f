// Puts LoRA adapters into a loaded model, finds them again, and merges them back.
#pragma once

#include "lora/LoraLinear.h"
#include "lora/LoraSettings.h"

#include <string>
#include <utility>
#include <vector>

namespace tb {

class LlamaForCausalLM;

struct LoraLayerRef {
    std::string name; // "model.layers.3.self_attn.q_proj"
    std::shared_ptr<LoraLinear> layer;
};

// Wraps each target projection of every layer in a LoraLinear (A kaiming-uniform from `seed`,
// B zero), freezes every other parameter, and returns the wrapped layers in model order.
// Throws std::invalid_argument for an unknown target name or a model that already has adapters.
std::vector<LoraLayerRef> applyLora(LlamaForCausalLM& model, const LoraSettings& settings, uint64_t seed);

// The adapters present in the model, in model order (empty when none).
std::vector<LoraLayerRef> loraLayers(LlamaForCausalLM& model);

// Switches every adapter in the model off (forward = the base model exactly) or on again,
// without removing them, like PEFT's disable_adapter(). Returns the number of layers switched.
// Call between forwards, on the thread that runs the model.
size_t setLoraEnabled(LlamaForCausalLM& model, bool enabled);

// Chooses every adapter's training path: one fused node (the default) or the plain composition
// of LibTorch operators (see LoraLinear.h), for comparing the two. Returns the layers switched.
size_t setLoraFused(LlamaForCausalLM& model, bool fused);

// Puts every LoraLinear's base projection back in its place, dropping the adapters: the model
// is the base again (and applyLora / loadPeftAdapter can wrap it anew). Parameters keep
// requires_grad = false. Returns the number of layers unwrapped.
size_t removeLora(LlamaForCausalLM& model);

// Replaces every LoraLinear by a plain Linear holding W + scaling * B A (in the base dtype).
void mergeLora(LlamaForCausalLM& model);

int64_t loraParameterCount(LlamaForCausalLM& model);

} // namespace tb
