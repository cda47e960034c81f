#include "core/StagingFolder.h"

#include <atomic>
#include <stdexcept>
#include <system_error>

#include <unistd.h>

namespace tb {

namespace fs = std::filesystem;

namespace {

fs::path absoluteDestination(const std::string& outDir)
{
    if (outDir.empty())
        throw std::invalid_argument("no destination folder given");
    fs::path p = fs::absolute(outDir).lexically_normal();
    if (!p.has_filename()) // "out/" normalizes to "out/" with an empty filename
        p = p.parent_path();
    return p;
}

[[noreturn]] void throwNotEmpty(const std::string& shown)
{
    throw std::runtime_error(shown + ": exists and is not empty; choose a new folder");
}

void requireUsablePath(const std::string& shown, const fs::path& path)
{
    std::error_code ec;
    const auto status = fs::status(path, ec);
    if (!fs::exists(status))
        return;
    if (!fs::is_directory(status))
        throw std::runtime_error(shown + ": exists and is not a folder; choose a new folder");
    if (!fs::is_empty(path))
        throwNotEmpty(shown);
}

} // namespace

void StagingFolder::requireUsable(const std::string& outDir)
{
    requireUsablePath(outDir, absoluteDestination(outDir));
}

StagingFolder::StagingFolder(const std::string& outDir) : m_shown(outDir), m_destination(absoluteDestination(outDir))
{
    requireUsablePath(m_shown, m_destination);
    const fs::path parent = m_destination.parent_path();
    fs::create_directories(parent);
    static std::atomic<int> counter{0};
    m_path = parent / ("." + m_destination.filename().string() + ".partial-" + std::to_string(::getpid()) + "-"
                       + std::to_string(counter++));
    fs::remove_all(m_path); // a leftover of a crashed export that had the same pid
    fs::create_directory(m_path);
}

StagingFolder::~StagingFolder()
{
    if (!m_committed) {
        std::error_code ec;
        fs::remove_all(m_path, ec);
    }
}

void StagingFolder::commit()
{
    requireUsablePath(m_shown, m_destination);
    std::error_code ec;
    fs::rename(m_path, m_destination, ec);
    if (ec == std::errc::directory_not_empty || ec == std::errc::file_exists)
        throwNotEmpty(m_shown);
    if (ec)
        throw std::runtime_error(m_shown + ": cannot move the export into place from " + m_path.string() + ": " + ec.message());
    m_committed = true;
}

} // namespace tb
