#include "chat/JinjaOps.h"

#include "chat/JinjaText.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace tb {

namespace {

const char* const kStringMethods[] = {"strip",   "lstrip",     "rstrip",  "split", "startswith", "endswith",
                                      "upper",   "lower",      "title",   "capitalize", "replace", "find",
                                      "count",   "join",       "format",  "splitlines", "isdigit", "isspace",
                                      "isalpha", "isalnum",    "islower", "isupper", "rsplit"};
const char* const kDictMethods[] = {"get", "items", "keys", "values"};

[[noreturn]] void typeError(const std::string& op, const JinjaValue& a, const JinjaValue& b)
{
    throw JinjaError("unsupported operand type(s) for " + op + ": '" + a.typeName() + "' and '" + b.typeName() + "'");
}

void checkOverflow(bool overflow)
{
    if (overflow)
        throw JinjaError("integer overflow");
}

const std::string* optionalString(const JinjaArgs& args, std::size_t index, const char* name, const char* what)
{
    const JinjaValue* v = args.get(index, name);
    if (!v || v->isNone() || v->isUndefined())
        return nullptr;
    if (!v->isString())
        throw JinjaError(std::string(what) + " arg must be None or str, not " + v->typeName());
    return &v->asString();
}

const std::string& requireString(const JinjaArgs& args, std::size_t index, const char* name, const char* fn)
{
    const JinjaValue* v = args.get(index, name);
    if (!v || !v->isString())
        throw JinjaError(std::string(fn) + "() argument " + std::to_string(index + 1) + " must be str");
    return v->asString();
}

std::int64_t optionalInt(const JinjaArgs& args, std::size_t index, const char* name, std::int64_t fallback)
{
    const JinjaValue* v = args.get(index, name);
    if (!v || v->isNone())
        return fallback;
    if (!v->isInt() && !v->isBool())
        throw JinjaError(std::string("'") + v->typeName() + "' object cannot be interpreted as an integer");
    return v->asInt();
}

bool matchesAffix(const std::string& self, const JinjaValue& affix, bool prefix)
{
    auto one = [&](const JinjaValue& v) {
        if (!v.isString())
            throw JinjaError(std::string(prefix ? "startswith" : "endswith")
                             + " first arg must be str or a tuple of str, not " + v.typeName());
        return prefix ? JinjaText::startsWith(self, v.asString()) : JinjaText::endsWith(self, v.asString());
    };
    if (affix.isList()) {
        for (const JinjaValue& v : affix.asList())
            if (one(v))
                return true;
        return false;
    }
    return one(affix);
}

// str.format with {} / {0} / {name} fields and {{ }} escapes; format specs are not supported.
std::string pythonFormat(const std::string& fmt, const JinjaArgs& args)
{
    std::string out;
    std::size_t autoIndex = 0;
    for (std::size_t i = 0; i < fmt.size(); ++i) {
        const char c = fmt[i];
        if (c == '{' && i + 1 < fmt.size() && fmt[i + 1] == '{') {
            out.push_back('{');
            ++i;
        } else if (c == '}' && i + 1 < fmt.size() && fmt[i + 1] == '}') {
            out.push_back('}');
            ++i;
        } else if (c == '{') {
            const std::size_t close = fmt.find('}', i);
            if (close == std::string::npos)
                throw JinjaError("Single '{' encountered in format string");
            const std::string field = fmt.substr(i + 1, close - i - 1);
            if (field.find_first_of(":!") != std::string::npos)
                throw JinjaError("format specifications in str.format are not supported");
            const JinjaValue* v = nullptr;
            if (field.empty()) {
                v = autoIndex < args.positional.size() ? &args.positional[autoIndex] : nullptr;
                ++autoIndex;
            } else if (field.find_first_not_of("0123456789") == std::string::npos) {
                const auto index = static_cast<std::size_t>(std::stoul(field));
                v = index < args.positional.size() ? &args.positional[index] : nullptr;
            } else {
                for (const auto& [key, value] : args.keyword)
                    if (key == field)
                        v = &value;
            }
            if (!v)
                throw JinjaError("Replacement index " + field + " out of range for positional args tuple");
            out += v->toString();
            i = close;
        } else if (c == '}') {
            throw JinjaError("Single '}' encountered in format string");
        } else {
            out.push_back(c);
        }
    }
    return out;
}

bool allChars(const std::string& s, bool (*pred)(char32_t))
{
    const std::u32string text = JinjaText::decode(s);
    if (text.empty())
        return false;
    for (char32_t c : text)
        if (!pred(c))
            return false;
    return true;
}

} // namespace

