#include "chat/JinjaFilters.h"

#include "chat/JinjaOps.h"
#include "chat/JinjaText.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <ctime>

namespace tb {

namespace {

const char* const kFilters[] = {"abs",     "attr",   "capitalize", "count",   "d",         "default", "dictsort",
                                "e",       "escape", "first",      "float",   "indent",    "int",     "items",
                                "join",    "last",   "length",     "list",    "lower",     "map",     "max",
                                "min",     "reject", "rejectattr", "replace", "reverse",   "safe",    "select",
                                "selectattr", "sort", "string",    "sum",     "title",     "tojson",  "trim",
                                "unique",  "upper"};
const char* const kTests[] = {"boolean", "callable", "defined",  "divisibleby", "eq",       "equalto", "==",
                              "even",    "false",    "float",    "ge",          ">=",       "gt",      "greaterthan",
                              ">",       "in",       "integer",  "iterable",    "le",       "<=",      "lt",
                              "lessthan", "<",       "lower",    "mapping",     "ne",       "!=",      "none",
                              "number",  "odd",      "sameas",   "sequence",    "string",   "true",    "undefined",
                              "upper"};

// Python's range() materialised. transformers renders in jinja2's sandbox, whose range() refuses
// more than MAX_RANGE = 100000 items; so does this one.
constexpr std::int64_t kMaxRange = 100000;

bool flag(const JinjaArgs& args, std::size_t index, const char* name, bool fallback)
{
    const JinjaValue* v = args.get(index, name);
    return v ? v->truthy() : fallback;
}

const JinjaValue& requireArg(const JinjaArgs& args, std::size_t index, const char* name, const char* fn)
{
    const JinjaValue* v = args.get(index, name);
    if (!v)
        throw JinjaError(std::string(fn) + "() is missing the argument '" + name + "'");
    return *v;
}

JinjaValue stringArg(const JinjaValue& v)
{
    return JinjaValue::string(v.toString());
}

// Python int(str): optional sign and surrounding whitespace, digits with single underscores.
bool parseInt(const std::string& text, std::int64_t base, std::int64_t& out)
{
    std::string s = JinjaText::strip(text, nullptr, true, true);
    s.erase(std::remove(s.begin(), s.end(), '_'), s.end());
    if (s.empty())
        return false;
    char* end = nullptr;
    errno = 0;
    const long long v = std::strtoll(s.c_str(), &end, static_cast<int>(base));
    if (errno != 0 || end != s.c_str() + s.size())
        return false;
    out = v;
    return true;
}

bool parseFloat(const std::string& text, double& out)
{
    const std::string s = JinjaText::strip(text, nullptr, true, true);
    if (s.empty())
        return false;
    char* end = nullptr;
    out = std::strtod(s.c_str(), &end);
    return end == s.c_str() + s.size();
}

// Jinja's sort/unique/min/max key: strings compare case-insensitively unless asked otherwise.
JinjaValue sortKey(const JinjaValue& v, bool caseSensitive)
{
    if (!caseSensitive && v.isString())
        return JinjaValue::string(JinjaText::lower(v.asString()));
    return v;
}

JinjaValue requireDict(const JinjaValue& v, const char* filter)
{
    if (v.isUndefined())
        return JinjaValue::dict({});
    if (!v.isDict())
        throw JinjaError(std::string(filter) + " filter expects a mapping, got " + v.typeName());
    return v;
}

JinjaArgs shiftArgs(const JinjaArgs& args, std::size_t count)
{
    JinjaArgs rest;
    if (args.positional.size() > count)
        rest.positional.assign(args.positional.begin() + static_cast<std::ptrdiff_t>(count), args.positional.end());
    rest.keyword = args.keyword;
    return rest;
}

std::string strftimeNow(const std::string& format)
{
    const std::time_t now = std::time(nullptr);
    std::tm local{};
    localtime_r(&now, &local);
    if (format.empty())
        return {};
    std::string buf(128, '\0');
    for (int attempt = 0; attempt < 8; ++attempt) {
        const std::size_t written = std::strftime(buf.data(), buf.size(), format.c_str(), &local);
        if (written > 0) {
            buf.resize(written);
            return buf;
        }
        buf.resize(buf.size() * 4);
    }
    return {};
}

} // namespace

bool JinjaFilters::hasFilter(const std::string& name)
{
    return std::any_of(std::begin(kFilters), std::end(kFilters), [&](const char* f) { return name == f; });
}

bool JinjaFilters::hasTest(const std::string& name)
{
    return std::any_of(std::begin(kTests), std::end(kTests), [&](const char* t) { return name == t; });
}

JinjaValue JinjaFilters::attributePath(const JinjaValue& item, const std::string& path)
{
    // Jinja's make_attrgetter: dotted parts, digits index into sequences.
    JinjaValue v = item;
    std::size_t start = 0;
    while (true) {
        const std::size_t dot = path.find('.', start);
        const std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
        std::int64_t index = 0;
        if (!part.empty() && part.find_first_not_of("0123456789") == std::string::npos && parseInt(part, 10, index))
            v = JinjaOps::getItem(v, JinjaValue::integer(index));
        else
            v = JinjaOps::getItem(v, JinjaValue::string(part));
        if (dot == std::string::npos)
            return v;
        start = dot + 1;
    }
}

JinjaValue JinjaFilters::filter(const std::string& name, const JinjaValue& value, const JinjaArgs& args)
{
    if (name == "safe")
        return value;
    if (name == "default" || name == "d") {
        const JinjaValue* fallback = args.get(0, "default_value");
        const bool boolean = flag(args, 1, "boolean", false);
        if (value.isUndefined() || (boolean && !value.truthy()))
            return fallback ? *fallback : JinjaValue::string({});
        return value;
    }
    if (name == "length" || name == "count")
        return JinjaValue::integer(JinjaOps::length(value));
    if (name == "string")
        return stringArg(value);
    if (name == "e" || name == "escape")
        return JinjaValue::string(JinjaText::htmlEscape(value.toString()));
    if (name == "trim") {
        const JinjaValue* chars = args.get(0, "chars");
        const std::string* set = chars && chars->isString() ? &chars->asString() : nullptr;
        return JinjaValue::string(JinjaText::strip(value.toString(), set, true, true));
    }
    if (name == "upper")
        return JinjaValue::string(JinjaText::upper(value.toString()));
    if (name == "lower")
        return JinjaValue::string(JinjaText::lower(value.toString()));
    if (name == "capitalize")
        return JinjaValue::string(JinjaText::capitalize(value.toString()));
    if (name == "title")
        return JinjaValue::string(JinjaText::title(value.toString()));
    if (name == "replace") {
        const JinjaValue& from = requireArg(args, 0, "old", "replace");
        const JinjaValue& to = requireArg(args, 1, "new", "replace");
        const JinjaValue* count = args.get(2, "count");
        const std::int64_t n = count && !count->isNone() ? count->asInt() : -1;
        const std::string s = value.toString(), old = from.toString(), replacement = to.toString();
        requireJinjaStringSize(JinjaText::replacedSize(s, old, replacement, n), "replace");
        return JinjaValue::string(JinjaText::replace(s, old, replacement, n));
    }
    if (name == "tojson") {
        // transformers' tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False)
        JinjaJsonOptions options;
        options.ensureAscii = flag(args, 0, "ensure_ascii", false);
        const JinjaValue* indent = args.get(1, "indent");
        if (indent && !indent->isNone()) {
            if (!indent->isInt())
                throw JinjaError("tojson indent must be an integer");
            options.indent = static_cast<int>(std::clamp<std::int64_t>(indent->asInt(), 0, 64));
        }
        std::string itemSep, keySep;
        const JinjaValue* separators = args.get(2, "separators");
        if (separators && !separators->isNone()) {
            if (!separators->isList() || separators->asList().size() != 2)
                throw JinjaError("tojson separators must be a pair of strings");
            itemSep = separators->asList()[0].toString();
            keySep = separators->asList()[1].toString();
            options.itemSeparator = &itemSep;
            options.keySeparator = &keySep;
        }
        options.sortKeys = flag(args, 3, "sort_keys", false);
        return JinjaValue::string(value.toJson(options));
    }
    if (name == "int") {
        const JinjaValue* fallback = args.get(0, "default");
        const JinjaValue result = fallback ? *fallback : JinjaValue::integer(0);
        const std::int64_t base = args.get(1, "base") ? args.get(1, "base")->asInt() : 10;
        if (value.isInt() || value.isBool())
            return JinjaValue::integer(value.asInt());
        if (value.isFloat()) {
            const double d = value.asFloat();
            if (!std::isfinite(d) || std::fabs(d) >= 9.2e18)
                return result;
            return JinjaValue::integer(static_cast<std::int64_t>(d));
        }
        if (value.isString()) {
            std::int64_t i = 0;
            double d = 0;
            if (parseInt(value.asString(), base, i))
                return JinjaValue::integer(i);
            if (base == 10 && parseFloat(value.asString(), d) && std::isfinite(d) && std::fabs(d) < 9.2e18)
                return JinjaValue::integer(static_cast<std::int64_t>(d));
        }
        return result;
    }
    if (name == "float") {
        const JinjaValue* fallback = args.get(0, "default");
        const JinjaValue result = fallback ? *fallback : JinjaValue::floating(0.0);
        if (value.isNumber())
            return JinjaValue::floating(value.asFloat());
        double d = 0;
        if (value.isString() && parseFloat(value.asString(), d))
            return JinjaValue::floating(d);
        return result;
    }
    if (name == "abs") {
        if (value.isFloat())
            return JinjaValue::floating(std::fabs(value.asFloat()));
        if (value.isInt() || value.isBool())
            return value.asInt() < 0 ? JinjaOps::unary("-", value) : JinjaValue::integer(value.asInt());
        throw JinjaError("bad operand type for abs(): '" + value.typeName() + "'");
    }
    if (name == "attr")
        return JinjaOps::getAttr(value, requireArg(args, 0, "name", "attr").toString());
    if (name == "items") {
        JinjaList out;
        for (const auto& [key, v] : requireDict(value, "items").asDict())
            out.push_back(JinjaValue::list({JinjaValue::string(key), v}, true));
        return JinjaValue::list(std::move(out));
    }
    if (name == "dictsort") {
        const bool caseSensitive = flag(args, 0, "case_sensitive", false);
        const JinjaValue* by = args.get(1, "by");
        const bool byValue = by && by->toString() == "value";
        const bool reverse = flag(args, 2, "reverse", false);
        JinjaList out;
        for (const auto& [key, v] : requireDict(value, "dictsort").asDict())
            out.push_back(JinjaValue::list({JinjaValue::string(key), v}, true));
        std::stable_sort(out.begin(), out.end(), [&](const JinjaValue& a, const JinjaValue& b) {
            const std::size_t i = byValue ? 1 : 0;
            const int c = JinjaOps::compare(sortKey(a.asList()[i], caseSensitive), sortKey(b.asList()[i], caseSensitive));
            return reverse ? c > 0 : c < 0;
        });
        return JinjaValue::list(std::move(out));
    }
    if (name == "indent") {
        const JinjaValue* width = args.get(0, "width");
        const std::string pad = !width ? std::string(4, ' ')
            : width->isString()        ? width->asString()
                                       : std::string(static_cast<std::size_t>(std::clamp<std::int64_t>(width->asInt(), 0, 256)), ' ');
        const bool first = flag(args, 1, "first", false);
        const bool blank = flag(args, 2, "blank", false);
        const std::string s = value.toString();
        std::string out;
        std::size_t start = 0;
        bool firstLine = true;
        while (true) {
            const std::size_t nl = s.find('\n', start);
            const std::string line = s.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
            if (!firstLine)
                out.push_back('\n');
            if ((firstLine && first) || (!firstLine && (blank || !line.empty())))
                out += pad;
            out += line;
            requireJinjaStringSize(out.size(), "indent");
            firstLine = false;
            if (nl == std::string::npos)
                break;
            start = nl + 1;
        }
        return JinjaValue::string(std::move(out));
    }

    // Filters over the items of an iterable.
    JinjaList items = JinjaOps::iterate(value);
    if (name == "list")
        return JinjaValue::list(std::move(items));
    if (name == "first" || name == "last") {
        if (items.empty())
            return JinjaValue::undefined("No " + name + " item, sequence was empty.");
        return name == "first" ? items.front() : items.back();
    }
    if (name == "reverse") {
        std::reverse(items.begin(), items.end());
        if (value.isString()) {
            std::string out;
            for (const JinjaValue& c : items)
                out += c.asString();
            return JinjaValue::string(std::move(out));
        }
        return JinjaValue::list(std::move(items));
    }
    if (name == "join") {
        const JinjaValue* sep = args.get(0, "d");
        const JinjaValue* attribute = args.get(1, "attribute");
        std::string out;
        for (std::size_t i = 0; i < items.size(); ++i) {
            if (i && sep)
                out += sep->toString();
            out += (attribute && !attribute->isNone() ? attributePath(items[i], attribute->toString()) : items[i]).toString();
            requireJinjaStringSize(out.size(), "join");
        }
        return JinjaValue::string(std::move(out));
    }
    if (name == "map") {
        const JinjaValue* attribute = args.get(99, "attribute");
        JinjaList out;
        if (attribute) {
            const JinjaValue* fallback = args.get(99, "default");
            for (const JinjaValue& item : items) {
                JinjaValue v = attributePath(item, attribute->toString());
                out.push_back(v.isUndefined() && fallback ? *fallback : v);
            }
        } else {
            const std::string filterName = requireArg(args, 0, "filter", "map").toString();
            if (!hasFilter(filterName) || filterName == "map")
                throw JinjaError("map: no filter named '" + filterName + "'");
            const JinjaArgs rest = shiftArgs(args, 1);
            for (const JinjaValue& item : items)
                out.push_back(filter(filterName, item, rest));
        }
        return JinjaValue::list(std::move(out));
    }
    if (name == "select" || name == "reject" || name == "selectattr" || name == "rejectattr") {
        const bool byAttr = name == "selectattr" || name == "rejectattr";
        const bool keep = name == "select" || name == "selectattr";
        const std::size_t testIndex = byAttr ? 1 : 0;
        const std::string attr = byAttr ? requireArg(args, 0, "attribute", name.c_str()).toString() : std::string();
        const JinjaValue* testName = args.get(testIndex, nullptr);
        if (testName && !hasTest(testName->toString()))
            throw JinjaError(name + ": no test named '" + testName->toString() + "'");
        const JinjaArgs rest = shiftArgs(args, testIndex + 1);
        JinjaList out;
        for (const JinjaValue& item : items) {
            const JinjaValue subject = byAttr ? attributePath(item, attr) : item;
            const bool passed = testName ? test(testName->toString(), subject, rest) : subject.truthy();
            if (passed == keep)
                out.push_back(item);
        }
        return JinjaValue::list(std::move(out));
    }
    if (name == "unique" || name == "sort" || name == "min" || name == "max" || name == "sum") {
        const bool caseSensitive = flag(args, name == "sort" ? 1 : 0, "case_sensitive", false);
        const JinjaValue* attribute = args.get(name == "sort" ? 2 : name == "sum" ? 0 : 1, "attribute");
        auto key = [&](const JinjaValue& item) {
            const JinjaValue v = attribute && !attribute->isNone() ? attributePath(item, attribute->toString()) : item;
            return name == "sum" ? v : sortKey(v, caseSensitive);
        };
        if (name == "sum") {
            const JinjaValue* start = args.get(1, "start");
            JinjaValue total = start ? *start : JinjaValue::integer(0);
            for (const JinjaValue& item : items)
                total = JinjaOps::binary("+", total, key(item));
            return total;
        }
        if (name == "unique") {
            JinjaList out;
            JinjaList seen;
            for (const JinjaValue& item : items) {
                const JinjaValue k = key(item);
                if (std::none_of(seen.begin(), seen.end(), [&](const JinjaValue& s) { return s.equals(k); })) {
                    seen.push_back(k);
                    out.push_back(item);
                }
            }
            return JinjaValue::list(std::move(out));
        }
        if (name == "sort") {
            const bool reverse = flag(args, 0, "reverse", false);
            std::stable_sort(items.begin(), items.end(), [&](const JinjaValue& a, const JinjaValue& b) {
                const int c = JinjaOps::compare(key(a), key(b));
                return reverse ? c > 0 : c < 0;
            });
            return JinjaValue::list(std::move(items));
        }
        if (items.empty())
            return JinjaValue::undefined("No aggregated item, sequence was empty.");
        std::size_t best = 0;
        for (std::size_t i = 1; i < items.size(); ++i) {
            const int c = JinjaOps::compare(key(items[i]), key(items[best]));
            if (name == "min" ? c < 0 : c > 0)
                best = i;
        }
        return items[best];
    }
    throw JinjaError("no filter named '" + name + "'");
}

bool JinjaFilters::test(const std::string& name, const JinjaValue& value, const JinjaArgs& args)
{
    using T = JinjaValue::Type;
    if (name == "defined")
        return !value.isUndefined();
    if (name == "undefined")
        return value.isUndefined();
    if (name == "none")
        return value.isNone();
    if (name == "boolean")
        return value.isBool();
    if (name == "true")
        return value.isBool() && value.asBool();
    if (name == "false")
        return value.isBool() && !value.asBool();
    if (name == "string")
        return value.isString();
    if (name == "mapping")
        return value.isDict();
    if (name == "number")
        return value.isNumber(); // bool is a numbers.Number in Python
    if (name == "integer")
        return value.isInt();
    if (name == "float")
        return value.isFloat();
    if (name == "callable")
        return value.isFunction();
    if (name == "iterable") // Jinja's Undefined is iterable (empty)
        return value.isList() || value.isDict() || value.isString() || value.isUndefined();
    if (name == "sequence") // has len() and __getitem__
        return value.isList() || value.isDict() || value.isString() || value.isUndefined();
    if (name == "lower")
        return value.isString() && JinjaText::lower(value.asString()) == value.asString();
    if (name == "upper")
        return value.isString() && JinjaText::upper(value.asString()) == value.asString();
    if (name == "odd" || name == "even" || name == "divisibleby") {
        if (!value.isInt() && !value.isBool())
            throw JinjaError("test '" + name + "' needs an integer, got " + value.typeName());
        std::int64_t divisor = 2;
        if (name == "divisibleby") {
            const JinjaValue& d = requireArg(args, 0, "num", "divisibleby");
            divisor = d.asInt();
            if (divisor == 0)
                throw JinjaError("integer division or modulo by zero");
        }
        const std::int64_t r = JinjaOps::binary("%", value, JinjaValue::integer(divisor)).asInt();
        return name == "odd" ? r != 0 : r == 0;
    }
    const JinjaValue* other = args.get(0, nullptr);
    if (!other)
        throw JinjaError("test '" + name + "' needs an argument");
    if (name == "eq" || name == "equalto" || name == "==")
        return value.equals(*other);
    if (name == "ne" || name == "!=")
        return !value.equals(*other);
    if (name == "sameas") {
        const T t = value.type();
        if (t == T::None || t == T::Undefined || t == T::Bool)
            return value.type() == other->type() && value.equals(*other);
        return false; // identity of other objects is not observable here
    }
    if (name == "in")
        return JinjaOps::contains(*other, value);
    if (name == "lt" || name == "lessthan" || name == "<")
        return JinjaOps::compare(value, *other) < 0;
    if (name == "le" || name == "<=")
        return JinjaOps::compare(value, *other) <= 0;
    if (name == "gt" || name == "greaterthan" || name == ">")
        return JinjaOps::compare(value, *other) > 0;
    if (name == "ge" || name == ">=")
        return JinjaOps::compare(value, *other) >= 0;
    throw JinjaError("no test named '" + name + "'");
}

JinjaDict JinjaFilters::globals()
{
    JinjaDict g;
    g.emplace_back("range", JinjaValue::function("range", [](const JinjaArgs& args) {
        std::int64_t start = 0, stop = 0, step = 1;
        for (const JinjaValue& v : args.positional)
            if (!v.isInt() && !v.isBool())
                throw JinjaError("'" + v.typeName() + "' object cannot be interpreted as an integer");
        if (args.positional.size() == 1) {
            stop = args.positional[0].asInt();
        } else if (args.positional.size() >= 2) {
            start = args.positional[0].asInt();
            stop = args.positional[1].asInt();
            if (args.positional.size() >= 3)
                step = args.positional[2].asInt();
        } else {
            throw JinjaError("range expected at least 1 argument, got 0");
        }
        if (step == 0)
            throw JinjaError("range() arg 3 must not be zero");
        JinjaList out;
        for (std::int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
            if (static_cast<std::int64_t>(out.size()) >= kMaxRange)
                throw JinjaError("range() is too long (more than " + std::to_string(kMaxRange) + " items)");
            out.push_back(JinjaValue::integer(i));
            if ((step > 0 && i > INT64_MAX - step) || (step < 0 && i < INT64_MIN - step))
                break;
        }
        return JinjaValue::list(std::move(out));
    }));
    auto mapping = [](const char* fn, bool ns) {
        return [fn, ns](const JinjaArgs& args) {
            JinjaDict entries;
            if (!args.positional.empty()) {
                const JinjaValue& source = args.positional[0];
                if (!source.isDict())
                    throw JinjaError(std::string(fn) + "() positional argument must be a mapping");
                entries = source.asDict();
            }
            for (const auto& keyword : args.keyword) {
                // Not a structured binding: C++17 lambdas cannot capture those (clang refuses).
                const std::string& key = keyword.first;
                auto it = std::find_if(entries.begin(), entries.end(), [&](const auto& e) { return e.first == key; });
                if (it != entries.end())
                    it->second = keyword.second;
                else
                    entries.emplace_back(key, keyword.second);
            }
            return ns ? JinjaValue::makeNamespace(std::move(entries)) : JinjaValue::dict(std::move(entries));
        };
    };
    g.emplace_back("namespace", JinjaValue::function("namespace", mapping("namespace", true)));
    g.emplace_back("dict", JinjaValue::function("dict", mapping("dict", false)));
    g.emplace_back("raise_exception", JinjaValue::function("raise_exception", [](const JinjaArgs& args) -> JinjaValue {
        const JinjaValue* message = args.get(0, "message");
        throw JinjaRaise(message ? message->toString() : std::string());
    }));
    g.emplace_back("strftime_now", JinjaValue::function("strftime_now", [](const JinjaArgs& args) {
        const JinjaValue* format = args.get(0, "format");
        return JinjaValue::string(strftimeNow(format ? format->toString() : std::string()));
    }));
    return g;
}

} // namespace tb
