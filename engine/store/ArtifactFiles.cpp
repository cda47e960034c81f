#include "store/ArtifactFiles.h"

#include <filesystem>
#include <system_error>

namespace fs = std::filesystem;

namespace tb {

std::optional<int64_t> ArtifactFiles::sizeOnDisk(const std::string& path)
{
    std::error_code ec;
    const fs::file_status status = fs::status(path, ec);
    if (ec || !fs::exists(status))
        return std::nullopt;
    if (!fs::is_directory(status)) {
        const auto size = fs::file_size(path, ec);
        return ec ? std::nullopt : std::optional<int64_t>(static_cast<int64_t>(size));
    }
    int64_t total = 0;
    for (auto it = fs::recursive_directory_iterator(path, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec)) {
        std::error_code sizeError;
        if (it->is_regular_file(sizeError)) {
            const auto size = it->file_size(sizeError);
            if (!sizeError)
                total += static_cast<int64_t>(size);
        }
    }
    return total;
}

bool ArtifactFiles::exists(const std::string& path)
{
    std::error_code ec;
    return fs::exists(path, ec);
}

bool ArtifactFiles::isInside(const std::string& path, const std::string& folder)
{
    if (path.empty() || folder.empty())
        return false;
    std::error_code ec;
    const fs::path target = fs::weakly_canonical(fs::absolute(path), ec);
    if (ec)
        return false;
    const fs::path root = fs::weakly_canonical(fs::absolute(folder), ec);
    if (ec || root == root.root_path())
        return false; // a filesystem root is never a folder we own
    // Compare whole components: /a/runs2 is not inside /a/runs.
    auto t = target.begin();
    for (auto r = root.begin(); r != root.end(); ++r, ++t) {
        if (r->empty())
            continue; // trailing separator
        if (t == target.end() || *t != *r)
            return false;
    }
    for (; t != target.end(); ++t)
        if (!t->empty())
            return true;
    return false;
}

bool ArtifactFiles::isRunFolder(const std::string& folder)
{
    std::error_code ec;
    return !folder.empty() && fs::is_regular_file(fs::path(folder) / "train_config.json", ec);
}

bool ArtifactFiles::remove(const std::string& path, std::string& error)
{
    std::error_code ec;
    fs::remove_all(path, ec);
    if (ec) {
        error = ec.message();
        return false;
    }
    return true;
}

} // namespace tb
