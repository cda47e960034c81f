// A Jinja runtime value with Python's semantics, since transformers renders chat templates with
// Jinja2 on CPython: str() of 1.0 is "1.0", of True is "True", of None is "None"; empty strings,
// lists and dicts are falsy; dicts keep insertion order (tool schemas are printed in the order
// the user wrote them).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace tb {

class JinjaValue;
using JinjaList = std::vector<JinjaValue>;
using JinjaDict = std::vector<std::pair<std::string, JinjaValue>>;

// A template-visible error (bad operand types, bad filter arguments, undefined access). The
// evaluator prefixes the line and column of the expression it was evaluating.
class JinjaError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// What one render may build. A chat template formats one conversation, so a value near these
// sizes is a runaway template (a repetition of a repetition, a loop doubling a string, nested
// range() loops) that would otherwise exhaust memory or hang the dataset renderer and the
// playground. Checked on every value the evaluator produces, and before the operations that can
// grow a value beyond the sum of their inputs (repetition, replace, join, indent).
constexpr std::size_t kJinjaMaxStringBytes = std::size_t(16) << 20;
constexpr std::size_t kJinjaMaxListItems = std::size_t(1) << 20;
constexpr std::int64_t kJinjaMaxLoopIterations = 200'000; // per render, all loops together
// Throws JinjaError when `bytes` is past kJinjaMaxStringBytes; `what` names the operation.
void requireJinjaStringSize(std::size_t bytes, const char* what);
void requireJinjaListSize(std::size_t items, const char* what);

// raise_exception("...") called by the template itself: the message is the template's text and
// reaches the user unchanged (it usually explains the conversation format the model expects).
class JinjaRaise : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Arguments of a call, filter, test or method: positional first, then keyword, as Python binds.
struct JinjaArgs {
    std::vector<JinjaValue> positional;
    std::vector<std::pair<std::string, JinjaValue>> keyword;

    // The argument at `index` or named `name`; nullptr when neither was given.
    const JinjaValue* get(std::size_t index, const char* name) const;
};

using JinjaFunction = std::function<JinjaValue(const JinjaArgs&)>;

struct JinjaJsonOptions {
    int indent = -1;               // < 0: one line
    bool ensureAscii = false;      // transformers' tojson defaults to False, unlike json.dumps
    bool sortKeys = false;
    const std::string* itemSeparator = nullptr; // default ", " (one line) or "," (indented)
    const std::string* keySeparator = nullptr;  // default ": "
};

class JinjaValue {
public:
    enum class Type { Undefined, None, Bool, Int, Float, String, List, Dict, Namespace, Function };

    JinjaValue(); // Undefined
    // `hint` is the message of the error raised if the undefined value is used beyond printing
    // and testing, as Jinja's default Undefined does ("'foo' is undefined").
    static JinjaValue undefined(std::string hint = {});
    static JinjaValue none();
    static JinjaValue boolean(bool v);
    static JinjaValue integer(std::int64_t v);
    static JinjaValue floating(double v);
    static JinjaValue string(std::string v);
    static JinjaValue list(JinjaList v, bool tuple = false);
    static JinjaValue dict(JinjaDict v);
    // Jinja's namespace(): the one object a template may mutate (`{% set ns.x = ... %}`).
    static JinjaValue makeNamespace(JinjaDict v);
    static JinjaValue function(std::string name, JinjaFunction fn);

    template <class Json> static JinjaValue fromJson(const Json& j);

    Type type() const { return m_type; }
    bool isUndefined() const { return m_type == Type::Undefined; }
    bool isNone() const { return m_type == Type::None; }
    bool isBool() const { return m_type == Type::Bool; }
    bool isInt() const { return m_type == Type::Int; }
    bool isFloat() const { return m_type == Type::Float; }
    bool isNumber() const { return m_type == Type::Int || m_type == Type::Float || m_type == Type::Bool; }
    bool isString() const { return m_type == Type::String; }
    bool isList() const { return m_type == Type::List; }
    bool isTuple() const { return m_type == Type::List && m_tuple; }
    bool isDict() const { return m_type == Type::Dict; }
    bool isNamespace() const { return m_type == Type::Namespace; }
    bool isFunction() const { return m_type == Type::Function; }

    bool asBool() const { return m_bool; }
    std::int64_t asInt() const; // Bool and Int
    double asFloat() const;     // Bool, Int and Float
    const std::string& asString() const { return m_string; }
    const JinjaList& asList() const;
    const JinjaDict& asDict() const;   // Dict and Namespace
    JinjaDict& mutableNamespace() const;
    const JinjaFunction& asFunction() const;
    const std::string& functionName() const { return m_string; }
    const std::string& undefinedHint() const { return m_string; }

    // Dict/Namespace lookup; nullptr when absent.
    const JinjaValue* find(const std::string& key) const;

    bool truthy() const;
    // Python str(): what {{ value }} prints. Undefined prints as "".
    std::string toString() const;
    // Python repr(), used inside str() of lists and dicts.
    std::string repr() const;
    // Python json.dumps, as transformers' tojson filter calls it.
    std::string toJson(const JinjaJsonOptions& options = {}) const;
    // Python ==.
    bool equals(const JinjaValue& other) const;
    // Python's type name in error messages: 'str', 'int', 'list', 'dict', ...
    std::string typeName() const;
    // Raises the undefined value's error; for operations Jinja's Undefined refuses.
    [[noreturn]] void failUndefined() const;

    static std::string formatFloat(double v);

private:
    Type m_type = Type::Undefined;
    bool m_bool = false;
    bool m_tuple = false;
    std::int64_t m_int = 0;
    double m_float = 0.0;
    std::string m_string; // String value, undefined hint or function name
    std::shared_ptr<JinjaList> m_list;
    std::shared_ptr<JinjaDict> m_dict;
    std::shared_ptr<JinjaFunction> m_function;
};

template <class Json> JinjaValue JinjaValue::fromJson(const Json& j)
{
    if (j.is_null())
        return none();
    if (j.is_boolean())
        return boolean(j.template get<bool>());
    if (j.is_number_unsigned()) {
        const auto u = j.template get<std::uint64_t>();
        // Beyond int64 Python would still have an int; a float is the closest we hold.
        if (u > static_cast<std::uint64_t>(INT64_MAX))
            return floating(static_cast<double>(u));
        return integer(static_cast<std::int64_t>(u));
    }
    if (j.is_number_integer())
        return integer(j.template get<std::int64_t>());
    if (j.is_number_float())
        return floating(j.template get<double>());
    if (j.is_string())
        return string(j.template get<std::string>());
    if (j.is_array()) {
        JinjaList items;
        items.reserve(j.size());
        for (const auto& item : j)
            items.push_back(fromJson(item));
        return list(std::move(items));
    }
    JinjaDict entries;
    entries.reserve(j.size());
    for (auto it = j.begin(); it != j.end(); ++it)
        entries.emplace_back(it.key(), fromJson(it.value()));
    return dict(std::move(entries));
}

} // namespace tb
