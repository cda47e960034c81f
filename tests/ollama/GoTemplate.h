// A renderer for the part of Go's text/template (pkg.go.dev/text/template) that Ollama's chat
// templates use, so the tests can run an Ollama TEMPLATE without Go. Test-only code.
//
// Supported, with text/template's semantics:
//  - text and {{ actions }}; "{{- " trims the white space (space, tab, CR, LF) before the action,
//    " -}}" the white space after it; {{/* comments */}};
//  - operands: .Field chains (. alone is dot), $ and $var with .Field chains, "strings" with Go's
//    escapes (\n \t \\ \" \xHH \uHHHH ...), `raw strings`, integers, true, false, nil,
//    (sub-pipelines) with .Field chains; function calls; "|" pipes (the value is the last argument);
//  - $x := pipeline declares a variable for the rest of the enclosing if/range block (or the
//    template), $x = pipeline assigns an existing one (Go 1.11), neither prints anything;
//  - if / else if / else / end; range over a list with no variable, $v :=, or $i, $v :=, and
//    {{ else }} for an empty list; inside range, dot is the element;
//  - functions and, or (Go's: the first falsy / truthy argument or else the last, later arguments
//    not evaluated), not, eq (arg1 equals any later argument), ne, lt, le, gt, ge, len, slice,
//    index.
// Data is JSON: an object's key is a field and a missing one is an error (as a missing field of a
// Go struct is), an array is a slice. Truth is Go's: false, 0, "", an empty array or object and
// nil are false. Comparing values of different kinds is an error, as in Go.
// Anything else (with, define, template, block, printf, break, methods, ranging over maps) is a
// GoTemplateError when parsed or executed.
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <stdexcept>
#include <string>

namespace tb::test {

class GoTemplateError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

class GoTemplate {
public:
    // Throws GoTemplateError on a syntax error or an unsupported construct.
    static GoTemplate parse(const std::string& text);

    // Throws GoTemplateError on an execution error (missing field, wrong types, unknown function).
    std::string execute(const nlohmann::json& data) const;

    struct Tree;  // parsed template, defined in GoTemplate.cpp

private:
    explicit GoTemplate(std::shared_ptr<const Tree> tree) : m_tree(std::move(tree)) {}
    std::shared_ptr<const Tree> m_tree;
};

} // namespace tb::test
