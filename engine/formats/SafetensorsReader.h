// Reads one .safetensors file through a read-only memory map.
//
// Format: 8-byte little-endian header length N, N bytes of JSON mapping each tensor name to
// {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative to the first byte after the
// header), plus an optional "__metadata__" object of string -> string.
// The constructor validates everything before any tensor is handed out: header length within the
// file, JSON well formed, known dtype, shape*dtype size == end-begin, offsets within the data
// area, no two tensors overlapping. Any fault throws FormatError naming the file and the tensor
// or byte offset. After construction, data() pointers are valid for the reader's lifetime.
// Gaps between tensors are tolerated (the reference implementation rejects them; nothing here
// depends on contiguity). The file must not be truncated by another process while mapped.
#pragma once

#include "formats/DType.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace tb {

struct SafetensorInfo {
    std::string name;
    DType dtype = DType::F32;
    std::vector<int64_t> shape;
    uint64_t dataBegin = 0; // relative to the data area (file offset 8 + N)
    uint64_t dataEnd = 0;

    int64_t numel() const; // 1 for shape [], -1 if the product overflows int64
    uint64_t byteSize() const { return dataEnd - dataBegin; }
};

class SafetensorsReader {
public:
    explicit SafetensorsReader(const std::string& path);
    ~SafetensorsReader();
    SafetensorsReader(const SafetensorsReader&) = delete;
    SafetensorsReader& operator=(const SafetensorsReader&) = delete;

    const std::string& path() const { return m_path; }
    uint64_t fileSize() const { return m_fileSize; }

    // Tensors sorted by name.
    const std::vector<SafetensorInfo>& tensors() const { return m_tensors; }
    // nullptr when absent.
    const SafetensorInfo* find(const std::string& name) const;
    const std::map<std::string, std::string>& metadata() const { return m_metadata; }

    // Pointer to the tensor's first byte inside the mapping (not necessarily aligned).
    // Throws std::out_of_range for an info whose offsets do not fit this file.
    const uint8_t* data(const SafetensorInfo& info) const;

private:
    void parseHeader(); // fills m_dataStart, m_tensors, m_metadata; throws FormatError

    std::string m_path;
    uint64_t m_fileSize = 0;
    const uint8_t* m_map = nullptr;
    uint64_t m_dataStart = 0;
    std::vector<SafetensorInfo> m_tensors;
    std::map<std::string, std::string> m_metadata;
};

} // namespace tb
