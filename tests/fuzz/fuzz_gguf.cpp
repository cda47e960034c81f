// libFuzzer target: GgufReader on arbitrary bytes (GGUF header, typed metadata, tensor infos,
// data). Every tensor the reader accepts must lie inside the file and convert to fp32; every
// metadata value must display.
#include "FuzzInput.h"

#include "formats/FormatError.h"
#include "gguf/GgufReader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    static const std::string path = tbfuzz::scratchPath(".gguf");
    tbfuzz::writeFile(path, data, size);
    try {
        const tb::GgufReader reader(path);
        for (const auto& kv : reader.metadata())
            (void)kv.value.display();
        for (const tb::GgufTensorInfo& t : reader.tensors()) {
            if (t.offset > reader.fileSize() || t.bytes > reader.fileSize() - t.offset)
                tbfuzz::violated("tensor data outside the file");
            if (reader.tensorFloats(t).size() != static_cast<size_t>(t.elements()))
                tbfuzz::violated("tensorFloats() size differs from the element count");
        }
    } catch (const tb::FormatError&) {
    }
    return 0;
}
