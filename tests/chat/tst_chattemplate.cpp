// Known answers for the Jinja subset of engine/chat, written from Jinja2/CPython semantics as
// transformers renders chat templates (trim_blocks and lstrip_blocks on, tojson with
// ensure_ascii=False): one row per construct, whitespace control, syntax errors naming line and
// column, runtime errors, raise_exception, and the reproduced model templates of tests/data/chat.
#include <QTest>

#include <nlohmann/json.hpp>

#include <ctime>
#include <fstream>
#include <sstream>

#include "chat/ChatTemplate.h"
#include "formats/FormatError.h"

using OJson = nlohmann::ordered_json;

Q_DECLARE_METATYPE(std::string)

namespace {

const QString kDataDir = QStringLiteral(TB_TEST_DATA_DIR) + "/chat";

std::string readAll(const QString& path)
{
    std::ifstream in(path.toStdString(), std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

std::string render(const std::string& source, const std::string& context = "{}")
{
    return tb::ChatTemplate::compile(source, "test.jinja").renderOrdered(OJson::parse(context));
}

// What a failing render or compile reports; "" when it succeeds.
std::string errorOf(const std::string& source, const std::string& context = "{}")
{
    try {
        render(source, context);
    } catch (const std::exception& e) {
        return e.what();
    }
    return {};
}

const char* const kMessages = R"({"messages": [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello"},
    {"role": "user", "content": "Bye"}]})";

} // namespace

class TestChatTemplate : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void renders_data();
    void renders();
    void whitespace_data();
    void whitespace();
    void syntaxErrors_data();
    void syntaxErrors();
    void runtimeErrors_data();
    void runtimeErrors();
    void raiseExceptionKeepsText();
    void strftimeNowUsesLocalTime();
    void convenienceRender();
    void unorderedJsonContext();
    void modelTemplates_data();
    void modelTemplates();
    void llama31BuiltinTools();
    void hostileTemplatesFailCleanly();
};

