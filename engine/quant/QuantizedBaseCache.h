// Quantize once, reuse: the quantized base of a model folder is saved as a safetensors file in
// the Hugging Face bitsandbytes serialization (what transformers writes for a load_in_4bit
// model), and loaded instead of re-quantizing when nothing changed.
//
// File: <cacheDir>/<settings.tag()>.safetensors, cacheDir default <modelDir>/.tunebench-cache
// (e.g. ".tunebench-cache/nf4-bs64-dq.safetensors"). Keys per quantized projection P
// ("model.layers.0.self_attn.q_proj"), NF4 (bitsandbytes QuantState.as_dict(packed=True)):
//   P.weight                                uint8 [ceil(n/2), 1]   packed codes
//   P.weight.absmax                         uint8 [nb] (double-quantized) / fp32 [nb]
//   P.weight.quant_map                      fp32 [16]
//   P.weight.nested_absmax                  fp32 [ceil(nb/256)]     (double-quantized only)
//   P.weight.nested_quant_map               fp32 [256]              (double-quantized only)
//   P.weight.quant_state.bitsandbytes__nf4  uint8 [len]  json.dumps of {"quant_type", "blocksize",
//        "dtype", "shape", ["nested_blocksize", "nested_dtype", "nested_offset"]} in that order,
//        with Python's ", " / ": " separators (bitsandbytes pack_dict_to_tensor)
//   P.bias                                  original dtype, when present
// Int8 (bitsandbytes has no serialized Linear for its blockwise 8-bit mode, so this is ours, in
// the same shape): P.weight uint8 [out, in], quant_map fp32 [256], quant state key
// "P.weight.quant_state.tunebench__int8" with quant_type "int8".
// Every other tensor of the model (embeddings, norms, lm_head) is stored unquantized under its
// checkpoint name, so the file is a whole bitsandbytes-style checkpoint.
// __metadata__: "format" "pt", "tunebench.quant.version", "tunebench.quant.settings" (tag),
// "tunebench.quant.source": the source folder's identity (below).
//
// Identity of the source: for config.json and every *.safetensors file of the model folder,
// the name, size, modification time (ns) and an FNV-1a 64 hash of the safetensors header (names,
// dtypes, shapes, offsets). Any difference, other settings, another version, or a file that
// does not parse or validate means the cache is rebuilt (never used stale); the write is atomic
// (SafetensorsWriter: tmp + fsync + rename).
#pragma once

#include "model/LlamaForCausalLM.h"
#include "quant/ModelQuantizer.h"
#include "quant/QuantSettings.h"

#include <functional>
#include <string>

namespace tb {

struct QuantCacheOptions {
    std::string cacheDir; // empty: <modelDir>/.tunebench-cache (use another for a read-only model folder)
    bool write = true;    // false: read a valid cache if there is one, never write
    std::function<void(const std::string&)> onInfo;    // may be empty
    std::function<void(const std::string&)> onWarning; // may be empty
    std::function<bool()> cancelled; // may be empty; asked per projection while quantizing (QuantizeCancelled)
};

struct QuantCacheResult {
    bool fromCache = false;
    std::string path;     // the cache file read or written; empty when writing failed
    QuantizeReport report; // bytesBefore is 0 on a cache hit (the bf16 projections were never summed)
};

class QuantizedBaseCache {
public:
    // `model` was loaded from modelDir with plain projections. On a valid cache the seven
    // projections of every layer are replaced by the stored quantized layers (on the device of
    // the projections they replace); otherwise the model is quantized with ModelQuantizer and
    // the cache written. A cache that cannot be written is a warning, not an error.
    static QuantCacheResult loadOrQuantize(LlamaForCausalLM& model, const std::string& modelDir,
                                           const QuantSettings& settings, const QuantCacheOptions& options = {});

    static std::string cachePath(const std::string& modelDir, const QuantSettings& settings,
                                 const std::string& cacheDir = {});
    // The identity string stored in "tunebench.quant.source".
    static std::string sourceIdentity(const std::string& modelDir);

    // Writes the (already quantized) model to `path` in the layout above.
    static void write(LlamaForCausalLM& model, const QuantSettings& settings, const std::string& source,
                      const std::string& path);
    // The JSON of one layer's quant state tensor, as bitsandbytes' pack_dict_to_tensor writes it.
    static std::string quantStateJson(const QuantSettings& settings, at::ScalarType dtype, int64_t out, int64_t in,
                                      float nestedOffset);
};

} // namespace tb
