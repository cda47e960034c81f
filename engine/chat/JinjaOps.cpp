#include "chat/JinjaOps.h"

#include "chat/JinjaMethods.h"
#include "chat/JinjaText.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace tb {

namespace {

[[noreturn]] void typeError(const std::string& op, const JinjaValue& a, const JinjaValue& b)
{
    throw JinjaError("unsupported operand type(s) for " + op + ": '" + a.typeName() + "' and '" + b.typeName() + "'");
}

void checkOverflow(bool overflow)
{
    if (overflow)
        throw JinjaError("integer overflow");
}

} // namespace

JinjaValue JinjaOps::getAttr(const JinjaValue& obj, const std::string& name)
{
    if (obj.isUndefined())
        obj.failUndefined();
    JinjaValue bound;
    if (JinjaMethods::bind(obj, name, bound))
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
        if (JinjaMethods::bind(obj, key.asString(), bound))
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
        std::string joined = a.toString();
        const std::string right = b.toString();
        requireJinjaStringSize(joined.size() + right.size(), "~");
        joined += right;
        return JinjaValue::string(std::move(joined));
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
