// `tunebench-cli merge`: a thin wrapper over exportMergedModel (engine/lora/AdapterExport),
// the same code the workbench's Export dialog runs.
#include "cli/ArgList.h"
#include "cli/Commands.h"

#include "core/ThreadSettings.h"
#include "lora/AdapterExport.h"
#include "model/TensorIO.h"

#include <iostream>
#include <optional>

namespace tbcli {

int runMerge(const std::vector<std::string>& args)
{
    const ArgList a(args, {"model", "adapter", "out", "dtype", "threads"}, {});
    const std::string dir = a.required("model");
    const std::string adapter = a.required("adapter");
    const std::string out = a.required("out");
    std::optional<at::ScalarType> dtype; // nullopt: the base's torch_dtype
    if (a.has("dtype")) {
        dtype = tb::scalarTypeFromName(a.text("dtype", ""));
        if (!dtype)
            throw UsageError("option --dtype: expected bf16, fp32 or fp16");
    }
    tb::configureThreads(static_cast<int>(a.integer("threads", 0, 0, 1024)));
    const at::ScalarType stored = tb::exportMergedModel(dir, adapter, out, dtype);
    std::cout << "Merged " << adapter << " into " << dir << " -> " << out << " (" << tb::scalarTypeName(stored) << ")\n";
    return 0;
}

} // namespace tbcli