bool JinjaOps::method(const JinjaValue& obj, const std::string& name, JinjaValue& out)
{
    if (obj.isString()) {
        for (const char* m : kStringMethods) {
            if (name == m) {
                const std::string self = obj.asString();
                out = JinjaValue::function("str." + name,
                                           [self, name](const JinjaArgs& args) { return stringMethod(self, name, args); });
                return true;
            }
        }
    } else if (obj.isDict()) {
        for (const char* m : kDictMethods) {
            if (name == m) {
                out = JinjaValue::function("dict." + name,
                                           [obj, name](const JinjaArgs& args) { return dictMethod(obj, name, args); });
                return true;
            }
        }
    }
    return false;
}

JinjaValue JinjaOps::stringMethod(const std::string& self, const std::string& name, const JinjaArgs& args)
{
    if (name == "strip" || name == "lstrip" || name == "rstrip") {
        const std::string* chars = optionalString(args, 0, "chars", name.c_str());
        return JinjaValue::string(JinjaText::strip(self, chars, name != "rstrip", name != "lstrip"));
    }
    if (name == "split" || name == "rsplit") {
        const std::string* sep = optionalString(args, 0, "sep", "sep");
        const std::int64_t maxsplit = optionalInt(args, 1, "maxsplit", -1);
        if (name == "rsplit" && maxsplit >= 0)
            throw JinjaError("str.rsplit with maxsplit is not supported");
        if (sep && sep->empty())
            throw JinjaError("empty separator");
        JinjaList parts;
        for (std::string& part : JinjaText::split(self, sep, maxsplit))
            parts.push_back(JinjaValue::string(std::move(part)));
        return JinjaValue::list(std::move(parts));
    }
    if (name == "startswith" || name == "endswith") {
        const JinjaValue* affix = args.get(0, nullptr);
        if (!affix)
            throw JinjaError(name + "() takes at least 1 argument (0 given)");
        return JinjaValue::boolean(matchesAffix(self, *affix, name == "startswith"));
    }
    if (name == "upper")
        return JinjaValue::string(JinjaText::upper(self));
    if (name == "lower")
        return JinjaValue::string(JinjaText::lower(self));
    if (name == "title")
        return JinjaValue::string(JinjaText::title(self));
    if (name == "capitalize")
        return JinjaValue::string(JinjaText::capitalize(self));
    if (name == "replace") {
        const std::string& from = requireString(args, 0, "old", "replace");
        const std::string& to = requireString(args, 1, "new", "replace");
        const std::int64_t count = optionalInt(args, 2, "count", -1);
        requireJinjaStringSize(JinjaText::replacedSize(self, from, to, count), "replace()");
        return JinjaValue::string(JinjaText::replace(self, from, to, count));
    }
    if (name == "find") {
        const std::size_t byteIndex = self.find(requireString(args, 0, "sub", "find"));
        if (byteIndex == std::string::npos)
            return JinjaValue::integer(-1);
        return JinjaValue::integer(static_cast<std::int64_t>(JinjaText::length(self.substr(0, byteIndex))));
    }
    if (name == "count") {
        const std::string& sub = requireString(args, 0, "sub", "count");
        if (sub.empty())
            return JinjaValue::integer(static_cast<std::int64_t>(JinjaText::length(self)) + 1);
        std::int64_t count = 0;
        for (std::size_t at = self.find(sub); at != std::string::npos; at = self.find(sub, at + sub.size()))
            ++count;
        return JinjaValue::integer(count);
    }
    if (name == "join") {
        const JinjaValue* items = args.get(0, "iterable");
        if (!items)
            throw JinjaError("join() takes exactly one argument (0 given)");
        std::string out;
        bool first = true;
        for (const JinjaValue& item : iterate(*items)) {
            if (!item.isString())
                throw JinjaError("sequence item: expected str instance, " + item.typeName() + " found");
            if (!first)
                out += self;
            first = false;
            out += item.asString();
            requireJinjaStringSize(out.size(), "join()");
        }
        return JinjaValue::string(std::move(out));
    }
    if (name == "format")
        return JinjaValue::string(pythonFormat(self, args));
    if (name == "splitlines") {
        JinjaList lines;
        std::size_t start = 0;
        while (start < self.size()) {
            std::size_t end = self.find_first_of("\r\n", start);
            if (end == std::string::npos) {
                lines.push_back(JinjaValue::string(self.substr(start)));
                break;
            }
            lines.push_back(JinjaValue::string(self.substr(start, end - start)));
            start = end + ((self[end] == '\r' && end + 1 < self.size() && self[end + 1] == '\n') ? 2 : 1);
        }
        return JinjaValue::list(std::move(lines));
    }
    if (name == "isspace")
        return JinjaValue::boolean(allChars(self, &JinjaText::isSpace));
    if (name == "isdigit")
        return JinjaValue::boolean(allChars(self, [](char32_t c) { return c >= '0' && c <= '9'; }));
    if (name == "isalpha")
        return JinjaValue::boolean(
            allChars(self, [](char32_t c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }));
    if (name == "isalnum")
        return JinjaValue::boolean(allChars(self, [](char32_t c) {
            return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        }));
    if (name == "islower")
        return JinjaValue::boolean(JinjaText::lower(self) == self && JinjaText::upper(self) != self);
    if (name == "isupper")
        return JinjaValue::boolean(JinjaText::upper(self) == self && JinjaText::lower(self) != self);
    throw JinjaError("'str' object has no attribute '" + name + "'");
}

