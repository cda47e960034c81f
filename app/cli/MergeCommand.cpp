#include "cli/ArgList.h"
#include "cli/Commands.h"

#include "core/ThreadSettings.h"
#include "lora/LoraInjector.h"
#include "lora/PeftAdapter.h"
#include "model/ModelLoader.h"
#include "model/TensorIO.h"

#include <filesystem>
#include <iostream>

namespace tbcli {

int runMerge(const std::vector<std::string>& args)
{
    const ArgList a(args, {"model", "adapter", "out", "dtype", "threads"}, {});
    namespace fs = std::filesystem;
    const std::string dir = a.required("model");
    const std::string out = a.required("out");
    if (fs::exists(out) && !fs::is_empty(out))
        throw std::runtime_error(out + ": exists and is not empty; choose a new folder");
    tb::configureThreads(static_cast<int>(a.integer("threads", 0, 0, 1024)));
    // Merge in fp32 so W + s * B A is not rounded twice, then store in the base's dtype.
    tb::LoadOptions load;
    load.dtype = at::kFloat;
    tb::LoadedModel loaded = tb::loadModel(dir, load);
    const auto stored = tb::scalarTypeFromName(a.text("dtype", loaded.config.torchDtype));
    if (!stored)
        throw UsageError("option --dtype: expected bf16, fp32 or fp16");
    tb::loadPeftAdapter(*loaded.model, a.required("adapter"));
    tb::mergeLora(*loaded.model);
    tb::saveModelFolder(*loaded.model, out, *stored);
    for (const char* f : {"tokenizer.json", "tokenizer_config.json", "generation_config.json", "special_tokens_map.json"})
        if (fs::exists(fs::path(dir) / f))
            fs::copy_file(fs::path(dir) / f, fs::path(out) / f, fs::copy_options::overwrite_existing);
    std::cout << "Merged " << a.required("adapter") << " into " << dir << " -> " << out << " (" << tb::scalarTypeName(*stored)
              << ")\n";
    return 0;
}

} // namespace tbcli
