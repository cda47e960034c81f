// Writes a .safetensors file atomically: the bytes go to "<path>.tmp-<pid>", are fsync'ed, then
// renamed over <path>, so a crash mid-write never leaves a file that parses but is wrong.
// Tensors are laid out in name order, each aligned to 8 bytes from the start of the data area
// (the header is padded with spaces to a multiple of 8, as the reference implementation does).
#pragma once

#include "formats/DType.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace tb {

class SafetensorsWriter {
public:
    // Copies `bytes` bytes from `data`; bytes must equal product(shape) * dtypeSize(dtype).
    // Throws std::invalid_argument on a size mismatch or a duplicate name.
    void add(const std::string& name, DType dtype, const std::vector<int64_t>& shape,
             const void* data, size_t bytes);
    void setMetadata(const std::map<std::string, std::string>& metadata) { m_metadata = metadata; }

    // Throws std::runtime_error naming the path on any I/O failure; nothing is left at `path`
    // unless the whole file was written.
    void write(const std::string& path) const;

private:
    struct Entry {
        DType dtype;
        std::vector<int64_t> shape;
        std::vector<uint8_t> bytes;
    };
    std::map<std::string, Entry> m_entries;
    std::map<std::string, std::string> m_metadata;
};

} // namespace tb
