#include "formats/SafetensorsReader.h"

#include "formats/FormatError.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <utility>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace tb {

namespace {

// Same limit as huggingface/safetensors (MAX_HEADER_SIZE): a larger header is a corrupt or
// hostile file, and refusing it keeps the JSON parser's memory bounded.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

std::string quoted(const std::string& name)
{
    return "tensor \"" + name + "\"";
}

std::string offsetsText(uint64_t begin, uint64_t end)
{
    return "data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) + "]";
}

std::string sysError(const std::string& what)
{
    return what + ": " + std::strerror(errno);
}

// A JSON integer that fits uint64; nullopt for negatives, floats and anything else.
std::optional<uint64_t> asUnsigned(const nlohmann::json& value)
{
    if (value.is_number_unsigned())
        return value.get<uint64_t>();
    if (value.is_number_integer() && value.get<int64_t>() >= 0)
        return static_cast<uint64_t>(value.get<int64_t>());
    return std::nullopt;
}

SafetensorInfo parseEntry(const std::string& path, const std::string& name, const nlohmann::json& entry,
                          uint64_t dataBytes, const std::string& headerDesc)
{
    const std::string who = quoted(name);
    if (!entry.is_object())
        throw FormatError(path, who + ": entry is a " + std::string(entry.type_name())
                                      + ", expected an object with dtype, shape, data_offsets");
    SafetensorInfo info;
    info.name = name;

    auto dtypeIt = entry.find("dtype");
    if (dtypeIt == entry.end() || !dtypeIt->is_string())
        throw FormatError(path, who + ": missing or non-string \"dtype\"");
    std::optional<DType> dtype = dtypeFromName(dtypeIt->get<std::string>());
    if (!dtype)
        throw FormatError(path, who + ": unknown dtype \"" + dtypeIt->get<std::string>()
                                      + "\" (known: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL)");
    info.dtype = *dtype;

    auto shapeIt = entry.find("shape");
    if (shapeIt == entry.end() || !shapeIt->is_array())
        throw FormatError(path, who + ": missing or non-array \"shape\"");
    // numel and byte size are computed in uint64 with overflow checks, so a shape such as
    // [2^40, 2^40] is reported instead of wrapping around to a small, "valid" size.
    uint64_t numel = 1;
    bool overflow = false;
    for (size_t i = 0; i < shapeIt->size(); ++i) {
        std::optional<uint64_t> dim = asUnsigned((*shapeIt)[i]);
        if (!dim || *dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
            throw FormatError(path, who + ": shape[" + std::to_string(i) + "] = " + (*shapeIt)[i].dump()
                                          + " is not a non-negative 64-bit integer");
        info.shape.push_back(static_cast<int64_t>(*dim));
        overflow = overflow || __builtin_mul_overflow(numel, *dim, &numel);
    }
    uint64_t expectedBytes = 0;
    overflow = overflow || __builtin_mul_overflow(numel, dtypeSize(info.dtype), &expectedBytes)
               || numel > static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
    if (overflow)
        throw FormatError(path, who + ": shape " + shapeIt->dump()
                                      + " overflows 64 bits when multiplied out");

    auto offIt = entry.find("data_offsets");
    if (offIt == entry.end() || !offIt->is_array() || offIt->size() != 2)
        throw FormatError(path, who + ": missing \"data_offsets\" or not a [begin, end] pair");
    std::optional<uint64_t> begin = asUnsigned((*offIt)[0]);
    std::optional<uint64_t> end = asUnsigned((*offIt)[1]);
    if (!begin || !end)
        throw FormatError(path, who + ": data_offsets " + offIt->dump()
                                      + " are not non-negative 64-bit integers");
    info.dataBegin = *begin;
    info.dataEnd = *end;
    const std::string offsets = who + ": " + offsetsText(*begin, *end);
    if (*begin > *end)
        throw FormatError(path, offsets + " begin is after end");
    if (*end > dataBytes)
        throw FormatError(path, offsets + " end past the data area (file has " + std::to_string(dataBytes)
                                      + " data bytes after " + headerDesc + ")");
    if (*end - *begin != expectedBytes)
        throw FormatError(path, offsets + " hold " + std::to_string(*end - *begin) + " bytes but "
                                      + dtypeName(info.dtype) + " shape " + shapeIt->dump() + " needs "
                                      + std::to_string(expectedBytes));
    return info;
}

void checkOverlaps(const std::string& path, const std::vector<SafetensorInfo>& tensors)
{
    std::vector<const SafetensorInfo*> byOffset;
    byOffset.reserve(tensors.size());
    for (const SafetensorInfo& t : tensors)
        byOffset.push_back(&t);
    std::sort(byOffset.begin(), byOffset.end(), [](const SafetensorInfo* a, const SafetensorInfo* b) {
        return std::make_pair(a->dataBegin, a->dataEnd) < std::make_pair(b->dataBegin, b->dataEnd);
    });
    // Compare against the furthest-reaching earlier tensor, not just the previous one, so a
    // zero-size tensor in between cannot hide an overlap.
    const SafetensorInfo* reach = nullptr;
    for (const SafetensorInfo* t : byOffset) {
        if (reach && t->dataBegin < reach->dataEnd)
            throw FormatError(path, quoted(t->name) + ": " + offsetsText(t->dataBegin, t->dataEnd)
                                          + " overlap " + quoted(reach->name) + " at "
                                          + offsetsText(reach->dataBegin, reach->dataEnd));
        if (!reach || t->dataEnd > reach->dataEnd)
            reach = t;
    }
}

} // namespace

