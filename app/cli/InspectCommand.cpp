#include "cli/ArgList.h"
#include "cli/Commands.h"
#include "cli/TextFormat.h"

#include "formats/CheckpointFiles.h"
#include "formats/ModelConfig.h"
#include "formats/WeightFootprint.h"
#include "tokenizer/Tokenizer.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>

namespace tbcli {

namespace {

const char* ropeName(tb::RopeScalingType type)
{
    switch (type) {
    case tb::RopeScalingType::None: return "none";
    case tb::RopeScalingType::Linear: return "linear";
    case tb::RopeScalingType::Llama3: return "llama3";
    }
    return "none";
}

} // namespace

int runInspect(const std::vector<std::string>& args)
{
    const ArgList a(args, {"model"}, {"json"});
    const std::string dir = a.required("model");
    namespace fs = std::filesystem;
    const tb::ModelConfig c = tb::ModelConfig::fromFile((fs::path(dir) / "config.json").string());
    const tb::CheckpointFiles checkpoint(dir);
    const tb::WeightFootprint f = tb::weightFootprint(c);

    std::map<std::string, long long> storedDtypes; // parameters per stored dtype
    for (const auto& shard : checkpoint.shards())
        for (const auto& t : shard->tensors())
            storedDtypes[tb::dtypeName(t.dtype)] += t.numel();
    long long tokenizerVocab = -1;
    const fs::path tokenizerPath = fs::path(dir) / "tokenizer.json";
    if (fs::exists(tokenizerPath))
        tokenizerVocab = static_cast<long long>(tb::Tokenizer::fromFile(tokenizerPath.string()).vocabSize());

    nlohmann::json j = {
        {"path", dir},
        {"architecture", c.architecture},
        {"model_type", c.modelType},
        {"layers", c.numLayers},
        {"hidden_size", c.hiddenSize},
        {"intermediate_size", c.intermediateSize},
        {"attention_heads", c.numHeads},
        {"key_value_heads", c.numKeyValueHeads},
        {"head_dim", c.headDim},
        {"vocab_size", c.vocabSize},
        {"max_position_embeddings", c.maxPositionEmbeddings},
        {"tie_word_embeddings", c.tieWordEmbeddings},
        {"rope_theta", c.ropeTheta},
        {"rope_scaling", ropeName(c.ropeScaling.type)},
        {"parameters", f.totalParameters},
        {"quantizable_parameters", f.quantizableParameters},
        {"torch_dtype", c.torchDtype},
        {"stored_dtypes", storedDtypes},
        {"file_bytes", checkpoint.totalFileBytes()},
        {"shards", checkpoint.shards().size()},
        {"weight_bytes", {{"bf16", f.bf16Bytes}, {"fp32", f.fp32Bytes}, {"nf4", f.nf4Bytes}, {"nf4_no_double_quant", f.nf4NoDqBytes}}},
    };
    if (tokenizerVocab >= 0)
        j["tokenizer_vocab_size"] = tokenizerVocab;

    if (a.has("json")) {
        std::cout << j.dump(2) << "\n";
        return 0;
    }
    std::cout << "Model          " << dir << "\n"
              << "Architecture   " << c.architecture << " (" << c.modelType << ")\n"
              << "Layers         " << c.numLayers << "\n"
              << "Hidden size    " << c.hiddenSize << " (MLP " << c.intermediateSize << ")\n"
              << "Heads          " << c.numHeads << " query, " << c.numKeyValueHeads << " key/value, head dim "
              << c.headDim << "\n"
              << "Vocabulary     " << c.vocabSize;
    if (tokenizerVocab >= 0)
        std::cout << " (tokenizer.json: " << tokenizerVocab << ")";
    if (tokenizerVocab > c.vocabSize)
        std::cout << "\n               tokenizer ids " << c.vocabSize << " and up have no embedding row: data or "
                  << "prompts that use them are refused";
    std::cout << "\nContext        " << c.maxPositionEmbeddings << " positions, RoPE theta " << c.ropeTheta
              << ", scaling " << ropeName(c.ropeScaling.type) << "\n"
              << "Embeddings     " << (c.tieWordEmbeddings ? "tied to lm_head" : "separate lm_head") << "\n"
              << "Parameters     " << f.totalParameters << " (" << std::fixed << std::setprecision(1)
              << f.totalParameters / 1e6 << " M)\n"
              << "Stored dtype   " << c.torchDtype << " (";
    bool first = true;
    for (const auto& [name, count] : storedDtypes) {
        std::cout << (first ? "" : ", ") << name << ": " << count;
        first = false;
    }
    std::cout << " parameters)\n"
              << "Files          " << humanBytes(static_cast<long long>(checkpoint.totalFileBytes())) << " in "
              << checkpoint.shards().size() << " safetensors file(s)\n"
              << "Weights in     bf16 " << humanBytes(f.bf16Bytes) << ", fp32 " << humanBytes(f.fp32Bytes) << ", NF4 "
              << humanBytes(f.nf4Bytes) << " (double quant; " << humanBytes(f.nf4NoDqBytes) << " without)\n"
              << "               NF4 quantizes the " << f.quantizableParameters
              << " decoder linear weights; embeddings, norms and lm_head stay bf16, as in QLoRA.\n";
    return 0;
}

} // namespace tbcli