void TestChatTemplate::renders_data()
{
    QTest::addColumn<std::string>("source");
    QTest::addColumn<std::string>("context");
    QTest::addColumn<std::string>("expected");
    auto row = [](const char* name, const char* source, const char* context, const char* expected) {
        QTest::newRow(name) << std::string(source) << std::string(context) << std::string(expected);
    };
    // Values print as Python's str().
    row("text", "plain text", "{}", "plain text");
    row("variable", "{{ name }}!", R"({"name": "Ada"})", "Ada!");
    row("undefined prints empty", "[{{ nothing }}]", "{}", "[]");
    row("undefined is falsy", "{% if nothing %}a{% else %}b{% endif %}", "{}", "b");
    row("none", "{{ none }} {{ None }}", "{}", "None None");
    row("booleans", "{{ true }} {{ False }}", "{}", "True False");
    row("json null and bool", "{{ a }} {{ b }}", R"({"a": null, "b": false})", "None False");
    row("integers", "{{ 42 }} {{ -7 }} {{ 1_000 }}", "{}", "42 -7 1000");
    row("floats like Python", "{{ 1.0 }} {{ 2.50 }} {{ 1e20 }} {{ 1e-5 }} {{ 0.1 + 0.2 }} {{ 1e16 }} {{ 123456789.125 }}",
        "{}", "1.0 2.5 1e+20 1e-05 0.30000000000000004 1e+16 123456789.125");
    row("json numbers", "{{ x }} {{ y }} {{ z }} {{ u }}", R"({"x": 3.0, "y": 0.5, "z": -9223372036854775808, "u": 18446744073709551615})",
        "3.0 0.5 -9223372036854775808 1.8446744073709552e+19");
    row("arithmetic", "{{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 4 / 2 }} {{ 2 ** 10 }} {{ 2 ** -1 }} {{ 1 + 2 * 3 - 4 }}",
        "{}", "3 -4 2 3.5 2.0 1024 0.5 3");
    row("unary", "{{ -x }} {{ +x }} {{ - 1.5 }}", R"({"x": 3})", "-3 3 -1.5");
    row("string plus", "{{ 'a' + 'b' + c }}", R"({"c": "c"})", "abc");
    row("tilde converts", "{{ 'n=' ~ 3 ~ none ~ nothing ~ 1.0 }}", "{}", "n=3None1.0");
    row("tilde binds tighter than plus", "{{ 'a' + 'b' ~ 'c' }}", "{}", "abc");
    row("filter binds tighter than plus", "{{ 'x' + '  y  ' | trim }}", "{}", "xy");
    row("comparisons", "{{ 1 < 2 }} {{ 2 <= 1 }} {{ 'a' < 'b' }} {{ 1 == 1.0 }} {{ 'a' != 'a' }} {{ true == 1 }}", "{}",
        "True False True True False True");
    row("and or return operands", "[{{ 0 or 'x' }}] [{{ '' and 1 }}] [{{ 'a' and 'b' }}] [{{ not '' }}]", "{}",
        "[x] [] [b] [True]");
    row("in and not in", "{{ 'b' in 'abc' }} {{ 2 in [1, 2] }} {{ 'k' in d }} {{ 'z' not in d }} {{ 1 in nothing }}",
        R"({"d": {"k": 1}})", "True True True True False");
    row("ternary", "{{ 'y' if 1 else 'n' }} {{ 'y' if 0 else 'n' }} [{{ 'y' if 0 }}]", "{}", "y n []");
    row("list and dict repr", R"({{ ['a', 1, none, true, 1.5, "it's"] }} {{ {'k': 'v', 'n': [1]} }} {{ (1,) }} {{ (1, 2) }})",
        "{}", R"(['a', 1, None, True, 1.5, "it's"] {'k': 'v', 'n': [1]} (1,) (1, 2))");
    row("string escapes", R"({{ 'a\nb\t\'\"\\\u00e9\x41' }})", "{}", "a\nb\t'\"\\\xc3\xa9" "A");
    row("adjacent strings", "{{ 'a' \"b\" }}", "{}", "ab");
    // Subscripts and attributes.
    row("attribute is item", "{{ m.role }}={{ m['role'] }}", R"({"m": {"role": "user"}})", "user=user");
    row("negative index", "{{ xs[-1] }} {{ xs[0] }}", R"({"xs": [1, 2, 3]})", "3 1");
    row("missing item is undefined", "[{{ xs[5] }}][{{ d.nope }}][{{ d['nope'] }}]", R"({"xs": [1], "d": {}})", "[][][]");
    row("dotted index", "{{ xs.1 }}", R"({"xs": ["a", "b"]})", "b");
    row("slices", "{{ xs[1:] }} {{ xs[:-1] }} {{ xs[::-1] }} {{ xs[::2] }} {{ xs[5:] }} {{ xs[-2:] }}",
        R"({"xs": [1, 2, 3, 4]})", "[2, 3, 4] [1, 2, 3] [4, 3, 2, 1] [1, 3] [] [3, 4]");
    row("string slices by code point", "{{ s[::-1] }} {{ s[1:3] }} {{ s[-1] }} {{ s|length }}", R"({"s": "añ日😀"})",
        "😀日ña ñ日 😀 4");
    row("dict get", "{{ d.get('a') }} {{ d.get('b', 'dflt') }} {{ d.get('b') }}", R"({"d": {"a": 1}})", "1 dflt None");
    row("dict methods", "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %} {{ d.keys()|list }} {{ d.values()|list }}",
        R"({"d": {"z": 1, "a": 2}})", "z=1;a=2; ['z', 'a'] [1, 2]");
    // Tests.
    row("tests", "{{ x is defined }} {{ y is undefined }} {{ n is none }} {{ s is string }} {{ d is mapping }} "
                 "{{ xs is iterable }} {{ xs is sequence }} {{ 1 is number }} {{ t is true }} {{ f is false }} "
                 "{{ 1 is integer }} {{ 1.0 is float }} {{ 6 is divisibleby 3 }} {{ 3 is odd }} {{ 3 is even }} "
                 "{{ s is not string }} {{ 2 is eq(2) }} {{ 'a' is in('abc') }}",
        R"({"x": 0, "n": null, "s": "s", "d": {}, "xs": [], "t": true, "f": false})",
        "True True True True True True True True True True True True True True False False True True");
    // Loops.
    row("loop variables",
        "{% for x in xs %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}"
        "{{ loop.first|int }}{{ loop.last|int }}{{ loop.length }} {% endfor %}",
        R"({"xs": ["a", "b", "c"]})", "1032103 2121003 3210013 ");
    row("previtem nextitem cycle",
        "{% for x in xs %}{{ loop.previtem }}<{{ x }}>{{ loop.nextitem }}{{ loop.cycle('o', 'e') }} {% endfor %}",
        R"({"xs": [1, 2, 3]})", "<1>2o 1<2>3e 2<3>o ");
    row("for else", "{% for x in xs %}{{ x }}{% else %}empty{% endfor %}", R"({"xs": []})", "empty");
    row("for filter", "{% for x in xs if x > 1 %}{{ x }}/{{ loop.length }} {% endfor %}", R"({"xs": [1, 2, 3]})",
        "2/2 3/2 ");
    row("break continue", "{% for x in xs %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 4 %}{% break %}{% endif %}{{ x }}{% endfor %}",
        R"({"xs": [1, 2, 3, 4, 5]})", "13");
    row("nested loops", "{% for a in [1, 2] %}{% set outer = loop %}{% for b in 'xy' %}{{ outer.index }}{{ b }}{% endfor %}{% endfor %}",
        "{}", "1x1y2x2y");
    row("loop over dict keys", "{% for k in d %}{{ k }}{% endfor %}", R"({"d": {"b": 1, "a": 2}})", "ba");
    row("loop over string", "{% for c in 'añ' %}[{{ c }}]{% endfor %}", "{}", "[a][ñ]");
    row("loop over undefined", "{% for x in nothing %}{{ x }}{% endfor %}ok", "{}", "ok");
    row("tuple unpacking", "{% for a, b in [[1, 2], [3, 4]] %}{{ a + b }}{% endfor %}{% set x, y = 'p', 'q' %}{{ y }}{{ x }}",
        "{}", "37qp");
    // Scoping: a loop's set does not leak out; a namespace carries state; if blocks share scope.
    row("loop scope", "{% set v = 'outer' %}{% for x in [1] %}{% set v = 'inner' %}{{ v }}{% endfor %} {{ v }}", "{}",
        "inner outer");
    row("namespace", "{% set ns = namespace(n=0, seen=[]) %}{% for x in [1, 2, 3] %}{% set ns.n = ns.n + x %}{% endfor %}{{ ns.n }}",
        "{}", "6");
    row("if scope", "{% if true %}{% set v = 1 %}{% endif %}{{ v }}", "{}", "1");
    row("elif", "{% for x in [1, 2, 3] %}{% if x == 1 %}a{% elif x == 2 %}b{% else %}c{% endif %}{% endfor %}", "{}", "abc");
    row("reassign context variable", "{% set messages = messages[1:] %}{{ messages|length }}", kMessages, "3");
    row("block set", "{% set block %}Hi {{ name }}{% endset %}[{{ block }}]", R"({"name": "Bo"})", "[Hi Bo]");
    row("macro", "{% macro tag(name, value='x') %}<{{ name }}={{ value }}>{% endmacro %}{{ tag('a') }}{{ tag('b', 'y') }}{{ tag(value=2, name='c') }}",
        "{}", "<a=x><b=y><c=2>");
    row("macro sees globals", "{% macro greet() %}{{ who }}{% endmacro %}{% for x in [1] %}{{ greet() }}{% endfor %}",
        R"({"who": "me"})", "me");
    row("generation tag", "a{% generation %}b{% endgeneration %}c", "{}", "abc");
    // Filters.
    row("trim length case", "[{{ '  a b  '|trim }}] {{ 'abc'|length }} {{ xs|count }} {{ 'aB'|upper }} {{ 'aB'|lower }} "
                            "{{ 'hELLO wORLD'|capitalize }} {{ \"they're 2nd-best\"|title }} {{ 'élan vital'|title }}",
        R"({"xs": [1, 2]})", "[a b] 3 2 AB ab Hello world They'Re 2Nd-Best élan Vital");
    row("trim unicode whitespace", "[{{ s|trim }}]", R"({"s": "\u00a0\u3000 x\u2003\n"})", "[x]");
    row("tojson", "{{ d|tojson }}", R"({"d": {"z": [1, 2.5, "é\n\"", null, true], "a": {}}})",
        R"({"z": [1, 2.5, "é\n\"", null, true], "a": {}})");
    row("tojson indent", "{{ d|tojson(indent=2) }}", R"({"d": {"a": [1, {"b": []}]}})",
        "{\n  \"a\": [\n    1,\n    {\n      \"b\": []\n    }\n  ]\n}");
    row("tojson options", "{{ d|tojson(sort_keys=true) }} {{ 'é'|tojson(ensure_ascii=true) }} {{ d|tojson(separators=(',', ':')) }}",
        R"({"d": {"b": 1, "a": 2}})", R"({"a": 2, "b": 1} "\u00e9" {"b":1,"a":2})");
    row("string int float", "{{ 5|string + 'x' }} {{ '42'|int + 1 }} {{ ' 7 '|int }} {{ '3.9'|int }} {{ 'x'|int }} {{ 'x'|int(9) }} "
                            "{{ 2.7|int }} {{ '1.5'|float }} {{ 3|float }}",
        "{}", "5x 43 7 3 0 9 2 1.5 3.0");
    row("join first last", "{{ xs|join }} {{ xs|join(', ') }} {{ xs|first }} {{ xs|last }} {{ 'abc'|first }} [{{ []|first }}]",
        R"({"xs": ["a", "b", "c"]})", "abc a, b, c a c a []");
    row("default", "{{ nothing|default('d') }} {{ ''|default('d') }} {{ ''|default('d', true) }} {{ none|d('x') }}", "{}",
        "d  d None");
    row("items list", "{% for k, v in d|items %}{{ k }}{{ v }}{% endfor %} {{ 'ab'|list }} {{ d|list }}",
        R"({"d": {"x": 1, "y": 2}})", "x1y2 ['a', 'b'] ['x', 'y']");
    row("selectattr rejectattr map", "{{ messages|selectattr('role', 'equalto', 'user')|map(attribute='content')|join(',') }} "
                                     "{{ messages|rejectattr('role', 'equalto', 'user')|list|length }} "
                                     "{{ messages|selectattr('content')|list|length }} {{ messages|map(attribute='nope', default='-')|join }}",
        kMessages, "Hi,Bye 2 4 ----");
    row("map filter select", "{{ ['a', 'b']|map('upper')|join }} {{ [1, 2, 3, 4]|select('odd')|list }} {{ [1, 2, 3]|reject('eq', 2)|list }}",
        "{}", "AB [1, 3] [1, 3]");
    row("replace escape safe", "{{ 'aaa'|replace('a', 'b', 2) }} {{ '<a href=\"x\">&</a>'|e }} {{ '<b>'|safe }} {{ 'x'|escape }}",
        "{}", "bba &lt;a href=&#34;x&#34;&gt;&amp;&lt;/a&gt; <b> x");
    row("reverse sort unique", "{{ [1, 3, 2]|reverse|list }} {{ 'abc'|reverse }} {{ ['b', 'A', 'c']|sort }} {{ [3, 1, 2]|sort(reverse=true) }} "
                               "{{ ['a', 'A', 'b', 'a']|unique|list }}",
        "{}", "[2, 3, 1] cba ['A', 'b', 'c'] [3, 2, 1] ['a', 'b']");
    row("sum min max abs", "{{ [1, 2, 3]|sum }} {{ [3, 1, 2]|min }} {{ [3, 1, 2]|max }} {{ -3|abs }} {{ (0 - 2.5)|abs }}", "{}",
        "6 1 3 3 2.5");
    row("dictsort indent", "{{ {'b': 1, 'a': 2}|dictsort }} [{{ 'a\nb\n\nc'|indent(2) }}] [{{ 'a\nb'|indent(2, true) }}]", "{}",
        "[('a', 2), ('b', 1)] [a\n  b\n\n  c] [  a\n  b]");
    // String methods follow Python: strip(chars) strips only those characters.
    row("strip methods", "[{{ s.strip() }}] [{{ s.lstrip() }}] [{{ s.rstrip() }}] [{{ t.strip('\\n') }}] [{{ t.lstrip('\\n') }}] "
                         "[{{ 'xxaxx'.strip('x') }}]",
        R"({"s": "  a  ", "t": "\n  b \n"})", "[a] [a  ] [  a] [  b ] [  b \n] [a]");
    row("split", "{{ 'a,b,,c'.split(',') }} {{ ' a  b '.split() }} {{ 'a,b,c'.split(',', 1) }} {{ 'x</think>y'.split('</think>')[-1] }}",
        "{}", "['a', 'b', '', 'c'] ['a', 'b'] ['a', 'b,c'] y");
    row("startswith endswith", "{{ 'hello'.startswith('he') }} {{ 'hello'.endswith('lo') }} {{ 'hello'.startswith(('x', 'h')) }} "
                               "{{ 'hello'.endswith('x') }}",
        "{}", "True True True False");
    row("other str methods", "{{ 'ab'.upper() }} {{ 'AB'.lower() }} {{ 'a b'.title() }} {{ 'aXa'.replace('a', '-') }} {{ 'abc'.find('c') }} "
                             "{{ 'aaa'.count('a') }} {{ '-'.join(['x', 'y']) }} {{ '{} and {name}'.format(1, name='n') }} "
                             "{{ 'a\nb'.splitlines() }} {{ 'ab'.capitalize() }}",
        "{}", "AB ab A B -X- 2 3 x-y 1 and n ['a', 'b'] Ab");
    row("globals", "{{ range(3)|list }} {{ range(1, 7, 2)|list }} {{ dict(a=1) }} {{ namespace(a=1).a }}", "{}",
        "[0, 1, 2] [1, 3, 5] {'a': 1} 1");
}

