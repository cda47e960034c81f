#include "formats/CheckpointFiles.h"

#include "formats/FormatError.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace fs = std::filesystem;

namespace tb {

namespace {

// An index of a few thousand tensors is well under 1 MB; anything near this is not an index.
constexpr uintmax_t kMaxIndexBytes = 100'000'000;

bool endsWith(const std::string& s, const std::string& suffix)
{
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool isPickleName(const std::string& name)
{
    return endsWith(name, ".bin") || endsWith(name, ".pt") || endsWith(name, ".pth")
           || name == "pytorch_model.bin.index.json";
}

nlohmann::json readIndexJson(const std::string& path)
{
    std::error_code ec;
    uintmax_t size = fs::file_size(path, ec);
    if (ec)
        throw FormatError(path, "cannot read: " + ec.message());
    if (size > kMaxIndexBytes)
        throw FormatError(path, "index is " + std::to_string(size) + " bytes, over the 100000000-byte limit");
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw FormatError(path, "cannot open for reading");
    std::ostringstream text;
    text << in.rdbuf();
    try {
        return nlohmann::json::parse(text.str());
    } catch (const nlohmann::json::exception& e) { // parse_error, or out_of_range (number overflow)
        throw FormatError(path, std::string("not valid JSON: ") + e.what());
    }
}

} // namespace

CheckpointFiles::CheckpointFiles(const std::string& modelDir)
{
    std::error_code ec;
    if (!fs::is_directory(modelDir, ec))
        throw FormatError(modelDir, "not a folder (expected a model folder with model.safetensors)");

    const fs::path dir(modelDir);
    const fs::path single = dir / "model.safetensors";
    const fs::path index = dir / "model.safetensors.index.json";
    if (fs::is_regular_file(single, ec)) {
        addShard(std::make_unique<SafetensorsReader>(single.string()));
        return;
    }
    if (fs::exists(index, ec)) {
        openIndex(modelDir, index.string());
        return;
    }

    std::vector<std::string> safetensors;
    std::vector<std::string> pickles;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        std::error_code typeEc;
        if (!it->is_regular_file(typeEc))
            continue;
        std::string name = it->path().filename().string();
        if (endsWith(name, ".safetensors"))
            safetensors.push_back(name);
        else if (isPickleName(name))
            pickles.push_back(name);
    }
    if (ec)
        throw FormatError(modelDir, "cannot list the folder: " + ec.message());
    std::sort(safetensors.begin(), safetensors.end());

    if (safetensors.size() == 1 && safetensors[0] == "adapter_model.safetensors")
        throw FormatError(modelDir, "holds a LoRA adapter (adapter_model.safetensors), not a model; "
                                    "expected model.safetensors or model.safetensors.index.json");
    if (safetensors.size() == 1) {
        addShard(std::make_unique<SafetensorsReader>((dir / safetensors[0]).string()));
        return;
    }
    if (safetensors.size() > 1) {
        std::string list;
        for (const std::string& n : safetensors)
            list += (list.empty() ? "" : ", ") + n;
        throw FormatError(modelDir, "several .safetensors files (" + list
                                    + ") but no model.safetensors.index.json saying which tensor is where");
    }
    if (!pickles.empty())
        throw FormatError(modelDir, "only PyTorch pickle checkpoints (pytorch_model.bin) found; Tunebench never "
                                    "loads pickle files (they can run code). Convert them to safetensors, e.g. "
                                    "with transformers: model.save_pretrained(dir, safe_serialization=True)");
    throw FormatError(modelDir, "no model weights found: expected model.safetensors, or "
                                "model.safetensors.index.json with its shards");
}

void CheckpointFiles::openIndex(const std::string& modelDir, const std::string& indexPath)
{
    nlohmann::json json = readIndexJson(indexPath);
    if (!json.is_object() || !json.contains("weight_map") || !json["weight_map"].is_object())
        throw FormatError(indexPath, "no \"weight_map\" object (tensor name -> shard file)");
    const nlohmann::json& weightMap = json["weight_map"];

    // shard file name -> tensors the index places there
    std::map<std::string, std::vector<std::string>> listed;
    for (auto it = weightMap.begin(); it != weightMap.end(); ++it) {
        if (!it.value().is_string())
            throw FormatError(indexPath, "weight_map entry for tensor \"" + it.key() + "\" is not a file name");
        std::string shard = it.value().get<std::string>();
        // Shards live beside the index; a path could point anywhere on disk.
        if (shard.empty() || shard.find('/') != std::string::npos || shard.find('\\') != std::string::npos
            || shard == "." || shard == "..")
            throw FormatError(indexPath, "tensor \"" + it.key() + "\" is mapped to \"" + shard
                                         + "\", which is not a plain file name in the model folder");
        listed[shard].push_back(it.key());
    }
    if (listed.empty())
        throw FormatError(indexPath, "\"weight_map\" is empty");

    for (const auto& [shard, tensorNames] : listed) {
        const fs::path shardPath = fs::path(modelDir) / shard;
        std::error_code ec;
        if (!fs::is_regular_file(shardPath, ec))
            throw FormatError(indexPath, "shard \"" + shard + "\" (holding tensor \"" + tensorNames.front()
                                         + "\" and " + std::to_string(tensorNames.size() - 1)
                                         + " more) does not exist in " + modelDir);
        auto reader = std::make_unique<SafetensorsReader>(shardPath.string());
        for (const std::string& name : tensorNames) {
            if (!reader->find(name))
                throw FormatError(indexPath, "tensor \"" + name + "\" is listed in shard \"" + shard
                                             + "\" but that file does not contain it");
        }
        addShard(std::move(reader));
    }
}

void CheckpointFiles::addShard(std::unique_ptr<SafetensorsReader> shard)
{
    for (const SafetensorInfo& info : shard->tensors()) {
        auto [it, inserted] = m_byName.emplace(info.name, Entry{shard.get(), &info});
        if (!inserted)
            throw FormatError(shard->path(), "tensor \"" + info.name + "\" is also in " + it->second.file->path()
                                                 + "; a tensor must be in exactly one shard");
    }
    m_shards.push_back(std::move(shard));
}

CheckpointFiles::Entry CheckpointFiles::find(const std::string& name) const
{
    auto it = m_byName.find(name);
    if (it == m_byName.end())
        return Entry{nullptr, nullptr};
    return it->second;
}

std::vector<std::string> CheckpointFiles::names() const
{
    std::vector<std::string> out;
    out.reserve(m_byName.size());
    for (const auto& kv : m_byName)
        out.push_back(kv.first);
    return out; // std::map iterates in sorted order
}

uint64_t CheckpointFiles::totalFileBytes() const
{
    uint64_t total = 0;
    for (const auto& shard : m_shards)
        total += shard->fileSize();
    return total;
}

} // namespace tb
