// Everything that defines a training run, as one plain struct. It is what the GUI form fills,
// what `tunebench-cli train` parses, what a checkpoint stores (config.json) and what the
// experiment store keeps, so toJson/fromJson round-trip every field.
#pragma once

#include "data/TrainingDataset.h"
#include "lora/LoraSettings.h"
#include "quant/QuantSettings.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace tb {

enum class TrainMethod { Lora, Qlora, Full };
enum class LrScheduleKind { Constant, Linear, Cosine };

const char* trainMethodName(TrainMethod method);          // "lora", "qlora", "full"
TrainMethod trainMethodFromName(const std::string& name); // throws std::invalid_argument
const char* lrScheduleName(LrScheduleKind kind);          // "constant", "linear", "cosine"
LrScheduleKind lrScheduleFromName(const std::string& name);

struct TrainConfig {
    std::string modelDir;
    std::string dataPath;
    std::string validationPath; // empty: split off dataPath
    std::string outputDir;      // the run folder: checkpoints/, adapter/, train_config.json

    TrainMethod method = TrainMethod::Lora;
    LoraSettings lora;
    // LoRA only: continue training this PEFT adapter folder instead of fresh adapters; its
    // adapter_config.json then decides rank, alpha, dropout, rsLoRA and targets.
    std::string initialAdapter;
    // QLoRA only: how the frozen base is quantized (NF4 + double quantization by default).
    QuantSettings quant;
    std::string quantCacheDir; // "" : <model>/.tunebench-cache
    DatasetOptions data;

    double learningRate = 2e-4;
    LrScheduleKind schedule = LrScheduleKind::Cosine;
    int64_t warmupSteps = 0;
    int64_t maxSteps = 0;   // > 0: exactly this many optimizer steps
    double epochs = 1.0;    // used when maxSteps == 0
    int64_t batchSize = 4;  // sequences per micro-batch
    int64_t gradAccum = 1;  // micro-batches per optimizer step
    double maxGradNorm = 1.0; // <= 0: no clipping
    double weightDecay = 0.0;
    double adamBeta1 = 0.9;
    double adamBeta2 = 0.999;
    double adamEps = 1e-8;
    bool gradientCheckpointing = false;

    int64_t evalEvery = 0;  // steps; 0: only at the end
    int64_t saveEvery = 0;  // steps; 0: only at the end
    int64_t maxBadSteps = 5; // consecutive non-finite losses before the run stops
    uint64_t seed = 42;
    int threads = 0;         // 0: all cores
    std::string device = "cpu";
    std::string baseDtype = "bf16"; // frozen base weights for LoRA (full fine-tuning is fp32)

    nlohmann::json toJson() const;
    // Unknown keys are errors (they are typos); missing keys keep their defaults.
    static TrainConfig fromJson(const nlohmann::json& j, const std::string& source);
    // Throws std::invalid_argument naming the field for an impossible value.
    void validate() const;
    // Every path made absolute and normalised ("runs/a/" -> "/home/u/runs/a"): a run's row is
    // found again by its folder, and a resumed run must name the same model and data however
    // the user spelled them.
    void makePathsAbsolute();
};

} // namespace tb
