// What a LoRA vs QLoRA vs full comparison report trains and measures: one plain struct that
// `tunebench-cli report` fills from its options and the GUI's "Compare methods" action from
// its form. Every method is trained on the same model, data, seed, steps, sequence length,
// batch size and rank; only the method (and its default learning rate) differs.
//
// No Qt, no Torch; any thread.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tb {

// How the "largest batch / longest sequence within the budget" rows are found (FitFinder):
// Confirm: the estimator's answer, then a few real training steps in a capped child process
// (stepping down until one fits); Estimate: the estimator's answer only; Off: no such rows' figures.
enum class FitMode { Confirm, Estimate, Off };
const char* fitModeName(FitMode mode);            // "confirm", "estimate", "off"
FitMode fitModeFromName(const std::string& name); // throws std::invalid_argument

struct MethodComparisonRequest {
    std::string modelDir;                 // a Hugging Face model folder (config.json, *.safetensors)
    std::string dataPath;                 // training data (JSON Lines, as `train --data`)
    std::string validationPath;           // "": `train` splits 10% off dataPath
    std::vector<std::string> methods{"lora", "qlora", "full"}; // each once, in column order
    int64_t steps = 20;                   // optimizer steps per method
    int64_t seqLen = 256;                 // tokens per sequence
    int64_t batchSize = 4;                // sequences per step
    int64_t rank = 8;                     // LoRA/QLoRA rank (alpha = 2 x rank, `train`'s default)
    uint64_t seed = 42;
    int threads = 0;                      // 0: all cores
    std::string device = "cpu";           // "cpu", "cuda:0"
    std::optional<int64_t> budgetBytes;   // memory budget; nullopt: the device's free memory
    std::optional<double> pricePerHour;   // money per hour of the machine, in the user's currency
    std::optional<double> watts;          // power drawn while training, for energy per 1M tokens
    FitMode fit = FitMode::Confirm;       // the budget rows: confirmed by real steps, estimated, or off
    std::string databasePath;             // "": StorePaths::resolve() (TUNEBENCH_DB, then the default)

    // Throws std::invalid_argument naming the field: an unknown or repeated method, no
    // methods, a count below 1, a negative price or power, a budget of 0 bytes. Does not touch
    // files (see MethodComparison::checkInputs).
    void validate() const;

    // The `tunebench-cli report ...` command line that makes the same report (paths as
    // given), for the report's "how this was made" section and the GUI's "copy command".
    std::string commandLine(const std::string& outDir) const;

    nlohmann::json toJson() const;
    // Throws std::invalid_argument naming `source` and the field for a wrong type.
    static MethodComparisonRequest fromJson(const nlohmann::json& j, const std::string& source);
};

// "lora,qlora" -> {"lora", "qlora"}; throws std::invalid_argument naming the bad entry and
// the accepted names for anything but lora, qlora and full, a repeated or an empty list.
std::vector<std::string> comparisonMethodsFromList(const std::string& list);

// A POSIX shell word: left bare when it holds only safe characters, else single-quoted; for the
// command lines the report prints (commandLine, each method's `tunebench-cli train` line).
std::string shellWord(const std::string& s);

} // namespace tb
