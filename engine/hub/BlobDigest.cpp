#include "hub/BlobDigest.h"

#include <openssl/evp.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

namespace tb {

struct BlobDigest::Context {
    EVP_MD_CTX* md = nullptr;
    ~Context() { EVP_MD_CTX_free(md); }
};

namespace {

bool isLowerHex(const std::string& s, size_t length)
{
    if (s.size() != length)
        return false;
    for (char c : s)
        if (!std::isdigit(static_cast<unsigned char>(c)) && (c < 'a' || c > 'f'))
            return false;
    return true;
}

} // namespace

BlobDigestKind blobDigestKindForEtag(const std::string& etag)
{
    if (isLowerHex(etag, 64))
        return BlobDigestKind::Sha256;
    if (isLowerHex(etag, 40))
        return BlobDigestKind::GitBlobSha1;
    return BlobDigestKind::None;
}

const char* blobDigestName(BlobDigestKind kind)
{
    switch (kind) {
    case BlobDigestKind::Sha256: return "SHA-256";
    case BlobDigestKind::GitBlobSha1: return "git blob SHA-1";
    case BlobDigestKind::None: break;
    }
    return "none";
}

BlobDigest::BlobDigest(BlobDigestKind kind, uint64_t size) : m_kind(kind)
{
    if (kind == BlobDigestKind::None)
        return;
    m_context = std::make_unique<Context>();
    m_context->md = EVP_MD_CTX_new();
    const EVP_MD* md = kind == BlobDigestKind::Sha256 ? EVP_sha256() : EVP_sha1();
    if (!m_context->md || EVP_DigestInit_ex(m_context->md, md, nullptr) != 1)
        throw std::runtime_error("OpenSSL: cannot start a digest");
    if (kind == BlobDigestKind::GitBlobSha1) {
        const std::string header = "blob " + std::to_string(size);
        update(header.c_str(), header.size() + 1); // with its terminating NUL
    }
}

BlobDigest::~BlobDigest() = default;

void BlobDigest::update(const void* data, size_t bytes)
{
    if (m_context && bytes > 0 && EVP_DigestUpdate(m_context->md, data, bytes) != 1)
        throw std::runtime_error("OpenSSL: digest update failed");
}

std::string BlobDigest::finalHex()
{
    if (!m_context)
        return "";
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (EVP_DigestFinal_ex(m_context->md, out, &length) != 1)
        throw std::runtime_error("OpenSSL: digest final failed");
    m_context.reset();
    static const char* const kHex = "0123456789abcdef";
    std::string hex;
    for (unsigned int i = 0; i < length; ++i) {
        hex += kHex[out[i] >> 4];
        hex += kHex[out[i] & 15];
    }
    return hex;
}

std::string BlobDigest::ofFile(const std::string& path, BlobDigestKind kind)
{
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        throw std::runtime_error(path + ": cannot read (" + std::strerror(errno) + ")");
    const off_t size = ::lseek(fd, 0, SEEK_END);
    ::lseek(fd, 0, SEEK_SET);
    BlobDigest digest(kind, size < 0 ? 0 : static_cast<uint64_t>(size));
    std::vector<char> buffer(1 << 20);
    for (;;) {
        const ssize_t n = ::read(fd, buffer.data(), buffer.size());
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            const int e = errno;
            ::close(fd);
            throw std::runtime_error(path + ": cannot read (" + std::strerror(e) + ")");
        }
        if (n == 0)
            break;
        digest.update(buffer.data(), static_cast<size_t>(n));
    }
    ::close(fd);
    return digest.finalHex();
}

} // namespace tb
