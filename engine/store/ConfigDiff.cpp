#include "store/ConfigDiff.h"

#include <set>

namespace tb {

namespace {

void flattenInto(const nlohmann::json& value, const std::string& prefix, std::map<std::string, std::string>& out)
{
    if (value.is_object() && !value.empty()) {
        for (const auto& [key, child] : value.items())
            flattenInto(child, prefix.empty() ? key : prefix + "." + key, out);
        return;
    }
    // An empty object is a leaf "{}" so that {} and a missing key still differ.
    out[prefix.empty() ? "." : prefix] = value.dump();
}

} // namespace

std::map<std::string, std::string> ConfigDiff::flatten(const nlohmann::json& config)
{
    std::map<std::string, std::string> out;
    flattenInto(config, "", out);
    return out;
}

std::vector<ConfigDifference> ConfigDiff::differences(const std::vector<nlohmann::json>& configs)
{
    std::vector<std::map<std::string, std::string>> flat;
    std::set<std::string> keys;
    for (const nlohmann::json& config : configs) {
        flat.push_back(flatten(config));
        for (const auto& entry : flat.back())
            keys.insert(entry.first);
    }
    std::vector<ConfigDifference> result;
    for (const std::string& key : keys) {
        ConfigDifference difference{key, {}};
        for (const auto& values : flat) {
            const auto it = values.find(key);
            difference.values.push_back(it == values.end() ? std::nullopt : std::optional<std::string>(it->second));
        }
        bool same = true;
        for (const auto& value : difference.values)
            same = same && value == difference.values.front();
        if (!same)
            result.push_back(std::move(difference));
    }
    return result;
}

} // namespace tb
