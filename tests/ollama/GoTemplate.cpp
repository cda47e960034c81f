#include "GoTemplate.h"

#include <cctype>
#include <functional>
#include <optional>
#include <vector>

namespace tb::test {

using nlohmann::json;

namespace {

[[noreturn]] void fail(const std::string& message)
{
    throw GoTemplateError("template: " + message);
}

bool isTrimSpace(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

// ---- the template split into text and actions ----

struct Item {
    bool action = false;
    std::string text;  // text, or the action's inner text without delimiters and trim markers
};

std::vector<Item> splitItems(const std::string& src)
{
    std::vector<Item> items;
    size_t pos = 0;
    bool trimNext = false;
    while (pos <= src.size()) {
        const size_t open = src.find("{{", pos);
        Item text{false, src.substr(pos, open == std::string::npos ? std::string::npos : open - pos)};
        if (trimNext) {
            size_t k = 0;
            while (k < text.text.size() && isTrimSpace(text.text[k]))
                ++k;
            text.text.erase(0, k);
        }
        if (open == std::string::npos) {
            items.push_back(text);
            break;
        }
        size_t p = open + 2;
        if (p + 1 < src.size() && src[p] == '-' && isTrimSpace(src[p + 1])) {
            while (!text.text.empty() && isTrimSpace(text.text.back()))
                text.text.pop_back();
            ++p;
        }
        items.push_back(text);
        // The action ends at the first "}}" outside a string literal or comment.
        size_t q = p;
        for (;;) {
            if (q + 1 >= src.size())
                fail("unclosed action");
            const char c = src[q];
            if (c == '"') {
                for (++q; q < src.size() && src[q] != '"'; ++q)
                    if (src[q] == '\\')
                        ++q;
                if (q >= src.size())
                    fail("unterminated quoted string");
                ++q;
            } else if (c == '`') {
                q = src.find('`', q + 1);
                if (q == std::string::npos)
                    fail("unterminated raw quoted string");
                ++q;
            } else if (c == '/' && src[q + 1] == '*') {
                q = src.find("*/", q + 2);
                if (q == std::string::npos)
                    fail("unclosed comment");
                q += 2;
            } else if (c == '}' && src[q + 1] == '}') {
                break;
            } else {
                ++q;
            }
        }
        std::string inner = src.substr(p, q - p);
        trimNext = inner.size() >= 2 && inner.back() == '-' && isTrimSpace(inner[inner.size() - 2]);
        if (trimNext)
            inner.pop_back();
        items.push_back({true, inner});
        pos = q + 2;
    }
    return items;
}

// ---- tokens of one action ----

enum class Tok { Ident, Field, Var, String, Number, LParen, RParen, Declare, Assign, Comma, Pipe };

struct Token {
    Tok kind;
    std::string text;                 // Ident: name; Var: "$" or "$name"; String: the value
    std::vector<std::string> fields;  // Field and Var: the .Field chain
    long long number = 0;
    bool spaceBefore = false;
};

bool isIdentChar(char c)
{
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}

void appendUtf8(std::string& out, uint32_t cp)
{
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xc0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xe0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
        out += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
        out += static_cast<char>(0xf0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
        out += static_cast<char>(0x80 | (cp & 0x3f));
    }
}

// A Go interpreted string literal's body (between the quotes).
std::string unescapeGo(const std::string& body)
{
    std::string out;
    for (size_t i = 0; i < body.size(); ++i) {
        if (body[i] != '\\') {
            out += body[i];
            continue;
        }
        if (++i >= body.size())
            fail("bad escape in string");
        const char e = body[i];
        auto hexDigits = [&](int count) {
            const std::string digits = body.substr(i + 1, count);
            if (digits.size() != static_cast<size_t>(count) ||
                digits.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos)
                fail("bad escape in string");
            i += count;
            return static_cast<uint32_t>(std::stoul(digits, nullptr, 16));
        };
        switch (e) {
        case 'n': out += '\n'; break;
        case 't': out += '\t'; break;
        case 'r': out += '\r'; break;
        case 'a': out += '\a'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'v': out += '\v'; break;
        case '\\': out += '\\'; break;
        case '"': out += '"'; break;
        case 'x': out += static_cast<char>(hexDigits(2)); break;
        case 'u': appendUtf8(out, hexDigits(4)); break;
        case 'U': appendUtf8(out, hexDigits(8)); break;
        default: fail(std::string("unknown escape \\") + e + " in string");
        }
    }
    return out;
}

std::vector<std::string> fieldChain(const std::string& s, size_t& i)
{
    std::vector<std::string> fields;
    while (i < s.size() && s[i] == '.') {
        size_t j = i + 1;
        while (j < s.size() && isIdentChar(s[j]))
            ++j;
        if (j == i + 1)
            break;  // a lone "." ends the chain
        fields.push_back(s.substr(i + 1, j - i - 1));
        i = j;
    }
    return fields;
}

std::vector<Token> tokenize(const std::string& s)
{
    std::vector<Token> out;
    size_t i = 0;
    bool space = false;
    while (i < s.size()) {
        const char c = s[i];
        if (isTrimSpace(c)) {
            space = true;
            ++i;
            continue;
        }
        Token t{Tok::Ident, {}, {}, 0, space};
        space = false;
        if (c == '.') {
            t.kind = Tok::Field;
            t.fields = fieldChain(s, i);
            if (t.fields.empty())
                ++i;  // dot itself
        } else if (c == '$') {
            size_t j = i + 1;
            while (j < s.size() && isIdentChar(s[j]))
                ++j;
            t.kind = Tok::Var;
            t.text = s.substr(i, j - i);
            i = j;
            t.fields = fieldChain(s, i);
        } else if (c == '"') {
            size_t j = i + 1;
            for (; j < s.size() && s[j] != '"'; ++j)
                if (s[j] == '\\')
                    ++j;
            t.kind = Tok::String;
            t.text = unescapeGo(s.substr(i + 1, j - i - 1));
            i = j + 1;
        } else if (c == '`') {
            const size_t j = s.find('`', i + 1);
            t.kind = Tok::String;
            t.text = s.substr(i + 1, j - i - 1);
            i = j + 1;
        } else if (std::isdigit(static_cast<unsigned char>(c)) ||
                   (c == '-' && i + 1 < s.size() && std::isdigit(static_cast<unsigned char>(s[i + 1])))) {
            size_t j = i + 1;
            while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j])))
                ++j;
            if (j < s.size() && (isIdentChar(s[j]) || s[j] == '.'))
                fail("unsupported number \"" + s.substr(i) + "\"");
            t.kind = Tok::Number;
            t.number = std::stoll(s.substr(i, j - i));
            i = j;
        } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
            size_t j = i;
            while (j < s.size() && isIdentChar(s[j]))
                ++j;
            t.text = s.substr(i, j - i);
            i = j;
        } else if (c == ':' && i + 1 < s.size() && s[i + 1] == '=') {
            t.kind = Tok::Declare;
            i += 2;
        } else if (c == '=') {
            t.kind = Tok::Assign;
            ++i;
        } else if (c == '(' || c == ')' || c == ',' || c == '|') {
            t.kind = c == '(' ? Tok::LParen : c == ')' ? Tok::RParen : c == ',' ? Tok::Comma : Tok::Pipe;
            ++i;
        } else {
            fail(std::string("unexpected \"") + c + "\" in action");
        }
        out.push_back(std::move(t));
    }
    return out;
}

