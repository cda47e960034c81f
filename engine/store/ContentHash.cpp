#include "store/ContentHash.h"

#include "formats/FormatError.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <vector>

namespace fs = std::filesystem;

namespace tb {

namespace {

constexpr uint64_t kFnvOffset = 14695981039346656037ull;
constexpr uint64_t kFnvPrime = 1099511628211ull;
constexpr uint64_t kWholeFileLimit = 64ull << 20; // bytes
constexpr uint64_t kWindow = 1ull << 20;          // bytes per sampled window

uint64_t fnv1a(uint64_t hash, const void* data, size_t size)
{
    const auto* bytes = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < size; ++i) {
        hash ^= bytes[i];
        hash *= kFnvPrime;
    }
    return hash;
}

uint64_t fnv1a(uint64_t hash, const std::string& text)
{
    return fnv1a(hash, text.data(), text.size());
}

// Feeds bytes [offset, offset + length) of the file into the hash.
uint64_t hashRange(uint64_t hash, std::ifstream& in, uint64_t offset, uint64_t length, const std::string& path)
{
    std::vector<char> buffer(1 << 16);
    in.seekg(static_cast<std::streamoff>(offset));
    while (length > 0) {
        const auto want = static_cast<std::streamsize>(std::min<uint64_t>(length, buffer.size()));
        in.read(buffer.data(), want);
        if (in.gcount() != want)
            throw FormatError(path, "could not be read to the end while hashing it");
        hash = fnv1a(hash, buffer.data(), static_cast<size_t>(want));
        length -= static_cast<uint64_t>(want);
    }
    return hash;
}

uint64_t hashFile(const fs::path& file)
{
    std::error_code ec;
    const uint64_t size = fs::file_size(file, ec);
    if (ec)
        throw FormatError(file.string(), "cannot read its size: " + ec.message());
    std::ifstream in(file, std::ios::binary);
    if (!in)
        throw FormatError(file.string(), "cannot be opened for reading");
    // The size goes in first, so a file and its truncated copy differ even where sampled.
    uint64_t hash = fnv1a(kFnvOffset, &size, sizeof size);
    if (size <= kWholeFileLimit)
        return hashRange(hash, in, 0, size, file.string());
    hash = hashRange(hash, in, 0, kWindow, file.string());
    hash = hashRange(hash, in, (size - kWindow) / 2, kWindow, file.string());
    return hashRange(hash, in, size - kWindow, kWindow, file.string());
}

uint64_t hashFolder(const fs::path& folder)
{
    std::vector<fs::path> files;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(folder, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec)) {
        const std::string name = it->path().filename().string();
        if (!name.empty() && name[0] == '.') {
            if (it->is_directory())
                it.disable_recursion_pending(); // .git, .cache: not part of the model
            continue;
        }
        if (it->is_regular_file())
            files.push_back(fs::relative(it->path(), folder));
    }
    if (ec)
        throw FormatError(folder.string(), "cannot list the folder: " + ec.message());
    std::sort(files.begin(), files.end());
    uint64_t hash = kFnvOffset;
    for (const fs::path& relative : files) {
        hash = fnv1a(hash, relative.generic_string());
        const uint64_t fileHash = hashFile(folder / relative);
        hash = fnv1a(hash, &fileHash, sizeof fileHash);
    }
    return hash;
}

} // namespace

std::string contentHash(const std::string& path)
{
    std::error_code ec;
    const fs::file_status status = fs::status(path, ec);
    if (ec || !fs::exists(status))
        throw FormatError(path, "does not exist, so it cannot be hashed");
    const uint64_t hash = fs::is_directory(status) ? hashFolder(path) : hashFile(path);
    char text[32];
    std::snprintf(text, sizeof text, "%016" PRIx64, hash);
    return std::string("fnv1a64:") + text;
}

} // namespace tb
