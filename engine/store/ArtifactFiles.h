// The file side of artifacts: their size on disk, whether they still exist, and the rule for
// which of them deleteRun may remove. The rule: a path is removable only when, with symlinks
// and ".." resolved, it lies strictly inside the workspace (…/Tunebench/runs) or strictly
// inside the run's own folder, and the run folder counts only when it holds the
// train_config.json the trainer writes there. A run whose output_dir was "/" or "$HOME" by
// mistake therefore never licenses deleting anything outside that run's files.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace tb {

class ArtifactFiles {
public:
    // Bytes of a file, or of every regular file below a folder; nullopt when missing.
    static std::optional<int64_t> sizeOnDisk(const std::string& path);
    static bool exists(const std::string& path);
    // True when `path` resolves to somewhere strictly below `folder` (never `folder` itself).
    static bool isInside(const std::string& path, const std::string& folder);
    // A folder the trainer made: it holds train_config.json.
    static bool isRunFolder(const std::string& folder);
    // Removes a file or a folder tree; on failure returns false with `error` set.
    static bool remove(const std::string& path, std::string& error);
};

} // namespace tb