int64_t SafetensorInfo::numel() const
{
    int64_t n = 1;
    for (int64_t d : shape) {
        if (d == 0)
            return 0;
    }
    for (int64_t d : shape) {
        if (d < 0 || __builtin_mul_overflow(n, d, &n))
            return -1; // never for a tensor handed out by SafetensorsReader (validated there)
    }
    return n;
}

SafetensorsReader::SafetensorsReader(const std::string& path)
    : m_path(path)
{
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        throw FormatError(m_path, sysError("cannot open"));
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        std::string err = sysError("cannot stat");
        ::close(fd);
        throw FormatError(m_path, err);
    }
    if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        throw FormatError(m_path, "not a regular file");
    }
    m_fileSize = static_cast<uint64_t>(st.st_size);
    // Checked before mapping: mmap of an empty file fails with EINVAL.
    if (m_fileSize < 8) {
        ::close(fd);
        throw FormatError(m_path, "file is " + std::to_string(m_fileSize)
                                      + " bytes, shorter than the 8-byte header length field");
    }
    void* map = ::mmap(nullptr, m_fileSize, PROT_READ, MAP_PRIVATE, fd, 0);
    int mapErrno = errno;
    ::close(fd); // the mapping keeps the file alive
    if (map == MAP_FAILED) {
        errno = mapErrno;
        throw FormatError(m_path, sysError("cannot map " + std::to_string(m_fileSize) + " bytes"));
    }
    m_map = static_cast<const uint8_t*>(map);
    try {
        parseHeader();
    } catch (...) {
        // The destructor does not run for a throwing constructor.
        ::munmap(const_cast<uint8_t*>(m_map), m_fileSize);
        m_map = nullptr;
        throw;
    }
}

SafetensorsReader::~SafetensorsReader()
{
    if (m_map)
        ::munmap(const_cast<uint8_t*>(m_map), m_fileSize);
}

void SafetensorsReader::parseHeader()
{
    uint64_t headerLen = 0;
    for (int i = 7; i >= 0; --i)
        headerLen = (headerLen << 8) | m_map[i]; // little-endian u64
    if (headerLen > kMaxHeaderBytes)
        throw FormatError(m_path, "header length " + std::to_string(headerLen)
                                      + " (bytes 0-7) exceeds the 100000000-byte limit; not a safetensors file?");
    if (headerLen > m_fileSize - 8)
        throw FormatError(m_path, "header length " + std::to_string(headerLen)
                                      + " (bytes 0-7) runs past the end of the file ("
                                      + std::to_string(m_fileSize) + " bytes)");
    m_dataStart = 8 + headerLen;
    const uint64_t dataBytes = m_fileSize - m_dataStart;
    const std::string headerDesc = "the 8+" + std::to_string(headerLen) + "-byte header";

    const char* text = reinterpret_cast<const char*>(m_map + 8);
    nlohmann::json header;
    try {
        header = nlohmann::json::parse(text, text + headerLen);
    } catch (const nlohmann::json::parse_error& e) {
        // e.byte counts from 1 within the header text; report the file offset.
        throw FormatError(m_path, "header is not valid JSON near file byte " + std::to_string(7 + e.byte)
                                      + ": " + e.what());
    } catch (const nlohmann::json::out_of_range& e) {
        // A number past double's range ("1e400") is not a parse_error and carries no offset.
        throw FormatError(m_path, std::string("header is not valid JSON: ") + e.what());
    }
    if (!header.is_object())
        throw FormatError(m_path, std::string("header JSON is a ") + header.type_name()
                                      + ", expected an object of tensor names");

    for (auto it = header.begin(); it != header.end(); ++it) {
        const std::string& name = it.key();
        const nlohmann::json& entry = it.value();
        if (name == "__metadata__") {
            if (entry.is_null())
                continue; // the reference implementation accepts null as "no metadata"
            if (!entry.is_object())
                throw FormatError(m_path, std::string("\"__metadata__\" is a ") + entry.type_name()
                                              + ", expected an object of string -> string");
            for (auto m = entry.begin(); m != entry.end(); ++m) {
                if (!m.value().is_string())
                    throw FormatError(m_path, "\"__metadata__\" key \"" + m.key() + "\" has a "
                                                  + m.value().type_name() + " value, expected a string");
                m_metadata[m.key()] = m.value().get<std::string>();
            }
            continue;
        }
        m_tensors.push_back(parseEntry(m_path, name, entry, dataBytes, headerDesc));
    }
    std::sort(m_tensors.begin(), m_tensors.end(),
              [](const SafetensorInfo& a, const SafetensorInfo& b) { return a.name < b.name; });
    checkOverlaps(m_path, m_tensors);
}

const SafetensorInfo* SafetensorsReader::find(const std::string& name) const
{
    auto it = std::lower_bound(m_tensors.begin(), m_tensors.end(), name,
                               [](const SafetensorInfo& t, const std::string& n) { return t.name < n; });
    if (it == m_tensors.end() || it->name != name)
        return nullptr;
    return &*it;
}

const uint8_t* SafetensorsReader::data(const SafetensorInfo& info) const
{
    // Guards against an info from another reader, whose offsets were validated for another file.
    if (info.dataBegin > info.dataEnd || info.dataEnd > m_fileSize - m_dataStart)
        throw std::out_of_range(m_path + ": tensor \"" + info.name + "\" does not belong to this file");
    return m_map + m_dataStart + info.dataBegin;
}

} // namespace tb
