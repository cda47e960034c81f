#include "gguf/GgufWriter.h"

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace tb {

namespace {

void putU32(std::string& out, uint32_t v)
{
    for (int i = 0; i < 4; ++i)
        out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

void putU64(std::string& out, uint64_t v)
{
    for (int i = 0; i < 8; ++i)
        out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

void putString(std::string& out, const std::string& s)
{
    putU64(out, s.size());
    out += s;
}

void putScalar(std::string& out, const GgufValue& v, GgufType type)
{
    switch (type) {
    case GgufType::Uint8:
    case GgufType::Int8:
    case GgufType::Bool:
        out.push_back(static_cast<char>(v.integer & 0xFF));
        return;
    case GgufType::Uint16:
    case GgufType::Int16:
        out.push_back(static_cast<char>(v.integer & 0xFF));
        out.push_back(static_cast<char>((v.integer >> 8) & 0xFF));
        return;
    case GgufType::Uint32:
    case GgufType::Int32:
        putU32(out, static_cast<uint32_t>(v.integer));
        return;
    case GgufType::Uint64:
    case GgufType::Int64:
        putU64(out, v.integer);
        return;
    case GgufType::Float32: {
        const float f = static_cast<float>(v.real);
        uint32_t bits;
        std::memcpy(&bits, &f, 4);
        putU32(out, bits);
        return;
    }
    case GgufType::Float64: {
        uint64_t bits;
        std::memcpy(&bits, &v.real, 8);
        putU64(out, bits);
        return;
    }
    case GgufType::String:
        putString(out, v.text);
        return;
    case GgufType::Array:
        putU32(out, static_cast<uint32_t>(v.elementType));
        putU64(out, v.items.size());
        for (const auto& item : v.items) {
            if (item.type != v.elementType)
                throw std::invalid_argument(std::string("GGUF array of ") + ggufTypeName(v.elementType) + " holds a "
                                            + ggufTypeName(item.type));
            putScalar(out, item, v.elementType);
        }
        return;
    }
    throw std::invalid_argument("unknown GGUF value type");
}

uint64_t padTo(uint64_t offset, uint64_t alignment)
{
    return (offset + alignment - 1) / alignment * alignment;
}

std::runtime_error ioError(const std::string& path, const std::string& what, int err)
{
    return std::runtime_error(path + ": " + what + (err ? std::string(": ") + std::strerror(err) : std::string()));
}

bool writeAll(int fd, const uint8_t* data, size_t size)
{
    while (size > 0) {
        const ssize_t n = ::write(fd, data, size);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return false;
        }
        data += n;
        size -= static_cast<size_t>(n);
    }
    return true;
}

// The temporary file beside the destination; unlinked unless released.
class TemporaryFile {
public:
    explicit TemporaryFile(const std::string& destination)
    {
        static std::atomic<int> counter{0};
        const auto slash = destination.rfind('/');
        const std::string dir = slash == std::string::npos ? "" : destination.substr(0, slash + 1);
        const std::string name = slash == std::string::npos ? destination : destination.substr(slash + 1);
        m_path = dir + "." + name + ".partial-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
        m_fd = ::open(m_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (m_fd < 0)
            throw ioError(destination, "cannot create the temporary file " + m_path, errno);
    }
    ~TemporaryFile()
    {
        if (m_fd >= 0)
            ::close(m_fd);
        if (!m_released)
            ::unlink(m_path.c_str());
    }
    TemporaryFile(const TemporaryFile&) = delete;
    TemporaryFile& operator=(const TemporaryFile&) = delete;

    int fd() const { return m_fd; }
    const std::string& path() const { return m_path; }
    int close()
    {
        const int r = ::close(m_fd);
        m_fd = -1;
        return r;
    }
    void release() { m_released = true; }

private:
    std::string m_path;
    int m_fd = -1;
    bool m_released = false;
};

} // namespace

void GgufWriter::set(const std::string& key, GgufValue value)
{
    if (key == "general.alignment") {
        if (value.type != GgufType::Uint32 || value.integer == 0 || (value.integer & (value.integer - 1)) != 0)
            throw std::invalid_argument("general.alignment must be a u32 power of two");
    }
    for (auto& kv : m_metadata)
        if (kv.key == key) {
            kv.value = std::move(value);
            return;
        }
    m_metadata.push_back({key, std::move(value)});
}

void GgufWriter::addTensor(GgufTensorSpec spec)
{
    for (const auto& t : m_tensors)
        if (t.name == spec.name)
            throw std::invalid_argument("GGUF tensor \"" + spec.name + "\" added twice");
    if (spec.dims.empty() || spec.dims.size() > 4)
        throw std::invalid_argument("GGUF tensor \"" + spec.name + "\": 1 to 4 dimensions");
    if (!spec.produce)
        throw std::invalid_argument("GGUF tensor \"" + spec.name + "\" has no data producer");
    m_tensors.push_back(std::move(spec));
}

uint32_t GgufWriter::alignment() const
{
    for (const auto& kv : m_metadata)
        if (kv.key == "general.alignment")
            return static_cast<uint32_t>(kv.value.integer);
    return 32;
}

std::string GgufWriter::header() const
{
    std::string out = "GGUF";
    putU32(out, 3);
    putU64(out, m_tensors.size());
    putU64(out, m_metadata.size());
    for (const auto& kv : m_metadata) {
        putString(out, kv.key);
        putU32(out, static_cast<uint32_t>(kv.value.type));
        putScalar(out, kv.value, kv.value.type);
    }
    const uint64_t align = alignment();
    uint64_t offset = 0;
    for (const auto& t : m_tensors) {
        putString(out, t.name);
        putU32(out, static_cast<uint32_t>(t.dims.size()));
        for (int64_t d : t.dims)
            putU64(out, static_cast<uint64_t>(d));
        putU32(out, t.ggmlType);
        putU64(out, offset);
        offset = padTo(offset + t.bytes, align);
    }
    out.resize(padTo(out.size(), align), '\0');
    return out;
}

uint64_t GgufWriter::fileSize() const
{
    uint64_t size = header().size();
    const uint64_t align = alignment();
    for (const auto& t : m_tensors)
        size = padTo(size + t.bytes, align);
    return size;
}

void GgufWriter::write(const std::string& path, const std::function<void(double, const std::string&)>& progress,
                       const std::function<bool()>& cancelled) const
{
    struct stat st;
    if (::lstat(path.c_str(), &st) == 0)
        throw std::runtime_error(path + ": exists; choose a new file name (an export never replaces a file)");

    const std::string head = header();
    TemporaryFile tmp(path);
    if (!writeAll(tmp.fd(), reinterpret_cast<const uint8_t*>(head.data()), head.size()))
        throw ioError(path, "cannot write the header to " + tmp.path(), errno);

    const uint64_t align = alignment();
    uint64_t total = 0;
    for (const auto& t : m_tensors)
        total += t.bytes;
    uint64_t done = 0;
    std::vector<uint8_t> buffer;
    for (const auto& t : m_tensors) {
        if (cancelled && cancelled())
            throw GgufWriterCancelled();
        buffer.assign(padTo(t.bytes, align), 0);
        t.produce(buffer.data());
        if (!writeAll(tmp.fd(), buffer.data(), buffer.size()))
            throw ioError(path, "cannot write tensor \"" + t.name + "\" to " + tmp.path(), errno);
        done += t.bytes;
        if (progress)
            progress(total ? double(done) / double(total) : 1.0, t.name);
    }
    // fsync before rename: otherwise a crash can leave the new name pointing at empty blocks.
    if (::fsync(tmp.fd()) != 0)
        throw ioError(path, "cannot fsync " + tmp.path(), errno);
    if (tmp.close() != 0)
        throw ioError(path, "cannot close " + tmp.path(), errno);
    if (::renameat2(AT_FDCWD, tmp.path().c_str(), AT_FDCWD, path.c_str(), RENAME_NOREPLACE) != 0) {
        const int err = errno;
        if (err == EEXIST)
            throw std::runtime_error(path + ": appeared while exporting; the export was not moved over it");
        throw ioError(path, "cannot rename " + tmp.path() + " to it", err);
    }
    tmp.release();
}

} // namespace tb
