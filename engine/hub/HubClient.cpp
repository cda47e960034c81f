#include "hub/HubClient.h"

#include "hub/HubError.h"
#include "hub/HubStatusErrors.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <exception>
#include <map>
#include <mutex>
#include <thread>

namespace tb {

namespace {

constexpr size_t kMaxBodyBytes = size_t(64) << 20; // API answers; error bodies are cut far sooner
constexpr size_t kMaxErrorBodyBytes = 4096;

// A failure worth another attempt (connection lost, stall, 5xx): perform() throws it,
// performWithRetries() decides.
struct TransientFailure {
    HubError::Kind kind;
    std::string message;
};

std::string lower(std::string s)
{
    for (char& c : s)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

std::string trim(const std::string& s)
{
    size_t a = 0, b = s.size();
    while (a < b && std::isspace(static_cast<unsigned char>(s[a])))
        ++a;
    while (b > a && std::isspace(static_cast<unsigned char>(s[b - 1])))
        --b;
    return s.substr(a, b - a);
}

// "https://host:port" of a URL, without user:password, path or query (signed CDN URLs carry
// credentials of their own in the query).
std::string originOf(const std::string& url)
{
    const size_t scheme = url.find("://");
    if (scheme == std::string::npos)
        return url.substr(0, url.find_first_of("/?#"));
    size_t hostStart = scheme + 3;
    const size_t hostEnd = url.find_first_of("/?#", hostStart);
    const std::string authority = url.substr(hostStart, hostEnd == std::string::npos ? std::string::npos : hostEnd - hostStart);
    const size_t at = authority.rfind('@');
    return url.substr(0, scheme + 3) + (at == std::string::npos ? authority : authority.substr(at + 1));
}

int64_t parseSize(const std::string& text)
{
    if (text.empty() || text.size() > 19 || !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return -1;
    return std::stoll(text);
}

// huggingface_hub's _normalize_etag, plus the weak prefix HTTP allows.
std::string normalizeEtag(std::string etag)
{
    etag = trim(etag);
    if (etag.rfind("W/", 0) == 0)
        etag = etag.substr(2);
    if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"')
        etag = etag.substr(1, etag.size() - 2);
    return etag;
}

bool isConnectFailure(CURLcode code)
{
    return code == CURLE_COULDNT_CONNECT || code == CURLE_COULDNT_RESOLVE_HOST || code == CURLE_COULDNT_RESOLVE_PROXY;
}

bool isTransientCurlFailure(CURLcode code)
{
    switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
        return true;
    default:
        return isConnectFailure(code);
    }
}

void initCurlOnce()
{
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

} // namespace

struct HubClient::Request {
    bool head = false;
    std::string url;
    bool withToken = true;
    bool followRedirects = false;
    HubByteSink* sink = nullptr; // a file's body; otherwise the body is collected
    int64_t expectedSize = -1;
    long timeoutSeconds = 0; // whole request; 0: none (files), stalls still end it
    // For messages: the repository, the revision and the file the request is about.
    HubRepoId repo;
    std::string revision;
    std::string path;
};

struct HubClient::Response {
    long status = 0;
    std::map<std::string, std::string> headers; // lowercase names, of the last answer only
    std::string body;                            // collected bodies (API, errors)

    std::string header(const std::string& name) const
    {
        const auto it = headers.find(name);
        return it == headers.end() ? std::string() : it->second;
    }
};

namespace {

// What the curl callbacks share with perform() during one request.
struct Transfer {
    CURL* curl = nullptr;
    HubByteSink* sink = nullptr;
    const std::function<bool()>* cancelled = nullptr;
    std::map<std::string, std::string>* headers = nullptr;
    std::string* body = nullptr;
    bool bodyStarted = false;
    bool toSink = false;
    bool wrongRangeStart = false;
    std::exception_ptr sinkError;
};

size_t onHeader(char* data, size_t size, size_t count, void* user)
{
    auto* t = static_cast<Transfer*>(user);
    const std::string line(data, size * count);
    if (line.rfind("HTTP/", 0) == 0) {
        t->headers->clear(); // a new answer (after a redirect or a 100 Continue)
    } else if (const size_t colon = line.find(':'); colon != std::string::npos) {
        (*t->headers)[lower(trim(line.substr(0, colon)))] = trim(line.substr(colon + 1));
    }
    return size * count;
}

size_t onBody(char* data, size_t size, size_t count, void* user)
{
    auto* t = static_cast<Transfer*>(user);
    const size_t bytes = size * count;
    if (!t->bodyStarted) {
        t->bodyStarted = true;
        long status = 0;
        curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
        if (t->sink && status == 206) {
            // "bytes START-END/TOTAL": START must be where our file ends.
            const std::string range = (*t->headers)["content-range"];
            const size_t dash = range.find('-');
            const int64_t start = range.rfind("bytes ", 0) == 0 && dash != std::string::npos ? parseSize(range.substr(6, dash - 6)) : -1;
            if (start < 0 || static_cast<uint64_t>(start) != t->sink->size()) {
                t->wrongRangeStart = true;
                return 0;
            }
            t->toSink = true;
        } else if (t->sink && status == 200) {
            try {
                if (t->sink->size() > 0)
                    t->sink->restart(); // the server sent the whole file despite our Range
            } catch (...) {
                t->sinkError = std::current_exception();
                return 0;
            }
            t->toSink = true;
        }
    }
    if (t->toSink) {
        try {
            t->sink->append(data, bytes);
        } catch (...) {
            t->sinkError = std::current_exception();
            return 0;
        }
        return bytes;
    }
    const size_t limit = t->sink ? kMaxErrorBodyBytes : kMaxBodyBytes;
    if (t->body->size() < limit)
        t->body->append(data, std::min(bytes, limit - t->body->size()));
    return bytes;
}

int onProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t)
{
    const auto* t = static_cast<Transfer*>(user);
    return (*t->cancelled && (*t->cancelled)()) ? 1 : 0;
}

} // namespace

HubClient::HubClient(HubEnvironment env, HubClientOptions options, std::function<bool()> cancelled)
    : m_env(std::move(env)), m_options(options), m_cancelled(std::move(cancelled))
{
    initCurlOnce();
    m_curl = curl_easy_init();
    if (!m_curl)
        throw HubError(HubError::Kind::Io, "libcurl: cannot create a handle");
}

HubClient::~HubClient()
{
    curl_easy_cleanup(static_cast<CURL*>(m_curl));
}

std::string HubClient::redact(const std::string& text) const
{
    std::string s = text;
    const auto replaceAll = [&s](const std::string& what) {
        if (what.empty())
            return;
        for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + 3))
            s.replace(at, what.size(), "***");
    };
    replaceAll(m_env.token);
    // user:password@ of an endpoint such as https://user:secret@mirror.example
    if (const size_t scheme = m_env.endpoint.find("://"); scheme != std::string::npos) {
        const size_t at = m_env.endpoint.find('@', scheme);
        const size_t slash = m_env.endpoint.find('/', scheme + 3);
        if (at != std::string::npos && (slash == std::string::npos || at < slash))
            replaceAll(m_env.endpoint.substr(scheme + 3, at - scheme - 3));
    }
    return s;
}

