#include "hub/HubDownload.h"

#include "hub/HubBlobLock.h"
#include "hub/HubCache.h"
#include "hub/HubError.h"
#include "hub/HubFileSelection.h"
#include "hub/HubOfflineSnapshot.h"
#include "hub/IncompleteBlob.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <exception>
#include <filesystem>
#include <mutex>
#include <thread>

#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

namespace tb {

namespace {

using Clock = std::chrono::steady_clock;

struct FileJob {
    HubSibling sibling;
    std::string etag;  // from the listing, replaced by the HEAD's
    int64_t size = -1; // likewise
    HubFileState state = HubFileState::Queued;
    const IncompleteBlob* blob = nullptr; // while it downloads
    uint64_t done = 0;
    uint64_t resumedFrom = 0;
    uint64_t received = 0;
    BlobDigestKind verifiedBy = BlobDigestKind::None;
};

// The state the workers and the reporting thread share. Everything in `jobs` after planning
// is guarded by `mutex`.
struct DownloadRun {
    HubRepoId repo;
    std::string commit;
    HubCache cache;
    std::vector<FileJob> jobs;
    std::vector<size_t> queue; // indices of jobs to fetch
    std::mutex mutex;
    std::condition_variable changed;
    size_t nextInQueue = 0;
    int activeWorkers = 0;
    std::exception_ptr firstError;
    std::atomic<bool> abort{false};

    explicit DownloadRun(const std::string& cacheRoot) : cache(cacheRoot) {}