// ---- the parse tree ----

struct Pipeline;

struct Operand {
    enum Kind { Field, Var, Literal, Function, Sub } kind = Literal;
    std::vector<std::string> fields;  // Field: from dot; Var and Sub: after the value
    std::string name;                 // Var: "$name"; Function: its name
    json literal;
    std::shared_ptr<Pipeline> sub;
};

struct Command {
    std::vector<Operand> operands;
};

struct Pipeline {
    std::vector<std::string> variables;  // declared or assigned: "$x", or "$i", "$v" for range
    bool declares = false;
    bool assigns = false;
    std::vector<Command> commands;
};

struct Node {
    enum Kind { Text, Action, If, Range } kind = Text;
    std::string text;
    Pipeline pipeline;
    std::vector<Node> body, elseBody;
};

} // namespace

struct GoTemplate::Tree {
    std::vector<Node> nodes;
};

namespace {

class ActionParser {
public:
    explicit ActionParser(std::vector<Token> tokens) : m_tokens(std::move(tokens)) {}

    bool atEnd() const { return m_pos >= m_tokens.size(); }
    const Token& peek() const { return m_tokens[m_pos]; }
    bool peekIdent(const char* name) const
    {
        return !atEnd() && peek().kind == Tok::Ident && peek().text == name;
    }
    void skip() { ++m_pos; }

