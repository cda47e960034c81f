// HF_HUB_OFFLINE: a download answered from the cache alone. The revision is resolved through
// refs/ (or taken as a commit hash), and the snapshot must hold what the same request would
// have fetched, as far as the cache can tell without the Hub's file list:
//   models (default)  config.json and the weights: every shard model.safetensors.index.json
//                     names, else at least one top-level *.safetensors
//   datasets          at least one .json / .jsonl / .csv
//   --include GLOB    at least one file per pattern
// A snapshot link whose blob is gone counts as missing. The error names every missing piece.
#pragma once

#include "hub/HubCache.h"

#include <string>
#include <vector>

namespace tb {

struct HubOfflineSnapshot {
    std::string commit;
    std::string path;               // the snapshot folder
    std::vector<std::string> files; // present files, "/"-separated paths, sorted
};

// Throws HubError(Offline) naming what is missing and where it was looked for.
HubOfflineSnapshot findOfflineSnapshot(const HubCache& cache, const HubRepoId& repo, const std::string& revision,
                                       const std::vector<std::string>& include);

} // namespace tb