void TestChatTemplate::renders()
{
    QFETCH(std::string, source);
    QFETCH(std::string, context);
    QFETCH(std::string, expected);
    std::string actual;
    try {
        actual = render(source, context);
    } catch (const std::exception& e) {
        QFAIL(e.what());
    }
    QCOMPARE(QString::fromStdString(actual), QString::fromStdString(expected));
}

void TestChatTemplate::whitespace_data()
{
    QTest::addColumn<std::string>("source");
    QTest::addColumn<std::string>("expected");
    auto row = [](const char* name, const char* source, const char* expected) {
        QTest::newRow(name) << std::string(source) << std::string(expected);
    };
    row("trim_blocks drops the newline after a block tag", "{% if true %}\nA\n{% endif %}\nB", "A\nB");
    row("no trim after an expression", "{{ 'A' }}\nB", "A\nB");
    row("lstrip_blocks drops indentation before a block tag", "x\n    {% if true %}\n    A\n    {% endif %}\ny", "x\n    A\ny");
    row("no lstrip before an expression", "x\n    {{ 'A' }}\ny", "x\n    A\ny");
    row("no lstrip when text precedes the tag", "x  {% if true %}A{% endif %}", "x  A");
    row("lstrip at template start", "  {% if true %}A{% endif %}", "A");
    row("minus strips all whitespace before", "A \n\n  {%- if true %}B{% endif %}", "AB");
    row("minus strips all whitespace after", "{% if true -%}  \n\n B{% endif %}", "B");
    row("expression minus", "A\n  {{- 'B' -}}  \n C", "ABC");
    row("plus keeps indentation", "x\n  {%+ if true %}A{% endif %}", "x\n  A");
    row("plus keeps the newline", "{% if true +%}\nA{% endif %}", "\nA");
    row("comments vanish with trim and lstrip", "A\n  {# note #}\nB", "A\nB");
    row("comment minus", "A  {#- note -#}  B", "AB");
    row("one trailing newline removed", "A\n\n", "A\n");
    row("windows newlines normalised", "A\r\n{% if true %}\r\nB\r\n{% endif %}\r\n", "A\nB\n");
    row("set lines vanish", "{% set a = 1 %}\n{% set b = 2 %}\n{{ a + b }}", "3");
    row("dict literal braces in an expression", "{{ {'a': {'b': 1}}['a']['b'] }}", "1");
}