    Pipeline pipeline(bool allowTwoVariables)
    {
        Pipeline p;
        // $x :=  /  $x =  /  $i, $v :=
        const size_t start = m_pos;
        if (!atEnd() && peek().kind == Tok::Var && peek().fields.empty()) {
            std::vector<std::string> vars{peek().text};
            size_t k = m_pos + 1;
            if (allowTwoVariables && k + 1 < m_tokens.size() && m_tokens[k].kind == Tok::Comma &&
                m_tokens[k + 1].kind == Tok::Var) {
                vars.push_back(m_tokens[k + 1].text);
                k += 2;
            }
            if (k < m_tokens.size() && (m_tokens[k].kind == Tok::Declare || m_tokens[k].kind == Tok::Assign)) {
                p.variables = vars;
                p.declares = m_tokens[k].kind == Tok::Declare;
                p.assigns = !p.declares;
                m_pos = k + 1;
            } else {
                m_pos = start;
            }
        }
        for (;;) {
            p.commands.push_back(command());
            if (!atEnd() && peek().kind == Tok::Pipe) {
                skip();
                continue;
            }
            break;
        }
        return p;
    }

private:
    Command command()
    {
        Command c;
        while (!atEnd() && peek().kind != Tok::Pipe && peek().kind != Tok::RParen)
            c.operands.push_back(operand(c.operands.empty()));
        if (c.operands.empty())
            fail("missing value for command");
        return c;
    }

    Operand operand(bool first)
    {
        const Token t = peek();
        skip();
        Operand o;
        switch (t.kind) {
        case Tok::Field: o.kind = Operand::Field; o.fields = t.fields; break;
        case Tok::Var: o.kind = Operand::Var; o.name = t.text; o.fields = t.fields; break;
        case Tok::String: o.literal = t.text; break;
        case Tok::Number: o.literal = t.number; break;
        case Tok::Ident:
            if (t.text == "true" || t.text == "false") {
                o.literal = t.text == "true";
            } else if (t.text == "nil") {
                o.literal = nullptr;
            } else {
                if (!first)
                    fail("function \"" + t.text + "\" as an argument needs parentheses");
                o.kind = Operand::Function;
                o.name = t.text;
            }
            break;
        case Tok::LParen: {
            o.kind = Operand::Sub;
            o.sub = std::make_shared<Pipeline>(pipeline(false));
            if (atEnd() || peek().kind != Tok::RParen)
                fail("unclosed left paren");
            skip();
            if (!atEnd() && peek().kind == Tok::Field && !peek().spaceBefore) {
                o.fields = peek().fields;
                skip();
            }
            break;
        }
        default: fail("unexpected \"" + t.text + "\" in operand");
        }
        return o;
    }

    std::vector<Token> m_tokens;
    size_t m_pos = 0;
};

// How a list of nodes ended.
struct Stop {
    enum Kind { Eof, End, Else, ElseIf } kind = Eof;
    Pipeline elseIfCondition;
};

class TreeParser {
public:
    explicit TreeParser(std::vector<Item> items) : m_items(std::move(items)) {}

