#include "demo/DemoModelMaker.h"

#include "model/LlamaForCausalLM.h"
#include "model/ModelLoader.h"
#include "tokenizer/BpeTrainer.h"
#include "tokenizer/Tokenizer.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <stdexcept>

extern const unsigned char kTunebenchDemoCorpus[];
extern const unsigned long kTunebenchDemoCorpusSize;

namespace tb {

namespace fs = std::filesystem;

const char* const kDemoBosToken = "<|begin_of_text|>";
const char* const kDemoEosToken = "<|end_of_text|>";
const char* const kDemoImStart = "<|im_start|>";
const char* const kDemoImEnd = "<|im_end|>";
const char* const kDemoPadToken = "<|pad|>";

namespace {

constexpr int kDemoVocabSize = 4096;

// ChatML, as Qwen and SmolLM use it. No bos_token in the template: the tokenizer's
// post-processor already adds it, and both would give a doubled BOS.
const char* const kChatTemplate =
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

void writeText(const fs::path& path, const std::string& text)
{
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    out.close();
    if (!out)
        throw std::runtime_error(path.string() + ": cannot write");
}

} // namespace

std::vector<std::string> demoPresetNames()
{
    return {"tiny", "small"};
}

ModelConfig demoModelConfig(const std::string& preset)
{
    ModelConfig c;
    c.architecture = "LlamaForCausalLM";
    c.modelType = "llama";
    c.vocabSize = kDemoVocabSize;
    c.ropeTheta = 10000.0;
    c.rmsNormEps = 1e-5;
    c.torchDtype = "bfloat16";
    c.bosTokenId = kDemoVocabSize - 5;
    c.eosTokenIds = {kDemoVocabSize - 4, kDemoVocabSize - 2}; // end_of_text, im_end
    c.eosTokenId = c.eosTokenIds.front();
    if (preset == "tiny") {
        c.hiddenSize = 256;
        c.intermediateSize = 688;
        c.numLayers = 4;
        c.numHeads = 4;
        c.numKeyValueHeads = 2; // grouped-query attention, as in Llama 3
        c.maxPositionEmbeddings = 1024;
        c.tieWordEmbeddings = true;
    } else if (preset == "small") {
        c.hiddenSize = 768;
        c.intermediateSize = 2048;
        c.numLayers = 12;
        c.numHeads = 12;
        c.numKeyValueHeads = 4;
        c.maxPositionEmbeddings = 2048;
        c.tieWordEmbeddings = false;
    } else {
        throw std::invalid_argument("unknown demo preset \"" + preset + "\" (expected tiny or small)");
    }
    c.headDim = c.hiddenSize / c.numHeads;
    return c;
}

std::vector<std::string> demoCorpusParagraphs()
{
    const std::string corpus(reinterpret_cast<const char*>(kTunebenchDemoCorpus), kTunebenchDemoCorpusSize);
    std::vector<std::string> paragraphs;
    size_t start = 0;
    while (start < corpus.size()) {
        size_t end = corpus.find("\n\n", start);
        if (end == std::string::npos)
            end = corpus.size();
        if (end > start)
            paragraphs.push_back(corpus.substr(start, end - start));
        start = end + 2;
    }
    return paragraphs;
}

void makeDemoModel(const std::string& outDir, const std::string& preset, uint64_t seed)
{
    const ModelConfig config = demoModelConfig(preset);
    const fs::path dir(outDir);
    fs::create_directories(dir);

    const std::vector<std::string> specials = {kDemoBosToken, kDemoEosToken, kDemoImStart, kDemoImEnd, kDemoPadToken};
    const std::string tokenizerJson =
        trainByteLevelBpeTokenizerJson(demoCorpusParagraphs(), kDemoVocabSize, specials, kDemoBosToken);
    const Tokenizer tokenizer = Tokenizer::fromJson(tokenizerJson, "demo tokenizer.json");
    if (tokenizer.tokenToId(kDemoBosToken) != config.bosTokenId || tokenizer.tokenToId(kDemoImEnd) != config.eosTokenIds[1])
        throw std::logic_error("demo tokenizer: special token ids do not follow the learned vocabulary");
    writeText(dir / "tokenizer.json", tokenizerJson);

    nlohmann::json tokenizerConfig = {
        {"bos_token", kDemoBosToken},  {"eos_token", kDemoImEnd},        {"pad_token", kDemoPadToken},
        {"unk_token", nullptr},        {"add_bos_token", true},          {"add_eos_token", false},
        {"chat_template", kChatTemplate}, {"model_max_length", config.maxPositionEmbeddings},
        {"tokenizer_class", "PreTrainedTokenizerFast"}, {"clean_up_tokenization_spaces", false}};
    writeText(dir / "tokenizer_config.json", tokenizerConfig.dump(2) + "\n");
    nlohmann::json generationConfig = {{"bos_token_id", config.bosTokenId}, {"eos_token_id", config.eosTokenIds}};
    writeText(dir / "generation_config.json", generationConfig.dump(2) + "\n");

    LlamaForCausalLM model(config, at::TensorOptions().dtype(at::kFloat));
    model.initializeRandom(seed);
    saveModelFolder(model, dir.string(), at::kBFloat16);
}

} // namespace tb