void TestChatTemplate::whitespace()
{
    QFETCH(std::string, source);
    QFETCH(std::string, expected);
    QCOMPARE(QString::fromStdString(render(source)), QString::fromStdString(expected));
}

void TestChatTemplate::syntaxErrors_data()
{
    QTest::addColumn<std::string>("source");
    QTest::addColumn<std::string>("detail");
    auto row = [](const char* name, const char* source, const char* detail) {
        QTest::newRow(name) << std::string(source) << std::string(detail);
    };
    row("unclosed expression", "ok\n  {{ x ", "line 2, column 3: unexpected end of template: tag is not closed with '}}'");
    row("unclosed block", "{% if x", "line 1, column 1: unexpected end of template: tag is not closed with '%}'");
    row("missing endfor", "{% for x in xs %}\n{{ x }}", "line 2, column 8: unexpected end of template, expected 'endfor' or 'else'");
    row("unknown tag", "a\n{% include 'x' %}", "line 2, column 4: unknown tag 'include' (supported: if, for, set, macro, break, continue, generation)");
    row("unknown filter", "{{ x | frobnicate }}", "line 1, column 8: no filter named 'frobnicate'");
    row("unknown test", "{% if x is frob %}{% endif %}", "line 1, column 12: no test named 'frob'");
    row("dangling operator", "{{ 1 + }}", "line 1, column 8: expected an expression, got '}}'");
    row("unterminated string", "{{ 'abc }}", "line 1, column 4: unterminated string literal");
    row("unclosed comment", "a {# b", "line 1, column 3: unclosed comment: missing '#}'");
    row("stray character", "{{ a ; b }}", "line 1, column 6: unexpected character ';'");
    row("endif without if", "{% endif %}", "line 1, column 4: unknown tag 'endif' (supported: if, for, set, macro, break, continue, generation)");
    row("missing in", "{% for x of xs %}{% endfor %}", "line 1, column 10: expected 'in', got 'of'");
    row("unbalanced paren", "{{ (1 + 2 }}", "line 1, column 11: unexpected '}', expected ')'");
    row("stray closer", "{{ 1 ] }}", "line 1, column 6: unexpected ']'");
}