    std::vector<Node> list(Stop& stop)
    {
        std::vector<Node> nodes;
        while (m_pos < m_items.size()) {
            const Item& item = m_items[m_pos++];
            if (!item.action) {
                if (!item.text.empty())
                    nodes.push_back({Node::Text, item.text, {}, {}, {}});
                continue;
            }
            std::string inner = item.text;
            size_t a = inner.find_first_not_of(" \t\r\n");
            if (a != std::string::npos && inner.compare(a, 2, "/*") == 0) {
                size_t b = inner.find_last_not_of(" \t\r\n");
                if (inner.compare(b - 1, 2, "*/") != 0)
                    fail("comment ends before closing delimiter");
                continue;
            }
            ActionParser p(tokenize(inner));
            if (p.atEnd())
                fail("missing value for command");
            if (p.peekIdent("end")) {
                p.skip();
                expectEnd(p, "end");
                stop.kind = Stop::End;
                return nodes;
            }
            if (p.peekIdent("else")) {
                p.skip();
                if (p.peekIdent("if")) {
                    p.skip();
                    stop.kind = Stop::ElseIf;
                    stop.elseIfCondition = p.pipeline(false);
                    expectEnd(p, "else if");
                } else {
                    expectEnd(p, "else");
                    stop.kind = Stop::Else;
                }
                return nodes;
            }
            if (p.peekIdent("if")) {
                p.skip();
                Pipeline condition = p.pipeline(false);
                expectEnd(p, "if");
                nodes.push_back(ifRest(std::move(condition)));
                continue;
            }
            if (p.peekIdent("range")) {
                p.skip();
                Node n;
                n.kind = Node::Range;
                n.pipeline = p.pipeline(true);
                expectEnd(p, "range");
                if (n.pipeline.assigns)
                    fail("range can only declare variables");
                Stop s;
                n.body = list(s);
                if (s.kind == Stop::Else) {
                    n.elseBody = list(s);
                    if (s.kind != Stop::End)
                        fail("unexpected EOF in range");
                } else if (s.kind != Stop::End) {
                    fail("unexpected EOF or else if in range");
                }
                nodes.push_back(std::move(n));
                continue;
            }
            for (const char* keyword : {"with", "define", "template", "block", "break", "continue"})
                if (p.peekIdent(keyword))
                    fail(std::string("\"") + keyword + "\" is not supported by this renderer");
            Node n;
            n.kind = Node::Action;
            n.pipeline = p.pipeline(false);
            expectEnd(p, "command");
            nodes.push_back(std::move(n));
        }
        stop.kind = Stop::Eof;
        return nodes;
    }

private:
    static void expectEnd(ActionParser& p, const char* what)
    {
        if (!p.atEnd())
            fail(std::string("unexpected \"") + p.peek().text + "\" in " + what);
    }

    Node ifRest(Pipeline condition)
    {
        Node n;
        n.kind = Node::If;
        n.pipeline = std::move(condition);
        Stop s;
        n.body = list(s);
        if (s.kind == Stop::ElseIf) {
            n.elseBody.push_back(ifRest(std::move(s.elseIfCondition)));
        } else if (s.kind == Stop::Else) {
            n.elseBody = list(s);
            if (s.kind != Stop::End)
                fail("expected end after else");
        } else if (s.kind != Stop::End) {
            fail("unexpected EOF in if");
        }
        return n;
    }

    std::vector<Item> m_items;
    size_t m_pos = 0;
};

// ---- execution ----

bool truth(const json& v)
{
    switch (v.type()) {
    case json::value_t::boolean: return v.get<bool>();
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return v.get<long long>() != 0;
    case json::value_t::number_float: return v.get<double>() != 0.0;
    case json::value_t::string: return !v.get_ref<const std::string&>().empty();
    case json::value_t::array:
    case json::value_t::object: return !v.empty();
    default: return false;
    }
}

std::string kindName(const json& v)
{
    return v.is_number() ? "number" : v.type_name();
}

bool basicEqual(const json& a, const json& b)
{
    if (a.is_number() && b.is_number())
        return a.get<long long>() == b.get<long long>();
    if (a.is_string() && b.is_string())
        return a == b;
    if (a.is_boolean() && b.is_boolean())
        return a == b;
    fail("incompatible types for comparison: " + kindName(a) + " and " + kindName(b));
}

int basicCompare(const json& a, const json& b)
{
    if (a.is_number() && b.is_number()) {
        const long long x = a.get<long long>(), y = b.get<long long>();
        return x < y ? -1 : x > y ? 1 : 0;
    }
    if (a.is_string() && b.is_string()) {
        const int c = a.get_ref<const std::string&>().compare(b.get_ref<const std::string&>());
        return c < 0 ? -1 : c > 0 ? 1 : 0;
    }
    fail("incompatible types for comparison: " + kindName(a) + " and " + kindName(b));
}

long long indexArgument(const json& v)
{
    if (!v.is_number_integer())
        fail("cannot index with " + kindName(v));
    return v.get<long long>();
}

class Executor {
public:
    explicit Executor(const json& root) { m_vars.emplace_back("$", root); }