std::string HubClient::resolveUrl(const HubRepoId& repo, const std::string& revision, const std::string& path) const
{
    return m_env.endpoint + "/" + repo.urlPrefix() + "/resolve/" + hubUrlQuote(revision, false) + "/" + hubUrlQuote(path, true);
}

HubClient::Response HubClient::perform(const Request& q)
{
    if (m_env.offline) // as huggingface_hub's _raise_if_offline_mode_is_enabled
        throw HubError(HubError::Kind::Offline,
                       redact("HF_HUB_OFFLINE is set, so no request goes to " + originOf(q.url) + "; unset it to reach the Hub"));
    CURL* curl = static_cast<CURL*>(m_curl);
    curl_easy_reset(curl); // options only: the connection cache stays
    Response r;
    Transfer t;
    t.curl = curl;
    t.sink = q.sink;
    t.cancelled = &m_cancelled;
    t.headers = &r.headers;
    t.body = &r.body;

    curl_slist* headers = nullptr;
    std::string auth;
    if (q.withToken && !m_env.token.empty()) {
        auth = "Authorization: Bearer " + m_env.token;
        headers = curl_slist_append(headers, auth.c_str());
    }
    std::string range;
    if (q.sink && q.sink->size() > 0) {
        range = "Range: bytes=" + std::to_string(q.sink->size()) + "-";
        headers = curl_slist_append(headers, range.c_str());
    }
    // No compression: the bytes hashed must be the bytes stored (huggingface_hub sends this too).
    headers = curl_slist_append(headers, "Accept-Encoding: identity");

    char errorText[CURL_ERROR_SIZE] = {0};
    curl_easy_setopt(curl, CURLOPT_URL, q.url.c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "tunebench (libcurl; huggingface_hub cache layout)");
    curl_easy_setopt(curl, CURLOPT_NOBODY, q.head ? 1L : 0L);
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, q.followRedirects ? 1L : 0L);
    curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 10L);
