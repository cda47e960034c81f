// The checksum an ETag of the Hub stands for, computed as the bytes stream by (OpenSSL EVP):
//   LFS files:     ETag = SHA-256 of the content, 64 hex digits
//   regular files: ETag = git blob SHA-1 = SHA-1("blob " + decimal size + "\0" + content),
//                  40 hex digits (what `git hash-object` prints)
// Any other ETag shape (a CDN's own tag, a weak tag) is not a checksum: kind None, and the
// download is only checked against its size.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace tb {

enum class BlobDigestKind { None, Sha256, GitBlobSha1 };

// By the ETag's shape: 64 lowercase hex digits -> Sha256, 40 -> GitBlobSha1, else None.
BlobDigestKind blobDigestKindForEtag(const std::string& etag);
const char* blobDigestName(BlobDigestKind kind); // "SHA-256", "git blob SHA-1", "none"

class BlobDigest {
public:
    // `size` is the content's total size; GitBlobSha1 hashes it first, so it must be exact.
    BlobDigest(BlobDigestKind kind, uint64_t size);
    ~BlobDigest();
    BlobDigest(const BlobDigest&) = delete;
    BlobDigest& operator=(const BlobDigest&) = delete;

    BlobDigestKind kind() const { return m_kind; }
    void update(const void* data, size_t bytes);
    // Lowercase hex, comparable with the ETag; "" for kind None. Call once.
    std::string finalHex();

    // The digest of a whole file, read in 1 MiB pieces; throws std::runtime_error naming the
    // file when it cannot be read.
    static std::string ofFile(const std::string& path, BlobDigestKind kind);

private:
    struct Context;
    BlobDigestKind m_kind;
    std::unique_ptr<Context> m_context;
};

} // namespace tb
