// Walks a parsed template and writes its output. Scoping follows Jinja: a for loop and a macro
// call open a scope whose `set`s vanish when it ends (which is why chat templates carry state
// across iterations in a namespace()), while if blocks share their enclosing scope. Unknown
// names are Jinja's default Undefined: printed as "", falsy, but an error to compute with.
#pragma once

#include "chat/JinjaAst.h"

#include <memory>
#include <string>
#include <unordered_map>

namespace tb {

class JinjaEvaluator {
public:
    explicit JinjaEvaluator(std::string sourceName);

    void setGlobal(const std::string& name, JinjaValue value);

    // Throws ChatTemplateError: raise_exception's text unchanged, any other runtime error as
    // "<sourceName>: line L, column C: <message>".
    std::string render(const JinjaBody& body);

private:
    struct Scope {
        std::unordered_map<std::string, JinjaValue> vars;
        std::shared_ptr<Scope> parent;
    };
    enum class Flow { Normal, Break, Continue };

    Flow execBody(const JinjaBody& body, std::string& out);
    Flow exec(const JinjaNode& node, std::string& out);
    void execFor(const JinjaNode& node, std::string& out);
    void assign(const JinjaExpr& target, const JinjaValue& value);
    JinjaValue makeMacro(const JinjaNode& node);

    JinjaValue eval(const JinjaExpr& e);     // evalNode, then the size limits of JinjaValue.h
    JinjaValue evalNode(const JinjaExpr& e);
    void countLoopIteration();
    void checkOutput(const std::string& out) const;
    JinjaArgs evalArgs(const JinjaExpr& e);
    JinjaValue lookup(const std::string& name) const;

    std::string m_sourceName;
    std::shared_ptr<Scope> m_root;
    std::shared_ptr<Scope> m_scope;
    JinjaPos m_pos;
    int m_callDepth = 0;
    std::int64_t m_loopIterations = 0; // this render's, against kJinjaMaxLoopIterations
};

} // namespace tb