JinjaValue JinjaOps::dictMethod(const JinjaValue& self, const std::string& name, const JinjaArgs& args)
{
    if (name == "get") {
        const JinjaValue* key = args.get(0, "key");
        if (!key)
            throw JinjaError("get expected at least 1 argument, got 0");
        const JinjaValue* fallback = args.get(1, "default");
        const JinjaValue* found = key->isString() ? self.find(key->asString()) : nullptr;
        if (found)
            return *found;
        return fallback ? *fallback : JinjaValue::none();
    }
    JinjaList out;
    for (const auto& [key, value] : self.asDict()) {
        if (name == "items")
            out.push_back(JinjaValue::list({JinjaValue::string(key), value}, true));
        else if (name == "keys")
            out.push_back(JinjaValue::string(key));
        else
            out.push_back(value);
    }
    return JinjaValue::list(std::move(out));
}

JinjaValue JinjaOps::getAttr(const JinjaValue& obj, const std::string& name)
{
    if (obj.isUndefined())
        obj.failUndefined();
    JinjaValue bound;
    if (method(obj, name, bound))
        return bound;
    if (obj.isDict() || obj.isNamespace()) {
        if (const JinjaValue* v = obj.find(name))
            return *v;
    }
    const std::string owner = obj.isNone() ? "None" : "'" + obj.typeName() + " object'";
    return JinjaValue::undefined(owner + " has no attribute '" + name + "'");
}

