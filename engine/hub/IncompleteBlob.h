// One blob being downloaded: blobs/<etag>.incomplete, appended to as the bytes arrive and
// hashed on the way (BlobDigest), so a 10 GB file is never held in memory nor read twice.
// Writes go through a 1 MiB buffer: libcurl hands over 16 KiB at a time, and a write(2) per
// piece cost more than the hashing. The buffer is written out before complete(), restart()
// and destruction, so a cancelled download keeps every byte it received.
// A file left by an interrupted run is reopened, its bytes hashed, and the download resumes
// at its size. complete() checks size and checksum, syncs and renames the file to
// blobs/<etag>; a mismatch deletes it, so a bad file never reaches a snapshot.
//
// Written by one thread (the HubClient's); size() may be read from any thread (progress).
#pragma once

#include "hub/BlobDigest.h"
#include "hub/HubClient.h"

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace tb {

class IncompleteBlob : public HubByteSink {
public:
    // `expectedSize` -1 when unknown; `label` names the file in messages ("org/name/config.json").
    // Throws HubError(Io) when the file cannot be opened or read back.
    IncompleteBlob(std::string path, std::string etag, int64_t expectedSize, std::string label);
    ~IncompleteBlob() override; // closes; the file stays for the next run to resume

    uint64_t size() const override { return m_size.load(std::memory_order_relaxed); }
    void restart() override;
    // Throws HubError(DiskSpace) on ENOSPC / EDQUOT, HubError(Io) on other write errors.
    void append(const char* data, size_t bytes) override;

    uint64_t resumedFrom() const { return m_resumedFrom; } // bytes already there when opened; 0 after restart()
    uint64_t received() const { return m_received.load(std::memory_order_relaxed); } // appended by this object
    BlobDigestKind digestKind() const { return m_kind; }

    // Verifies what can be verified (size when known, the ETag when it is a checksum), then
    // fdatasync and rename to `blobPath`. On a mismatch the file is deleted and
    // HubError(Checksum) says what differed.
    void complete(const std::string& blobPath);

private:
    void discard();
    void flush(); // the buffer to the file; throws like append()

    std::string m_path;
    std::string m_etag;
    int64_t m_expectedSize;
    std::string m_label;
    int m_fd = -1;
    std::atomic<uint64_t> m_size{0};
    std::atomic<uint64_t> m_received{0};
    uint64_t m_resumedFrom = 0;
    BlobDigestKind m_kind;
    std::unique_ptr<BlobDigest> m_digest; // null: checked by reading the file back at the end
    std::vector<char> m_buffer;           // bytes counted in size() but not yet in the file
};

} // namespace tb
