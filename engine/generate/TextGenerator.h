// Autoregressive generation with a KV cache: the prompt is run once, then one token per step.
// Text is streamed through a callback as soon as it is final: bytes of an incomplete UTF-8
// character and text that could still become a stop string are held back until resolved.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace tb {

class LlamaForCausalLM;
class Tokenizer;

struct GenerationOptions {
    int maxNewTokens = 64;
    double temperature = 0.0; // 0 = greedy
    double topP = 1.0;
    uint64_t seed = 0;
    std::vector<int64_t> eosTokenIds; // stop when one is produced (not included in the text)
    std::vector<std::string> stopStrings; // stop when the text contains one (text cut before it)
};

enum class StopReason { MaxTokens, Eos, StopString, Cancelled, ContextFull };

struct GenerationResult {
    std::vector<int64_t> tokenIds; // generated ids only
    std::string text;
    StopReason stopReason = StopReason::MaxTokens;
    double promptSeconds = 0.0;
    double decodeSeconds = 0.0;
    double tokensPerSecond() const;
};

const char* stopReasonName(StopReason reason); // "max_tokens", "eos", "stop_string", ...

struct ModelConfig;
struct TokenizerConfig;
// The ids that end generation: config.json's eos_token_id (one or a list) and
// tokenizer_config.json's eos_token (chat models end a turn with it).
std::vector<int64_t> defaultEosTokenIds(const ModelConfig& config, const Tokenizer& tokenizer,
                                        const TokenizerConfig& tokenizerConfig);

class TextGenerator {
public:
    TextGenerator(LlamaForCausalLM& model, const Tokenizer& tokenizer);

    // onText receives each newly final piece of text; returning false cancels.
    GenerationResult generate(const std::vector<int64_t>& promptIds, const GenerationOptions& options,
                              const std::function<bool(const std::string&)>& onText = {});

private:
    LlamaForCausalLM& m_model;
    const Tokenizer& m_tokenizer;
};

} // namespace tb