JinjaValue JinjaOps::getItem(const JinjaValue& obj, const JinjaValue& key)
{
    if (obj.isUndefined())
        obj.failUndefined();
    if ((obj.isDict() || obj.isNamespace()) && key.isString()) {
        if (const JinjaValue* v = obj.find(key.asString()))
            return *v;
    }
    if ((obj.isList() || obj.isString()) && (key.isInt() || key.isBool())) {
        std::int64_t index = key.asInt();
        if (obj.isList()) {
            const auto size = static_cast<std::int64_t>(obj.asList().size());
            if (index < 0)
                index += size;
            if (index >= 0 && index < size)
                return obj.asList()[static_cast<std::size_t>(index)];
        } else {
            const std::u32string text = JinjaText::decode(obj.asString());
            const auto size = static_cast<std::int64_t>(text.size());
            if (index < 0)
                index += size;
            if (index >= 0 && index < size)
                return JinjaValue::string(JinjaText::encode(text.substr(static_cast<std::size_t>(index), 1)));
        }
        return JinjaValue::undefined("'" + obj.typeName() + " object' has no element " + std::to_string(key.asInt()));
    }
    if (key.isString()) {
        JinjaValue bound;
        if (method(obj, key.asString(), bound))
            return bound;
    }
    const std::string owner = obj.isNone() ? "None" : "'" + obj.typeName() + " object'";
    return JinjaValue::undefined(owner + " has no attribute " + key.repr());
}

JinjaValue JinjaOps::slice(const JinjaValue& obj, const JinjaValue* start, const JinjaValue* stop,
                           const JinjaValue* step)
{
    if (obj.isUndefined())
        obj.failUndefined();
    if (!obj.isList() && !obj.isString())
        throw JinjaError("'" + obj.typeName() + "' object is not subscriptable");
    auto bound = [](const JinjaValue* v, bool& present) -> std::int64_t {
        present = v && !v->isNone() && !v->isUndefined();
        if (!present)
            return 0;
        if (!v->isInt() && !v->isBool())
            throw JinjaError("slice indices must be integers or None");
        return v->asInt();
    };
    bool hasStart = false, hasStop = false, hasStep = false;
    std::int64_t first = bound(start, hasStart);
    std::int64_t last = bound(stop, hasStop);
    std::int64_t stride = bound(step, hasStep);
    if (!hasStep)
        stride = 1;
    if (stride == 0)
        throw JinjaError("slice step cannot be zero");
    const std::u32string text = obj.isString() ? JinjaText::decode(obj.asString()) : std::u32string();
    const auto size = static_cast<std::int64_t>(obj.isString() ? text.size() : obj.asList().size());
    // CPython's PySlice_AdjustIndices.
    const std::int64_t lower = stride > 0 ? 0 : -1;
    const std::int64_t upper = stride > 0 ? size : size - 1;
    auto adjust = [&](bool present, std::int64_t v, std::int64_t fallback) {
        if (!present)
            return fallback;
        if (v < 0) {
            v += size;
            return v < lower ? lower : v;
        }
        return v > upper ? upper : v;
    };
    first = adjust(hasStart, first, stride > 0 ? lower : upper);
    last = adjust(hasStop, last, stride > 0 ? upper : lower);
    JinjaList items;
    std::u32string chars;
    for (std::int64_t i = first; stride > 0 ? i < last : i > last; i += stride) {
        if (obj.isString())
            chars.push_back(text[static_cast<std::size_t>(i)]);
        else
            items.push_back(obj.asList()[static_cast<std::size_t>(i)]);
    }
    if (obj.isString())
        return JinjaValue::string(JinjaText::encode(chars));
    return JinjaValue::list(std::move(items), obj.isTuple());
}

JinjaList JinjaOps::iterate(const JinjaValue& value)
{
    switch (value.type()) {
    case JinjaValue::Type::Undefined: return {};
    case JinjaValue::Type::List: return value.asList();
    case JinjaValue::Type::Dict: {
        JinjaList keys;
        for (const auto& entry : value.asDict())
            keys.push_back(JinjaValue::string(entry.first));
        return keys;
    }
    case JinjaValue::Type::String: {
        JinjaList chars;
        for (char32_t c : JinjaText::decode(value.asString()))
            chars.push_back(JinjaValue::string(JinjaText::encode(std::u32string(1, c))));
        return chars;
    }
    default: throw JinjaError("'" + value.typeName() + "' object is not iterable");
    }
}

