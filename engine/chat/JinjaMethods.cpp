#include "chat/JinjaMethods.h"

#include "chat/JinjaOps.h"
#include "chat/JinjaText.h"

namespace tb {

namespace {

const char* const kStringMethods[] = {"strip",   "lstrip",     "rstrip",  "split", "startswith", "endswith",
                                      "upper",   "lower",      "title",   "capitalize", "replace", "find",
                                      "count",   "join",       "format",  "splitlines", "isdigit", "isspace",
                                      "isalpha", "isalnum",    "islower", "isupper", "rsplit"};
const char* const kDictMethods[] = {"get", "items", "keys", "values"};

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

bool JinjaMethods::bind(const JinjaValue& obj, const std::string& name, JinjaValue& out)
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

JinjaValue JinjaMethods::stringMethod(const std::string& self, const std::string& name, const JinjaArgs& args)
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
        for (const JinjaValue& item : JinjaOps::iterate(*items)) {
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

JinjaValue JinjaMethods::dictMethod(const JinjaValue& self, const std::string& name, const JinjaArgs& args)
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

} // namespace tb
