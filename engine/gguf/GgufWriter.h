// Writes a GGUF v3 file (layout: gguf/GgufValue.h) the way llama.cpp's gguf-py writer does:
// metadata in insertion order, tensor infos in insertion order, each tensor's data padded to
// general.alignment (32 unless set), little-endian throughout.
//
// Tensor bytes are produced one tensor at a time by a callback while the file is written, so
// a quantized export never holds more than one converted tensor in memory.
//
// Output is atomic and never replaces anything: the bytes go to a hidden temporary file in the
// destination's folder (".<name>.partial-<pid>-<n>"), are fsync'ed, and are then renamed to
// the destination with RENAME_NOREPLACE. On any failure (a full disk, a cancel, an exception
// from a producer) the temporary file is removed and the destination is untouched; a
// destination that already exists is refused before anything is written.
#pragma once

#include "gguf/GgufValue.h"

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace tb {

struct GgufTensorSpec {
    std::string name;
    std::vector<int64_t> dims; // ggml order: dims[0] is the contiguous one
    uint32_t ggmlType = 0;     // enum ggml_type (tbk::GgmlType)
    uint64_t bytes = 0;        // exact size of the data the producer writes
    // Fills exactly `bytes` bytes at dst. Called once, in tensor order, while writing.
    std::function<void(uint8_t* dst)> produce;
};

class GgufWriterCancelled : public std::runtime_error {
public:
    GgufWriterCancelled() : std::runtime_error("cancelled") {}
};

class GgufWriter {
public:
    // Sets a key (replacing its value, keeping its first position). general.alignment, when
    // set, must be a u32 power of two; it decides the padding.
    void set(const std::string& key, GgufValue value);
    void addTensor(GgufTensorSpec spec); // throws std::invalid_argument on a duplicate name
    const std::vector<GgufKeyValue>& metadata() const { return m_metadata; }
    const std::vector<GgufTensorSpec>& tensors() const { return m_tensors; }

    // Total size of the file write() produces (header, padding and data).
    uint64_t fileSize() const;

    // progress(fraction 0..1, tensor name) after each tensor; cancelled() is polled between
    // tensors and throws GgufWriterCancelled. Throws std::runtime_error naming `path` on I/O
    // errors, including "exists" for an existing destination.
    void write(const std::string& path, const std::function<void(double, const std::string&)>& progress = {},
               const std::function<bool()>& cancelled = {}) const;

private:
    uint32_t alignment() const;
    std::string header() const; // everything before the data section, padded

    std::vector<GgufKeyValue> m_metadata;
    std::vector<GgufTensorSpec> m_tensors;
};

} // namespace tb
