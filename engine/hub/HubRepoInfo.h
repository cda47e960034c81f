// The answer of GET {endpoint}/api/{models|datasets}/{repo}/revision/{rev}?blobs=true:
//   {"sha": "<40-hex commit>", "gated": false | "auto" | "manual", "private": bool,
//    "siblings": [{"rfilename": "config.json", "size": 684, "blobId": "<git blob sha1>"},
//                 {"rfilename": "model.safetensors", "size": 988097824, "blobId": "...",
//                  "lfs": {"sha256": "<64 hex>", "size": 988097824, "pointerSize": 135}}]}
// Without ?blobs=true the siblings carry only rfilename; sizes and ETags then come from the
// HEAD of each file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tb {

struct HubSibling {
    std::string path;      // rfilename, checked by isSafeHubFilePath
    int64_t size = -1;     // bytes of the content (the LFS object's, not the pointer's); -1 unknown
    std::string blobId;    // git blob SHA-1 of what git stores (for LFS files: the pointer)
    bool isLfs = false;
    std::string lfsSha256; // the LFS object's SHA-256 (isLfs); empty if not given

    // The ETag the resolve endpoint will give this file: the LFS SHA-256, else the git blob
    // SHA-1; empty when the listing had no blob data.
    std::string expectedEtag() const { return isLfs ? lfsSha256 : blobId; }
};

struct HubRepoInfo {
    std::string commit;  // "sha": the revision resolved to a commit
    std::string gated;   // "" (not gated), "auto" or "manual"
    bool isPrivate = false;
    std::vector<HubSibling> siblings;

    // Throws HubError(Server) naming `source` (the URL, never with credentials) when the text
    // is not such an object, the commit is not 40 hex digits or a file name is unsafe.
    static HubRepoInfo fromJson(const std::string& text, const std::string& source);
};

} // namespace tb
