#include "cli/ArgList.h"
#include "cli/Commands.h"

#include "data/TrainingDataset.h"
#include "tokenizer/Tokenizer.h"
#include "tokenizer/TokenizerConfig.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <iostream>

namespace tbcli {

namespace {

nlohmann::json statsJson(const tb::DatasetStats& s)
{
    return {{"records", s.records},           {"skipped", s.skipped},      {"truncated", s.truncated},
            {"tokens", s.tokens},             {"loss_tokens", s.lossTokens}, {"histogram_bucket", s.histogramBucket},
            {"length_histogram", s.lengthHistogram}, {"warnings", s.warnings}};
}

void printStats(const char* split, const tb::DatasetStats& s)
{
    std::cout << split << ": " << s.records << " records, " << s.tokens << " tokens (" << s.lossTokens << " in the loss), "
              << s.truncated << " truncated, " << s.skipped << " skipped\n";
    const int64_t most = s.lengthHistogram.empty() ? 0 : *std::max_element(s.lengthHistogram.begin(), s.lengthHistogram.end());
    for (size_t i = 0; i < s.lengthHistogram.size(); ++i) {
        if (s.lengthHistogram[i] == 0)
            continue;
        const int64_t lo = static_cast<int64_t>(i) * s.histogramBucket;
        const int bar = most > 0 ? static_cast<int>(40 * s.lengthHistogram[i] / most) : 0;
        std::cout << "  " << lo << "-" << lo + s.histogramBucket - 1 << " tokens\t" << std::string(std::max(bar, 1), '#') << " "
                  << s.lengthHistogram[i] << "\n";
    }
    const size_t shown = std::min<size_t>(s.warnings.size(), 5);
    for (size_t i = 0; i < shown; ++i)
        std::cout << "  warning: " << s.warnings[i] << "\n";
    if (static_cast<int64_t>(shown) < s.skipped + s.truncated && s.warnings.size() > shown)
        std::cout << "  ... " << s.warnings.size() - shown << " more warnings (--json lists them)\n";
}

} // namespace

int runDataset(const std::vector<std::string>& args)
{
    const ArgList a(args, {"model", "data", "val-data", "seq-len", "format", "val-fraction", "seed", "preview"},
                    {"pack", "train-on-prompt", "json"});
    namespace fs = std::filesystem;
    const std::string dir = a.required("model");
    tb::DatasetOptions options;
    options.maxSeqLen = a.integer("seq-len", 512, 2, 1 << 22);
    options.pack = a.has("pack");
    options.trainOnPrompt = a.has("train-on-prompt");
    options.validationFraction = a.number("val-fraction", 0.1, 0.0, 0.99);
    options.splitSeed = static_cast<uint64_t>(a.integer("seed", 42, 0, 1LL << 62));
    try {
        options.format = tb::datasetFormatFromName(a.text("format", "auto"));
    } catch (const std::invalid_argument& e) {
        throw UsageError(e.what());
    }
    const tb::Tokenizer tokenizer = tb::Tokenizer::fromFile((fs::path(dir) / "tokenizer.json").string());
    const tb::TokenizerConfig tokenizerConfig = tb::TokenizerConfig::fromFile((fs::path(dir) / "tokenizer_config.json").string());
    const tb::PreparedDataset data = tb::prepareDataset(a.required("data"), a.text("val-data", ""), tokenizer, tokenizerConfig, options);
    const int preview = static_cast<int>(a.integer("preview", 2, 0, 1000));
    const auto records = tb::renderRecordSegments(a.required("data"), tokenizer, tokenizerConfig, options, preview);

    if (a.has("json")) {
        nlohmann::json shown = nlohmann::json::array();
        for (const auto& r : records) {
            nlohmann::json segments = nlohmann::json::array();
            for (const auto& s : r.segments)
                segments.push_back({{"text", s.text}, {"masked", s.masked}, {"tokens", s.tokens}});
            shown.push_back({{"line", r.sourceLine}, {"segments", segments}, {"skip_reason", r.skipReason}});
        }
        std::cout << nlohmann::json{{"format", tb::datasetFormatName(data.format)},
                                    {"train", statsJson(data.trainStats)},
                                    {"validation", statsJson(data.validationStats)},
                                    {"preview", shown}}
                         .dump(2, ' ', false, nlohmann::json::error_handler_t::replace)
                  << "\n";
        return 0;
    }
    std::cout << "Format " << tb::datasetFormatName(data.format) << ", sequence length " << options.maxSeqLen
              << (options.pack ? ", packed" : "") << "\n";
    printStats("Train", data.trainStats);
    printStats("Validation", data.validationStats);
    // The loss-bearing part of each record is shown between [[ and ]].
    for (const auto& r : records) {
        std::cout << "\n--- line " << r.sourceLine << (r.skipReason.empty() ? "" : " (skipped: " + r.skipReason + ")") << "\n";
        for (const auto& s : r.segments)
            std::cout << (s.masked ? s.text : "[[" + s.text + "]]");
        std::cout << "\n";
    }
    return 0;
}

} // namespace tbcli
