// The huggingface_hub cache layout, shared with transformers/PEFT (HF_HUB_CACHE):
//
//   <cache>/models--ORG--NAME/              (datasets--ORG--NAME/ for datasets)
//       blobs/<etag>                        the content; etag without quotes: the SHA-256 for
//                                           LFS files, the git blob SHA-1 otherwise
//       blobs/<etag>.incomplete             a download in progress (resumed from its size)
//       snapshots/<commit>/<path>           relative symlink to ../../blobs/<etag> (one more
//                                           "../" per folder level of <path>)
//       refs/<revision>                     the commit hash a branch or tag pointed to, no
//                                           newline ("refs/pr/1" is refs/refs/pr/1)
//   <cache>/.locks/models--ORG--NAME/<etag>.lock   taken while a blob is written (flock, as
//                                           huggingface_hub's filelock does)
//
// Paths are built only from values HubRepo.h has checked (repo id, revision, file path, etag).
// Methods are const and hold no state beyond the root, so any thread may use its own copy.
#pragma once

#include "hub/HubRepo.h"

#include <map>
#include <string>
#include <vector>

namespace tb {

struct HubCachedSnapshot {
    std::string commit;
    std::string path;              // <cache>/<repo folder>/snapshots/<commit>
    std::vector<std::string> refs; // revisions (refs/ entries) pointing at this commit
};

struct HubCachedRepo {
    HubRepoId repo;
    std::string path;                         // <cache>/<repo folder>
    std::map<std::string, std::string> refs;  // revision -> commit
    std::vector<HubCachedSnapshot> snapshots; // by commit hash
};

class HubCache {
public:
    explicit HubCache(std::string root);

    const std::string& root() const { return m_root; }
    std::string repoFolder(const HubRepoId& repo) const;
    std::string blobsFolder(const HubRepoId& repo) const;
    std::string blobPath(const HubRepoId& repo, const std::string& etag) const;
    std::string incompletePath(const HubRepoId& repo, const std::string& etag) const;
    std::string lockPath(const HubRepoId& repo, const std::string& etag) const;
    std::string snapshotFolder(const HubRepoId& repo, const std::string& commit) const;
    std::string snapshotFilePath(const HubRepoId& repo, const std::string& commit, const std::string& path) const;
    std::string refPath(const HubRepoId& repo, const std::string& revision) const;

    // A complete blob: a regular file named by its etag.
    bool hasBlob(const HubRepoId& repo, const std::string& etag) const;
    // snapshots/<commit>/<path> exists and leads to an existing file (no dangling link).
    bool hasSnapshotFile(const HubRepoId& repo, const std::string& commit, const std::string& path) const;

    // The commit of `revision`: itself when it is a commit hash, else refs/<revision>'s
    // content; "" when the cache does not know it.
    std::string resolveCommit(const HubRepoId& repo, const std::string& revision) const;

    // Writers; each throws HubError(Io) naming the path on failure.
    void makeRepoFolders(const HubRepoId& repo) const; // blobs/, snapshots/, refs/, .locks/<folder>/
    void writeRef(const HubRepoId& repo, const std::string& revision, const std::string& commit) const;
    // snapshots/<commit>/<path> -> ../../blobs/<etag>, replacing what is there atomically.
    void linkSnapshotFile(const HubRepoId& repo, const std::string& commit, const std::string& path,
                          const std::string& etag) const;

    // Every repository in the cache with its refs and snapshots, sorted by type and id:
    // what a model chooser lists. Folders that are not repositories are skipped.
    std::vector<HubCachedRepo> listRepos() const;

    // The relative link target of a snapshot file ("../../blobs/<etag>", "../../../blobs/<etag>"
    // for "folder/file").
    static std::string blobLinkTarget(const std::string& path, const std::string& etag);

private:
    std::string m_root;
};

} // namespace tb
