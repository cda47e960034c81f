#include "gguf/GgufReader.h"

#include "cpu/GgmlQuant.h"
#include "formats/FormatError.h"

#include <cstring>
#include <fstream>
#include <set>

namespace tb {

namespace {

// Bounds a reader puts on a header before allocating: real files stay far below them.
constexpr uint64_t kMaxStringBytes = uint64_t{1} << 30;
constexpr int kMaxArrayDepth = 4;

// Sequential reads from the header with the offset kept for messages.
class HeaderCursor {
public:
    HeaderCursor(std::ifstream& in, const std::string& path, uint64_t fileSize)
        : m_in(in), m_path(path), m_fileSize(fileSize) {}

    uint64_t offset() const { return m_offset; }

    [[noreturn]] void fail(const std::string& what) const
    {
        throw FormatError(m_path, "byte " + std::to_string(m_offset) + ": " + what);
    }

    void read(void* dst, uint64_t n, const char* what)
    {
        if (n > m_fileSize - m_offset)
            fail(std::string("the file ends inside ") + what + " (it is " + std::to_string(m_fileSize) + " bytes)");
        m_in.read(static_cast<char*>(dst), static_cast<std::streamsize>(n));
        if (!m_in)
            fail(std::string("cannot read ") + what);
        m_offset += n;
    }

    uint64_t u64(const char* what)
    {
        uint8_t b[8];
        read(b, 8, what);
        uint64_t v = 0;
        for (int i = 7; i >= 0; --i)
            v = (v << 8) | b[i];
        return v;
    }

    uint32_t u32(const char* what)
    {
        uint8_t b[4];
        read(b, 4, what);
        return uint32_t(b[0]) | uint32_t(b[1]) << 8 | uint32_t(b[2]) << 16 | uint32_t(b[3]) << 24;
    }

    std::string string(const char* what)
    {
        const uint64_t n = u64(what);
        if (n > kMaxStringBytes || n > m_fileSize - m_offset)
            fail(std::string(what) + " claims " + std::to_string(n) + " bytes, past the end of the file");
        std::string s(n, '\0');
        read(s.data(), n, what);
        return s;
    }

    // Each element of an array takes at least one byte, so a count past the bytes left is a lie.
    void checkCount(uint64_t count, uint64_t minBytesEach, const std::string& what) const
    {
        if (minBytesEach && count > (m_fileSize - m_offset) / minBytesEach)
            fail(what + " claims " + std::to_string(count) + " elements, more than the file holds");
    }

