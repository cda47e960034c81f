#include "hub/IncompleteBlob.h"

#include "hub/HubError.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace tb {

namespace {

HubError writeError(const std::string& path, const std::string& label, int error)
{
    if (error == ENOSPC || error == EDQUOT)
        return HubError(HubError::Kind::DiskSpace,
                        "no space left in " + std::filesystem::path(path).parent_path().string() + " while writing " + label
                            + ": free some space (or set HF_HUB_CACHE to a bigger disk) and run the download again; it resumes");
    return HubError(HubError::Kind::Io, path + ": cannot write (" + std::strerror(error) + ")");
}

} // namespace

IncompleteBlob::IncompleteBlob(std::string path, std::string etag, int64_t expectedSize, std::string label)
    : m_path(std::move(path)), m_etag(std::move(etag)), m_expectedSize(expectedSize), m_label(std::move(label)),
      m_kind(blobDigestKindForEtag(m_etag))
{
    m_fd = ::open(m_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (m_fd < 0)
        throw HubError(HubError::Kind::Io, m_path + ": cannot open (" + std::strerror(errno) + ")");
    struct stat st {};
    ::fstat(m_fd, &st);
    uint64_t existing = static_cast<uint64_t>(st.st_size);
    if (m_expectedSize >= 0 && existing > static_cast<uint64_t>(m_expectedSize)) {
        // Longer than the file can be: not a prefix of it.
        if (::ftruncate(m_fd, 0) != 0)
            throw HubError(HubError::Kind::Io, m_path + ": cannot truncate (" + std::strerror(errno) + ")");
        existing = 0;
    }
    // A git blob SHA-1 starts with the size, so it streams only when the size is known.
    const bool inlineDigest = m_kind == BlobDigestKind::Sha256 || (m_kind == BlobDigestKind::GitBlobSha1 && m_expectedSize >= 0);
    if (inlineDigest) {
        m_digest = std::make_unique<BlobDigest>(m_kind, static_cast<uint64_t>(std::max<int64_t>(m_expectedSize, 0)));
        std::vector<char> buffer(1 << 20);
        uint64_t done = 0;
        while (done < existing) {
            const ssize_t n = ::pread(m_fd, buffer.data(), std::min<uint64_t>(buffer.size(), existing - done), static_cast<off_t>(done));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                throw HubError(HubError::Kind::Io, m_path + ": cannot read back the partial download (" + std::strerror(errno) + ")");
            m_digest->update(buffer.data(), static_cast<size_t>(n));
            done += static_cast<uint64_t>(n);
        }
    }
    if (::lseek(m_fd, static_cast<off_t>(existing), SEEK_SET) < 0)
        throw HubError(HubError::Kind::Io, m_path + ": cannot seek (" + std::strerror(errno) + ")");
    m_size = existing;
    m_resumedFrom = existing;
}

IncompleteBlob::~IncompleteBlob()
{
    if (m_fd < 0)
        return;
    try {
        flush();
    } catch (const HubError&) {
        // a full disk: the file keeps what was written, and the next run resumes from there
    }
    ::close(m_fd);
}

void IncompleteBlob::restart()
{
    m_buffer.clear();
    if (::ftruncate(m_fd, 0) != 0 || ::lseek(m_fd, 0, SEEK_SET) < 0)
        throw HubError(HubError::Kind::Io, m_path + ": cannot truncate (" + std::strerror(errno) + ")");
    if (m_digest)
        m_digest = std::make_unique<BlobDigest>(m_kind, static_cast<uint64_t>(std::max<int64_t>(m_expectedSize, 0)));
    m_size = 0;
    m_resumedFrom = 0; // nothing of an earlier run's bytes is kept
}

void IncompleteBlob::append(const char* data, size_t bytes)
{
    constexpr size_t kBufferBytes = size_t(1) << 20;
    if (m_digest)
        m_digest->update(data, bytes);
    if (m_buffer.capacity() < kBufferBytes)
        m_buffer.reserve(kBufferBytes);
    m_buffer.insert(m_buffer.end(), data, data + bytes);
    m_size.fetch_add(bytes, std::memory_order_relaxed);
    m_received.fetch_add(bytes, std::memory_order_relaxed);
    if (m_buffer.size() >= kBufferBytes)
        flush();
}

void IncompleteBlob::flush()
{
    size_t written = 0;
    while (written < m_buffer.size()) {
        const ssize_t n = ::write(m_fd, m_buffer.data() + written, m_buffer.size() - written);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            // The file keeps what reached it; the rest is dropped and size() says so, and the
            // digest is taken from the file at the end (or by the next run).
            const int e = errno;
            const off_t onDisk = ::lseek(m_fd, 0, SEEK_CUR);
            if (onDisk >= 0)
                m_size = static_cast<uint64_t>(onDisk);
            m_buffer.clear();
            m_digest.reset();
            throw writeError(m_path, m_label, e);
        }
        written += static_cast<size_t>(n);
    }
    m_buffer.clear();
}

void IncompleteBlob::discard()
{
    ::close(m_fd);
    m_fd = -1;
    ::unlink(m_path.c_str());
}

void IncompleteBlob::complete(const std::string& blobPath)
{
    flush();
    if (m_expectedSize >= 0 && size() != static_cast<uint64_t>(m_expectedSize)) {
        const uint64_t got = size();
        discard();
        throw HubError(HubError::Kind::Checksum, m_label + ": received " + std::to_string(got) + " bytes, expected "
                                                     + std::to_string(m_expectedSize)
                                                     + "; the file was deleted, run the download again");
    }
    if (m_kind != BlobDigestKind::None) {
        const std::string actual = m_digest ? m_digest->finalHex() : BlobDigest::ofFile(m_path, m_kind);
        if (actual != m_etag) {
            discard();
            throw HubError(HubError::Kind::Checksum, m_label + ": the downloaded bytes do not match their " + blobDigestName(m_kind)
                                                         + " (expected " + m_etag + ", got " + actual
                                                         + "); the file was deleted and is not in the snapshot. Run the "
                                                           "download again; if it repeats, the server or a proxy serves "
                                                           "corrupt data");
        }
    }
    if (::fdatasync(m_fd) != 0) {
        const int e = errno;
        throw writeError(m_path, m_label, e);
    }
    ::close(m_fd);
    m_fd = -1;
    if (::rename(m_path.c_str(), blobPath.c_str()) != 0)
        throw HubError(HubError::Kind::Io, blobPath + ": cannot move the download into place (" + std::strerror(errno) + ")");
}

} // namespace tb