#if LIBCURL_VERSION_NUM >= 0x075500 // 7.85 named the protocol options by strings
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS, long(CURLPROTO_HTTP | CURLPROTO_HTTPS));
    curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS, long(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, m_options.connectTimeoutSeconds);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, m_options.stallSeconds);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, q.timeoutSeconds);
    curl_easy_setopt(curl, CURLOPT_BUFFERSIZE, 512L * 1024);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errorText);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, onHeader);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, onBody);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, onProgress);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &t);

    const CURLcode code = curl_easy_perform(curl);
    curl_slist_free_all(headers);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r.status);

    if (t.sinkError)
        std::rethrow_exception(t.sinkError);
    if (code == CURLE_ABORTED_BY_CALLBACK || (m_cancelled && m_cancelled()))
        throw HubError(HubError::Kind::Cancelled, "cancelled; the partial download stays in the cache and the next download resumes it");
    if (t.wrongRangeStart)
        throw TransientFailure{HubError::Kind::Server, originOf(q.url) + " resumed " + q.path + " at the wrong offset"};
    if (code != CURLE_OK) {
        const std::string detail = errorText[0] ? errorText : curl_easy_strerror(code);
        std::string message;
        double seconds = 0;
        curl_easy_getinfo(curl, CURLINFO_TOTAL_TIME, &seconds);
        if (isConnectFailure(code))
            message = "cannot connect to " + originOf(q.url) + " (" + detail
                      + "): check the network and HF_ENDPOINT, or set HF_HUB_OFFLINE=1 to use only the cache";
        else if (code == CURLE_OPERATION_TIMEDOUT && (q.timeoutSeconds <= 0 || seconds < double(q.timeoutSeconds)))
            // Below the whole-request limit: CURLOPT_LOW_SPEED_TIME ended it, the transfer stalled.
            message = "the transfer from " + originOf(q.url) + " stalled" + (q.path.empty() ? "" : " while fetching " + q.path)
                      + ": no data for " + std::to_string(m_options.stallSeconds) + " s";
        else
            message = "the connection to " + originOf(q.url) + " failed" + (q.path.empty() ? "" : " while fetching " + q.path)
                      + " (" + detail + ")";
        if (isTransientCurlFailure(code))
            throw TransientFailure{HubError::Kind::Network, redact(message)};
        throw HubError(HubError::Kind::Network, redact(message));
    }
    return r;
}

void HubClient::sleepBeforeRetry(int failures) const
{
    const double seconds = std::min(m_options.retryMaxSeconds, m_options.retryBaseSeconds * std::pow(2.0, failures - 1));
    const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (std::chrono::steady_clock::now() < until) {
        if (m_cancelled && m_cancelled())
            throw HubError(HubError::Kind::Cancelled, "cancelled; the partial download stays in the cache and the next download resumes it");
        std::this_thread::sleep_for(std::min(std::chrono::duration<double>(0.05), std::chrono::duration<double>(until - std::chrono::steady_clock::now())));
    }
}

HubClient::Response HubClient::performWithRetries(const Request& q, const std::string& what)
{
    int failures = 0;
    for (;;) {
        const uint64_t before = q.sink ? q.sink->size() : 0;
        TransientFailure failure;
        try {
            Response r = perform(q);
            if (r.status == 416 && q.sink) {
                // Nothing left after our Range start: complete if the size is right, else start over.
                if (q.expectedSize >= 0 && q.sink->size() == static_cast<uint64_t>(q.expectedSize))
                    return Response{206, r.headers, {}};
                q.sink->restart();
                failure = {HubError::Kind::Server, originOf(q.url) + " could not resume " + q.path};
            } else if (r.status == 429 || r.status >= 500) {
                failure = {HubError::Kind::Server, originOf(q.url) + " answered " + std::to_string(r.status) + " for " + what};
            } else if (q.sink && (r.status == 200 || r.status == 206) && q.expectedSize >= 0
                       && q.sink->size() < static_cast<uint64_t>(q.expectedSize)) {
                failure = {HubError::Kind::Network, originOf(q.url) + " closed the connection after " + std::to_string(q.sink->size())
                                                        + " of " + std::to_string(q.expectedSize) + " bytes of " + q.path};
            } else {
                return r;
            }
        } catch (const TransientFailure& f) {
            failure = f;
        }
        if (q.sink && q.sink->size() > before)
            failures = 0; // progress: only failures in a row count
        if (++failures > m_options.maxRetries)
            throw HubError(failure.kind, redact(failure.message) + " (gave up after " + std::to_string(failures)
                                             + " attempts in a row; run the download again to resume)");
        sleepBeforeRetry(failures);
    }
}

