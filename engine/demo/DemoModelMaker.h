// The built-in demo model: a complete Hugging Face Llama folder (config.json,
// model.safetensors, tokenizer.json, tokenizer_config.json with a ChatML chat template) made
// from nothing but a preset and a seed, so tests, benchmarks and the first start of the GUI
// never download anything. Its byte-level BPE tokenizer is trained on the corpus compiled
// into the binary (resources/demo/corpus.txt); its weights are transformers' random init.
#pragma once

#include "formats/ModelConfig.h"

#include <cstdint>
#include <string>
#include <vector>

namespace tb {

// "tiny": ~4M parameters, trains in seconds on a CPU. "small": ~80M, for benchmarks.
ModelConfig demoModelConfig(const std::string& preset);
std::vector<std::string> demoPresetNames();

// The demo tokenizer's special tokens; ids follow the learned vocabulary in this order.
extern const char* const kDemoBosToken; // "<|begin_of_text|>"
extern const char* const kDemoEosToken; // "<|end_of_text|>"
extern const char* const kDemoImStart;  // "<|im_start|>"
extern const char* const kDemoImEnd;    // "<|im_end|>": ends an assistant turn
extern const char* const kDemoPadToken; // "<|pad|>"

// Writes the folder (created if needed); throws std::invalid_argument for an unknown preset
// and std::runtime_error on I/O failure.
void makeDemoModel(const std::string& outDir, const std::string& preset, uint64_t seed);

// The compiled-in tokenizer corpus, split into paragraphs at blank lines.
std::vector<std::string> demoCorpusParagraphs();

} // namespace tb
