// A new private folder (mkdtemp: mode 0700, a name no one else has) removed with everything in
// it when the object goes: the fit finder's trial runs, the method report's run configs.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace tb {

class ScratchFolder {
public:
    // <root>/<prefix>XXXXXX; an empty root is the system's temporary folder. Throws
    // std::runtime_error naming the folder when it cannot be made.
    ScratchFolder(const std::string& root, const std::string& prefix)
    {
        namespace fs = std::filesystem;
        const fs::path base = root.empty() ? fs::temp_directory_path() : fs::path(root);
        std::error_code ec;
        fs::create_directories(base, ec);
        std::string pattern = (base / (prefix + "XXXXXX")).string();
        if (!::mkdtemp(pattern.data()))
            throw std::runtime_error(pattern + ": cannot make a scratch folder");
        m_path = pattern;
    }
    ~ScratchFolder()
    {
        std::error_code ec;
        std::filesystem::remove_all(m_path, ec);
    }
    ScratchFolder(const ScratchFolder&) = delete;
    ScratchFolder& operator=(const ScratchFolder&) = delete;

    const std::filesystem::path& path() const { return m_path; }

private:
    std::filesystem::path m_path;
};

} // namespace tb
