// Where the Hub is, who we are on it and where its files go: the environment variables
// huggingface_hub reads (constants.py), with the same defaults, so Tunebench and
// transformers/PEFT share one cache and one login.
//
//   HF_ENDPOINT     https://huggingface.co (a trailing "/" is dropped)
//   HF_HOME         $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface
//   HF_HUB_CACHE    $HF_HOME/hub (HUGGINGFACE_HUB_CACHE is the older name)
//   HF_TOKEN        the access token (HUGGING_FACE_HUB_TOKEN is the older name); else the
//                   file HF_TOKEN_PATH, default $HF_HOME/token (what `huggingface-cli login`
//                   writes), first line, whitespace trimmed
//   HF_HUB_OFFLINE  1/ON/YES/TRUE (any case): never touch the network, resolve from the cache
//
// The token is held here and nowhere else; redacted() is the form to show or log.
#pragma once

#include <functional>
#include <optional>
#include <string>

namespace tb {

struct HubEnvironment {
    std::string endpoint;    // no trailing "/"
    std::string home;        // HF_HOME
    std::string hubCache;    // HF_HUB_CACHE: holds models--*/ and datasets--*/
    std::string token;       // empty: anonymous
    std::string tokenSource; // "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", the token file's path, "--token" or ""
    bool offline = false;

    // From the process environment.
    static HubEnvironment fromProcess();
    // From any lookup (tests): `variable` returns the value of a variable, or nothing when unset.
    static HubEnvironment fromVariables(const std::function<std::optional<std::string>(const std::string&)>& variable);

    // An explicit token (the CLI's --token) replaces whatever the environment gave.
    void setToken(const std::string& value, const std::string& source);

    // "endpoint https://huggingface.co, cache /home/u/.cache/huggingface/hub, token from
    // HF_TOKEN (37 characters, not shown), online": no character of the token appears.
    std::string redacted() const;
};

// huggingface_hub's _is_true: "1", "ON", "YES", "TRUE" in any case.
bool isHubTrueValue(const std::string& value);

} // namespace tb
