// Exports a model folder (optionally with a LoRA adapter merged in) or a LoRA adapter alone to
// GGUF, for llama.cpp, Ollama and LM Studio. What `tunebench-cli export --format gguf|gguf-lora`
// and the workbench's Export dialog both call.
//
// - Model: the base is loaded in fp32, the adapter merged in fp32 (W + scaling * B A), and every
//   tensor converted straight from fp32 into its GGUF type (gguf/GgufWriter, export/GgufFileType),
//   so quantization rounds once. Layout, names and keys: export/GgufModelLayout; tokenizer:
//   gguf/GgufVocabulary.
// - LoRA adapter: llama.cpp's adapter format (general.type "adapter", adapter.type "lora",
//   adapter.lora.alpha; blk.N.attn_q.weight.lora_a [r, in] and .lora_b [out, r]). llama.cpp
//   scales by alpha / r, so an rsLoRA adapter (alpha / sqrt(r)) is written with
//   alpha * sqrt(r). Every tensor is checked against the base's shapes first: an adapter of
//   another base model is refused naming the tensor.
// Files are written atomically and never replace an existing file (gguf/GgufWriter).
//
// Thread contract: blocking functions without shared state; progress and cancel run on the
// calling thread. `threads` threads quantize each tensor.
#pragma once

#include "export/GgufFileType.h"
#include "formats/ModelConfig.h"
#include "gguf/GgufValue.h"
#include "gguf/GgufVocabulary.h"

#include <cstdint>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace tb {

struct GgufExportOptions {
    GgufFileType type = GgufFileType::F16;
    std::string name;  // general.name; "" uses the model folder's name
    int threads = 0;   // 0: all the cores this process may use
    std::function<void(double fraction, const std::string& stage)> progress;
    std::function<bool()> cancelled; // polled between tensors
};

class GgufExportCancelled : public std::runtime_error {
public:
    GgufExportCancelled() : std::runtime_error("export cancelled") {}
};

// One tensor of a planned model file.
struct GgufTensorPlan {
    std::string sourceName; // Hugging Face name ("" for rope_freqs.weight, which is computed)
    std::string ggufName;
    std::vector<int64_t> shape; // PyTorch order ([out, in])
    tbk::GgmlType type = tbk::GgmlType::F32;
    int64_t permuteHeads = 0;   // > 0: rows permuted for the interleaved rotation, this many heads
    uint64_t bytes = 0;
};

// Everything about a model's GGUF file that config.json and the tokenizer files decide, known
// before any weight is read: what the Export dialog shows as the size of each type.
struct GgufModelPlan {
    ModelConfig config;
    std::string architecture; // llama.cpp's
    GgufVocabulary vocabulary;
    std::vector<GgufKeyValue> metadata;
    std::vector<GgufTensorPlan> tensors;
    uint64_t fileBytes = 0; // the exact size of the file
    std::vector<std::string> warnings; // what llama.cpp will run differently (sliding windows), config.json keys ignored
};

GgufModelPlan planGgufModel(const std::string& modelDir, GgufFileType type, const std::string& name = {});
// The same for several types, reading config.json and the tokenizer files once.
std::map<GgufFileType, GgufModelPlan> planGgufModelTypes(const std::string& modelDir, const std::vector<GgufFileType>& types,
                                                         const std::string& name = {});

struct GgufExportReport {
    std::string path;
    uint64_t bytes = 0;
    std::map<std::string, int> tensorsByType; // "q4_K" -> count
    double seconds = 0;
    std::vector<std::string> warnings;
};

// adapterDir "" exports the base model alone.
GgufExportReport exportGgufModel(const std::string& modelDir, const std::string& adapterDir, const std::string& outPath,
                                 const GgufExportOptions& options);

// type must be f32, f16, bf16 or q8_0 (what llama.cpp's adapter loader takes).
GgufExportReport exportGgufLora(const std::string& modelDir, const std::string& adapterDir, const std::string& outPath,
                                const GgufExportOptions& options);

} // namespace tb
