// The methods of str and dict that chat templates call (`s.strip()`, `d.items()`, ...), bound to
// their object as Python does: `obj.name` yields a callable. Split out of JinjaOps, which keeps the
// operators and item access.
#pragma once

#include "chat/JinjaValue.h"

#include <string>

namespace tb {

class JinjaMethods {
public:
    // obj.name as a bound method when obj is a str or dict that has it; false otherwise.
    static bool bind(const JinjaValue& obj, const std::string& name, JinjaValue& out);

private:
    static JinjaValue stringMethod(const std::string& self, const std::string& name, const JinjaArgs& args);
    static JinjaValue dictMethod(const JinjaValue& self, const std::string& name, const JinjaArgs& args);
};

} // namespace tb