void TestChatTemplate::syntaxErrors()
{
    QFETCH(std::string, source);
    QFETCH(std::string, detail);
    try {
        tb::ChatTemplate::compile(source, "tokenizer_config.json");
        QFAIL("compiled");
    } catch (const tb::FormatError& e) {
        QCOMPARE(QString::fromStdString(e.file()), QStringLiteral("tokenizer_config.json"));
        QCOMPARE(QString::fromStdString(e.detail()), QString::fromStdString(detail));
    }
}

void TestChatTemplate::runtimeErrors_data()
{
    QTest::addColumn<std::string>("source");
    QTest::addColumn<std::string>("message");
    auto row = [](const char* name, const char* source, const char* message) {
        QTest::newRow(name) << std::string(source) << std::string(message);
    };
    row("attribute of undefined", "\n  {{ foo.bar }}", "test.jinja: line 2, column 9: 'foo' is undefined");
    row("undefined plus string", "{{ foo + 'x' }}", "test.jinja: line 1, column 4: 'foo' is undefined");
    row("str plus int", "{{ 'a' + 1 }}", "test.jinja: line 1, column 4: unsupported operand type(s) for +: 'str' and 'int'");
    row("item of missing key chained", "{% set d = {} %}{{ d.a.b }}", "test.jinja: line 1, column 23: 'dict object' has no attribute 'a'");
    row("not callable", "{{ 'x'() }}", "test.jinja: line 1, column 7: 'str' object is not callable");
    row("set attribute on dict", "{% set d = {} %}{% set d.x = 1 %}", "test.jinja: line 1, column 24: cannot assign attribute on non-namespace object");
    row("division by zero", "{{ 1 // 0 }}", "test.jinja: line 1, column 4: integer division or modulo by zero");
    row("overflow", "{{ 9223372036854775807 + 1 }}", "test.jinja: line 1, column 4: integer overflow");
    row("unpack", "{% set a, b = [1] %}", "test.jinja: line 1, column 8: not enough values to unpack (expected 2, got 1)");
    row("iterate int", "{% for x in 3 %}{% endfor %}", "test.jinja: line 1, column 13: 'int' object is not iterable");
    row("tojson undefined", "{{ foo|tojson }}", "test.jinja: line 1, column 8: Object of type Undefined is not JSON serializable");
}

