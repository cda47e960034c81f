#include "cli/ArgList.h"
#include "cli/Commands.h"

#include "core/ThreadSettings.h"
#include "lora/PeftAdapter.h"
#include "model/ModelLoader.h"
#include "model/TensorIO.h"
#include "tokenizer/Tokenizer.h"
#include "tokenizer/TokenizerConfig.h"
#include "train/CausalLmLoss.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <iostream>

namespace tbcli {

int runEval(const std::vector<std::string>& args)
{
    const ArgList a(args, {"model", "adapter", "data", "seq-len", "batch-size", "format", "dtype", "device", "threads"},
                    {"json", "train-on-prompt"});
    namespace fs = std::filesystem;
    const std::string dir = a.required("model");
    tb::configureThreads(static_cast<int>(a.integer("threads", 0, 0, 1024)));
    tb::LoadOptions load;
    const auto dtype = tb::scalarTypeFromName(a.text("dtype", "bf16"));
    if (!dtype)
        throw UsageError("option --dtype: expected bf16, fp32 or fp16");
    load.dtype = *dtype;
    load.device = a.text("device", "cpu");
    tb::DatasetOptions options;
    options.maxSeqLen = a.integer("seq-len", 512, 2, 1 << 22);
    options.trainOnPrompt = a.has("train-on-prompt");
    options.validationFraction = 0.0; // every record is evaluated
    try {
        options.format = tb::datasetFormatFromName(a.text("format", "auto"));
    } catch (const std::invalid_argument& e) {
        throw UsageError(e.what());
    }

    tb::LoadedModel loaded = tb::loadModel(dir, load);
    for (const auto& warning : loaded.warnings)
        std::cerr << "warning: " << warning << "\n";
    if (a.has("adapter"))
        tb::loadPeftAdapter(*loaded.model, a.required("adapter"));
    const tb::Tokenizer tokenizer = tb::Tokenizer::fromFile((fs::path(dir) / "tokenizer.json").string());
    const tb::TokenizerConfig tokenizerConfig = tb::TokenizerConfig::fromFile((fs::path(dir) / "tokenizer_config.json").string());
    const tb::PreparedDataset data = tb::prepareDataset(a.required("data"), "", tokenizer, tokenizerConfig, options);
    tb::checkTokenIdsBelow(data, loaded.model->config().vocabSize, a.required("data"), "", tokenizer);
    for (const auto& w : data.trainStats.warnings)
        std::cerr << "warning: " << w << "\n";
    const tb::EvalReport r = tb::evaluateLoss(*loaded.model, data.train, a.integer("batch-size", 8, 1, 1 << 20),
                                              tb::parseDevice(load.device));
    if (r.tokens == 0)
        throw std::runtime_error(a.required("data") + ": no tokens to evaluate (every target is masked)");
    if (a.has("json"))
        std::cout << nlohmann::json{{"loss", r.loss}, {"perplexity", r.perplexity}, {"tokens", r.tokens},
                                    {"examples", data.train.size()}}.dump()
                  << "\n";
    else
        std::cout << "loss " << r.loss << "  perplexity " << r.perplexity << "  (" << r.tokens << " target tokens in "
                  << data.train.size() << " examples)\n";
    return 0;
}

} // namespace tbcli
