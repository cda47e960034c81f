// GGUF exports that are a folder of files, written atomically (core/StagingFolder) so the
// destination holds all of them or none:
// - the merged model:        <name>-<type>.gguf
// - an adapter and its base: <name>-lora-<loratype>.gguf + <base>-<type>.gguf, the pair always
//                            made together so the adapter matches the base it is applied to
// - an Ollama folder: either of the above plus a Modelfile that `ollama create NAME -f
//   Modelfile` imports: FROM the model (or base) file, ADAPTER the adapter file when kept apart,
//   and TEMPLATE, PARAMETER stop and SYSTEM from the model's chat template (ollama/). A template
//   that is not recognized gets a comment saying so instead of a TEMPLATE; the GGUF keeps the
//   original Jinja template (tokenizer.chat_template) for llama.cpp's server and LM Studio.
// What the workbench's Export dialog writes, and `tunebench-cli export --ollama`. An error names
// the destination folder (GgufExportCancelled passes through as it is).
#pragma once

#include "export/GgufExport.h"

#include <string>
#include <vector>

namespace tb {

struct GgufFolderRequest {
    std::string modelDir;
    std::string adapterDir;       // "" exports the base model alone
    std::string outDir;           // new or empty
    bool separateAdapter = false; // the adapter as a llama.cpp LoRA beside the base, not merged
    bool ollama = false;          // also write a Modelfile
    GgufExportOptions options;    // type, name, threads, progress, cancel
    GgufFileType loraType = GgufFileType::F16;
};

struct GgufFolderResult {
    std::string dir;
    std::vector<std::string> files;  // names inside dir, GGUF files first
    std::vector<std::string> ggufFiles;
    std::string modelFile, adapterFile; // names inside dir ("" when not written)
    bool chatRecognized = false;
    std::string chatFamily; // "chatml", "llama3", ... or ""
    std::string chatNote;   // why the template was not recognized, or ""
    std::string modelfile;  // the Modelfile's text ("" unless ollama)
    std::vector<std::string> warnings;
};

GgufFolderResult exportGgufFolder(const GgufFolderRequest& request);

// Names the files of a request (what the dialog shows before exporting).
std::string ggufModelFileName(const std::string& name, GgufFileType type);
std::string ggufLoraFileName(const std::string& name, GgufFileType type);

} // namespace tb
