// libFuzzer target: config.json (ModelConfig::fromJsonText). An accepted config must give a
// parameter count and serialise back to JSON that parses to the same config.
#include "FuzzInput.h"

#include "formats/FormatError.h"
#include "formats/ModelConfig.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    const std::string text(reinterpret_cast<const char*>(data), size);
    try {
        const tb::ModelConfig config = tb::ModelConfig::fromJsonText(text, "config.json");
        (void)config.parameterCount();
        const std::string written = config.toJsonText();
        const tb::ModelConfig again = tb::ModelConfig::fromJsonText(written, "written config.json");
        if (again.toJsonText() != written)
            tbfuzz::violated("config.json written from an accepted config reads back differently");
    } catch (const tb::FormatError&) {
    }
    return 0;
}
