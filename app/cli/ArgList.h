// Command-line options of one tunebench-cli command: "--name value" pairs and "--flag"
// switches, checked against the options the command declares, so a typo is an error that
// names the option instead of being silently ignored.
#pragma once

#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace tbcli {

class UsageError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

class ArgList {
public:
    // valueOptions take a value ("--model DIR"); flags take none ("--json").
    ArgList(const std::vector<std::string>& args, const std::set<std::string>& valueOptions,
            const std::set<std::string>& flags);

    bool has(const std::string& name) const;
    std::string text(const std::string& name, const std::string& fallback) const;
    std::string required(const std::string& name) const;
    long long integer(const std::string& name, long long fallback, long long minimum, long long maximum) const;
    double number(const std::string& name, double fallback, double minimum, double maximum) const;
    std::vector<std::string> all(const std::string& name) const; // repeated options

private:
    std::multimap<std::string, std::string> m_values;
    std::set<std::string> m_flags;
};

} // namespace tbcli
