#include "cli/ArgList.h"
#include "cli/Commands.h"

#include "core/ThreadSettings.h"
#include "generate/ChatPrompt.h"
#include "generate/TextGenerator.h"
#include "lora/PeftAdapter.h"
#include "model/ModelLoader.h"
#include "model/TensorIO.h"
#include "tokenizer/Tokenizer.h"
#include "tokenizer/TokenizerConfig.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <iostream>

namespace tbcli {

int runGenerate(const std::vector<std::string>& args)
{
    const ArgList a(args, {"model", "adapter", "prompt", "max-new-tokens", "temperature", "top-p", "seed", "stop", "dtype", "device", "threads", "system"},
                    {"json", "chat"});
    namespace fs = std::filesystem;
    const std::string dir = a.required("model");
    const std::string prompt = a.required("prompt");
    tb::GenerationOptions options;
    options.maxNewTokens = static_cast<int>(a.integer("max-new-tokens", 64, 1, 1 << 20));
    options.temperature = a.number("temperature", 0.0, 0.0, 100.0);
    options.topP = a.number("top-p", 1.0, 0.0, 1.0);
    options.seed = static_cast<uint64_t>(a.integer("seed", 0, 0, (1LL << 62)));
    options.stopStrings = a.all("stop");
    const auto dtype = tb::scalarTypeFromName(a.text("dtype", "bf16"));
    if (!dtype)
        throw UsageError("option --dtype: expected bf16, fp32 or fp16");
    const bool json = a.has("json");
    tb::configureThreads(static_cast<int>(a.integer("threads", 0, 0, 1024)));

    tb::LoadOptions load;
    load.dtype = *dtype;
    load.device = a.text("device", "cpu");
    const tb::LoadedModel loaded = tb::loadModel(dir, load);
    for (const auto& warning : loaded.warnings)
        std::cerr << "warning: " << warning << "\n";
    if (a.has("adapter"))
        tb::loadPeftAdapter(*loaded.model, a.required("adapter"));
    const tb::Tokenizer tokenizer = tb::Tokenizer::fromFile((fs::path(dir) / "tokenizer.json").string());
    const tb::TokenizerConfig tokenizerConfig = tb::TokenizerConfig::fromFile((fs::path(dir) / "tokenizer_config.json").string());
    options.eosTokenIds = tb::defaultEosTokenIds(loaded.config, tokenizer, tokenizerConfig);

    if (a.has("system") && !a.has("chat"))
        throw UsageError("--system needs --chat");
    const tb::GenerationPrompt text = tb::generationPrompt(tokenizerConfig, (fs::path(dir) / "tokenizer_config.json").string(),
                                                           prompt, a.has("chat"), a.text("system", ""));
    const std::vector<int32_t> encoded = tokenizer.encode(text.text, text.addSpecialTokens);
    const std::vector<int64_t> promptIds(encoded.begin(), encoded.end());
    tb::TextGenerator generator(*loaded.model, tokenizer);
    const tb::GenerationResult result = generator.generate(promptIds, options, [&](const std::string& piece) {
        if (json)
            std::cout << nlohmann::json{{"event", "text"}, {"text", piece}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
        else
            std::cout << piece << std::flush;
        return true;
    });
    if (json) {
        std::cout << nlohmann::json{{"event", "end"},
                                    {"stop_reason", tb::stopReasonName(result.stopReason)},
                                    {"prompt_tokens", promptIds.size()},
                                    {"new_tokens", result.tokenIds.size()},
                                    {"ids", result.tokenIds},
                                    {"tokens_per_second", result.tokensPerSecond()}}
                         .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
                  << std::endl;
    } else {
        std::cout << "\n";
        std::cerr << "[" << result.tokenIds.size() << " tokens, " << tb::stopReasonName(result.stopReason) << ", "
                  << static_cast<int>(result.tokensPerSecond()) << " tokens/s]\n";
    }
    return 0;
}

} // namespace tbcli
