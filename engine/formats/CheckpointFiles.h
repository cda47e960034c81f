// The weights of a Hugging Face model folder: either one model.safetensors, or shards listed in
// model.safetensors.index.json ("weight_map": tensor name -> shard file name). Pickle
// checkpoints (*.bin, *.pt, *.pth) are never opened: a folder holding only those gets a
// FormatError telling the user to convert them to safetensors.
#pragma once

#include "formats/SafetensorsReader.h"

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
    std::vector<std::unique_ptr<SafetensorsReader>> m_shards;
};

} // namespace tb
