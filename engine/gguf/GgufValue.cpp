#include "gguf/GgufValue.h"

#include <cstdio>
#include <cstring>

namespace tb {

const char* ggufTypeName(GgufType type)
{
    switch (type) {
    case GgufType::Uint8: return "u8";
    case GgufType::Int8: return "i8";
    case GgufType::Uint16: return "u16";
    case GgufType::Int16: return "i16";
    case GgufType::Uint32: return "u32";
    case GgufType::Int32: return "i32";
    case GgufType::Float32: return "f32";
    case GgufType::Bool: return "bool";
    case GgufType::String: return "string";
    case GgufType::Array: return "array";
    case GgufType::Uint64: return "u64";
    case GgufType::Int64: return "i64";
    case GgufType::Float64: return "f64";
    }
    return "?";
}

bool isKnownGgufType(uint32_t type)
{
    return type <= static_cast<uint32_t>(GgufType::Float64);
}

GgufValue GgufValue::of(GgufType type, uint64_t bits)
{
    GgufValue v;
    v.type = type;
    v.integer = bits;
    return v;
}

GgufValue GgufValue::u32(uint32_t x) { return of(GgufType::Uint32, x); }
GgufValue GgufValue::i32(int32_t x) { return of(GgufType::Int32, static_cast<uint64_t>(static_cast<int64_t>(x))); }
GgufValue GgufValue::u64(uint64_t x) { return of(GgufType::Uint64, x); }
GgufValue GgufValue::boolean(bool x) { return of(GgufType::Bool, x ? 1 : 0); }

GgufValue GgufValue::real64(GgufType type, double x)
{
    GgufValue v;
    v.type = type;
    v.real = type == GgufType::Float32 ? static_cast<double>(static_cast<float>(x)) : x;
    return v;
}

GgufValue GgufValue::f32(float x) { return real64(GgufType::Float32, x); }

GgufValue GgufValue::string(std::string x)
{
    GgufValue v;
    v.type = GgufType::String;
    v.text = std::move(x);
    return v;
}

GgufValue GgufValue::array(GgufType elementType, std::vector<GgufValue> items)
{
    GgufValue v;
    v.type = GgufType::Array;
    v.elementType = elementType;
    v.items = std::move(items);
    return v;
}

GgufValue GgufValue::strings(const std::vector<std::string>& items)
{
    std::vector<GgufValue> values;
    values.reserve(items.size());
    for (const auto& s : items)
        values.push_back(string(s));
    return array(GgufType::String, std::move(values));
}

GgufValue GgufValue::floats(const std::vector<float>& items)
{
    std::vector<GgufValue> values;
    values.reserve(items.size());
    for (float f : items)
        values.push_back(f32(f));
    return array(GgufType::Float32, std::move(values));
}

GgufValue GgufValue::ints(const std::vector<int32_t>& items)
{
    std::vector<GgufValue> values;
    values.reserve(items.size());
    for (int32_t i : items)
        values.push_back(i32(i));
    return array(GgufType::Int32, std::move(values));
}

bool GgufValue::isInteger() const
{
    switch (type) {
    case GgufType::Uint8:
    case GgufType::Int8:
    case GgufType::Uint16:
    case GgufType::Int16:
    case GgufType::Uint32:
    case GgufType::Int32:
    case GgufType::Uint64:
    case GgufType::Int64:
        return true;
    default:
        return false;
    }
}

int64_t GgufValue::asInt() const
{
    return static_cast<int64_t>(integer);
}

std::string GgufValue::display(size_t maxItems) const
{
    char buffer[64];
    switch (type) {
    case GgufType::Bool:
        return integer ? "true" : "false";
    case GgufType::Float32:
    case GgufType::Float64:
        std::snprintf(buffer, sizeof buffer, "%.9g", real);
        return buffer;
    case GgufType::Uint64:
        return std::to_string(integer);
    case GgufType::String: {
        std::string shown = text.size() > 200 ? text.substr(0, 200) + "..." : text;
        std::string out = "\"";
        for (char c : shown) {
            if (c == '\n')
                out += "\\n";
            else if (c == '"')
                out += "\\\"";
            else
                out += c;
        }
        return out + "\"";
    }
    case GgufType::Array: {
        std::string out = "[";
        for (size_t i = 0; i < items.size() && i < maxItems; ++i)
            out += (i ? ", " : "") + items[i].display(maxItems);
        if (items.size() > maxItems)
            out += ", ... (" + std::to_string(items.size()) + " " + ggufTypeName(elementType) + ")";
        return out + "]";
    }
    default:
        return isInteger() ? std::to_string(asInt()) : "?";
    }
}

} // namespace tb
