// Downloads a repository revision from the Hub into the shared cache (HubCache.h), the way
// huggingface_hub's snapshot_download does, and gives the snapshot folder (what --model takes):
//
//   1. the file list and commit (HubClient::repoInfo); offline: the cache alone (HubOfflineSnapshot)
//   2. which files (HubFileSelection); a file whose snapshot link or blob exists is not fetched
//   3. free space checked (statvfs) against the bytes still to fetch, before anything starts
//   4. `connections` files at once, each: HEAD (ETag, size, CDN location), the blob lock,
//      GET streamed to blobs/<etag>.incomplete (resumed with Range), size and checksum
//      checked, renamed to blobs/<etag>, linked from snapshots/<commit>/<path>
//   5. refs/<revision> = commit, last: a ref never points at a snapshot this run left unfinished
//
// The first failing file stops the others (their .incomplete files stay, resumable) and its
// HubError is thrown from run(). The cancel flag does the same with HubError(Cancelled).
//
// Threads: run() blocks; the files download on worker threads it starts and joins. Callbacks
// are called on the thread that called run(), every progressIntervalSeconds and once at the end.
#pragma once

#include "hub/BlobDigest.h"
#include "hub/HubClient.h"
#include "hub/HubEnvironment.h"
#include "hub/HubRepo.h"

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace tb {

struct HubDownloadRequest {
    HubRepoId repo;
    std::string revision = "main"; // branch, tag, "refs/pr/N" or commit hash
    std::vector<std::string> include; // empty: the default selection (HubFileSelection.h)
};

struct HubDownloadOptions {
    int connections = 4; // files downloaded at once
    HubClientOptions client;
    // Free bytes for new files in `folder`; empty: statvfs (f_bavail * f_frsize). Tests replace it.
    std::function<uint64_t(const std::string& folder)> freeBytes;
    const std::atomic<bool>* cancel = nullptr; // polled; set from any thread
    double progressIntervalSeconds = 0.25;
};

enum class HubFileState { Queued, Cached, Downloading, Done, Failed };

struct HubFileProgress {
    std::string path;
    uint64_t bytesDone = 0; // including a resumed prefix
    int64_t bytesTotal = -1; // -1 until known
    HubFileState state = HubFileState::Queued;
};

struct HubProgress {
    uint64_t bytesDone = 0;  // of the files to fetch (cached files do not count)
    uint64_t bytesTotal = 0; // of the files to fetch whose size is known
    double bytesPerSecond = 0; // over the last few seconds, bytes received in this run
    size_t filesDone = 0;    // cached, downloaded or failed
    size_t filesTotal = 0;
    std::vector<HubFileProgress> files; // in the order of the selection
    bool finished = false;   // the last report of the run
};

class HubDownloadCallbacks {
public:
    virtual ~HubDownloadCallbacks() = default;
    virtual void onProgress(const HubProgress&) {}
};

struct HubDownloadedFile {
    std::string path;           // in the repository
    std::string etag;           // the blob's name
    int64_t size = -1;
    bool transferred = false;   // false: it was in the cache already
    uint64_t resumedFrom = 0;   // bytes of an earlier run's .incomplete that were kept
    uint64_t bytesReceived = 0; // over the network in this run
    BlobDigestKind verifiedBy = BlobDigestKind::None; // for transferred files
};

struct HubDownloadResult {
    HubRepoId repo;
    std::string revision;
    std::string commit;
    std::string snapshotPath; // <cache>/<repo folder>/snapshots/<commit>
    bool offline = false;     // answered from the cache (HF_HUB_OFFLINE)
    std::vector<HubDownloadedFile> files;
    uint64_t bytesReceived = 0;
    double seconds = 0;
};

class HubDownload {
public:
    explicit HubDownload(HubEnvironment env, HubDownloadOptions options = {});

    HubDownloadResult run(const HubDownloadRequest& request, HubDownloadCallbacks* callbacks = nullptr);

    // statvfs of `folder`: bytes an unprivileged user may still write.
    static uint64_t statvfsFreeBytes(const std::string& folder);

private:
    HubEnvironment m_env;
    HubDownloadOptions m_options;
};

// "1.5 GB", "12.0 MB", "512 B": sizes in messages (decimal units, as the Hub shows them).
std::string formatHubBytes(uint64_t bytes);

} // namespace tb
