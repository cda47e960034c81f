// Errors about files users bring (checkpoints, configs, tokenizers, datasets).
// The message always names the file, and where it applies the key, tensor, line or byte
// offset, so the user can find the fault without a debugger.
#pragma once

#include <stdexcept>
#include <string>

namespace tb {

class FormatError : public std::runtime_error {
public:
    // what() reads "<file>: <detail>"; file() and detail() give the parts.
    FormatError(std::string file, std::string detail)
        : std::runtime_error(file + ": " + detail), m_file(std::move(file)), m_detail(std::move(detail)) {}

    const std::string& file() const { return m_file; }
    const std::string& detail() const { return m_detail; }

private:
    std::string m_file;
    std::string m_detail;
};

} // namespace tb
