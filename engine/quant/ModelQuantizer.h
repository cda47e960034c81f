// Quantizes the frozen base of a model for QLoRA: the seven projections of every decoder layer
// (q/k/v/o_proj, gate/up/down_proj) become QuantizedLinear layers; embeddings, norms and
// lm_head stay as they are, as bitsandbytes/transformers leave them (lm_head is excluded from
// load_in_4bit by default) and as WeightFootprint's nf4 figures count.
#pragma once

#include "model/LlamaForCausalLM.h"
#include "quant/QuantSettings.h"

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace tb {

class QuantizedLinear;

struct QuantizeReport {
    int64_t bytesBefore = 0;          // the replaced projections' weights and biases
    int64_t bytesAfter = 0;           // the same projections, quantized (QuantizedLinear::storageBytes)
    int64_t quantizedParameters = 0;  // weights now stored quantized
    int layersReplaced = 0;
    double bitsPerParameter() const // of the quantized weights, all stored state included
    {
        return quantizedParameters > 0 ? 8.0 * static_cast<double>(bytesAfter) / static_cast<double>(quantizedParameters)
                                       : 0.0;
    }
};

struct QuantizeCancelled : std::runtime_error {
    QuantizeCancelled() : std::runtime_error("quantization cancelled") {}
};

class ModelQuantizer {
public:
    // Replaces every plain Linear projection (already quantized ones are left alone; a
    // LoRA-wrapped projection is an error: quantize first, then add adapters). Each layer's
    // bf16 weight is released as soon as its replacement exists, so peak memory grows by one
    // projection, not by a model.
    // `cancelled` (may be empty) is asked before each projection; when it says yes,
    // QuantizeCancelled is thrown and the model is left part-quantized (the caller drops it).
    static QuantizeReport quantizeBase(LlamaForCausalLM& model, const QuantSettings& settings,
                                       const std::function<bool()>& cancelled = {});

    // "model.layers.3.self_attn.q_proj" -> the layer, for every quantized projection, in model
    // order (looking through wrappers: an adapter's base).
    static std::vector<std::pair<std::string, std::shared_ptr<QuantizedLinear>>> quantizedLayers(LlamaForCausalLM& model);

    // Bytes of every quantized projection's stored state.
    static int64_t quantizedBytes(LlamaForCausalLM& model);

};

} // namespace tb