std::int64_t JinjaOps::length(const JinjaValue& value)
{
    switch (value.type()) {
    case JinjaValue::Type::Undefined: return 0;
    case JinjaValue::Type::String: return static_cast<std::int64_t>(JinjaText::length(value.asString()));
    case JinjaValue::Type::List: return static_cast<std::int64_t>(value.asList().size());
    case JinjaValue::Type::Dict: return static_cast<std::int64_t>(value.asDict().size());
    default: throw JinjaError("object of type '" + value.typeName() + "' has no len()");
    }
}

bool JinjaOps::contains(const JinjaValue& container, const JinjaValue& item)
{
    switch (container.type()) {
    case JinjaValue::Type::Undefined: return false;
    case JinjaValue::Type::String:
        if (!item.isString())
            throw JinjaError("'in <string>' requires string as left operand, not " + item.typeName());
        return container.asString().find(item.asString()) != std::string::npos;
    case JinjaValue::Type::List:
        for (const JinjaValue& v : container.asList())
            if (v.equals(item))
                return true;
        return false;
    case JinjaValue::Type::Dict: return item.isString() && container.find(item.asString()) != nullptr;
    default: throw JinjaError("argument of type '" + container.typeName() + "' is not iterable");
    }
}

int JinjaOps::compare(const JinjaValue& a, const JinjaValue& b)
{
    if (a.isNumber() && b.isNumber()) {
        if (a.isFloat() || b.isFloat()) {
            const double x = a.asFloat(), y = b.asFloat();
            return x < y ? -1 : x > y ? 1 : 0;
        }
        const std::int64_t x = a.asInt(), y = b.asInt();
        return x < y ? -1 : x > y ? 1 : 0;
    }
    if (a.isString() && b.isString()) {
        // UTF-8 byte order is code point order, which is Python's str order.
        const int c = a.asString().compare(b.asString());
        return c < 0 ? -1 : c > 0 ? 1 : 0;
    }
    if (a.isUndefined())
        a.failUndefined();
    if (b.isUndefined())
        b.failUndefined();
    throw JinjaError("'<' not supported between instances of '" + a.typeName() + "' and '" + b.typeName() + "'");
}

JinjaValue JinjaOps::unary(const std::string& op, const JinjaValue& a)
{
    if (op == "not")
        return JinjaValue::boolean(!a.truthy());
    if (a.isUndefined())
        a.failUndefined();
    if (!a.isNumber())
        throw JinjaError("bad operand type for unary " + op + ": '" + a.typeName() + "'");
    if (a.isFloat())
        return JinjaValue::floating(op == "-" ? -a.asFloat() : a.asFloat());
    if (op == "-")
    {
        checkOverflow(a.asInt() == std::numeric_limits<std::int64_t>::min());
        return JinjaValue::integer(-a.asInt());
    }
    return JinjaValue::integer(a.asInt());
}

