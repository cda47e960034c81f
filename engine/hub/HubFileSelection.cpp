#include "hub/HubFileSelection.h"

#include "hub/HubError.h"

#include <algorithm>
#include <set>

#include <fnmatch.h>

namespace tb {

namespace {

bool endsWith(const std::string& s, const std::string& suffix)
{
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool isTopLevel(const std::string& path)
{
    return path.find('/') == std::string::npos;
}

bool isDefaultModelFile(const std::string& path)
{
    static const std::set<std::string> kNames = {
        "config.json",           "generation_config.json",  "tokenizer.json",
        "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja",
        "tokenizer.model",       "model.safetensors.index.json",
    };
    return isTopLevel(path) && (kNames.count(path) || endsWith(path, ".safetensors"));
}

bool isDefaultDatasetFile(const std::string& path)
{
    return path == "README.md" || endsWith(path, ".json") || endsWith(path, ".jsonl") || endsWith(path, ".csv");
}

// "a, b, c and 7 more": enough of a listing to act on, short enough to read.
std::string someNames(const std::vector<std::string>& names)
{
    std::string s;
    const size_t shown = std::min<size_t>(names.size(), 8);
    for (size_t i = 0; i < shown; ++i)
        s += (i ? ", " : "") + names[i];
    if (names.size() > shown)
        s += " and " + std::to_string(names.size() - shown) + " more";
    return s.empty() ? "no files" : s;
}

std::vector<std::string> pathsOf(const std::vector<HubSibling>& siblings)
{
    std::vector<std::string> paths;
    for (const auto& s : siblings)
        paths.push_back(s.path);
    return paths;
}

void refuseUnusableModel(const HubRepoInfo& info, const HubRepoId& repo)
{
    bool hasSafetensors = false;
    std::vector<std::string> pickles;
    for (const auto& s : info.siblings) {
        hasSafetensors = hasSafetensors || (isTopLevel(s.path) && endsWith(s.path, ".safetensors"));
        if (isPickleWeightFile(s.path))
            pickles.push_back(s.path);
    }
    if (hasSafetensors)
        return;
    if (!pickles.empty())
        throw HubError(HubError::Kind::Refused,
                       repo.id + " has only pickle weights (" + someNames(pickles)
                           + "): Tunebench never loads pickle files, since unpickling can run code. Look for a "
                             "safetensors version of the model (the Hub's conversion bot often opens one as a pull "
                             "request: --revision refs/pr/N)");
    throw HubError(HubError::Kind::Refused,
                   repo.id + " has no *.safetensors weights at its top level (it has " + someNames(pathsOf(info.siblings))
                       + "); use --include GLOB to fetch files anyway");
}

} // namespace

bool hubGlobMatches(const std::string& pattern, const std::string& path)
{
    const std::string p = !pattern.empty() && pattern.back() == '/' ? pattern + "*" : pattern;
    return ::fnmatch(p.c_str(), path.c_str(), 0) == 0;
}

bool isPickleWeightFile(const std::string& path)
{
    for (const char* ext : {".bin", ".pth", ".pt", ".ckpt", ".pkl", ".pickle"})
        if (endsWith(path, ext))
            return true;
    return false;
}

std::vector<HubSibling> selectHubFiles(const HubRepoInfo& info, const HubRepoId& repo,
                                       const std::vector<std::string>& include)
{
    std::vector<HubSibling> selected;
    if (!include.empty()) {
        for (const auto& s : info.siblings)
            if (std::any_of(include.begin(), include.end(), [&](const std::string& g) { return hubGlobMatches(g, s.path); }))
                selected.push_back(s);
        if (selected.empty()) {
            std::string patterns;
            for (const auto& g : include)
                patterns += (patterns.empty() ? "" : ", ") + g;
            throw HubError(HubError::Kind::Refused, "no file of " + repo.id + " matches --include " + patterns + " (it has "
                                                        + someNames(pathsOf(info.siblings)) + ")");
        }
        return selected;
    }
    if (repo.type == HubRepoType::Model) {
        refuseUnusableModel(info, repo);
        for (const auto& s : info.siblings)
            if (isDefaultModelFile(s.path))
                selected.push_back(s);
        return selected;
    }
    for (const auto& s : info.siblings)
        if (isDefaultDatasetFile(s.path))
            selected.push_back(s);
    if (std::all_of(selected.begin(), selected.end(), [](const HubSibling& s) { return s.path == "README.md"; }))
        throw HubError(HubError::Kind::Refused, "dataset " + repo.id + " has no .json, .jsonl or .csv files (it has "
                                                    + someNames(pathsOf(info.siblings)) + "); use --include GLOB to fetch files anyway");
    return selected;
}

} // namespace tb
