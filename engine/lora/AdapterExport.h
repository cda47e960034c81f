// Exporting a trained LoRA adapter out of a run: as a PEFT adapter folder (checked, then
// copied), or merged into its base model as a Hugging Face model folder (what
// `tunebench-cli merge` and the workbench's Export dialog both call).
//
// Output is atomic: everything is written into a hidden staging folder beside the destination
// (".<name>.partial-<pid>-<n>") that is renamed onto the destination at the end, so the
// destination either does not change or holds the complete export. A destination that exists
// and is not empty is refused before any work, and again at the rename.
//
// Thread contract: plain blocking functions, no shared state; call them on a worker thread in
// the GUI. The progress callback runs on the calling thread.
#pragma once

#include "lora/PeftAdapter.h"

#include <ATen/ATen.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace tb {

// fraction: 0..1 of the whole export; stage: what it is doing now, e.g. "loading the base model".
using ExportProgress = std::function<void(double fraction, const std::string& stage)>;

// Checks that `adapterDir` is a PEFT LoRA folder Tunebench can load: adapter_config.json
// parses (readPeftAdapterConfig's rules), adapter_model.safetensors is a readable safetensors
// file whose every tensor is a lora_A [r, in] / lora_B [out, r] weight of a module that
// target_modules lists, each module has both, and every listed target has weights.
// Throws FormatError naming the file (and tensor or key) at fault.
PeftAdapterInfo checkPeftAdapterFolder(const std::string& adapterDir);

// Checks the adapter, then copies the folder's top-level files (adapter_config.json,
// adapter_model.safetensors, and any README or tokenizer files beside them) to `outDir`.
// Returns the names of the files copied.
std::vector<std::string> exportPeftAdapter(const std::string& adapterDir, const std::string& outDir,
                                           const ExportProgress& progress = {});

// Loads the base in fp32, loads the adapter, adds scaling * B A to each wrapped weight, and
// writes config.json + model.safetensors in `dtype` (nullopt: the base's torch_dtype) with
// the base's tokenizer and generation files. Peak memory is about twice the base in fp32.
// Returns the dtype stored.
at::ScalarType exportMergedModel(const std::string& modelDir, const std::string& adapterDir, const std::string& outDir,
                                 std::optional<at::ScalarType> dtype = std::nullopt, const ExportProgress& progress = {});

} // namespace tb
