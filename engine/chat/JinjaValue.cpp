#include "chat/JinjaValue.h"

#include "chat/JinjaText.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace tb {

void requireJinjaStringSize(std::size_t bytes, const char* what)
{
    if (bytes > kJinjaMaxStringBytes)
        throw JinjaError(std::string(what) + " would build a string of " + std::to_string(bytes)
                         + " bytes, over the " + std::to_string(kJinjaMaxStringBytes >> 20)
                         + " MiB a chat template may build");
}

void requireJinjaListSize(std::size_t items, const char* what)
{
    if (items > kJinjaMaxListItems)
        throw JinjaError(std::string(what) + " would build a list of " + std::to_string(items)
                         + " items, over the " + std::to_string(kJinjaMaxListItems) + " a chat template may build");
}

const JinjaValue* JinjaArgs::get(std::size_t index, const char* name) const
{
    if (index < positional.size())
        return &positional[index];
    if (name)
        for (const auto& [key, value] : keyword)
            if (key == name)
                return &value;
    return nullptr;
}

JinjaValue::JinjaValue() = default;

JinjaValue JinjaValue::undefined(std::string hint)
{
    JinjaValue v;
    v.m_string = std::move(hint);
    return v;
}

JinjaValue JinjaValue::none()
{
    JinjaValue v;
    v.m_type = Type::None;
    return v;
}

JinjaValue JinjaValue::boolean(bool b)
{
    JinjaValue v;
    v.m_type = Type::Bool;
    v.m_bool = b;
    return v;
}

JinjaValue JinjaValue::integer(std::int64_t i)
{
    JinjaValue v;
    v.m_type = Type::Int;
    v.m_int = i;
    return v;
}

JinjaValue JinjaValue::floating(double d)
{
    JinjaValue v;
    v.m_type = Type::Float;
    v.m_float = d;
    return v;
}

JinjaValue JinjaValue::string(std::string s)
{
    JinjaValue v;
    v.m_type = Type::String;
    v.m_string = std::move(s);
    return v;
}

JinjaValue JinjaValue::list(JinjaList items, bool tuple)
{
    JinjaValue v;
    v.m_type = Type::List;
    v.m_tuple = tuple;
    v.m_list = std::make_shared<JinjaList>(std::move(items));
    return v;
}

JinjaValue JinjaValue::dict(JinjaDict entries)
{
    JinjaValue v;
    v.m_type = Type::Dict;
    v.m_dict = std::make_shared<JinjaDict>(std::move(entries));
    return v;
}

JinjaValue JinjaValue::makeNamespace(JinjaDict entries)
{
    JinjaValue v = dict(std::move(entries));
    v.m_type = Type::Namespace;
    return v;
}

JinjaValue JinjaValue::function(std::string name, JinjaFunction fn)
{
    JinjaValue v;
    v.m_type = Type::Function;
    v.m_string = std::move(name);
    v.m_function = std::make_shared<JinjaFunction>(std::move(fn));
    return v;
}

std::int64_t JinjaValue::asInt() const
{
    return m_type == Type::Bool ? (m_bool ? 1 : 0) : m_int;
}

double JinjaValue::asFloat() const
{
    if (m_type == Type::Float)
        return m_float;
    return static_cast<double>(asInt());
}

const JinjaList& JinjaValue::asList() const
{
    static const JinjaList empty;
    return m_list ? *m_list : empty;
}

const JinjaDict& JinjaValue::asDict() const
{
    static const JinjaDict empty;
    return m_dict ? *m_dict : empty;
}

JinjaDict& JinjaValue::mutableNamespace() const
{
    return *m_dict;
}

const JinjaFunction& JinjaValue::asFunction() const
{
    return *m_function;
}

const JinjaValue* JinjaValue::find(const std::string& key) const
{
    if (!m_dict)
        return nullptr;
    for (const auto& entry : *m_dict)
        if (entry.first == key)
            return &entry.second;
    return nullptr;
}