    void run(const std::vector<Node>& nodes, const json& dot, std::string& out)
    {
        const size_t mark = m_vars.size();
        for (const Node& n : nodes)
            runNode(n, dot, out);
        m_vars.resize(mark);
    }

private:
    void runNode(const Node& n, const json& dot, std::string& out)
    {
        switch (n.kind) {
        case Node::Text: out += n.text; return;
        case Node::Action: {
            const json v = evalPipeline(n.pipeline, dot);
            if (n.pipeline.variables.empty())
                out += printed(v);
            return;
        }
        case Node::If: {
            const size_t mark = m_vars.size();
            const json v = evalPipeline(n.pipeline, dot);
            run(truth(v) ? n.body : n.elseBody, dot, out);
            m_vars.resize(mark);
            return;
        }
        case Node::Range: {
            Pipeline values = n.pipeline;
            values.variables.clear();
            values.declares = false;
            const json v = evalPipeline(values, dot);
            if (v.is_null() || (v.is_array() && v.empty())) {
                run(n.elseBody, dot, out);
                return;
            }
            if (!v.is_array())
                fail("range can't iterate over " + kindName(v));
            const std::vector<std::string>& names = n.pipeline.variables;
            for (size_t i = 0; i < v.size(); ++i) {
                const size_t mark = m_vars.size();
                if (names.size() == 2) {
                    m_vars.emplace_back(names[0], json(static_cast<long long>(i)));
                    m_vars.emplace_back(names[1], v[i]);
                } else if (names.size() == 1) {
                    m_vars.emplace_back(names[0], v[i]);
                }
                run(n.body, v[i], out);
                m_vars.resize(mark);
            }
            return;
        }
        }
    }

    static std::string printed(const json& v)
    {
        switch (v.type()) {
        case json::value_t::string: return v.get<std::string>();
        case json::value_t::boolean: return v.get<bool>() ? "true" : "false";
        case json::value_t::number_integer:
        case json::value_t::number_unsigned: return std::to_string(v.get<long long>());
        case json::value_t::null: return "<no value>";
        default: fail("cannot print a value of type " + kindName(v));
        }
    }

    json& variable(const std::string& name)
    {
        for (auto it = m_vars.rbegin(); it != m_vars.rend(); ++it)
            if (it->first == name)
                return it->second;
        fail("undefined variable \"" + name + "\"");
    }

    static json fieldsOf(json v, const std::vector<std::string>& fields)
    {
        for (const std::string& f : fields) {
            if (!v.is_object())
                fail("can't evaluate field " + f + " in type " + kindName(v));
            auto it = v.find(f);
            if (it == v.end())
                fail("can't evaluate field " + f + ": no such field");
            v = *it;
        }
        return v;
    }

    json evalPipeline(const Pipeline& p, const json& dot)
    {
        json value;
        bool piped = false;
        for (const Command& c : p.commands) {
            value = evalCommand(c, dot, piped ? &value : nullptr);
            piped = true;
        }
        if (p.declares) {
            m_vars.emplace_back(p.variables.front(), value);
        } else if (p.assigns) {
            variable(p.variables.front()) = value;
        }
        return value;
    }

    json evalOperand(const Operand& o, const json& dot)
    {
        switch (o.kind) {
        case Operand::Field: return fieldsOf(dot, o.fields);
        case Operand::Var: return fieldsOf(variable(o.name), o.fields);
        case Operand::Literal: return o.literal;
        case Operand::Sub: return fieldsOf(evalPipeline(*o.sub, dot), o.fields);
        case Operand::Function: fail("function \"" + o.name + "\" used as a value");
        }
        return {};
    }