    GgufValue value(uint32_t typeNumber, const std::string& key, int depth)
    {
        if (!isKnownGgufType(typeNumber))
            fail("key \"" + key + "\": unknown value type " + std::to_string(typeNumber));
        const auto type = static_cast<GgufType>(typeNumber);
        switch (type) {
        case GgufType::Uint8:
        case GgufType::Int8:
        case GgufType::Bool: {
            uint8_t b;
            read(&b, 1, "a value");
            if (type == GgufType::Bool && b > 1)
                fail("key \"" + key + "\": bool value " + std::to_string(b) + " is neither 0 nor 1");
            return GgufValue::of(type, type == GgufType::Int8 ? uint64_t(int64_t(int8_t(b))) : b);
        }
        case GgufType::Uint16:
        case GgufType::Int16: {
            uint8_t b[2];
            read(b, 2, "a value");
            const uint16_t v = uint16_t(b[0] | b[1] << 8);
            return GgufValue::of(type, type == GgufType::Int16 ? uint64_t(int64_t(int16_t(v))) : v);
        }
        case GgufType::Uint32:
        case GgufType::Int32: {
            const uint32_t v = u32("a value");
            return GgufValue::of(type, type == GgufType::Int32 ? uint64_t(int64_t(int32_t(v))) : v);
        }
        case GgufType::Uint64:
        case GgufType::Int64:
            return GgufValue::of(type, u64("a value"));
        case GgufType::Float32: {
            const uint32_t bits = u32("a value");
            float f;
            std::memcpy(&f, &bits, 4);
            return GgufValue::real64(type, f);
        }
        case GgufType::Float64: {
            const uint64_t bits = u64("a value");
            double d;
            std::memcpy(&d, &bits, 8);
            return GgufValue::real64(type, d);
        }
        case GgufType::String:
            return GgufValue::string(string(("the string value of key \"" + key + "\"").c_str()));
        case GgufType::Array: {
            if (depth >= kMaxArrayDepth)
                fail("key \"" + key + "\": arrays nested deeper than " + std::to_string(kMaxArrayDepth));
            const uint32_t elementType = u32("an array's element type");
            if (!isKnownGgufType(elementType))
                fail("key \"" + key + "\": unknown array element type " + std::to_string(elementType));
            const uint64_t count = u64("an array's length");
            checkCount(count, 1, "key \"" + key + "\"");
            std::vector<GgufValue> items;
            items.reserve(count);
            for (uint64_t i = 0; i < count; ++i)
                items.push_back(value(elementType, key, depth + 1));
            return GgufValue::array(static_cast<GgufType>(elementType), std::move(items));
        }
        }
        fail("key \"" + key + "\": unknown value type");
    }

private:
    std::ifstream& m_in;
    const std::string& m_path;
    uint64_t m_fileSize;
    uint64_t m_offset = 0;
};

} // namespace

int64_t GgufTensorInfo::elements() const
{
    int64_t n = 1;
    for (int64_t d : dims)
        n *= d;
    return n;
}

GgufReader::GgufReader(const std::string& path) : m_path(path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw FormatError(path, "cannot open");
    in.seekg(0, std::ios::end);
    m_fileSize = static_cast<uint64_t>(in.tellg());
    in.seekg(0);
    HeaderCursor c(in, path, m_fileSize);

    char magic[4];
    c.read(magic, 4, "the magic \"GGUF\"");
    if (std::memcmp(magic, "GGUF", 4) != 0)
        throw FormatError(path, "not a GGUF file (it does not start with \"GGUF\")");
    m_version = c.u32("the version");
    if (m_version != 2 && m_version != 3)
        throw FormatError(path, "GGUF version " + std::to_string(m_version) + " is not supported (2 and 3 are)");
    const uint64_t tensorCount = c.u64("the tensor count");
    const uint64_t kvCount = c.u64("the metadata count");
    // A key-value pair takes at least 8 + 4 + 1 bytes, a tensor info 8 + 4 + 8 + 4 + 8.
    c.checkCount(kvCount, 13, "the metadata count");
    c.checkCount(tensorCount, 32, "the tensor count");

    std::set<std::string> keys;
    for (uint64_t i = 0; i < kvCount; ++i) {
        std::string key = c.string("a metadata key");
        if (!keys.insert(key).second)
            c.fail("key \"" + key + "\" appears twice");
        const uint32_t type = c.u32("a value type");
        GgufValue value = c.value(type, key, 0);
        if (key == "general.alignment") {
            if (value.type != GgufType::Uint32 || value.integer == 0 || (value.integer & (value.integer - 1)) != 0)
                c.fail("key \"general.alignment\" must be a u32 power of two, got " + value.display());
            m_alignment = static_cast<uint32_t>(value.integer);
        }
        m_metadata.push_back({std::move(key), std::move(value)});
    }

    std::set<std::string> names;
    for (uint64_t i = 0; i < tensorCount; ++i) {
        GgufTensorInfo t;
        t.name = c.string("a tensor name");
        if (!names.insert(t.name).second)
            c.fail("tensor \"" + t.name + "\" appears twice");
        const uint32_t nDims = c.u32("a tensor's dimension count");
        if (nDims < 1 || nDims > 4)
            c.fail("tensor \"" + t.name + "\": " + std::to_string(nDims) + " dimensions (1 to 4 allowed)");
        int64_t elements = 1;
        for (uint32_t d = 0; d < nDims; ++d) {
            const uint64_t ne = c.u64("a tensor dimension");
            if (ne == 0 || ne > (uint64_t{1} << 40) || uint64_t(elements) > (uint64_t{1} << 50) / ne)
                c.fail("tensor \"" + t.name + "\": dimension " + std::to_string(d) + " is " + std::to_string(ne));
            t.dims.push_back(static_cast<int64_t>(ne));
            elements *= static_cast<int64_t>(ne);
        }
        t.ggmlType = c.u32("a tensor type");
        const tbk::GgmlTypeInfo* info = tbk::ggmlTypeInfo(t.ggmlType);
        if (!info)
            c.fail("tensor \"" + t.name + "\": ggml type " + std::to_string(t.ggmlType)
                   + " is not one Tunebench reads (f32, f16, bf16, q4_0, q5_0, q5_1, q8_0, q4_K, q5_K, q6_K)");
        if (t.dims[0] % info->blockElements != 0)
            c.fail("tensor \"" + t.name + "\": its first dimension " + std::to_string(t.dims[0]) + " is not a multiple of "
                   + info->name + "'s block of " + std::to_string(info->blockElements));
        t.bytes = uint64_t(elements / info->blockElements) * uint64_t(info->blockBytes);
        t.offset = c.u64("a tensor offset");
        if (t.offset % m_alignment != 0)
            c.fail("tensor \"" + t.name + "\": offset " + std::to_string(t.offset) + " is not a multiple of the alignment "
                   + std::to_string(m_alignment));
        m_tensors.push_back(std::move(t));
    }

    // The data section starts at the next multiple of the alignment, which may lie past the end
    // of a truncated file: then no tensor has any byte available.
    const uint64_t dataStart = (c.offset() + m_alignment - 1) / m_alignment * m_alignment;
    const uint64_t available = m_fileSize > dataStart ? m_fileSize - dataStart : 0;
    for (auto& t : m_tensors) {
        if (t.offset > available || t.bytes > available - t.offset)
            throw FormatError(path, "tensor \"" + t.name + "\": its data (" + std::to_string(t.bytes) + " bytes at data offset "
                                        + std::to_string(t.offset) + ") lies past the end of the file ("
                                        + std::to_string(m_fileSize) + " bytes); the file is truncated");
        t.offset += dataStart;
    }
}

const GgufValue* GgufReader::find(const std::string& key) const
{
    for (const auto& kv : m_metadata)
        if (kv.key == key)
            return &kv.value;
    return nullptr;
}

const GgufTensorInfo* GgufReader::tensor(const std::string& name) const
{
    for (const auto& t : m_tensors)
        if (t.name == name)
            return &t;
    return nullptr;
}

std::string GgufReader::string(const std::string& key) const
{
    const GgufValue* v = find(key);
    if (!v)
        throw FormatError(m_path, "key \"" + key + "\": missing");
    if (v->type != GgufType::String)
        throw FormatError(m_path, "key \"" + key + "\": expected a string, got " + ggufTypeName(v->type));
    return v->text;
}

int64_t GgufReader::integer(const std::string& key) const
{
    const GgufValue* v = find(key);
    if (!v)
        throw FormatError(m_path, "key \"" + key + "\": missing");
    if (!v->isInteger())
        throw FormatError(m_path, "key \"" + key + "\": expected an integer, got " + ggufTypeName(v->type));
    return v->asInt();
}

double GgufReader::real(const std::string& key) const
{
    const GgufValue* v = find(key);
    if (!v)
        throw FormatError(m_path, "key \"" + key + "\": missing");
    if (v->type != GgufType::Float32 && v->type != GgufType::Float64)
        throw FormatError(m_path, "key \"" + key + "\": expected a float, got " + ggufTypeName(v->type));
    return v->real;
}

std::vector<uint8_t> GgufReader::tensorBytes(const GgufTensorInfo& info) const
{
    std::ifstream in(m_path, std::ios::binary);
    std::vector<uint8_t> bytes(info.bytes);
    in.seekg(static_cast<std::streamoff>(info.offset));
    in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    if (!in)
        throw FormatError(m_path, "tensor \"" + info.name + "\": cannot read its data");
    return bytes;
}

std::vector<float> GgufReader::tensorFloats(const GgufTensorInfo& info) const
{
    const std::vector<uint8_t> bytes = tensorBytes(info);
    const int64_t rowElements = info.dims[0];
    const int64_t rows = info.elements() / rowElements;
    std::vector<float> out(static_cast<size_t>(info.elements()));
    if (tbk::ggmlDequantizeRows(static_cast<tbk::GgmlType>(info.ggmlType), bytes.data(), out.data(), rows, rowElements)
        != tbk::KernelStatus::Ok)
        throw FormatError(m_path, "tensor \"" + info.name + "\": cannot convert its type to fp32");
    return out;
}

} // namespace tb