HubRefusal HubClient::refusalOf(const Response& r) const
{
    return HubRefusal{r.status, r.header("x-error-code"), redact(r.header("x-error-message"))};
}

HubRepoInfo HubClient::repoInfo(const HubRepoId& repo, const std::string& revision)
{
    Request q;
    q.url = m_env.endpoint + "/" + repo.apiPath() + "/revision/" + hubUrlQuote(revision, false) + "?blobs=true";
    q.followRedirects = true; // a renamed repository; libcurl keeps Authorization on this host only
    q.timeoutSeconds = m_options.metadataTimeoutSeconds;
    q.repo = repo;
    q.revision = revision;
    const Response r = performWithRetries(q, "the file list of " + repo.id);
    if (r.status != 200) {
        const HubError e = hubListingError(refusalOf(r), m_env, repo, revision);
        throw HubError(e.kind(), redact(e.what()));
    }
    return HubRepoInfo::fromJson(r.body, redact(q.url));
}

HubFileMetadata HubClient::fileMetadata(const HubRepoId& repo, const std::string& commit, const std::string& path)
{
    Request q;
    q.head = true;
    q.url = resolveUrl(repo, commit, path);
    q.timeoutSeconds = m_options.metadataTimeoutSeconds;
    q.repo = repo;
    q.revision = commit;
    q.path = path;
    Response r;
    // Relative redirects (a renamed repository) are followed by hand; an absolute one is the CDN,
    // and its Location is where the GET goes.
    for (int hop = 0;; ++hop) {
        r = performWithRetries(q, path);
        const std::string location = r.header("location");
        if (r.status < 300 || r.status > 399 || location.empty() || location.front() != '/' || hop >= 5)
            break;
        q.url = originOf(m_env.endpoint) + location;
    }
    if (r.status >= 400) {
        const HubError e = hubFileError(refusalOf(r), m_env, repo, commit, path);
        throw HubError(e.kind(), redact(e.what()));
    }

    HubFileMetadata meta;
    meta.commit = r.header("x-repo-commit");
    meta.etag = normalizeEtag(!r.header("x-linked-etag").empty() ? r.header("x-linked-etag") : r.header("etag"));
    meta.size = parseSize(!r.header("x-linked-size").empty() ? r.header("x-linked-size") : r.header("content-length"));
    meta.redirected = r.status >= 300 && r.status <= 399;
    meta.location = meta.redirected ? r.header("location") : q.url;
    if (meta.redirected && meta.size >= 0 && r.header("x-linked-size").empty())
        meta.size = -1; // that Content-Length was the redirect's own body
    if (!isSafeHubEtag(meta.etag))
        throw HubError(HubError::Kind::Server, redact(q.url + ": the Hub gave no usable ETag (\"" + meta.etag.substr(0, 80)
                                                      + "\"), so the file cannot be named in the cache"));
    if (meta.redirected && meta.location.find("://") == std::string::npos)
        throw HubError(HubError::Kind::Server, redact(q.url + ": redirect without an absolute Location"));
    return meta;
}

void HubClient::fetch(const HubFileMetadata& meta, int64_t expectedSize, HubByteSink& sink, const std::string& label)
{
    if (expectedSize >= 0 && sink.size() == static_cast<uint64_t>(expectedSize) && expectedSize > 0)
        return; // a complete .incomplete from an earlier run: only the checks remain
    Request q;
    q.url = meta.location;
    q.withToken = !meta.redirected; // huggingface_hub drops Authorization for the CDN
    q.followRedirects = true;
    q.sink = &sink;
    q.expectedSize = expectedSize;
    q.path = label;
    const Response r = performWithRetries(q, label);
    if (r.status == 200 || r.status == 206)
        return;
    const std::string message = redact(r.header("x-error-message"));
    const std::string says = message.empty() ? "" : " (the server says: " + message.substr(0, 300) + ")";
    if (!meta.redirected && (r.status == 401 || r.status == 403))
        throw HubError(HubError::Kind::AccessDenied, redact(label + ": access refused (" + std::to_string(r.status)
                                                            + "): the repository is gated or private; set HF_TOKEN" + says));
    if (r.status == 404)
        throw HubError(HubError::Kind::NotFound, redact(label + ": not found at " + originOf(q.url) + says));
    throw HubError(HubError::Kind::Server, redact(originOf(q.url) + " answered " + std::to_string(r.status) + " for " + label
                                                  + says + "; run the download again"));
}

} // namespace tb
