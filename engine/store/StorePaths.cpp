#include "store/StorePaths.h"

#include "store/StoreError.h"

#include <cstdlib>
#include <filesystem>

namespace fs = std::filesystem;

namespace tb {

namespace {

std::string env(const char* name)
{
    const char* value = std::getenv(name);
    return value ? std::string(value) : std::string();
}

} // namespace

StorePaths StorePaths::resolve(const std::string& explicitDatabase)
{
    std::string database = explicitDatabase;
    if (database.empty())
        database = env("TUNEBENCH_DB");
    if (database.empty()) {
        fs::path dataHome = env("XDG_DATA_HOME");
        if (dataHome.empty() || !dataHome.is_absolute()) {
            const std::string home = env("HOME");
            if (home.empty())
                throw StoreError("(database)", "cannot place the experiment database: HOME is not set "
                                               "(set TUNEBENCH_DB or pass a database path)");
            dataHome = fs::path(home) / ".local" / "share";
        }
        database = (dataHome / "Tunebench" / "tunebench.db").string();
    }
    return {database, workspaceFor(database)};
}

std::string StorePaths::workspaceFor(const std::string& database)
{
    return (fs::absolute(fs::path(database)).parent_path() / "runs").string();
}

std::string StorePaths::runFolder(const std::string& workspace, int64_t runId, const std::string& runName)
{
    // Names are free text; the folder keeps only characters that are safe on every file system.
    std::string safe;
    for (const char c : runName) {
        const bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                          c == '_' || c == '-';
        safe += keep ? c : '_';
    }
    if (safe.size() > 64)
        safe.resize(64);
    while (!safe.empty() && safe.front() == '.')
        safe.erase(safe.begin()); // no hidden folders, no ".."
    std::string name = std::to_string(runId);
    if (!safe.empty())
        name += "-" + safe;
    return (fs::path(workspace) / name).string();
}

} // namespace tb