JinjaValue JinjaOps::binary(const std::string& op, const JinjaValue& a, const JinjaValue& b)
{
    if (op == "~") {
        std::string left = a.toString();
        const std::string right = b.toString();
        requireJinjaStringSize(left.size() + right.size(), "~");
        return JinjaValue::string(left + right);
    }
    if (op == "==")
        return JinjaValue::boolean(a.equals(b));
    if (op == "!=")
        return JinjaValue::boolean(!a.equals(b));
    if (op == "in")
        return JinjaValue::boolean(contains(b, a));
    if (op == "not in")
        return JinjaValue::boolean(!contains(b, a));
    if (op == "<" || op == ">" || op == "<=" || op == ">=") {
        const int c = compare(a, b);
        const bool r = op == "<" ? c < 0 : op == ">" ? c > 0 : op == "<=" ? c <= 0 : c >= 0;
        return JinjaValue::boolean(r);
    }
    if (a.isUndefined())
        a.failUndefined();
    if (b.isUndefined())
        b.failUndefined();
    if (a.isNumber() && b.isNumber()) {
        const bool useFloat = a.isFloat() || b.isFloat() || op == "/";
        if (useFloat) {
            const double x = a.asFloat(), y = b.asFloat();
            if ((op == "/" || op == "//" || op == "%") && y == 0.0)
                throw JinjaError("float division by zero");
            if (op == "+")
                return JinjaValue::floating(x + y);
            if (op == "-")
                return JinjaValue::floating(x - y);
            if (op == "*")
                return JinjaValue::floating(x * y);
            if (op == "/")
                return JinjaValue::floating(x / y);
            if (op == "//")
                return JinjaValue::floating(std::floor(x / y));
            if (op == "%") {
                const double r = std::fmod(x, y);
                return JinjaValue::floating(r != 0.0 && ((r < 0) != (y < 0)) ? r + y : r);
            }
            if (op == "**")
                return JinjaValue::floating(std::pow(x, y));
        } else {
            const std::int64_t x = a.asInt(), y = b.asInt();
            std::int64_t r = 0;
            if (op == "+" || op == "-" || op == "*") {
                checkOverflow(op == "+"   ? __builtin_add_overflow(x, y, &r)
                              : op == "-" ? __builtin_sub_overflow(x, y, &r)
                                          : __builtin_mul_overflow(x, y, &r));
                return JinjaValue::integer(r);
            }
            if (op == "//" || op == "%") {
                if (y == 0)
                    throw JinjaError("integer division or modulo by zero");
                if (x == std::numeric_limits<std::int64_t>::min() && y == -1) {
                    if (op == "//")
                        throw JinjaError("integer overflow");
                    return JinjaValue::integer(0);
                }
                std::int64_t q = x / y;
                std::int64_t m = x % y;
                if (m != 0 && ((m < 0) != (y < 0))) { // Python floors toward negative infinity
                    --q;
                    m += y;
                }
                return JinjaValue::integer(op == "//" ? q : m);
            }
            if (op == "**") {
                if (y < 0)
                    return JinjaValue::floating(std::pow(static_cast<double>(x), static_cast<double>(y)));
                std::int64_t result = 1;
                for (std::int64_t i = 0; i < y; ++i) {
                    checkOverflow(__builtin_mul_overflow(result, x, &r));
                    result = r;
                    if (result == 0 || result == 1)
                        break;
                }
                return JinjaValue::integer(result);
            }
        }
    }
    if (op == "+" && a.isString() && b.isString()) {
        requireJinjaStringSize(a.asString().size() + b.asString().size(), "+");
        return JinjaValue::string(a.asString() + b.asString());
    }
    if (op == "+" && a.isList() && b.isList() && a.isTuple() == b.isTuple()) {
        requireJinjaListSize(a.asList().size() + b.asList().size(), "+");
        JinjaList items = a.asList();
        items.insert(items.end(), b.asList().begin(), b.asList().end());
        return JinjaValue::list(std::move(items), a.isTuple());
    }
    if (op == "*" && ((a.isString() || a.isList()) && (b.isInt() || b.isBool()))) {
        const std::int64_t times = b.asInt();
        if (times > 100000)
            throw JinjaError("repetition count too large");
        const std::size_t n = static_cast<std::size_t>(std::max<std::int64_t>(times, 0));
        if (a.isString()) {
            requireJinjaStringSize(a.asString().size() * n, "*");
            std::string out;
            for (std::int64_t i = 0; i < times; ++i)
                out += a.asString();
            return JinjaValue::string(std::move(out));
        }
        requireJinjaListSize(a.asList().size() * n, "*");
        std::size_t itemBytes = 0; // list items are copies: a list of long strings repeated is long too
        for (const JinjaValue& item : a.asList())
            itemBytes += item.isString() ? item.asString().size() : 0;
        requireJinjaStringSize(itemBytes * n, "*");
        JinjaList items;
        for (std::int64_t i = 0; i < times; ++i)
            items.insert(items.end(), a.asList().begin(), a.asList().end());
        return JinjaValue::list(std::move(items), a.isTuple());
    }
    if (op == "*" && (a.isInt() || a.isBool()) && (b.isString() || b.isList()))
        return binary(op, b, a);
    if (op == "%" && a.isString())
        throw JinjaError("printf-style string formatting ('...' % value) is not supported");
    typeError(op, a, b);
}

} // namespace tb
