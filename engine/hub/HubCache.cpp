#include "hub/HubCache.h"

#include "hub/HubError.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <sys/stat.h>
#include <unistd.h>

namespace tb {

namespace fs = std::filesystem;

namespace {

HubError ioError(const std::string& path, const std::string& what, int error)
{
    return HubError(HubError::Kind::Io, path + ": cannot " + what + " (" + std::strerror(error) + ")");
}

// A name for a temporary sibling no other thread or process uses.
std::string temporarySibling(const std::string& path)
{
    static std::atomic<unsigned> counter{0};
    return path + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
}

std::string trimmedFile(const std::string& path)
{
    std::ifstream in(path);
    if (!in)
        return "";
    std::stringstream text;
    text << in.rdbuf();
    std::string s = text.str();
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' '))
        s.pop_back();
    return s;
}

void makeFolders(const std::string& path)
{
    std::error_code ec;
    fs::create_directories(path, ec);
    if (ec)
        throw HubError(HubError::Kind::Io, path + ": cannot create the folder (" + ec.message() + ")");
}

} // namespace

HubCache::HubCache(std::string root) : m_root(std::move(root)) {}

std::string HubCache::repoFolder(const HubRepoId& repo) const
{
    return m_root + "/" + repo.folderName();
}

std::string HubCache::blobsFolder(const HubRepoId& repo) const
{
    return repoFolder(repo) + "/blobs";
}

std::string HubCache::blobPath(const HubRepoId& repo, const std::string& etag) const
{
    return blobsFolder(repo) + "/" + etag;
}

std::string HubCache::incompletePath(const HubRepoId& repo, const std::string& etag) const
{
    return blobPath(repo, etag) + ".incomplete";
}

std::string HubCache::lockPath(const HubRepoId& repo, const std::string& etag) const
{
    return m_root + "/.locks/" + repo.folderName() + "/" + etag + ".lock";
}

std::string HubCache::snapshotFolder(const HubRepoId& repo, const std::string& commit) const
{
    return repoFolder(repo) + "/snapshots/" + commit;
}

std::string HubCache::snapshotFilePath(const HubRepoId& repo, const std::string& commit, const std::string& path) const
{
    return snapshotFolder(repo, commit) + "/" + path;
}

std::string HubCache::refPath(const HubRepoId& repo, const std::string& revision) const
{
    return repoFolder(repo) + "/refs/" + revision;
}

bool HubCache::hasBlob(const HubRepoId& repo, const std::string& etag) const
{
    struct stat st {};
    return ::stat(blobPath(repo, etag).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

bool HubCache::hasSnapshotFile(const HubRepoId& repo, const std::string& commit, const std::string& path) const
{
    struct stat st {}; // stat follows the link: a dangling one fails
    return ::stat(snapshotFilePath(repo, commit, path).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string HubCache::resolveCommit(const HubRepoId& repo, const std::string& revision) const
{
    if (isHubCommitHash(revision))
        return revision;
    if (!isSafeHubRevision(revision))
        return "";
    const std::string commit = trimmedFile(refPath(repo, revision));
    return isHubCommitHash(commit) ? commit : "";
}

void HubCache::makeRepoFolders(const HubRepoId& repo) const
{
    for (const char* sub : {"/blobs", "/snapshots", "/refs"})
        makeFolders(repoFolder(repo) + sub);
    makeFolders(m_root + "/.locks/" + repo.folderName());
}

void HubCache::writeRef(const HubRepoId& repo, const std::string& revision, const std::string& commit) const
{
    const std::string path = refPath(repo, revision);
    makeFolders(fs::path(path).parent_path().string());
    const std::string tmp = temporarySibling(path);
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        out << commit; // huggingface_hub writes the hash alone, no newline
        out.flush();
        if (!out) {
            const int e = errno;
            std::remove(tmp.c_str());
            throw ioError(path, "write the ref", e);
        }
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        const int e = errno;
        std::remove(tmp.c_str());
        throw ioError(path, "write the ref", e);
    }
}

std::string HubCache::blobLinkTarget(const std::string& path, const std::string& etag)
{
    std::string target = "../../";
    for (char c : path)
        if (c == '/')
            target += "../";
    return target + "blobs/" + etag;
}

void HubCache::linkSnapshotFile(const HubRepoId& repo, const std::string& commit, const std::string& path,
                                const std::string& etag) const
{
    const std::string link = snapshotFilePath(repo, commit, path);
    makeFolders(fs::path(link).parent_path().string());
    const std::string target = blobLinkTarget(path, etag);
    const std::string tmp = temporarySibling(link);
    if (::symlink(target.c_str(), tmp.c_str()) != 0)
        throw ioError(link, "create the symlink", errno);
    if (::rename(tmp.c_str(), link.c_str()) != 0) {
        const int e = errno;
        ::unlink(tmp.c_str());
        throw ioError(link, "create the symlink", e);
    }
}

std::vector<HubCachedRepo> HubCache::listRepos() const
{
    // Non-throwing iteration throughout: a folder vanishing or unreadable mid-listing (another
    // process cleaning its cache) drops that entry, never the listing.
    std::vector<HubCachedRepo> repos;
    std::error_code ec;
    for (fs::directory_iterator it(m_root, ec), end; !ec && it != end; it.increment(ec)) {
        HubCachedRepo r;
        std::error_code typeError;
        if (!it->is_directory(typeError) || !HubRepoId::fromFolderName(it->path().filename().string(), &r.repo))
            continue;
        r.path = it->path().string();
        const fs::path refs = it->path() / "refs";
        std::error_code refsError;
        for (fs::recursive_directory_iterator ref(refs, refsError), refEnd; !refsError && ref != refEnd; ref.increment(refsError)) {
            std::error_code e;
            if (!ref->is_regular_file(e))
                continue;
            const std::string commit = trimmedFile(ref->path().string());
            if (isHubCommitHash(commit))
                r.refs[ref->path().lexically_relative(refs).generic_string()] = commit;
        }
        std::error_code snapError;
        for (fs::directory_iterator snap(it->path() / "snapshots", snapError), snapEnd; !snapError && snap != snapEnd;
             snap.increment(snapError)) {
            const std::string commit = snap->path().filename().string();
            std::error_code e;
            if (!snap->is_directory(e) || !isHubCommitHash(commit))
                continue;
            HubCachedSnapshot s{commit, snap->path().string(), {}};
            for (const auto& [revision, c] : r.refs)
                if (c == commit)
                    s.refs.push_back(revision);
            r.snapshots.push_back(std::move(s));
        }
        std::sort(r.snapshots.begin(), r.snapshots.end(),
                  [](const HubCachedSnapshot& a, const HubCachedSnapshot& b) { return a.commit < b.commit; });
        repos.push_back(std::move(r));
    }
    std::sort(repos.begin(), repos.end(), [](const HubCachedRepo& a, const HubCachedRepo& b) {
        return a.repo.type != b.repo.type ? a.repo.type < b.repo.type : a.repo.id < b.repo.id;
    });
    return repos;
}

} // namespace tb
