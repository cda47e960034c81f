// The weights of a Hugging Face model folder: either one model.safetensors, or shards listed in
// model.safetensors.index.json ("weight_map": tensor name -> shard file name). Pickle
// checkpoints (*.bin, *.pt, *.pth) are never opened: a folder holding only those gets a
// FormatError telling the user to convert them to safetensors.
//
// Resolution order (as transformers does): model.safetensors, else the index and its shards,
// else a folder's only *.safetensors file. The index is checked against the shards: every shard
// exists, every listed tensor is in its shard, no tensor is in two shards.
#pragma once

#include "formats/SafetensorsReader.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace tb {

class CheckpointFiles {
public:
    explicit CheckpointFiles(const std::string& modelDir);

    struct Entry {
        const SafetensorsReader* file;
        const SafetensorInfo* info;
    };
    // nullptr-file Entry when absent.
    Entry find(const std::string& name) const;
    // Every tensor name across all shards, sorted.
    std::vector<std::string> names() const;
    // Sum of the shard file sizes in bytes.
    uint64_t totalFileBytes() const;
    const std::vector<std::unique_ptr<SafetensorsReader>>& shards() const { return m_shards; }

private:
    void openIndex(const std::string& modelDir, const std::string& indexPath);
    void addShard(std::unique_ptr<SafetensorsReader> shard);

    std::vector<std::unique_ptr<SafetensorsReader>> m_shards;
    std::map<std::string, Entry> m_byName; // every tensor of every shard
};

} // namespace tb