void TestChatTemplate::runtimeErrors()
{
    QFETCH(std::string, source);
    QFETCH(std::string, message);
    const auto t = tb::ChatTemplate::compile(source, "test.jinja");
    try {
        t.renderOrdered(OJson::object());
        QFAIL("rendered");
    } catch (const tb::ChatTemplateError& e) {
        QCOMPARE(QString::fromStdString(e.what()), QString::fromStdString(message));
    }
}

void TestChatTemplate::raiseExceptionKeepsText()
{
    const auto t = tb::ChatTemplate::compile(
        "{% for m in messages %}{% if (m.role == 'user') != (loop.index0 % 2 == 0) %}"
        "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
        "{{ m.content }}{% endfor %}",
        "mistral");
    QCOMPARE(QString::fromStdString(t.render({{"user", "a"}, {"assistant", "b"}}, false, "", "")), QStringLiteral("ab"));
    try {
        t.render({{"user", "a"}, {"user", "b"}}, false, "", "");
        QFAIL("rendered");
    } catch (const tb::ChatTemplateError& e) {
        QCOMPARE(QString::fromStdString(e.what()),
                 QStringLiteral("Conversation roles must alternate user/assistant/user/assistant/..."));
    }
}

void TestChatTemplate::strftimeNowUsesLocalTime()
{
    const std::time_t now = std::time(nullptr);
    std::tm local{};
    localtime_r(&now, &local);
    char expected[64];
    std::strftime(expected, sizeof expected, "%Y", &local);
    QCOMPARE(QString::fromStdString(render("{{ strftime_now('%Y') }}")), QString::fromLatin1(expected));
    // Llama 3.2 prefers a date_string the caller passes, which keeps renders reproducible.
    const std::string llama32 = readAll(kDataDir + "/llama32_instruct.jinja");
    const std::string out = render(llama32, R"({"messages": [{"role": "user", "content": "Hi"}], "bos_token": "<s>", "date_string": "01 Jan 2025"})");
    QVERIFY(out.find("Today Date: 01 Jan 2025\n") != std::string::npos);
}

