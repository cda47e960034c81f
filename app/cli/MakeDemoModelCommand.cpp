#include "cli/ArgList.h"
#include "cli/Commands.h"

#include "core/ThreadSettings.h"
#include "demo/DemoModelMaker.h"

#include <iostream>

namespace tbcli {

int runMakeDemoModel(const std::vector<std::string>& args)
{
    const ArgList a(args, {"out", "preset", "seed", "threads"}, {});
    const std::string out = a.required("out");
    const std::string preset = a.text("preset", "tiny");
    const auto seed = static_cast<uint64_t>(a.integer("seed", 0, 0, (1LL << 62)));
    tb::configureThreads(static_cast<int>(a.integer("threads", 0, 0, 1024)));
    tb::demoModelConfig(preset); // rejects an unknown preset before any file is written
    tb::makeDemoModel(out, preset, seed);
    std::cout << "Wrote the " << preset << " demo model (seed " << seed << ") to " << out << "\n";
    return 0;
}

} // namespace tbcli
