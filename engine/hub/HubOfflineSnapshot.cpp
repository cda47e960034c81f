#include "hub/HubOfflineSnapshot.h"

#include "hub/HubError.h"
#include "hub/HubFileSelection.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

namespace tb {

namespace fs = std::filesystem;

namespace {

HubError offlineError(const std::string& what)
{
    return HubError(HubError::Kind::Offline, "HF_HUB_OFFLINE is set and " + what + "; unset HF_HUB_OFFLINE to download");
}

bool endsWith(const std::string& s, const std::string& suffix)
{
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Files (and dangling links) below the snapshot folder, relative and "/"-separated.
void listSnapshot(const fs::path& root, std::vector<std::string>* present, std::vector<std::string>* dangling)
{
    std::error_code ec;
    for (fs::recursive_directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
        std::error_code e;
        const auto linkStatus = it->symlink_status(e);
        if (fs::is_directory(linkStatus))
            continue;
        const std::string rel = it->path().lexically_relative(root).generic_string();
        if (fs::is_regular_file(it->path(), e))
            present->push_back(rel);
        else
            dangling->push_back(rel);
    }
    std::sort(present->begin(), present->end());
}

// Shards named by the index's weight_map; empty when the index cannot be read.
std::set<std::string> indexShards(const fs::path& index)
{
    std::ifstream in(index);
    const nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
    std::set<std::string> shards;
    if (j.is_object() && j.contains("weight_map") && j["weight_map"].is_object())
        for (const auto& [tensor, file] : j["weight_map"].items())
            if (file.is_string())
                shards.insert(file.get<std::string>());
    return shards;
}

} // namespace

HubOfflineSnapshot findOfflineSnapshot(const HubCache& cache, const HubRepoId& repo, const std::string& revision,
                                       const std::vector<std::string>& include)
{
    const std::string repoFolder = cache.repoFolder(repo);
    std::error_code ec;
    if (!fs::is_directory(repoFolder, ec))
        throw offlineError(repo.id + " is not in the cache (no " + repoFolder + ")");
    HubOfflineSnapshot snap;
    snap.commit = cache.resolveCommit(repo, revision);
    if (snap.commit.empty())
        throw offlineError("the cache does not know revision \"" + revision + "\" of " + repo.id + " (no "
                           + cache.refPath(repo, revision) + ")");
    snap.path = cache.snapshotFolder(repo, snap.commit);
    if (!fs::is_directory(snap.path, ec))
        throw offlineError("the cache has no snapshot " + snap.commit + " of " + repo.id + " (no " + snap.path + ")");

    std::vector<std::string> dangling;
    listSnapshot(snap.path, &snap.files, &dangling);
    const std::set<std::string> present(snap.files.begin(), snap.files.end());
    std::vector<std::string> missing;
    for (const auto& d : dangling)
        missing.push_back(d + " (its blob is gone)");

    if (!include.empty()) {
        for (const auto& glob : include)
            if (std::none_of(snap.files.begin(), snap.files.end(), [&](const std::string& f) { return hubGlobMatches(glob, f); }))
                missing.push_back("a file matching " + glob);
    } else if (repo.type == HubRepoType::Model) {
        if (!present.count("config.json"))
            missing.push_back("config.json");
        if (present.count("model.safetensors.index.json")) {
            const std::set<std::string> shards = indexShards(fs::path(snap.path) / "model.safetensors.index.json");
            if (shards.empty())
                missing.push_back("the shards of model.safetensors.index.json (unreadable)");
            for (const auto& shard : shards)
                if (!present.count(shard))
                    missing.push_back(shard);
        } else if (std::none_of(snap.files.begin(), snap.files.end(), [](const std::string& f) {
                       return f.find('/') == std::string::npos && endsWith(f, ".safetensors");
                   })) {
            missing.push_back("*.safetensors weights");
        }
    } else if (std::none_of(snap.files.begin(), snap.files.end(), [](const std::string& f) {
                   return endsWith(f, ".json") || endsWith(f, ".jsonl") || endsWith(f, ".csv");
               })) {
        missing.push_back("a .json, .jsonl or .csv file");
    }

    if (!missing.empty()) {
        std::string list;
        for (const auto& m : missing)
            list += (list.empty() ? "" : ", ") + m;
        throw offlineError("the cached snapshot " + snap.commit + " of " + repo.id + " lacks " + list + " (in " + snap.path + ")");
    }
    return snap;
}

} // namespace tb
