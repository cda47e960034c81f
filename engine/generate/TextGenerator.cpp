#include "generate/TextGenerator.h"

#include "generate/TokenSampler.h"
#include "model/KvCache.h"
#include "model/LlamaForCausalLM.h"
#include "tokenizer/Tokenizer.h"
#include "tokenizer/TokenizerConfig.h"

#include <algorithm>
#include <chrono>

namespace tb {

namespace {

using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point start)
{
    return std::chrono::duration<double>(Clock::now() - start).count();
}

// Bytes at the end of `text` that must wait: a trailing U+FFFD from a character whose bytes
// are still arriving, and the longest suffix that is a proper prefix of a stop string.
size_t heldBackBytes(const std::string& text, const std::vector<std::string>& stops)
{
    static const std::string replacement = "\xEF\xBF\xBD";
    size_t held = 0;
    if (text.size() >= 3 && text.compare(text.size() - 3, 3, replacement) == 0)
        held = 3;
    for (const std::string& stop : stops)
        for (size_t n = std::min(stop.size() - 1, text.size()); n > held; --n)
            if (text.compare(text.size() - n, n, stop, 0, n) == 0) {
                held = n;
                break;
            }
    return held;
}

} // namespace

double GenerationResult::tokensPerSecond() const
{
    return decodeSeconds > 0 ? static_cast<double>(tokenIds.size()) / decodeSeconds : 0.0;
}

const char* stopReasonName(StopReason reason)
{
    switch (reason) {
    case StopReason::MaxTokens: return "max_tokens";
    case StopReason::Eos: return "eos";
    case StopReason::StopString: return "stop_string";
    case StopReason::Cancelled: return "cancelled";
    case StopReason::ContextFull: return "context_full";
    }
    return "unknown";
}

std::vector<int64_t> defaultEosTokenIds(const ModelConfig& config, const Tokenizer& tokenizer,
                                        const TokenizerConfig& tokenizerConfig)
{
    std::vector<int64_t> ids = config.eosTokenIds;
    if (!tokenizerConfig.eosToken.empty()) {
        const int64_t id = tokenizer.tokenToId(tokenizerConfig.eosToken);
        if (id >= 0 && std::find(ids.begin(), ids.end(), id) == ids.end())
            ids.push_back(id);
    }
    return ids;
}

TextGenerator::TextGenerator(LlamaForCausalLM& model, const Tokenizer& tokenizer)
    : m_model(model), m_tokenizer(tokenizer)
{
}

GenerationResult TextGenerator::generate(const std::vector<int64_t>& promptIds, const GenerationOptions& options,
                                         const std::function<bool(const std::string&)>& onText)
{
    at::NoGradGuard noGrad;
    GenerationResult result;
    if (promptIds.empty())
        throw std::invalid_argument("generate: the prompt has no tokens");
    const int64_t contextLimit = m_model.config().maxPositionEmbeddings;
    if (static_cast<int64_t>(promptIds.size()) >= contextLimit)
        throw std::invalid_argument("generate: the prompt has " + std::to_string(promptIds.size())
                                    + " tokens, the model's context is " + std::to_string(contextLimit));
    const int64_t vocabSize = m_model.config().vocabSize;
    for (const int64_t id : promptIds)
        if (id < 0 || id >= vocabSize)
            throw std::invalid_argument("generate: prompt token id " + m_tokenizer.describeId(id)
                                        + " is past the model's vocabulary: config.json has vocab_size "
                                        + std::to_string(vocabSize) + "; the tokenizer does not match the model");

    const at::Device device = m_model.lmHeadWeight().device();
    const auto idOptions = at::TensorOptions().dtype(at::kLong);
    KvCache cache(m_model.config().numLayers);
    TokenSampler sampler(options.temperature, options.topP, options.seed);

    auto start = Clock::now();
    at::Tensor input = at::tensor(at::ArrayRef<int64_t>(promptIds), idOptions).view({1, -1}).to(device);
    // Only the last position's logits are needed: project just that hidden state.
    at::Tensor hidden = m_model.hiddenStates(input, &cache);
    at::Tensor lastLogits = m_model.logits(hidden.select(1, hidden.size(1) - 1)).squeeze(0);
    result.promptSeconds = secondsSince(start);
    start = Clock::now();

    std::vector<int32_t> generated;
    std::string text;
    size_t emitted = 0;
    auto emit = [&](size_t upTo) {
        if (upTo <= emitted)
            return true;
        const bool keepGoing = !onText || onText(text.substr(emitted, upTo - emitted));
        emitted = upTo;
        return keepGoing;
    };

    for (int step = 0; step < options.maxNewTokens; ++step) {
        const int64_t token = sampler.next(lastLogits);
        if (std::find(options.eosTokenIds.begin(), options.eosTokenIds.end(), token) != options.eosTokenIds.end()) {
            result.stopReason = StopReason::Eos;
            break;
        }
        result.tokenIds.push_back(token);
        generated.push_back(static_cast<int32_t>(token));
        text = m_tokenizer.decode(generated, /*skipSpecialTokens=*/true);

        size_t stopAt = std::string::npos;
        for (const std::string& stop : options.stopStrings)
            if (!stop.empty())
                stopAt = std::min(stopAt, text.find(stop));
        if (stopAt != std::string::npos) {
            text.resize(stopAt);
            result.stopReason = StopReason::StopString;
            break;
        }
        if (!emit(text.size() - heldBackBytes(text, options.stopStrings))) {
            result.stopReason = StopReason::Cancelled;
            break;
        }
        if (cache.length() + 1 >= contextLimit) {
            result.stopReason = StopReason::ContextFull;
            break;
        }
        at::Tensor next = at::full({1, 1}, token, idOptions).to(device);
        lastLogits = m_model.forward(next, &cache).view({-1});
    }
    if (result.stopReason != StopReason::Cancelled)
        emit(text.size());
    result.text = text;
    result.decodeSeconds = secondsSince(start);
    return result;
}

} // namespace tb