bool JinjaValue::truthy() const
{
    switch (m_type) {
    case Type::Undefined:
    case Type::None: return false;
    case Type::Bool: return m_bool;
    case Type::Int: return m_int != 0;
    case Type::Float: return m_float != 0.0;
    case Type::String: return !m_string.empty();
    case Type::List: return !m_list->empty();
    case Type::Dict: return !m_dict->empty();
    case Type::Namespace:
    case Type::Function: return true;
    }
    return false;
}

std::string JinjaValue::formatFloat(double v)
{
    // CPython's repr(): the shortest digits that read back to the same double, in fixed
    // notation for exponents in [-4, 16) and scientific ("1e-05", "1e+16") otherwise.
    if (std::isnan(v))
        return "nan";
    if (std::isinf(v))
        return v > 0 ? "inf" : "-inf";
    if (v == 0.0)
        return std::signbit(v) ? "-0.0" : "0.0";
    char buf[64];
    for (int precision = 1; precision <= 17; ++precision) {
        std::snprintf(buf, sizeof buf, "%.*e", precision - 1, v);
        if (std::strtod(buf, nullptr) == v)
            break;
    }
    const std::string sci = buf;
    const std::size_t ePos = sci.find('e');
    const int exponent = std::atoi(sci.c_str() + ePos + 1);
    std::string digits;
    for (std::size_t i = 0; i < ePos; ++i)
        if (sci[i] >= '0' && sci[i] <= '9')
            digits.push_back(sci[i]);
    const std::string sign = v < 0 ? "-" : "";
    if (exponent >= -4 && exponent < 16) {
        if (exponent >= 0) {
            std::string intPart = digits.substr(0, std::min<std::size_t>(digits.size(), exponent + 1));
            intPart.append(exponent + 1 - intPart.size(), '0');
            std::string frac = digits.size() > static_cast<std::size_t>(exponent + 1) ? digits.substr(exponent + 1) : "0";
            return sign + intPart + "." + frac;
        }
        return sign + "0." + std::string(-exponent - 1, '0') + digits;
    }
    std::string mantissa = digits.substr(0, 1);
    if (digits.size() > 1)
        mantissa += "." + digits.substr(1);
    std::snprintf(buf, sizeof buf, "e%c%02d", exponent < 0 ? '-' : '+', std::abs(exponent));
    return sign + mantissa + buf;
}

std::string JinjaValue::toString() const
{
    switch (m_type) {
    case Type::Undefined: return {};
    case Type::None: return "None";
    case Type::Bool: return m_bool ? "True" : "False";
    case Type::Int: return std::to_string(m_int);
    case Type::Float: return formatFloat(m_float);
    case Type::String: return m_string;
    default: return repr();
    }
}

std::string JinjaValue::repr() const
{
    switch (m_type) {
    case Type::String: return JinjaText::pythonRepr(m_string);
    case Type::List: {
        std::string out = m_tuple ? "(" : "[";
        for (std::size_t i = 0; i < m_list->size(); ++i) {
            if (i)
                out += ", ";
            out += (*m_list)[i].repr();
        }
        if (m_tuple && m_list->size() == 1)
            out += ",";
        out += m_tuple ? ")" : "]";
        return out;
    }
    case Type::Dict: {
        std::string out = "{";
        bool first = true;
        for (const auto& [key, value] : *m_dict) {
            if (!first)
                out += ", ";
            first = false;
            out += JinjaText::pythonRepr(key) + ": " + value.repr();
        }
        return out + "}";
    }
    case Type::Namespace: return "<Namespace>";
    case Type::Function: return "<function " + m_string + ">";
    default: return toString();
    }
}

