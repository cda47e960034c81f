#include "cli/ArgList.h"
#include "cli/Commands.h"
#include "cli/TextFormat.h"

#include "formats/CheckpointFiles.h"
#include "formats/ModelConfig.h"
#include "formats/WeightFootprint.h"
#include "gguf/GgufReader.h"
#include "cpu/GgmlQuant.h"
#include "tokenizer/Tokenizer.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
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

bool isGgufFile(const std::string& path)
{
    namespace fs = std::filesystem;
    if (!fs::is_regular_file(path))
        return false;
    std::ifstream in(path, std::ios::binary);
    char magic[4] = {};
    in.read(magic, 4);
    return in && std::string(magic, 4) == "GGUF";
}

// A GGUF file: what llama.cpp will see (gguf/GgufReader validates it on the way).
int inspectGguf(const std::string& path, bool json)
{
    const tb::GgufReader r(path);
    std::map<std::string, std::pair<int, uint64_t>> byType; // type -> tensors, bytes
    uint64_t tensorBytes = 0;
    int64_t elements = 0;
    nlohmann::json tensors = nlohmann::json::array();
    for (const auto& t : r.tensors()) {
        const tbk::GgmlTypeInfo* info = tbk::ggmlTypeInfo(t.ggmlType);
        auto& slot = byType[info->name];
        slot.first += 1;
        slot.second += t.bytes;
        tensorBytes += t.bytes;
        elements += t.elements();
        tensors.push_back({{"name", t.name}, {"type", info->name}, {"dims", t.dims}, {"bytes", t.bytes}});
    }
    auto text = [&](const char* key) {
        const tb::GgufValue* v = r.find(key);
        return v && v->type == tb::GgufType::String ? v->text : std::string();
    };
    if (json) {
        nlohmann::json meta = nlohmann::json::object();
        for (const auto& kv : r.metadata())
            meta[kv.key] = kv.value.display(16);
        nlohmann::json types = nlohmann::json::object();
        for (const auto& [name, v] : byType)
            types[name] = {{"tensors", v.first}, {"bytes", v.second}};
        nlohmann::json j = {{"path", path},        {"format", "gguf"},          {"version", r.version()},
                            {"architecture", text("general.architecture")}, {"type", text("general.type")},
                            {"name", text("general.name")}, {"alignment", r.alignment()}, {"file_bytes", r.fileSize()},
                            {"tensor_bytes", tensorBytes},  {"elements", elements},      {"tensor_types", types},
                            {"metadata", meta},             {"tensors", tensors}};
        std::cout << j.dump(2) << "\n";
        return 0;
    }
    std::cout << "GGUF file      " << path << " (version " << r.version() << ", " << humanBytes(static_cast<long long>(r.fileSize()))
              << ")\n"
              << "Architecture   " << text("general.architecture") << " (" << (text("general.type").empty() ? "model" : text("general.type"))
              << ")\n"
              << "Name           " << text("general.name") << "\n"
              << "Tensors        " << r.tensors().size() << ", " << elements << " elements, " << humanBytes(static_cast<long long>(tensorBytes))
              << "\n";
    for (const auto& [name, v] : byType)
        std::cout << "  " << std::left << std::setw(6) << name << std::right << std::setw(6) << v.first << " tensors  "
                  << humanBytes(static_cast<long long>(v.second)) << "\n";
    std::cout << "Metadata (" << r.metadata().size() << " keys)\n";
    for (const auto& kv : r.metadata())
        std::cout << "  " << kv.key << " = " << kv.value.display() << "\n";
    std::cout << "Tensors\n";
    for (const auto& t : r.tensors()) {
        std::string dims;
        for (int64_t d : t.dims)
            dims += (dims.empty() ? "" : " x ") + std::to_string(d);
        std::cout << "  " << std::left << std::setw(32) << t.name << " " << std::setw(5) << tbk::ggmlTypeInfo(t.ggmlType)->name << " "
                  << std::setw(16) << dims << std::right << " " << humanBytes(static_cast<long long>(t.bytes)) << "\n";
    }
    return 0;
}

} // namespace

