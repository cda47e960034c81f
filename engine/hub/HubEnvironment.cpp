#include "hub/HubEnvironment.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>

#include <pwd.h>
#include <unistd.h>

namespace tb {

namespace {

std::string homeFolder(const std::function<std::optional<std::string>(const std::string&)>& variable)
{
    if (auto home = variable("HOME"); home && !home->empty())
        return *home;
    if (const passwd* pw = ::getpwuid(::getuid()); pw && pw->pw_dir)
        return pw->pw_dir;
    return "/";
}

// Python's os.path.expanduser for "~" and "~/...".
std::string expandUser(const std::string& path, const std::string& home)
{
    if (path == "~")
        return home;
    if (path.rfind("~/", 0) == 0)
        return home + path.substr(1);
    return path;
}

std::string trimmed(const std::string& s)
{
    const auto notSpace = [](unsigned char c) { return !std::isspace(c); };
    const auto first = std::find_if(s.begin(), s.end(), notSpace);
    const auto last = std::find_if(s.rbegin(), s.rend(), notSpace).base();
    return first < last ? std::string(first, last) : std::string();
}

std::optional<std::string> nonEmpty(const std::optional<std::string>& value)
{
    if (value && !value->empty())
        return value;
    return std::nullopt;
}

} // namespace

bool isHubTrueValue(const std::string& value)
{
    std::string upper;
    for (char c : value)
        upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return upper == "1" || upper == "ON" || upper == "YES" || upper == "TRUE";
}

HubEnvironment HubEnvironment::fromProcess()
{
    return fromVariables([](const std::string& name) -> std::optional<std::string> {
        if (const char* v = std::getenv(name.c_str()))
            return std::string(v);
        return std::nullopt;
    });
}

HubEnvironment HubEnvironment::fromVariables(const std::function<std::optional<std::string>(const std::string&)>& variable)
{
    HubEnvironment env;
    const std::string home = homeFolder(variable);

    env.endpoint = nonEmpty(variable("HF_ENDPOINT")).value_or("https://huggingface.co");
    while (env.endpoint.size() > 1 && env.endpoint.back() == '/')
        env.endpoint.pop_back();

    const std::string xdgCache = nonEmpty(variable("XDG_CACHE_HOME")).value_or(home + "/.cache");
    env.home = expandUser(nonEmpty(variable("HF_HOME")).value_or(xdgCache + "/huggingface"), home);

    auto cache = nonEmpty(variable("HF_HUB_CACHE"));
    if (!cache)
        cache = nonEmpty(variable("HUGGINGFACE_HUB_CACHE"));
    env.hubCache = expandUser(cache.value_or(env.home + "/hub"), home);

    for (const char* name : {"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"}) {
        if (auto t = nonEmpty(variable(name)); t && !trimmed(*t).empty()) {
            env.token = trimmed(*t);
            env.tokenSource = name;
            break;
        }
    }
    if (env.token.empty()) {
        const std::string tokenPath = expandUser(nonEmpty(variable("HF_TOKEN_PATH")).value_or(env.home + "/token"), home);
        std::ifstream in(tokenPath);
        std::string line;
        if (in && std::getline(in, line) && !trimmed(line).empty()) {
            env.token = trimmed(line);
            env.tokenSource = tokenPath;
        }
    }

    env.offline = isHubTrueValue(variable("HF_HUB_OFFLINE").value_or(""));
    return env;
}

void HubEnvironment::setToken(const std::string& value, const std::string& source)
{
    token = trimmed(value);
    tokenSource = token.empty() ? "" : source;
}

std::string HubEnvironment::redacted() const
{
    std::string s = "endpoint " + endpoint + ", cache " + hubCache + ", ";
    if (token.empty())
        s += "no token";
    else
        s += "token from " + tokenSource + " (" + std::to_string(token.size()) + " characters, not shown)";
    s += offline ? ", offline (HF_HUB_OFFLINE)" : ", online";
    return s;
}

} // namespace tb
