// libFuzzer target: SafetensorsReader on arbitrary bytes (8-byte little-endian header length,
// JSON header, data area). Every tensor the reader accepts must lie inside the mapping and hold
// exactly numel x dtype-size bytes; touching its first and last byte would fault otherwise.
#include "FuzzInput.h"

#include "formats/FormatError.h"
#include "formats/SafetensorsReader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    static const std::string path = tbfuzz::scratchPath(".safetensors");
    tbfuzz::writeFile(path, data, size);
    try {
        tb::SafetensorsReader reader(path);
        volatile uint8_t sink = 0;
        for (const tb::SafetensorInfo& info : reader.tensors()) {
            if (info.dataBegin > info.dataEnd || info.dataEnd > reader.fileSize())
                tbfuzz::violated("tensor offsets outside the file");
            const int64_t numel = info.numel();
            if (numel < 0 || static_cast<uint64_t>(numel) * tb::dtypeSize(info.dtype) != info.byteSize())
                tbfuzz::violated("tensor byte size differs from its shape and dtype");
            if (reader.find(info.name) != &info)
                tbfuzz::violated("find() does not return the listed tensor");
            if (info.byteSize() > 0) {
                const uint8_t* bytes = reader.data(info);
                sink = sink + bytes[0] + bytes[info.byteSize() - 1];
            }
        }
        (void)sink;
    } catch (const tb::FormatError&) {
    }
    return 0;
}