    json evalCommand(const Command& c, const json& dot, const json* piped)
    {
        const Operand& head = c.operands.front();
        if (head.kind != Operand::Function) {
            if (c.operands.size() > 1 || piped)
                fail("can't give argument to non-function");
            return evalOperand(head, dot);
        }
        // Arguments, evaluated on demand (and/or stop early).
        std::vector<std::function<json()>> args;
        for (size_t i = 1; i < c.operands.size(); ++i) {
            const Operand* o = &c.operands[i];
            args.push_back([this, o, &dot] { return evalOperand(*o, dot); });
        }
        if (piped) {
            const json last = *piped;
            args.push_back([last] { return last; });
        }
        return call(head.name, args);
    }

    static json call(const std::string& name, const std::vector<std::function<json()>>& args)
    {
        auto need = [&](size_t count, bool atLeast) {
            if (atLeast ? args.size() < count : args.size() != count)
                fail("wrong number of args for " + name + ": want " + (atLeast ? "at least " : "") +
                     std::to_string(count) + " got " + std::to_string(args.size()));
        };
        if (name == "and" || name == "or") {
            need(1, true);
            json v;
            for (const auto& arg : args) {
                v = arg();
                if (truth(v) == (name == "or"))
                    return v;
            }
            return v;
        }
        if (name == "not") {
            need(1, false);
            return !truth(args[0]());
        }
        if (name == "eq") {
            need(2, true);
            const json a = args[0]();
            for (size_t i = 1; i < args.size(); ++i)
                if (basicEqual(a, args[i]()))
                    return true;
            return false;
        }
        if (name == "ne") {
            need(2, false);
            return !basicEqual(args[0](), args[1]());
        }
        if (name == "lt" || name == "le" || name == "gt" || name == "ge") {
            need(2, false);
            const int c = basicCompare(args[0](), args[1]());
            return name == "lt" ? c < 0 : name == "le" ? c <= 0 : name == "gt" ? c > 0 : c >= 0;
        }
        if (name == "len") {
            need(1, false);
            const json v = args[0]();
            if (v.is_string())
                return static_cast<long long>(v.get_ref<const std::string&>().size());
            if (v.is_array() || v.is_object())
                return static_cast<long long>(v.size());
            fail("len of type " + kindName(v));
        }
        if (name == "slice") {
            need(1, true);
            const json v = args[0]();
            if (args.size() > 3)
                fail("too many slice indexes");
            const long long size = v.is_string() ? static_cast<long long>(v.get_ref<const std::string&>().size())
                                   : v.is_array() ? static_cast<long long>(v.size())
                                                  : -1;
            if (size < 0)
                fail("can't slice item of type " + kindName(v));
            const long long from = args.size() > 1 ? indexArgument(args[1]()) : 0;
            const long long to = args.size() > 2 ? indexArgument(args[2]()) : size;
            if (from < 0 || to < from || to > size)
                fail("slice index out of range");
            if (v.is_string())
                return v.get_ref<const std::string&>().substr(from, to - from);
            return json(std::vector<json>(v.begin() + from, v.begin() + to));
        }
        if (name == "index") {
            need(1, true);
            json v = args[0]();
            for (size_t i = 1; i < args.size(); ++i) {
                const json key = args[i]();
                if (v.is_array()) {
                    const long long k = indexArgument(key);
                    if (k < 0 || k >= static_cast<long long>(v.size()))
                        fail("index out of range: " + std::to_string(k));
                    v = json(v[k]);
                } else if (v.is_object() && key.is_string()) {
                    auto it = v.find(key.get<std::string>());
                    v = it == v.end() ? json() : json(*it);
                } else {
                    fail("can't index item of type " + kindName(v));
                }
            }
            return v;
        }
        fail("function \"" + name + "\" not defined");
    }

    std::vector<std::pair<std::string, json>> m_vars;  // innermost last; "$" is the data
};

} // namespace

GoTemplate GoTemplate::parse(const std::string& text)
{
    TreeParser parser(splitItems(text));
    Stop stop;
    auto tree = std::make_shared<Tree>();
    tree->nodes = parser.list(stop);
    if (stop.kind == Stop::End)
        fail("unexpected {{end}}");
    if (stop.kind != Stop::Eof)
        fail("unexpected {{else}}");
    return GoTemplate(std::move(tree));
}

std::string GoTemplate::execute(const json& data) const
{
    std::string out;
    Executor(data).run(m_tree->nodes, data, out);
    return out;
}

} // namespace tb::test
