#include "formats/SafetensorsWriter.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <stdexcept>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace tb {

namespace {

// Position of each dtype in huggingface/safetensors' `Dtype` enum, which is declared in
// increasing alignment order; its serializer sorts by this descending, then by name.
int referenceRank(DType dtype)
{
    switch (dtype) {
    case DType::Bool: return 0;
    case DType::U8: return 1;
    case DType::I8: return 2;
    case DType::I16: return 3;
    case DType::F16: return 4;
    case DType::BF16: return 5;
    case DType::I32: return 6;
    case DType::F32: return 7;
    case DType::F64: return 8;
    case DType::I64: return 9;
    }
    return 0;
}

bool isValidUtf8(const std::string& s)
{
    try {
        (void)nlohmann::json(s).dump();
        return true;
    } catch (const nlohmann::json::type_error&) {
        return false;
    }
}

std::runtime_error ioError(const std::string& path, const std::string& what, int err)
{
    return std::runtime_error(path + ": " + what + ": " + std::strerror(err));
}

// Writes all of [data, data+size) despite short writes and EINTR; false with errno set on error.
bool writeAll(int fd, const uint8_t* data, size_t size)
{
    while (size > 0) {
        ssize_t n = ::write(fd, data, std::min<size_t>(size, size_t(1) << 30));
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

} // namespace

void SafetensorsWriter::add(const std::string& name, DType dtype, const std::vector<int64_t>& shape,
                            const void* data, size_t bytes)
{
    if (name == "__metadata__")
        throw std::invalid_argument("safetensors: \"__metadata__\" is reserved and cannot name a tensor");
    if (!isValidUtf8(name))
        throw std::invalid_argument("safetensors: tensor name is not valid UTF-8");
    if (m_entries.count(name))
        throw std::invalid_argument("safetensors: duplicate tensor \"" + name + "\"");
    uint64_t expected = dtypeSize(dtype);
    for (int64_t d : shape) {
        if (d < 0)
            throw std::invalid_argument("safetensors: tensor \"" + name + "\" has a negative dimension");
        if (__builtin_mul_overflow(expected, static_cast<uint64_t>(d), &expected))
            throw std::invalid_argument("safetensors: tensor \"" + name + "\" shape overflows 64 bits");
    }
    if (expected != bytes)
        throw std::invalid_argument("safetensors: tensor \"" + name + "\" is given " + std::to_string(bytes)
                                    + " bytes but its " + dtypeName(dtype) + " shape needs "
                                    + std::to_string(expected));
    Entry entry{dtype, shape, {}};
    if (bytes > 0) {
        const auto* p = static_cast<const uint8_t*>(data);
        entry.bytes.assign(p, p + bytes);
    }
    m_entries.emplace(name, std::move(entry));
}

std::string SafetensorsWriter::header(std::vector<const std::pair<const std::string, Entry>*>& order) const
{
    order.clear();
    for (const auto& kv : m_entries)
        order.push_back(&kv);
    std::stable_sort(order.begin(), order.end(), [](const auto* a, const auto* b) {
        return referenceRank(a->second.dtype) > referenceRank(b->second.dtype); // names already sorted
    });

    // ordered_json keeps insertion order, matching the reference serializer's key order.
    nlohmann::ordered_json json = nlohmann::ordered_json::object();
    if (!m_metadata.empty()) {
        nlohmann::ordered_json meta = nlohmann::ordered_json::object();
        for (const auto& [key, value] : m_metadata)
            meta[key] = value;
        json["__metadata__"] = std::move(meta);
    }
    uint64_t offset = 0;
    for (const auto* kv : order) {
        const Entry& e = kv->second;
        nlohmann::ordered_json info = nlohmann::ordered_json::object();
        info["dtype"] = dtypeName(e.dtype);
        info["shape"] = e.shape;
        info["data_offsets"] = {offset, offset + e.bytes.size()};
        offset += e.bytes.size();
        json[kv->first] = std::move(info);
    }
    std::string text;
    try {
        text = json.dump();
    } catch (const nlohmann::json::type_error& e) {
        throw std::invalid_argument(std::string("safetensors: metadata is not valid UTF-8: ") + e.what());
    }
    text.append((8 - text.size() % 8) % 8, ' ');

    std::string out(8, '\0');
    uint64_t n = text.size();
    for (int i = 0; i < 8; ++i)
        out[i] = static_cast<char>((n >> (8 * i)) & 0xff); // little-endian u64
    return out + text;
}

std::vector<uint8_t> SafetensorsWriter::serialize() const
{
    std::vector<const std::pair<const std::string, Entry>*> order;
    std::string head = header(order);
    std::vector<uint8_t> out(head.begin(), head.end());
    for (const auto* kv : order)
        out.insert(out.end(), kv->second.bytes.begin(), kv->second.bytes.end());
    return out;
}

void SafetensorsWriter::write(const std::string& path) const
{
    std::vector<const std::pair<const std::string, Entry>*> order;
    std::string head;
    try {
        head = header(order);
    } catch (const std::invalid_argument& e) {
        throw std::invalid_argument(path + ": " + e.what());
    }

    const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        throw ioError(path, "cannot create temporary file " + tmp, errno);

    auto fail = [&](const std::string& what) {
        int err = errno;
        if (fd >= 0)
            ::close(fd);
        ::unlink(tmp.c_str());
        return ioError(path, what, err);
    };
    if (!writeAll(fd, reinterpret_cast<const uint8_t*>(head.data()), head.size()))
        throw fail("cannot write header to " + tmp);
    for (const auto* kv : order) {
        const std::vector<uint8_t>& bytes = kv->second.bytes;
        if (!writeAll(fd, bytes.data(), bytes.size()))
            throw fail("cannot write tensor \"" + kv->first + "\" to " + tmp);
    }
    // fsync before rename: otherwise a crash can leave the new name pointing at empty blocks.
    if (::fsync(fd) != 0)
        throw fail("cannot fsync " + tmp);
    int closeResult = ::close(fd);
    fd = -1;
    if (closeResult != 0)
        throw fail("cannot close " + tmp);
    if (::rename(tmp.c_str(), path.c_str()) != 0)
        throw fail("cannot rename " + tmp + " to it");

    // Make the rename itself durable; best effort, the file is complete either way.
    std::string::size_type slash = path.rfind('/');
    std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
    int dirFd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirFd >= 0) {
        ::fsync(dirFd);
        ::close(dirFd);
    }
}

} // namespace tb
