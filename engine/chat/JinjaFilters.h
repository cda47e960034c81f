// Jinja's built-in filters and tests, and the globals transformers adds for chat templates
// (raise_exception, strftime_now; tojson replaced by json.dumps with ensure_ascii=False).
#pragma once

#include "chat/JinjaValue.h"

#include <string>

namespace tb {

class JinjaFilters {
public:
    static bool hasFilter(const std::string& name);
    static bool hasTest(const std::string& name);

    // Throws JinjaError on bad arguments.
    static JinjaValue filter(const std::string& name, const JinjaValue& value, const JinjaArgs& args);
    static bool test(const std::string& name, const JinjaValue& value, const JinjaArgs& args);

    // range, namespace, dict, raise_exception, strftime_now.
    static JinjaDict globals();

private:
    static JinjaValue attributePath(const JinjaValue& item, const std::string& path);
};

} // namespace tb
