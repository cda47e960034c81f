// The Hub's HTTP protocol over libcurl, as huggingface_hub speaks it (file_download.py,
// hf_api.py):
//   repoInfo      GET  {endpoint}/api/{models|datasets}/{repo}/revision/{rev}?blobs=true
//   fileMetadata  HEAD {endpoint}/{[datasets/]repo}/resolve/{commit}/{path}, Accept-Encoding:
//                 identity, relative redirects followed (a renamed repository), absolute ones
//                 not: X-Repo-Commit, X-Linked-Etag / ETag, X-Linked-Size / Content-Length and
//                 Location are read from that first answer, before the CDN
//   fetch         GET of the Location (the CDN, redirects followed, no Authorization header:
//                 huggingface_hub drops it too) or of the resolve URL, with "Range: bytes=N-"
//                 when N bytes are already on disk; the body streams into a HubByteSink
//
// Every request is retried on connection failures, stalls (no byte for stallSeconds), 429
// and 5xx, waiting retryBaseSeconds, then twice that, ... up to retryMaxSeconds; a transfer
// that made progress starts its count again, so only maxRetries failures in a row give up.
// Statuses become HubError kinds with a message that says what to do (HubError.h).
//
// With HF_HUB_OFFLINE set, every request throws HubError(Offline) before touching the network.
// The token goes into one request header and nowhere else; every message passes redact().
// One object per thread: it owns a curl handle (kept-alive connections); cancelled() may be
// called from the transfer at any time and aborts within about a second.
#pragma once

#include "hub/HubEnvironment.h"
#include "hub/HubRepo.h"
#include "hub/HubRepoInfo.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace tb {

struct HubRefusal;

struct HubClientOptions {
    int maxRetries = 5;               // failures in a row (without progress) before giving up
    double retryBaseSeconds = 1.0;
    double retryMaxSeconds = 16.0;
    long connectTimeoutSeconds = 10;
    long stallSeconds = 30;           // a transfer below 1 byte/s for this long has stalled (whole seconds, >= 1)
    long metadataTimeoutSeconds = 60; // whole info / HEAD request
};

struct HubFileMetadata {
    std::string commit;      // X-Repo-Commit; "" when absent
    std::string etag;        // X-Linked-Etag, else ETag; quotes and "W/" removed
    int64_t size = -1;       // X-Linked-Size, else Content-Length; -1 unknown
    std::string location;    // what to GET: the redirect's Location (CDN), else the resolve URL
    bool redirected = false; // location came from a redirect: fetched without Authorization
};

// Where a GET's body goes (IncompleteBlob). Called on the client's thread.
class HubByteSink {
public:
    virtual ~HubByteSink() = default;
    virtual uint64_t size() const = 0;                        // bytes held: the Range start
    virtual void restart() = 0;                               // the server ignored Range: start over
    virtual void append(const char* data, size_t bytes) = 0; // may throw HubError(DiskSpace / Io)
};

class HubClient {
public:
    HubClient(HubEnvironment env, HubClientOptions options, std::function<bool()> cancelled);
    ~HubClient();
    HubClient(const HubClient&) = delete;
    HubClient& operator=(const HubClient&) = delete;

    HubRepoInfo repoInfo(const HubRepoId& repo, const std::string& revision);
    HubFileMetadata fileMetadata(const HubRepoId& repo, const std::string& commit, const std::string& path);
    // Streams meta.location into `sink` from sink.size() on until the server's end of the file
    // (expectedSize bytes when known). `label` names the file in messages.
    void fetch(const HubFileMetadata& meta, int64_t expectedSize, HubByteSink& sink, const std::string& label);

    std::string resolveUrl(const HubRepoId& repo, const std::string& revision, const std::string& path) const;
    // `text` with the token (and any user:password of the endpoint) replaced by "***".
    std::string redact(const std::string& text) const;

private:
    struct Response;
    struct Request;
    Response perform(const Request& request);
    Response performWithRetries(const Request& request, const std::string& what);
    HubRefusal refusalOf(const Response& response) const;
    void sleepBeforeRetry(int failures) const;

    HubEnvironment m_env;
    HubClientOptions m_options;
    std::function<bool()> m_cancelled;
    void* m_curl = nullptr; // CURL*
};

} // namespace tb