    void fail(std::exception_ptr error)
    {
        std::lock_guard<std::mutex> lock(mutex);
        if (!firstError)
            firstError = error;
        abort = true;
    }
};

// While a blob downloads, the reporter reads its size through the job; this takes the
// pointer back (with the final counts) before the blob goes away, also on exceptions.
class PublishedBlob {
public:
    PublishedBlob(DownloadRun& run, FileJob& job, const IncompleteBlob& blob) : m_run(run), m_job(job), m_blob(blob)
    {
        std::lock_guard<std::mutex> lock(m_run.mutex);
        m_job.blob = &m_blob;
        m_job.resumedFrom = m_blob.resumedFrom();
    }
    ~PublishedBlob()
    {
        std::lock_guard<std::mutex> lock(m_run.mutex);
        m_job.done = m_blob.size();
        m_job.received = m_blob.received();
        m_job.resumedFrom = m_blob.resumedFrom(); // 0 when the server ignored Range and the file started over
        m_job.blob = nullptr;
    }

private:
    DownloadRun& m_run;
    FileJob& m_job;
    const IncompleteBlob& m_blob;
};

uint64_t fileSize(const std::string& path)
{
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

void setState(DownloadRun& run, FileJob& job, HubFileState state)
{
    std::lock_guard<std::mutex> lock(run.mutex);
    job.state = state;
}

void downloadFile(DownloadRun& run, FileJob& job, HubClient& client, const std::function<bool()>& cancelled)
{
    const std::string label = run.repo.id + "/" + job.sibling.path;
    const HubFileMetadata meta = client.fileMetadata(run.repo, run.commit, job.sibling.path);
    if (!meta.commit.empty() && meta.commit != run.commit) // a mirror that ignores the commit in the URL
        throw HubError(HubError::Kind::Server, label + ": the server answered for commit " + meta.commit + ", not "
                                                   + run.commit + " that its file list named; the snapshot would mix commits");
    {
        std::lock_guard<std::mutex> lock(run.mutex);
        job.etag = meta.etag; // the HEAD names the blob, as in huggingface_hub
        if (meta.size >= 0)
            job.size = meta.size;
        job.state = HubFileState::Downloading;
    }
    const auto linkCached = [&] {
        run.cache.linkSnapshotFile(run.repo, run.commit, job.sibling.path, job.etag);
        std::lock_guard<std::mutex> lock(run.mutex);
        job.done = fileSize(run.cache.blobPath(run.repo, job.etag));
        job.state = HubFileState::Cached;
    };
    if (run.cache.hasBlob(run.repo, job.etag))
        return linkCached();
    HubBlobLock lock(run.cache.lockPath(run.repo, job.etag), cancelled);
    if (run.cache.hasBlob(run.repo, job.etag)) // another process finished it meanwhile
        return linkCached();

    IncompleteBlob blob(run.cache.incompletePath(run.repo, job.etag), job.etag, job.size, label);
    {
        PublishedBlob published(run, job, blob);
        client.fetch(meta, job.size, blob, label);
        blob.complete(run.cache.blobPath(run.repo, job.etag));
    }
    run.cache.linkSnapshotFile(run.repo, run.commit, job.sibling.path, job.etag);
    std::lock_guard<std::mutex> guard(run.mutex);
    job.verifiedBy = blob.digestKind();
    job.state = HubFileState::Done;
}

void worker(DownloadRun& run, const HubEnvironment& env, const HubDownloadOptions& options)
{
    const std::function<bool()> cancelled = [&run, &options] {
        return run.abort.load() || (options.cancel && options.cancel->load());
    };
    try {
        HubClient client(env, options.client, cancelled);
        for (;;) {
            size_t index;
            {
                std::lock_guard<std::mutex> lock(run.mutex);
                if (run.nextInQueue >= run.queue.size() || run.abort)
                    break;
                index = run.queue[run.nextInQueue++];
            }
            if (cancelled())
                throw HubError(HubError::Kind::Cancelled, "cancelled; the partial downloads stay in the cache and the next download resumes them");
            try {
                downloadFile(run, run.jobs[index], client, cancelled);
            } catch (...) {
                setState(run, run.jobs[index], HubFileState::Failed);
                throw;
            }
        }
    } catch (...) {
        run.fail(std::current_exception());
    }
    std::lock_guard<std::mutex> lock(run.mutex);
    --run.activeWorkers;
    run.changed.notify_all();
}

// Bytes received in the last few seconds, for a steady rate.
class RateWindow {
public:
    double add(Clock::time_point now, uint64_t received)
    {
        m_samples.emplace_back(now, received);
        while (m_samples.size() > 2 && now - m_samples.front().first > std::chrono::seconds(3))
            m_samples.pop_front();
        const double seconds = std::chrono::duration<double>(now - m_samples.front().first).count();
        return seconds > 0 ? static_cast<double>(received - m_samples.front().second) / seconds : 0;
    }

private:
    std::deque<std::pair<Clock::time_point, uint64_t>> m_samples;
};

// Under run.mutex.
HubProgress progressOf(const DownloadRun& run, uint64_t* received)
{
    HubProgress p;
    p.filesTotal = run.jobs.size();
    *received = 0;
    for (const auto& job : run.jobs) {
        HubFileProgress f{job.sibling.path, job.blob ? job.blob->size() : job.done, job.size, job.state};
        if (job.state != HubFileState::Cached) {
            p.bytesDone += f.bytesDone;
            p.bytesTotal += job.size >= 0 ? static_cast<uint64_t>(job.size) : 0;
            *received += job.blob ? job.blob->received() : job.received;
        }
        if (job.state == HubFileState::Cached || job.state == HubFileState::Done || job.state == HubFileState::Failed)
            ++p.filesDone;
        p.files.push_back(std::move(f));
    }
    return p;
}

HubDownloadResult offlineResult(const HubEnvironment& env, const HubDownloadRequest& request)
{
    const HubCache cache(env.hubCache);
    const HubOfflineSnapshot snap = findOfflineSnapshot(cache, request.repo, request.revision, request.include);
    HubDownloadResult result;
    result.repo = request.repo;
    result.revision = request.revision;
    result.commit = snap.commit;
    result.snapshotPath = snap.path;
    result.offline = true;
    for (const auto& path : snap.files) {
        if (!request.include.empty()
            && std::none_of(request.include.begin(), request.include.end(), [&](const std::string& g) { return hubGlobMatches(g, path); }))
            continue;
        HubDownloadedFile f;
        f.path = path;
        std::error_code ec;
        f.etag = std::filesystem::read_symlink(snap.path + "/" + path, ec).filename().string();
        f.size = static_cast<int64_t>(fileSize(snap.path + "/" + path));
        result.files.push_back(std::move(f));
    }
    return result;
}

void checkFreeSpace(const DownloadRun& run, const HubDownloadOptions& options)
{
    uint64_t needed = 0;
    for (size_t index : run.queue) {
        const FileJob& job = run.jobs[index];
        if (job.size < 0)
            continue; // unknown until its HEAD; the write itself still reports ENOSPC
        const uint64_t have = job.etag.empty() ? 0 : fileSize(run.cache.incompletePath(run.repo, job.etag));
        needed += static_cast<uint64_t>(job.size) > have ? static_cast<uint64_t>(job.size) - have : 0;
    }
    const std::string folder = run.cache.blobsFolder(run.repo);
    const uint64_t free = options.freeBytes ? options.freeBytes(folder) : HubDownload::statvfsFreeBytes(folder);
    if (needed > free)
        throw HubError(HubError::Kind::DiskSpace, "not enough disk space for " + run.repo.id + ": " + std::to_string(run.queue.size())
                                                      + " files need " + formatHubBytes(needed) + ", " + folder + " has "
                                                      + formatHubBytes(free) + " free. Free some space or set HF_HUB_CACHE to a "
                                                        "folder on a bigger disk");
}

} // namespace

std::string formatHubBytes(uint64_t bytes)
{
    const char* units[] = {"B", "kB", "MB", "GB", "TB"};
    double value = static_cast<double>(bytes);
    int unit = 0;
    while (value >= 1000 && unit < 4) {
        value /= 1000;
        ++unit;
    }
    char text[32];
    std::snprintf(text, sizeof text, unit == 0 ? "%.0f %s" : "%.1f %s", value, units[unit]);
    return text;
}

uint64_t HubDownload::statvfsFreeBytes(const std::string& folder)
{
    struct statvfs vfs {};
    if (::statvfs(folder.c_str(), &vfs) != 0)
        return UINT64_MAX; // unknown: let the writes find out
    return static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize;
}

HubDownload::HubDownload(HubEnvironment env, HubDownloadOptions options) : m_env(std::move(env)), m_options(std::move(options)) {}

HubDownloadResult HubDownload::run(const HubDownloadRequest& request, HubDownloadCallbacks* callbacks)
{
    const auto started = Clock::now();
    if (!isSafeHubRevision(request.revision))
        throw HubError(HubError::Kind::InvalidInput, "\"" + request.revision + "\" is not a revision (a branch, tag or commit hash)");
    if (m_env.offline)
        return offlineResult(m_env, request);

    DownloadRun run(m_env.hubCache);
    run.repo = request.repo;
    const std::function<bool()> userCancelled = [this] { return m_options.cancel && m_options.cancel->load(); };
    {
        HubClient client(m_env, m_options.client, userCancelled);
        const HubRepoInfo info = client.repoInfo(request.repo, request.revision);
        run.commit = info.commit;
        for (const auto& sibling : selectHubFiles(info, request.repo, request.include))
            run.jobs.push_back(FileJob{sibling, sibling.expectedEtag(), sibling.size});
    }
    run.cache.makeRepoFolders(run.repo);

    // Files this commit already has, or whose blob another revision brought, are only linked.
    for (size_t i = 0; i < run.jobs.size(); ++i) {
        FileJob& job = run.jobs[i];
        if (run.cache.hasSnapshotFile(run.repo, run.commit, job.sibling.path)) {
            job.state = HubFileState::Cached;
        } else if (!job.etag.empty() && run.cache.hasBlob(run.repo, job.etag)) {
            run.cache.linkSnapshotFile(run.repo, run.commit, job.sibling.path, job.etag);
            job.state = HubFileState::Cached;
        } else {
            run.queue.push_back(i);
        }
        if (job.state == HubFileState::Cached) {
            const std::string link = run.cache.snapshotFilePath(run.repo, run.commit, job.sibling.path);
            std::error_code ec;
            job.etag = std::filesystem::read_symlink(link, ec).filename().string();
            job.done = fileSize(link);
        }
    }
    checkFreeSpace(run, m_options);

    std::vector<std::thread> workers;
    const int connections = run.queue.empty() ? 0 : std::max(1, std::min<int>(m_options.connections, static_cast<int>(run.queue.size())));
    run.activeWorkers = connections; // before any starts: each one counts itself down when it ends
    for (int i = 0; i < connections; ++i)
        workers.emplace_back(worker, std::ref(run), std::cref(m_env), std::cref(m_options));

    RateWindow rate;
    const auto interval = std::chrono::duration<double>(m_options.progressIntervalSeconds);
    std::unique_lock<std::mutex> lock(run.mutex);
    for (bool last = false; !last;) {
        if (run.activeWorkers > 0)
            run.changed.wait_for(lock, interval);
        last = run.activeWorkers == 0;
        uint64_t received = 0;
        HubProgress progress = progressOf(run, &received);
        progress.bytesPerSecond = rate.add(Clock::now(), received);
        progress.finished = last;
        if (!callbacks)
            continue;
        lock.unlock();
        try {
            callbacks->onProgress(progress);
        } catch (...) {
            run.fail(std::current_exception());
        }
        lock.lock();
    }
    lock.unlock();
    for (auto& w : workers)
        w.join();
    if (run.firstError)
        std::rethrow_exception(run.firstError);

    if (request.revision != run.commit)
        run.cache.writeRef(run.repo, request.revision, run.commit);

    HubDownloadResult result;
    result.repo = request.repo;
    result.revision = request.revision;
    result.commit = run.commit;
    result.snapshotPath = run.cache.snapshotFolder(run.repo, run.commit);
    for (const auto& job : run.jobs) {
        const bool transferred = job.state == HubFileState::Done;
        result.files.push_back(HubDownloadedFile{job.sibling.path, job.etag, job.size, transferred, job.resumedFrom, job.received,
                                                 transferred ? job.verifiedBy : BlobDigestKind::None});
        result.bytesReceived += job.received;
    }
    result.seconds = std::chrono::duration<double>(Clock::now() - started).count();
    return result;
}

} // namespace tb
