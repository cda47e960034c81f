#include "chat/JinjaEvaluator.h"

#include "chat/ChatTemplate.h"
#include "chat/JinjaFilters.h"
#include "chat/JinjaOps.h"

namespace tb {

namespace {

// Recursive macros would otherwise exhaust the stack.
constexpr int kMaxCallDepth = 64;

} // namespace

JinjaEvaluator::JinjaEvaluator(std::string sourceName)
    : m_sourceName(std::move(sourceName)), m_root(std::make_shared<Scope>()), m_scope(m_root)
{
    for (auto& [name, value] : JinjaFilters::globals())
        m_root->vars[name] = value;
}

void JinjaEvaluator::setGlobal(const std::string& name, JinjaValue value)
{
    m_root->vars[name] = std::move(value);
}

std::string JinjaEvaluator::render(const JinjaBody& body)
{
    std::string out;
    m_loopIterations = 0;
    try {
        execBody(body, out);
    } catch (const JinjaRaise& e) {
        throw ChatTemplateError(e.what());
    } catch (const ChatTemplateError&) {
        throw;
    } catch (const std::exception& e) {
        throw ChatTemplateError(m_sourceName + ": line " + std::to_string(m_pos.line) + ", column "
                                + std::to_string(m_pos.column) + ": " + e.what());
    }
    return out;
}

JinjaEvaluator::Flow JinjaEvaluator::execBody(const JinjaBody& body, std::string& out)
{
    for (const JinjaNodePtr& node : body) {
        const Flow flow = exec(*node, out);
        if (flow != Flow::Normal)
            return flow;
    }
    return Flow::Normal;
}

JinjaEvaluator::Flow JinjaEvaluator::exec(const JinjaNode& node, std::string& out)
{
    m_pos = node.pos;
    switch (node.kind) {
    case JinjaNode::Kind::Text:
        out += node.text;
        checkOutput(out);
        break;
    case JinjaNode::Kind::Output:
        out += eval(*node.expr).toString();
        checkOutput(out);
        break;
    case JinjaNode::Kind::If:
        for (const auto& [cond, branch] : node.branches) {
            if (!cond || eval(*cond).truthy())
                return execBody(branch, out);
        }
        break;
    case JinjaNode::Kind::For: execFor(node, out); break;
    case JinjaNode::Kind::Set: assign(*node.target, eval(*node.expr)); break;
    case JinjaNode::Kind::SetBlock: {
        std::string captured;
        execBody(node.body, captured);
        assign(*node.target, JinjaValue::string(std::move(captured)));
        break;
    }
    case JinjaNode::Kind::Macro: m_scope->vars[node.text] = makeMacro(node); break;
    case JinjaNode::Kind::Break: return Flow::Break;
    case JinjaNode::Kind::Continue: return Flow::Continue;
    }
    return Flow::Normal;
}

void JinjaEvaluator::execFor(const JinjaNode& node, std::string& out)
{
    JinjaList source = JinjaOps::iterate(eval(*node.expr));
    auto loopScope = std::make_shared<Scope>();
    loopScope->parent = m_scope;
    struct Restore {
        JinjaEvaluator* self;
        std::shared_ptr<Scope> saved;
        ~Restore() { self->m_scope = saved; }
    } restore{this, m_scope};
    m_scope = loopScope;

    // `for x in xs if cond`: filtered before the loop runs, so loop.length counts only kept items.
    JinjaList items;
    if (node.filter) {
        for (const JinjaValue& item : source) {
            countLoopIteration();
            assign(*node.target, item);
            if (eval(*node.filter).truthy())
                items.push_back(item);
        }
    } else {
        items = std::move(source);
    }

    const auto length = static_cast<std::int64_t>(items.size());
    for (std::int64_t i = 0; i < length; ++i) {
        countLoopIteration();
        const auto index = static_cast<std::size_t>(i);
        JinjaDict loop;
        loop.emplace_back("index", JinjaValue::integer(i + 1));
        loop.emplace_back("index0", JinjaValue::integer(i));
        loop.emplace_back("revindex", JinjaValue::integer(length - i));
        loop.emplace_back("revindex0", JinjaValue::integer(length - i - 1));
        loop.emplace_back("first", JinjaValue::boolean(i == 0));
        loop.emplace_back("last", JinjaValue::boolean(i == length - 1));
        loop.emplace_back("length", JinjaValue::integer(length));
        loop.emplace_back("depth", JinjaValue::integer(1));
        loop.emplace_back("depth0", JinjaValue::integer(0));
        loop.emplace_back("previtem", i > 0 ? items[index - 1] : JinjaValue::undefined("there is no previous item"));
        loop.emplace_back("nextitem", i + 1 < length ? items[index + 1] : JinjaValue::undefined("there is no next item"));
        loop.emplace_back("cycle", JinjaValue::function("loop.cycle", [i](const JinjaArgs& args) {
            if (args.positional.empty())
                throw JinjaError("no items for cycling given");
            return args.positional[static_cast<std::size_t>(i) % args.positional.size()];
        }));
        loopScope->vars["loop"] = JinjaValue::dict(std::move(loop));
        assign(*node.target, items[index]);
        if (execBody(node.body, out) == Flow::Break)
            break;
    }
    if (items.empty())
        execBody(node.elseBody, out);
}

void JinjaEvaluator::assign(const JinjaExpr& target, const JinjaValue& value)
{
    switch (target.kind) {
    case JinjaExpr::Kind::Name: m_scope->vars[target.name] = value; return;
    case JinjaExpr::Kind::Tuple: {
        const JinjaList items = JinjaOps::iterate(value);
        const std::size_t expected = target.children.size();
        if (items.size() != expected) {
            m_pos = target.pos;
            if (items.size() > expected)
                throw JinjaError("too many values to unpack (expected " + std::to_string(expected) + ")");
            throw JinjaError("not enough values to unpack (expected " + std::to_string(expected) + ", got "
                             + std::to_string(items.size()) + ")");
        }
        for (std::size_t i = 0; i < expected; ++i)
            assign(*target.children[i], items[i]);
        return;
    }
    case JinjaExpr::Kind::Attr: {
        const JinjaValue object = eval(*target.children[0]);
        m_pos = target.pos;
        if (!object.isNamespace())
            throw JinjaError("cannot assign attribute on non-namespace object");
        JinjaDict& entries = object.mutableNamespace();
        for (auto& entry : entries) {
            if (entry.first == target.name) {
                entry.second = value;
                return;
            }
        }
        entries.emplace_back(target.name, value);
        return;
    }
    default: throw JinjaError("cannot assign to this expression");
    }
}

JinjaValue JinjaEvaluator::makeMacro(const JinjaNode& node)
{
    const JinjaNode* macro = &node;
    return JinjaValue::function(node.text, [this, macro](const JinjaArgs& args) {
        if (m_callDepth >= kMaxCallDepth)
            throw JinjaError("macro calls nested more than " + std::to_string(kMaxCallDepth) + " deep");
        if (args.positional.size() > macro->params.size())
            throw JinjaError("macro '" + macro->text + "' takes not more than " + std::to_string(macro->params.size())
                             + " argument(s)");
        for (const auto& kw : args.keyword)
            if (std::find(macro->params.begin(), macro->params.end(), kw.first) == macro->params.end())
                throw JinjaError("macro '" + macro->text + "' takes no keyword argument '" + kw.first + "'");
        // Macros see the template's globals, not the caller's locals.
        auto scope = std::make_shared<Scope>();
        scope->parent = m_root;
        const std::shared_ptr<Scope> saved = m_scope;
        const JinjaPos savedPos = m_pos;
        m_scope = scope;
        ++m_callDepth;
        std::string out;
        try {
            for (std::size_t i = 0; i < macro->params.size(); ++i) {
                const JinjaValue* given = args.get(i, macro->params[i].c_str());
                if (given)
                    scope->vars[macro->params[i]] = *given;
                else if (macro->paramDefaults[i])
                    scope->vars[macro->params[i]] = eval(*macro->paramDefaults[i]);
                else
                    scope->vars[macro->params[i]] =
                        JinjaValue::undefined("parameter '" + macro->params[i] + "' was not provided");
            }
            execBody(macro->body, out);
        } catch (...) {
            --m_callDepth;
            m_scope = saved;
            throw;
        }
        --m_callDepth;
        m_scope = saved;
        m_pos = savedPos;
        return JinjaValue::string(std::move(out));
    });
}

JinjaValue JinjaEvaluator::lookup(const std::string& name) const
{
    for (const Scope* s = m_scope.get(); s; s = s->parent.get()) {
        const auto it = s->vars.find(name);
        if (it != s->vars.end())
            return it->second;
    }
    return JinjaValue::undefined("'" + name + "' is undefined");
}

JinjaArgs JinjaEvaluator::evalArgs(const JinjaExpr& e)
{
    JinjaArgs args;
    for (std::size_t i = 1; i < e.children.size(); ++i)
        args.positional.push_back(eval(*e.children[i]));
    for (const auto& [key, expr] : e.kwargs)
        args.keyword.emplace_back(key, eval(*expr));
    return args;
}

void JinjaEvaluator::countLoopIteration()
{
    if (++m_loopIterations > kJinjaMaxLoopIterations)
        throw JinjaError("the template ran more than " + std::to_string(kJinjaMaxLoopIterations)
                         + " loop iterations, far more than formatting one conversation needs");
}

void JinjaEvaluator::checkOutput(const std::string& out) const
{
    requireJinjaStringSize(out.size(), "the output");
}

JinjaValue JinjaEvaluator::eval(const JinjaExpr& e)
{
    JinjaValue value = evalNode(e);
    if (value.isString())
        requireJinjaStringSize(value.asString().size(), "an expression");
    else if (value.isList())
        requireJinjaListSize(value.asList().size(), "an expression");
    return value;
}

JinjaValue JinjaEvaluator::evalNode(const JinjaExpr& e)
{
    using K = JinjaExpr::Kind;
    m_pos = e.pos;
    switch (e.kind) {
    case K::Literal: return e.literal;
    case K::Name: return lookup(e.name);
    case K::List:
    case K::Tuple: {
        JinjaList items;
        items.reserve(e.children.size());
        for (const JinjaExprPtr& child : e.children)
            items.push_back(eval(*child));
        return JinjaValue::list(std::move(items), e.kind == K::Tuple);
    }
    case K::Dict: {
        JinjaDict entries;
        for (std::size_t i = 0; i + 1 < e.children.size(); i += 2) {
            const JinjaValue key = eval(*e.children[i]);
            JinjaValue value = eval(*e.children[i + 1]);
            if (!key.isString()) {
                m_pos = e.children[i]->pos;
                throw JinjaError("dict keys must be strings, got " + key.typeName());
            }
            auto it = std::find_if(entries.begin(), entries.end(), [&](const auto& kv) { return kv.first == key.asString(); });
            if (it != entries.end())
                it->second = std::move(value);
            else
                entries.emplace_back(key.asString(), std::move(value));
        }
        return JinjaValue::dict(std::move(entries));
    }
    case K::Attr: {
        const JinjaValue object = eval(*e.children[0]);
        m_pos = e.pos;
        return JinjaOps::getAttr(object, e.name);
    }
    case K::Item: {
        const JinjaValue object = eval(*e.children[0]);
        const JinjaValue key = eval(*e.children[1]);
        m_pos = e.pos;
        return JinjaOps::getItem(object, key);
    }
    case K::Slice: {
        const JinjaValue object = eval(*e.children[0]);
        JinjaValue bounds[3];
        for (int i = 0; i < 3; ++i)
            if (e.children[i + 1])
                bounds[i] = eval(*e.children[i + 1]);
        m_pos = e.pos;
        return JinjaOps::slice(object, e.children[1] ? &bounds[0] : nullptr, e.children[2] ? &bounds[1] : nullptr,
                               e.children[3] ? &bounds[2] : nullptr);
    }
    case K::Call: {
        const JinjaValue callee = eval(*e.children[0]);
        const JinjaArgs args = evalArgs(e);
        m_pos = e.pos;
        if (callee.isUndefined())
            callee.failUndefined();
        if (!callee.isFunction())
            throw JinjaError("'" + callee.typeName() + "' object is not callable");
        return callee.asFunction()(args);
    }
    case K::Filter: {
        const JinjaValue value = eval(*e.children[0]);
        const JinjaArgs args = evalArgs(e);
        m_pos = e.pos;
        return JinjaFilters::filter(e.name, value, args);
    }
    case K::Test: {
        const JinjaValue value = eval(*e.children[0]);
        const JinjaArgs args = evalArgs(e);
        m_pos = e.pos;
        return JinjaValue::boolean(JinjaFilters::test(e.name, value, args) != e.negated);
    }
    case K::Unary: {
        const JinjaValue operand = eval(*e.children[0]);
        m_pos = e.pos;
        return JinjaOps::unary(e.name, operand);
    }
    case K::Binary: {
        // `and` / `or` return an operand, as in Python, and skip the right side when decided.
        JinjaValue left = eval(*e.children[0]);
        if (e.name == "and")
            return left.truthy() ? eval(*e.children[1]) : left;
        if (e.name == "or")
            return left.truthy() ? left : eval(*e.children[1]);
        const JinjaValue right = eval(*e.children[1]);
        m_pos = e.pos;
        return JinjaOps::binary(e.name, left, right);
    }
    case K::Ternary: {
        if (eval(*e.children[1]).truthy())
            return eval(*e.children[0]);
        if (e.children[2])
            return eval(*e.children[2]);
        return JinjaValue::undefined("the inline if expression evaluated to false and no else section was defined");
    }
    }
    return JinjaValue::undefined();
}

} // namespace tb
