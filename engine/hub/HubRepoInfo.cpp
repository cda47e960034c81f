#include "hub/HubRepoInfo.h"

#include "hub/HubError.h"
#include "hub/HubRepo.h"

#include <nlohmann/json.hpp>

namespace tb {

namespace {

int64_t sizeField(const nlohmann::json& object, const char* key)
{
    const auto it = object.find(key);
    if (it == object.end() || !it->is_number_integer())
        return -1;
    const int64_t v = it->get<int64_t>();
    return v < 0 ? -1 : v;
}

std::string stringField(const nlohmann::json& object, const char* key)
{
    const auto it = object.find(key);
    return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

} // namespace

HubRepoInfo HubRepoInfo::fromJson(const std::string& text, const std::string& source)
{
    const auto bad = [&](const std::string& why) {
        return HubError(HubError::Kind::Server, source + ": unexpected answer from the Hub (" + why + ")");
    };
    const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object())
        throw bad("not a JSON object");

    HubRepoInfo info;
    info.commit = stringField(j, "sha");
    if (!isHubCommitHash(info.commit))
        throw bad("\"sha\" is not a 40-digit commit hash");
    if (const auto g = j.find("gated"); g != j.end() && g->is_string())
        info.gated = g->get<std::string>();
    if (const auto p = j.find("private"); p != j.end() && p->is_boolean())
        info.isPrivate = p->get<bool>();

    const auto siblings = j.find("siblings");
    if (siblings == j.end() || !siblings->is_array())
        throw bad("no \"siblings\" list");
    for (const auto& s : *siblings) {
        if (!s.is_object())
            throw bad("a sibling is not an object");
        HubSibling sibling;
        sibling.path = stringField(s, "rfilename");
        if (!isSafeHubFilePath(sibling.path))
            throw bad("unsafe file name \"" + sibling.path + "\"");
        sibling.size = sizeField(s, "size");
        sibling.blobId = stringField(s, "blobId");
        if (const auto lfs = s.find("lfs"); lfs != s.end() && lfs->is_object()) {
            sibling.isLfs = true;
            sibling.lfsSha256 = stringField(*lfs, "sha256");
            if (const int64_t lfsSize = sizeField(*lfs, "size"); lfsSize >= 0)
                sibling.size = lfsSize;
        }
        // An ETag we could not use as a blob name is dropped: the HEAD request decides then.
        if (!sibling.blobId.empty() && !isSafeHubEtag(sibling.blobId))
            sibling.blobId.clear();
        if (!sibling.lfsSha256.empty() && !isSafeHubEtag(sibling.lfsSha256))
            sibling.lfsSha256.clear();
        info.siblings.push_back(std::move(sibling));
    }
    return info;
}

} // namespace tb