int runInspect(const std::vector<std::string>& rawArgs)
{
    // `inspect FILE.gguf` as well as `inspect --model DIR|FILE.gguf`.
    std::vector<std::string> args = rawArgs;
    if (!args.empty() && args[0].rfind("--", 0) != 0)
        args.insert(args.begin(), "--model");
    const ArgList a(args, {"model"}, {"json"});
    const std::string dir = a.required("model");
    if (isGgufFile(dir))
        return inspectGguf(dir, a.has("json"));
    namespace fs = std::filesystem;
    const tb::ModelConfig c = tb::ModelConfig::fromFile((fs::path(dir) / "config.json").string());
    const tb::CheckpointFiles checkpoint(dir);
    const tb::WeightFootprint f = tb::weightFootprint(c);

    std::map<std::string, long long> storedDtypes; // parameters per stored dtype
    long long checkpointParameters = 0;            // what the model would load (as loadModel skips)
    for (const auto& shard : checkpoint.shards())
        for (const auto& t : shard->tensors()) {
            storedDtypes[tb::dtypeName(t.dtype)] += t.numel();
            const bool ropeBuffer = t.name.size() > 19 && t.name.compare(t.name.size() - 19, 19, "rotary_emb.inv_freq") == 0;
            const bool tiedCopy = t.name == "lm_head.weight" && c.tieWordEmbeddings;
            if (!ropeBuffer && !tiedCopy)
                checkpointParameters += t.numel();
        }
    // config.json's own warnings (keys its config class does not have), then a checkpoint that
    // holds more or fewer parameters than the config implies (loading names the tensors).
    std::vector<std::string> warnings = c.warnings;
    if (checkpointParameters != f.totalParameters)
        warnings.push_back("the checkpoint holds " + std::to_string(checkpointParameters) + " parameters, config.json implies "
                           + std::to_string(f.totalParameters) + " (" + (checkpointParameters > f.totalParameters ? "+" : "")
                           + std::to_string(checkpointParameters - f.totalParameters)
                           + "): loading names the tensors that do not fit");
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
        {"checkpoint_parameters", checkpointParameters},
        {"quantizable_parameters", f.quantizableParameters},
        {"torch_dtype", c.torchDtype},
        {"stored_dtypes", storedDtypes},
        {"file_bytes", checkpoint.totalFileBytes()},
        {"shards", checkpoint.shards().size()},
        {"weight_bytes", {{"bf16", f.bf16Bytes}, {"fp32", f.fp32Bytes}, {"nf4", f.nf4Bytes}, {"nf4_no_double_quant", f.nf4NoDqBytes}}},
    };
    if (tokenizerVocab >= 0)
        j["tokenizer_vocab_size"] = tokenizerVocab;
    j["sliding_window"] = c.slidingWindow;
    std::vector<int64_t> slidingLayers;
    for (int64_t i = 0; i < c.numLayers; ++i)
        if (c.attentionWindow(i) > 0)
            slidingLayers.push_back(i);
    j["sliding_layers"] = slidingLayers;
    j["attention_bias"] = {{"q_k_v", c.qkvBias}, {"o_proj", c.outputBias}};
    j["warnings"] = warnings;

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
              << "Embeddings     " << (c.tieWordEmbeddings ? "tied to lm_head" : "separate lm_head") << "\n";
    if (c.qkvBias || c.outputBias)
        std::cout << "Biases         " << (c.qkvBias ? "q/k/v_proj" : "") << (c.qkvBias && c.outputBias ? ", " : "")
                  << (c.outputBias ? "o_proj" : "") << "\n";
    if (c.slidingWindow > 0) {
        int64_t sliding = 0;
        for (int64_t i = 0; i < c.numLayers; ++i)
            sliding += c.attentionWindow(i) > 0 ? 1 : 0;
        std::cout << "Sliding window " << c.slidingWindow << " positions in " << sliding << " of " << c.numLayers << " layers\n";
    }
    std::cout << "Parameters     " << f.totalParameters << " (" << std::fixed << std::setprecision(1)
              << f.totalParameters / 1e6 << " M)"
              << (checkpointParameters == f.totalParameters ? ", as the checkpoint holds" : "") << "\n"
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
    for (const auto& w : warnings)
        std::cout << "warning: " << w << "\n";
    return 0;
}

} // namespace tbcli
