#include "tokenizer/JsonReader.h"

#include <cmath>

#include "formats/FormatError.h"

namespace tb {

JsonReader::Json JsonReader::parse(std::string_view text) const
{
    if (text.find_first_not_of(" \t\r\n") == std::string_view::npos)
        throw FormatError(m_file, "file is empty");
    try {
        return Json::parse(text.begin(), text.end());
    } catch (const Json::parse_error& e) {
        // nlohmann's byte is 1-based and points past the end for a truncated file.
        std::string what = e.what();
        const auto colon = what.find("syntax error");
        throw FormatError(m_file, "invalid JSON at byte " + std::to_string(e.byte) + ": "
                                      + (colon == std::string::npos ? what : what.substr(colon)));
    } catch (const Json::out_of_range& e) {
        // A number past double's range ("1e400") is not a parse_error and carries no offset.
        throw FormatError(m_file, std::string("invalid JSON: ") + e.what());
    }
}

void JsonReader::fail(const std::string& path, const std::string& detail) const
{
    throw FormatError(m_file, path.empty() ? detail : path + ": " + detail);
}

std::string JsonReader::child(const std::string& path, std::string_view key)
{
    return path.empty() ? std::string(key) : path + "." + std::string(key);
}

std::string JsonReader::index(const std::string& path, size_t i)
{
    return path + "[" + std::to_string(i) + "]";
}

std::string JsonReader::typeName(const Json& v)
{
    switch (v.type()) {
    case Json::value_t::null: return "null";
    case Json::value_t::object: return "an object";
    case Json::value_t::array: return "an array";
    case Json::value_t::string: return "a string";
    case Json::value_t::boolean: return "a boolean";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned: return "an integer";
    case Json::value_t::number_float: return "a number";
    default: return "an unsupported value";
    }
}

const JsonReader::Json& JsonReader::object(const Json& v, const std::string& path) const
{
    if (!v.is_object())
        fail(path, "expected an object, got " + typeName(v));
    return v;
}

const JsonReader::Json& JsonReader::array(const Json& v, const std::string& path) const
{
    if (!v.is_array())
        fail(path, "expected an array, got " + typeName(v));
    return v;
}

const JsonReader::Json& JsonReader::member(const Json& obj, std::string_view key, const std::string& path) const
{
    object(obj, path);
    const auto it = obj.find(key);
    if (it == obj.end())
        fail(child(path, key), "missing");
    return *it;
}

const JsonReader::Json* JsonReader::optionalMember(const Json& obj, std::string_view key, const std::string& path) const
{
    object(obj, path);
    const auto it = obj.find(key);
    if (it == obj.end() || it->is_null())
        return nullptr;
    return &*it;
}

std::string JsonReader::string(const Json& v, const std::string& path) const
{
    if (!v.is_string())
        fail(path, "expected a string, got " + typeName(v));
    return v.get<std::string>();
}

std::string JsonReader::stringMember(const Json& obj, std::string_view key, const std::string& path) const
{
    return string(member(obj, key, path), child(path, key));
}

std::string JsonReader::optionalString(const Json& obj, std::string_view key, const std::string& path,
                                       const std::string& fallback) const
{
    const Json* v = optionalMember(obj, key, path);
    return v ? string(*v, child(path, key)) : fallback;
}

bool JsonReader::optionalBool(const Json& obj, std::string_view key, const std::string& path, bool fallback) const
{
    const Json* v = optionalMember(obj, key, path);
    if (!v)
        return fallback;
    if (!v->is_boolean())
        fail(child(path, key), "expected true or false, got " + typeName(*v));
    return v->get<bool>();
}

int64_t JsonReader::integer(const Json& v, const std::string& path, int64_t min, int64_t max) const
{
    const std::string range = " (expected " + std::to_string(min) + ".." + std::to_string(max) + ")";
    if (v.is_number_unsigned()) {
        const uint64_t u = v.get<uint64_t>();
        if (u > static_cast<uint64_t>(max))
            fail(path, std::to_string(u) + " is out of range" + range);
        return static_cast<int64_t>(u);
    }
    if (v.is_number_integer()) {
        const int64_t i = v.get<int64_t>();
        if (i < min || i > max)
            fail(path, std::to_string(i) + " is out of range" + range);
        return i;
    }
    if (v.is_number_float()) {
        const double d = v.get<double>();
        if (!std::isfinite(d) || std::floor(d) != d)
            fail(path, "expected an integer, got " + v.dump());
        if (d < static_cast<double>(min) || d > static_cast<double>(max))
            fail(path, v.dump() + " is out of range" + range);
        return static_cast<int64_t>(d);
    }
    fail(path, "expected an integer, got " + typeName(v));
}

Regex JsonReader::pattern(const Json& v, const std::string& path) const
{
    object(v, path);
    if (const auto it = v.find("String"); it != v.end())
        return Regex::fromLiteral(string(*it, child(path, "String")));
    if (const auto it = v.find("Regex"); it != v.end()) {
        const std::string source = string(*it, child(path, "Regex"));
        try {
            return Regex::fromPattern(source);
        } catch (const std::invalid_argument& e) {
            fail(child(path, "Regex"), e.what());
        }
    }
    fail(path, "expected {\"String\": ...} or {\"Regex\": ...}");
}

} // namespace tb
