// A fingerprint of a model or dataset, to tell whether two runs trained on the same bytes.
//
// Files up to 64 MiB (datasets, configs, tokenizers) are hashed whole. Larger files (weight
// shards of several GB, which would take seconds to minutes to read) are hashed from their
// size plus three 1 MiB windows: the start (a safetensors header names every tensor with its
// dtype, shape and offsets), the middle and the end. The modification time is left out on
// purpose: a copied or re-downloaded model keeps its hash. A folder (a Hugging Face model)
// hashes its regular files' relative paths and hashes in sorted order, skipping hidden files.
//
// The hash is 64-bit FNV-1a: no dependency, and this is a fingerprint against mix-ups, not a
// defence against forgery. Output: "fnv1a64:" + 16 hex digits (the prefix leaves room for a
// different scheme later).
#pragma once

#include <string>

namespace tb {

// Throws FormatError naming the path when it is missing or unreadable.
std::string contentHash(const std::string& path);

} // namespace tb