void TestChatTemplate::convenienceRender()
{
    const auto t = tb::ChatTemplate::compile(
        "{{ bos_token }}{% for m in messages %}<{{ m.role }}>{{ m.content }}{{ eos_token }}{% endfor %}"
        "{% if add_generation_prompt %}<assistant>{% endif %}{{ unk_token is defined }}",
        "inline");
    QCOMPARE(QString::fromStdString(t.render({{"user", "hi"}}, true, "<s>", "</s>")),
             QStringLiteral("<s><user>hi</s><assistant>False"));
    // Tokens the tokenizer does not define are left undefined, as transformers does.
    QCOMPARE(QString::fromStdString(t.render({{"user", "hi"}}, false, "", "")), QStringLiteral("<user>hiFalse"));
}

void TestChatTemplate::unorderedJsonContext()
{
    const auto t = tb::ChatTemplate::compile("{{ messages[0].content }}|{{ add_generation_prompt }}", "inline");
    const nlohmann::json context = {{"messages", {{{"role", "user"}, {"content", "x"}}}}, {"add_generation_prompt", true}};
    QCOMPARE(QString::fromStdString(t.render(context)), QStringLiteral("x|True"));
    QVERIFY_EXCEPTION_THROWN(t.render(nlohmann::json::array()), tb::ChatTemplateError);
}

