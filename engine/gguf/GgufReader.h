// Reads and validates a GGUF file (layout: gguf/GgufValue.h): what `tunebench-cli inspect`
// shows for a .gguf file, and how the exporter's tests check what it wrote.
//
// GGUF files come from anywhere, so every count, length, offset and type is checked against
// the file's size before use; a fault throws FormatError naming the file, the byte offset and
// the key or tensor. Versions 2 and 3 are read (they differ only in what llama.cpp no longer
// writes); tensor data is read on demand, so opening a multi-GB file reads only its header.
#pragma once

#include "gguf/GgufValue.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tb {

struct GgufTensorInfo {
    std::string name;
    std::vector<int64_t> dims; // ggml order: dims[0] is the contiguous one
    uint32_t ggmlType = 0;
    uint64_t offset = 0;       // absolute, in the file
    uint64_t bytes = 0;
    int64_t elements() const;
};

class GgufReader {
public:
    explicit GgufReader(const std::string& path);

    const std::string& path() const { return m_path; }
    uint32_t version() const { return m_version; }
    uint32_t alignment() const { return m_alignment; }
    uint64_t fileSize() const { return m_fileSize; }
    const std::vector<GgufKeyValue>& metadata() const { return m_metadata; }
    const std::vector<GgufTensorInfo>& tensors() const { return m_tensors; }

    const GgufValue* find(const std::string& key) const;
    const GgufTensorInfo* tensor(const std::string& name) const;
    // Typed lookups that throw FormatError naming the key when it is missing or of another type.
    std::string string(const std::string& key) const;
    int64_t integer(const std::string& key) const;
    double real(const std::string& key) const;

    std::vector<uint8_t> tensorBytes(const GgufTensorInfo& info) const;
    // The tensor as fp32 (dequantized for the block types tbk::ggmlDequantizeRows knows).
    std::vector<float> tensorFloats(const GgufTensorInfo& info) const;

private:
    std::string m_path;
    uint32_t m_version = 0;
    uint32_t m_alignment = 32;
    uint64_t m_fileSize = 0;
    std::vector<GgufKeyValue> m_metadata;
    std::vector<GgufTensorInfo> m_tensors;
};

} // namespace tb
