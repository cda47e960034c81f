// GGUF (llama.cpp's model file format, version 3) typed metadata values.
//
// File layout (ggml-org/llama.cpp: ggml/include/gguf.h, docs/gguf.md), all little-endian:
//   "GGUF" | u32 version (3) | u64 tensor_count | u64 kv_count
//   kv_count x { string key | u32 value_type | value }
//   tensor_count x { string name | u32 n_dims | n_dims x u64 ne (ne[0] = the innermost, i.e.
//                    contiguous, dimension: a PyTorch [out, in] matrix is ne = {in, out}) |
//                    u32 ggml_type | u64 offset (relative to the data section, aligned) }
//   padding to general.alignment (default 32) | data section (each tensor padded to alignment)
// A string is u64 length + bytes (no terminator); an array is u32 element_type + u64 count +
// the elements (arrays of arrays are allowed by the format; llama.cpp writes none).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tb {

// The numbering is the file format's (enum gguf_type).
enum class GgufType : uint32_t {
    Uint8 = 0,
    Int8 = 1,
    Uint16 = 2,
    Int16 = 3,
    Uint32 = 4,
    Int32 = 5,
    Float32 = 6,
    Bool = 7,
    String = 8,
    Array = 9,
    Uint64 = 10,
    Int64 = 11,
    Float64 = 12,
};

const char* ggufTypeName(GgufType type); // "u32", "f32", "string", ... ("?" for an unknown number)
bool isKnownGgufType(uint32_t type);

// One metadata value. Integers of every width and bool live in `integer` (as the bits of a
// uint64 for Uint64), floats in `real`; an array keeps its element type and its items.
struct GgufValue {
    GgufType type = GgufType::Uint32;
    uint64_t integer = 0;
    double real = 0;
    std::string text;
    GgufType elementType = GgufType::Uint8; // Array only
    std::vector<GgufValue> items;           // Array only

    static GgufValue u32(uint32_t v);
    static GgufValue i32(int32_t v);
    static GgufValue u64(uint64_t v);
    static GgufValue f32(float v);
    static GgufValue boolean(bool v);
    static GgufValue string(std::string v);
    static GgufValue of(GgufType type, uint64_t bits); // any integer type from raw bits
    static GgufValue real64(GgufType type, double v);  // Float32 or Float64
    static GgufValue array(GgufType elementType, std::vector<GgufValue> items);
    static GgufValue strings(const std::vector<std::string>& items);
    static GgufValue floats(const std::vector<float>& items);
    static GgufValue ints(const std::vector<int32_t>& items);

    bool isInteger() const; // any integer type (not bool)
    int64_t asInt() const;  // signed view of an integer value
    // For `inspect` and error messages: numbers, quoted strings, arrays shortened to their
    // first items and the count.
    std::string display(size_t maxItems = 8) const;
};

struct GgufKeyValue {
    std::string key;
    GgufValue value;
};

} // namespace tb