namespace {

void appendJson(std::string& out, const JinjaValue& v, const JinjaJsonOptions& o, int depth)
{
    static const std::string kComma = ",";
    static const std::string kCommaSpace = ", ";
    static const std::string kColonSpace = ": ";
    const std::string& itemSep = o.itemSeparator ? *o.itemSeparator : (o.indent >= 0 ? kComma : kCommaSpace);
    const std::string& keySep = o.keySeparator ? *o.keySeparator : kColonSpace;
    auto newline = [&](int level) {
        if (o.indent >= 0) {
            out.push_back('\n');
            out.append(static_cast<std::size_t>(o.indent) * level, ' ');
        }
    };
    switch (v.type()) {
    case JinjaValue::Type::None: out += "null"; return;
    case JinjaValue::Type::Bool: out += v.asBool() ? "true" : "false"; return;
    case JinjaValue::Type::Int: out += std::to_string(v.asInt()); return;
    case JinjaValue::Type::Float: {
        const double d = v.asFloat();
        out += std::isnan(d) ? "NaN" : std::isinf(d) ? (d > 0 ? "Infinity" : "-Infinity") : JinjaValue::formatFloat(d);
        return;
    }
    case JinjaValue::Type::String: out += JinjaText::jsonQuote(v.asString(), o.ensureAscii); return;
    case JinjaValue::Type::List: {
        const JinjaList& items = v.asList();
        if (items.empty()) {
            out += "[]";
            return;
        }
        out.push_back('[');
        for (std::size_t i = 0; i < items.size(); ++i) {
            if (i)
                out += itemSep;
            newline(depth + 1);
            appendJson(out, items[i], o, depth + 1);
        }
        newline(depth);
        out.push_back(']');
        return;
    }
    case JinjaValue::Type::Dict: {
        std::vector<const std::pair<std::string, JinjaValue>*> entries;
        for (const auto& entry : v.asDict())
            entries.push_back(&entry);
        if (entries.empty()) {
            out += "{}";
            return;
        }
        if (o.sortKeys)
            std::stable_sort(entries.begin(), entries.end(),
                             [](const auto* a, const auto* b) { return a->first < b->first; });
        out.push_back('{');
        for (std::size_t i = 0; i < entries.size(); ++i) {
            if (i)
                out += itemSep;
            newline(depth + 1);
            out += JinjaText::jsonQuote(entries[i]->first, o.ensureAscii);
            out += keySep;
            appendJson(out, entries[i]->second, o, depth + 1);
        }
        newline(depth);
        out.push_back('}');
        return;
    }
    default:
        throw JinjaError("Object of type " + v.typeName() + " is not JSON serializable");
    }
}

} // namespace

std::string JinjaValue::toJson(const JinjaJsonOptions& options) const
{
    std::string out;
    appendJson(out, *this, options, 0);
    return out;
}

bool JinjaValue::equals(const JinjaValue& other) const
{
    if (isNumber() && other.isNumber()) {
        if (m_type == Type::Float || other.m_type == Type::Float)
            return asFloat() == other.asFloat();
        return asInt() == other.asInt();
    }
    if (m_type != other.m_type)
        return false;
    switch (m_type) {
    case Type::Undefined:
    case Type::None: return true;
    case Type::String: return m_string == other.m_string;
    case Type::List: {
        if (m_tuple != other.m_tuple || m_list->size() != other.m_list->size())
            return false;
        for (std::size_t i = 0; i < m_list->size(); ++i)
            if (!(*m_list)[i].equals((*other.m_list)[i]))
                return false;
        return true;
    }
    case Type::Dict: {
        if (m_dict->size() != other.m_dict->size())
            return false;
        for (const auto& [key, value] : *m_dict) {
            const JinjaValue* theirs = other.find(key);
            if (!theirs || !value.equals(*theirs))
                return false;
        }
        return true;
    }
    case Type::Namespace: return m_dict == other.m_dict;
    case Type::Function: return m_function == other.m_function;
    default: return false;
    }
}

std::string JinjaValue::typeName() const
{
    switch (m_type) {
    case Type::Undefined: return "Undefined";
    case Type::None: return "NoneType";
    case Type::Bool: return "bool";
    case Type::Int: return "int";
    case Type::Float: return "float";
    case Type::String: return "str";
    case Type::List: return m_tuple ? "tuple" : "list";
    case Type::Dict: return "dict";
    case Type::Namespace: return "Namespace";
    case Type::Function: return "function";
    }
    return "object";
}

void JinjaValue::failUndefined() const
{
    throw JinjaError(m_string.empty() ? std::string("value is undefined") : m_string);
}

} // namespace tb
