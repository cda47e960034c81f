// A frozen projection whose weight is stored quantized, as bitsandbytes' Linear4bit stores it
// (QLoRA, Dettmers et al. 2023): forward dequantizes the weight to the activations' dtype,
// multiplies and discards it. LoRA wraps it like any other Projection.
//
// Stored state, all registered BUFFERS (never parameters: nothing here trains, and the
// optimizer, requires_grad sweeps and parameter counts must not see them), named after the
// bitsandbytes checkpoint keys with '.' -> '_' (LibTorch forbids '.' in buffer names):
//   NF4  (n = out * in weights, B = blockSize, nb = ceil(n / B)):
//     weight            uint8 [ceil(n/2), 1]   two codes per byte, element 2j in the HIGH nibble
//     absmax            fp32 [nb]              (uint8 [nb] codes when double-quantized)
//     quant_map         fp32 [16]              the NF4 table
//   Int8 (bitsandbytes quantize_blockwise):
//     weight            uint8 [out, in]        dynamic-map codes
//     absmax            fp32 [nb]              (uint8 [nb] when double-quantized)
//     quant_map         fp32 [256]             the signed dynamic map
//   double quantization (either type):
//     nested_absmax     fp32 [ceil(nb/256)]    one scale per 256 absmax values
//     nested_quant_map  fp32 [256]             signed dynamic map
//     nested_offset     fp32 []                mean(absmax), added back after decoding
//   bias                original dtype [out]   (when the Linear had one; frozen, kept as is)
// So summing model.buffers() gives the real bytes of the quantized base (storageBytes()).
//
// Autograd: forward and backward run through one custom autograd::Function that saves only
// the quantized buffers (a few bytes per weight), never the dequantized weight nor x; backward
// dequantizes again for grad_x = grad_y W. The weight gets no gradient (it is frozen).
#pragma once

#include "model/Linear.h"
#include "quant/QuantSettings.h"

#include <memory>

namespace tb {

class QuantizedLinear : public Projection {
public:
    // Quantizes linear.weight (fp32/bf16/fp16, any device; the work is done on the CPU) and
    // puts the result on the weight's device. Throws std::invalid_argument for bad settings.
    static std::shared_ptr<QuantizedLinear> fromLinear(const Linear& linear, const QuantSettings& settings);

    // Rebuilds a layer from stored tensors (a cache file or bitsandbytes checkpoint), validating
    // every dtype and shape against outFeatures x inFeatures; throws std::invalid_argument.
    // nestedAbsmax / nestedQuantMap undefined when not double-quantized; bias may be undefined.
    struct StoredState {
        QuantSettings settings;
        int64_t outFeatures = 0, inFeatures = 0;
        at::ScalarType originalDtype = at::kBFloat16; // quant_state "dtype"
        at::Tensor weight, absmax, quantMap, nestedAbsmax, nestedQuantMap, bias;
        float nestedOffset = 0.0f;
    };
    static std::shared_ptr<QuantizedLinear> fromStored(StoredState state);

    at::Tensor forward(const at::Tensor& x) override;
    int64_t inFeatures() const override { return m_in; }
    int64_t outFeatures() const override { return m_out; }

    // The weight as the matmul sees it, [out, in] in `dtype` on the buffers' device: for
    // merging an adapter and for tests.
    at::Tensor dequantizedWeight(at::ScalarType dtype = at::kFloat) const;
    at::Tensor denseWeight() const override { return dequantizedWeight(originalDtype()); }
    // Bytes of every stored tensor (codes, scales, maps, offset, bias): the real size, equal to
    // the sum of this module's buffers.
    int64_t storageBytes() const;
    int64_t quantizedParameters() const { return m_out * m_in; }

    const QuantSettings& settings() const { return m_settings; }
    at::ScalarType originalDtype() const { return m_originalDtype; }
    float nestedOffset() const { return m_offset; }

    // Module::to converts every buffer, codes included; a dtype change applies to the bias
    // only here, so model.to(bf16) after quantization keeps the codes uint8.
    void to(torch::Device device, torch::Dtype dtype, bool nonBlocking = false) override;
    void to(torch::Dtype dtype, bool nonBlocking = false) override;
    void to(torch::Device device, bool nonBlocking = false) override;

    // Test hook: walks the autograd graph behind `output` and returns the element count of the
    // largest tensor saved by any quantized-matmul node (-1 when the graph has none).
    static int64_t largestSavedTensorElements(const at::Tensor& output);

    at::Tensor weight, absmax, quant_map, nested_absmax, nested_quant_map, nested_offset, bias;

private:
    QuantizedLinear() = default;
    void registerAll();

    QuantSettings m_settings;
    int64_t m_out = 0, m_in = 0;
    at::ScalarType m_originalDtype = at::kBFloat16;
    float m_offset = 0.0f; // copy of nested_offset, so dequantizing never syncs a device
};

} // namespace tb
