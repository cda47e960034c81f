// Run configs compared as flat key/value sets: nested objects become dotted keys
// ({"lora": {"rank": 8}} -> "lora.rank"), and each leaf is kept as compact JSON text so
// 8, 8.0, "8" and true stay distinct. Arrays are leaves, compared whole: target_modules
// ["q_proj","v_proj"] is one setting, and a reordered list is a different setting.
#pragma once

#include "store/StoreTypes.h"

#include <map>
#include <string>
#include <vector>

namespace tb {

class ConfigDiff {
public:
    static std::map<std::string, std::string> flatten(const nlohmann::json& config);
    // The keys whose values are not the same in all configs (missing counts as a value),
    // sorted by key.
    static std::vector<ConfigDifference> differences(const std::vector<nlohmann::json>& configs);
};

} // namespace tb
