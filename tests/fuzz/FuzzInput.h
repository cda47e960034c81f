// Shared by the libFuzzer targets: the parsers under test read files, so each input is written
// to one scratch file per process, and the only exceptions a target lets pass are the ones the
// parser documents for bad input (tb::FormatError, naming the file; ChatTemplateError at render
// time). Anything else escaping - a raw nlohmann type_error, std::out_of_range, a bad_alloc
// from an absurd size - is a bug libFuzzer reports as a crash, because the user would see an
// error that names no file, key or line.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <unistd.h>

namespace tbfuzz {

// A scratch path in $TMPDIR (or /tmp) unique to this process, with the given extension.
inline std::string scratchPath(const std::string& extension)
{
    const char* dir = std::getenv("TMPDIR");
    return std::string(dir && *dir ? dir : "/tmp") + "/tunebench-fuzz-" + std::to_string(getpid())
           + extension;
}

inline void writeFile(const std::string& path, const uint8_t* data, size_t size)
{
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
    if (!out) {
        std::fprintf(stderr, "fuzz: cannot write %s\n", path.c_str());
        std::abort();
    }
}

// Stops the run with a message libFuzzer shows next to the input that broke an invariant.
[[noreturn]] inline void violated(const char* what)
{
    std::fprintf(stderr, "fuzz invariant violated: %s\n", what);
    std::abort();
}

} // namespace tbfuzz
