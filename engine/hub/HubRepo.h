// A repository on the Hub: its id ("Qwen/Qwen2.5-0.5B-Instruct", or "gpt2" without an owner)
// and its type, with the names huggingface_hub derives from them: the cache folder
// ("models--Qwen--Qwen2.5-0.5B-Instruct"), the API path and the URL prefix of its files.
//
// Everything the server or the user hands us that becomes part of a path is checked here,
// so no repository id, revision, file name or ETag can climb out of the cache folder.
#pragma once

#include <string>

namespace tb {

enum class HubRepoType { Model, Dataset };

// "model" / "dataset"; parse throws HubError(InvalidInput) on anything else.
const char* hubRepoTypeName(HubRepoType type);
HubRepoType parseHubRepoType(const std::string& name);

struct HubRepoId {
    std::string id; // "owner/name" or "name"
    HubRepoType type = HubRepoType::Model;

    // Checks the id as huggingface_hub's validate_repo_id does (letters, digits, "-", "_",
    // ".", at most one "/", no "--" or "..", at most 96 characters); throws
    // HubError(InvalidInput) naming the id otherwise.
    static HubRepoId parse(const std::string& id, HubRepoType type = HubRepoType::Model);

    // "models--owner--name" / "datasets--owner--name" (huggingface_hub's repo_folder_name).
    std::string folderName() const;
    // "api/models/owner/name" / "api/datasets/owner/name" (no leading slash).
    std::string apiPath() const;
    // "owner/name" / "datasets/owner/name": the prefix of {endpoint}/{prefix}/resolve/...
    std::string urlPrefix() const;
    // The id back from a cache folder name ("models--a--b" -> {"a/b", Model}); false if the
    // name is not one of ours.
    static bool fromFolderName(const std::string& folder, HubRepoId* out);
};

// A 40-character lowercase hex string (a git commit or a git blob SHA-1).
bool isHubCommitHash(const std::string& s);

// A revision (branch, tag, "refs/pr/1" or commit) that can be a path below refs/: non-empty,
// no "." or ".." component, no empty component, no backslash or control character.
bool isSafeHubRevision(const std::string& revision);

// A file path inside a repository as siblings list it ("config.json", "onnx/model.onnx"):
// relative, "/"-separated, no "." / ".." / empty components, no backslash or control character.
bool isSafeHubFilePath(const std::string& path);

// An ETag usable as a blob file name: 1..128 characters of [A-Za-z0-9._-], not "." or "..".
bool isSafeHubEtag(const std::string& etag);

// Percent-encodes every byte except unreserved characters (and "/" when keepSlash), as
// Python's urllib.parse.quote does for revisions (safe="") and file paths (safe="/").
std::string hubUrlQuote(const std::string& text, bool keepSlash);

} // namespace tb
