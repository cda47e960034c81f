// An export folder written atomically: everything goes into a hidden staging folder beside the
// destination (".<name>.partial-<pid>-<n>", same file system) that one rename turns into the
// destination at the end. Until then the destination does not change; a staging folder that
// is not committed is removed with what it holds. A destination that exists and is not an
// empty folder is refused, before any work and again at the rename.
// Used by the PEFT and merged-model exports and the Ollama folder export.
#pragma once

#include <filesystem>
#include <string>

namespace tb {

class StagingFolder {
public:
    // Throws std::runtime_error naming outDir (as given) when it is unusable.
    explicit StagingFolder(const std::string& outDir);
    ~StagingFolder();
    StagingFolder(const StagingFolder&) = delete;
    StagingFolder& operator=(const StagingFolder&) = delete;

    // The check the constructor makes, for a refusal before slow work starts.
    static void requireUsable(const std::string& outDir);

    const std::filesystem::path& path() const { return m_path; }
    // rename(2) replaces an empty destination folder and fails on a non-empty one, so a folder
    // filled by someone else meanwhile is never overwritten.
    void commit();

private:
    std::string m_shown;
    std::filesystem::path m_destination;
    std::filesystem::path m_path;
    bool m_committed = false;
};

} // namespace tb
