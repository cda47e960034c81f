// Which files of a repository a download fetches.
//
// Models, by default: what loading and training read, at the repository's top level only
// (a Llama repo's original/ folder holds a second, pickled copy of the weights):
//   config.json, generation_config.json, tokenizer.json, tokenizer_config.json,
//   special_tokens_map.json, chat_template.jinja, tokenizer.model,
//   model.safetensors.index.json and every *.safetensors.
// A model repo whose weights are only pickle files (.bin, .pth, .pt, .ckpt, .pkl) is refused:
// Tunebench never loads pickle (unpickling can run code). A repo with no weights at all is
// refused too, with the names of what it has.
// Datasets, by default: *.json, *.jsonl, *.csv at any depth and the top-level README.md.
// --include GLOB (repeatable) replaces the default: a file is fetched when any pattern
// matches its whole path, with Python fnmatch rules as huggingface_hub's allow_patterns
// ("*" also crosses "/"; a pattern ending in "/" means everything below that folder).
#pragma once

#include "hub/HubRepo.h"
#include "hub/HubRepoInfo.h"

#include <string>
#include <vector>

namespace tb {

// The siblings to fetch, in the listing's order. Throws HubError(Refused) as described above,
// and when --include patterns match nothing (naming the patterns and some of the files).
std::vector<HubSibling> selectHubFiles(const HubRepoInfo& info, const HubRepoId& repo,
                                       const std::vector<std::string>& include);

bool hubGlobMatches(const std::string& pattern, const std::string& path);
bool isPickleWeightFile(const std::string& path);

} // namespace tb
