#include "cli/ArgList.h"

#include <cmath>

namespace tbcli {

ArgList::ArgList(const std::vector<std::string>& args, const std::set<std::string>& valueOptions,
                 const std::set<std::string>& flags)
{
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& arg = args[i];
        if (arg.rfind("--", 0) != 0)
            throw UsageError("unexpected argument \"" + arg + "\" (options start with --)");
        std::string name = arg.substr(2);
        std::string value;
        bool inlineValue = false;
        if (auto eq = name.find('='); eq != std::string::npos) {
            value = name.substr(eq + 1);
            name.resize(eq);
            inlineValue = true;
        }
        if (flags.count(name)) {
            if (inlineValue)
                throw UsageError("option --" + name + " takes no value");
            m_flags.insert(name);
        } else if (valueOptions.count(name)) {
            if (!inlineValue) {
                if (i + 1 >= args.size())
                    throw UsageError("option --" + name + " needs a value");
                value = args[++i];
            }
            m_values.emplace(name, value);
        } else {
            throw UsageError("unknown option --" + name);
        }
    }
}

bool ArgList::has(const std::string& name) const
{
    return m_flags.count(name) || m_values.count(name);
}

std::string ArgList::text(const std::string& name, const std::string& fallback) const
{
    auto it = m_values.find(name);
    return it == m_values.end() ? fallback : it->second;
}

std::string ArgList::required(const std::string& name) const
{
    auto it = m_values.find(name);
    if (it == m_values.end())
        throw UsageError("option --" + name + " is required");
    return it->second;
}

long long ArgList::integer(const std::string& name, long long fallback, long long minimum, long long maximum) const
{
    auto it = m_values.find(name);
    if (it == m_values.end())
        return fallback;
    long long value = 0;
    size_t used = 0;
    try {
        value = std::stoll(it->second, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    if (used == 0 || used != it->second.size())
        throw UsageError("option --" + name + ": \"" + it->second + "\" is not an integer");
    if (value < minimum || value > maximum)
        throw UsageError("option --" + name + ": " + it->second + " is outside " + std::to_string(minimum) + ".."
                         + std::to_string(maximum));
    return value;
}

double ArgList::number(const std::string& name, double fallback, double minimum, double maximum) const
{
    auto it = m_values.find(name);
    if (it == m_values.end())
        return fallback;
    double value = 0;
    size_t used = 0;
    try {
        value = std::stod(it->second, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    if (used == 0 || used != it->second.size() || !std::isfinite(value))
        throw UsageError("option --" + name + ": \"" + it->second + "\" is not a number");
    if (value < minimum || value > maximum)
        throw UsageError("option --" + name + ": " + it->second + " is outside " + std::to_string(minimum) + ".."
                         + std::to_string(maximum));
    return value;
}

std::vector<std::string> ArgList::all(const std::string& name) const
{
    std::vector<std::string> out;
    auto range = m_values.equal_range(name);
    for (auto it = range.first; it != range.second; ++it)
        out.push_back(it->second);
    return out;
}

} // namespace tbcli
