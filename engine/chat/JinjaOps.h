// Python's object model as Jinja exposes it to templates: attribute and item lookup (with
// Jinja's fallback from one to the other and undefined results instead of KeyError), slicing,
// iteration and operators. The str and dict methods chat templates call
// (message.content.split('</think>')[-1].lstrip('\n'), message.get('tool_calls'), ...) are in
// JinjaMethods.
// transformers renders in an ImmutableSandboxedEnvironment, so no method mutates a value.
#pragma once

#include "chat/JinjaValue.h"

#include <string>

namespace tb {

class JinjaOps {
public:
    // obj.name: a method of str/dict first (JinjaMethods), then the key (Jinja's getattr).
    static JinjaValue getAttr(const JinjaValue& obj, const std::string& name);
    // obj[key]: the key or index first, then a method (Jinja's getitem).
    static JinjaValue getItem(const JinjaValue& obj, const JinjaValue& key);
    // obj[start:stop:step] on lists, tuples and strings; null bounds are omitted ones.
    static JinjaValue slice(const JinjaValue& obj, const JinjaValue* start, const JinjaValue* stop,
                            const JinjaValue* step);
    // What `for x in value` visits: list items, dict keys, string characters; undefined is empty.
    static JinjaList iterate(const JinjaValue& value);
    // Arithmetic, comparison, `~`, `in`, `not in` (not `and`/`or`, which short-circuit).
    static JinjaValue binary(const std::string& op, const JinjaValue& a, const JinjaValue& b);
    static JinjaValue unary(const std::string& op, const JinjaValue& a);
    static bool contains(const JinjaValue& container, const JinjaValue& item);
    // Python ordering for <, >, sort, min, max: numbers with numbers, str with str.
    static int compare(const JinjaValue& a, const JinjaValue& b);
    // Python's len(); throws for values without one.
    static std::int64_t length(const JinjaValue& value);
};

} // namespace tb