void TestChatTemplate::modelTemplates_data()
{
    QTest::addColumn<QString>("file");
    QTest::addColumn<std::string>("context");
    QTest::addColumn<std::string>("expected");
    const std::string chat = R"("messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": " Hello "}, {"role": "user", "content": "Bye"}])";
    auto row = [&](const char* file, const std::string& extra, const char* expected) {
        QTest::newRow(file) << QString(file) << ("{" + chat + extra + "}") << std::string(expected);
    };
    row("gemma2_it.jinja", R"(, "bos_token": "<bos>", "add_generation_prompt": true)",
        "<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\nHello<end_of_turn>\n<start_of_turn>user\nBye<end_of_turn>\n"
        "<start_of_turn>model\n");
    row("mistral_instruct_v03.jinja", R"(, "bos_token": "<s>", "eos_token": "</s>")",
        "<s>[INST] Hi[/INST] Hello</s>[INST] Bye[/INST]");
    row("llama2_chat.jinja", R"(, "bos_token": "<s>", "eos_token": "</s>")",
        "<s>[INST] Hi [/INST] Hello </s><s>[INST] Bye [/INST]");
    row("zephyr_tinyllama.jinja", R"(, "eos_token": "</s>", "add_generation_prompt": true)",
        "<|user|>\nHi</s>\n<|assistant|>\n Hello </s>\n<|user|>\nBye</s>\n<|assistant|>\n");
    row("chatml.jinja", R"(, "add_generation_prompt": false)",
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n Hello <|im_end|>\n<|im_start|>user\nBye<|im_end|>\n");
    row("smollm2_instruct.jinja", R"(, "add_generation_prompt": true)",
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n Hello <|im_end|>\n<|im_start|>user\nBye<|im_end|>\n"
        "<|im_start|>assistant\n");
    row("qwen25_instruct.jinja", R"(, "add_generation_prompt": true)",
        "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n Hello <|im_end|>\n<|im_start|>user\nBye<|im_end|>\n"
        "<|im_start|>assistant\n");
    row("llama31_instruct.jinja", R"(, "bos_token": "<|begin_of_text|>", "add_generation_prompt": true)",
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\n"
        "Today Date: 26 Jul 2024\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\nHello<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

void TestChatTemplate::modelTemplates()
{
    QFETCH(QString, file);
    QFETCH(std::string, context);
    QFETCH(std::string, expected);
    const auto t = tb::ChatTemplate::compile(readAll(kDataDir + "/" + file), file.toStdString());
    QCOMPARE(QString::fromStdString(t.renderOrdered(OJson::parse(context))), QString::fromStdString(expected));
}

void TestChatTemplate::llama31BuiltinTools()
{
    // builtin_tools uses reject() and |items, which @huggingface/jinja lacks, so this path is
    // checked here against the output transformers gives.
    const auto t = tb::ChatTemplate::compile(readAll(kDataDir + "/llama31_instruct.jinja"), "llama31");
    const OJson context = OJson::parse(R"({
        "bos_token": "<|begin_of_text|>", "builtin_tools": ["brave_search", "code_interpreter", "wolfram_alpha"],
        "messages": [{"role": "user", "content": "Search"},
                     {"role": "assistant", "tool_calls": [{"function": {"name": "brave_search", "arguments": {"query": "x", "n": "2"}}}]}]})");
    const std::string expected =
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nEnvironment: ipython\nTools: brave_search, wolfram_alpha\n\n"
        "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nSearch<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
        "<|python_tag|>brave_search.call(query=\"x\", n=\"2\")<|eom_id|>";
    QCOMPARE(QString::fromStdString(t.renderOrdered(context)), QString::fromStdString(expected));
}

void TestChatTemplate::hostileTemplatesFailCleanly()
{
    // Deep nesting is refused at compile time rather than overflowing the stack.
    const std::string deep = "{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}";
    QVERIFY_EXCEPTION_THROWN(tb::ChatTemplate::compile(deep, "deep"), tb::FormatError);
    std::string nestedIfs;
    for (int i = 0; i < 1000; ++i)
        nestedIfs += "{% if true %}";
    QVERIFY_EXCEPTION_THROWN(tb::ChatTemplate::compile(nestedIfs, "ifs"), tb::FormatError);
    // Runaway recursion and huge ranges are runtime errors.
    QVERIFY(errorOf("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}").find("macro calls nested more than") != std::string::npos);
    QVERIFY(errorOf("{{ range(100000000)|length }}").find("range() is too long") != std::string::npos);
    QVERIFY(errorOf("{{ 'ab' * 1000000000 }}").find("repetition count too large") != std::string::npos);
    // Runaway sizes and loops (found by fuzz_chat_template): each step allowed, the product not.
    auto refused = [](const std::string& source, const char* reason) {
        const std::string e = errorOf(source);
        return e.find(reason) != std::string::npos ? QString() : QString::fromStdString(source + " -> " + e);
    };
    const char* const tooBig = "MiB a chat template may build";
    QCOMPARE(refused("{{ ('x' * 100000) * 100000 }}", tooBig), QString());
    QCOMPARE(refused("{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}{% endfor %}", tooBig),
             QString());
    QCOMPARE(refused("{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}", tooBig),
             QString());
    QCOMPARE(refused("{{ ('x' * 100000)|replace('x', 'y' * 1000) }}", tooBig), QString());
    QCOMPARE(refused("{{ 'x'.replace('', 'y' * 100000) * 1 }}{{ ('x' * 1000).replace('', 'y' * 100000) }}", tooBig), QString());
    QCOMPARE(refused("{{ (['y' * 100000] * 1000)|join }}", tooBig), QString());
    QCOMPARE(refused("{{ ['y' * 100000] * 1000 }}", tooBig), QString());
    QCOMPARE(refused("{% for i in range(100000) %}{{ 'y' * 1000 }}{% endfor %}", tooBig), QString());
    QCOMPARE(refused("{{ [1] * 100000 * 100 }}", "items, over the"), QString());
    QCOMPARE(refused("{% for i in range(500) %}{% for j in range(500) %}{% endfor %}{% endfor %}", "loop iterations"),
             QString());
    // Below the limits a large render still works.
    QCOMPARE(tb::ChatTemplate::compile("{{ ('x' * 100000) * 100 }}", "big").renderOrdered(OJson::object()).size(),
             size_t(10'000'000));
    // Bytes that are not UTF-8 survive slicing and count as one character each.
    const OJson context = {{"s", std::string("x\xff") + "y"}};
    QCOMPARE(tb::ChatTemplate::compile("{{ s[1:] }}|{{ s|length }}|{{ s[::-1][::-1] }}", "bytes").renderOrdered(context),
             std::string("\xff" "y|3|x\xff" "y"));
}

QTEST_GUILESS_MAIN(TestChatTemplate)
#include "tst_chattemplate.moc"
