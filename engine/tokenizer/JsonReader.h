// Typed access to a parsed tokenizer.json / tokenizer_config.json that names the file and the
// JSON path ("model.merges[12]") in every FormatError, so a user can find the faulty key.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "tokenizer/Regex.h"

namespace tb {

class JsonReader {
public:
    using Json = nlohmann::json;

    explicit JsonReader(std::string file) : m_file(std::move(file)) {}
    const std::string& file() const { return m_file; }

    // Parses text; a syntax error, an empty or truncated file becomes a FormatError.
    Json parse(std::string_view text) const;

    [[noreturn]] void fail(const std::string& path, const std::string& detail) const;

    // `obj` must be an object (checked, reported at `path`); the member must exist.
    const Json& member(const Json& obj, std::string_view key, const std::string& path) const;
    // nullptr when the member is absent or null.
    const Json* optionalMember(const Json& obj, std::string_view key, const std::string& path) const;

    std::string string(const Json& v, const std::string& path) const;
    std::string stringMember(const Json& obj, std::string_view key, const std::string& path) const;
    // Absent or null members give `fallback`.
    std::string optionalString(const Json& obj, std::string_view key, const std::string& path,
                               const std::string& fallback = {}) const;
    bool optionalBool(const Json& obj, std::string_view key, const std::string& path, bool fallback) const;
    // An integer in [min, max]; floats with an integral value are accepted (1e3), others not.
    int64_t integer(const Json& v, const std::string& path, int64_t min, int64_t max) const;
    const Json& array(const Json& v, const std::string& path) const;
    const Json& object(const Json& v, const std::string& path) const;
    // tokenizers' pattern object: {"String": "..."} (literal) or {"Regex": "..."} (Oniguruma).
    Regex pattern(const Json& v, const std::string& path) const;

    static std::string child(const std::string& path, std::string_view key);
    static std::string index(const std::string& path, size_t i);
    static std::string typeName(const Json& v);

private:
    std::string m_file;
};

} // namespace tb
