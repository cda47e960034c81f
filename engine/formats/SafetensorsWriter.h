// Writes a .safetensors file atomically: the bytes go to "<path>.tmp-<pid>", are fsync'ed, then
// renamed over <path>, so a crash mid-write never leaves a file that parses but is wrong.
//
// Layout follows huggingface/safetensors' serializer so Python, PEFT and llama.cpp's converter
// load the result: the header JSON ("__metadata__" first, then tensors in data order, keys
// dtype/shape/data_offsets) is padded with spaces to a multiple of 8; the data area is
// contiguous (the reference reader rejects gaps), tensors ordered by element size descending
// (8-byte types first, then 4, 2, 1), then by name. So the data area starts 8-byte aligned and
// every tensor starts at a multiple of its own element size.
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
    // Throws std::invalid_argument on a size mismatch, a negative dimension, a duplicate name,
    // the reserved name "__metadata__" or a name that is not valid UTF-8.
    void add(const std::string& name, DType dtype, const std::vector<int64_t>& shape,
             const void* data, size_t bytes);
    void setMetadata(const std::map<std::string, std::string>& metadata) { m_metadata = metadata; }

    // Throws std::runtime_error naming the path on any I/O failure; nothing is left at `path`
    // unless the whole file was written (an existing file there stays as it was), and the
    // temporary file is removed. Metadata that is not valid UTF-8 throws std::invalid_argument.
    void write(const std::string& path) const;

    // The exact bytes write() puts in the file, for tests and in-memory use.
    std::vector<uint8_t> serialize() const;

private:
    struct Entry {
        DType dtype;
        std::vector<int64_t> shape;
        std::vector<uint8_t> bytes;
    };
    // Header bytes (8-byte length + padded JSON) and the tensors in data order.
    std::string header(std::vector<const std::pair<const std::string, Entry>*>& order) const;

    std::map<std::string, Entry> m_entries;
    std::map<std::string, std::string> m_metadata;
};

} // namespace tb
