// Everything that defines a training run, as one plain struct: the one description of a run.
// It is what the GUI form fills, what `tunebench-cli train` parses (from options or from
// `--config RUN.json`), what the run folder keeps (train_config.json), what a checkpoint stores
// and what the experiment store keeps, so toJson/fromJson round-trip every field.
//
// It owns every default (a default-constructed TrainConfig is a LoRA run; defaults(method) for
// the others) and every rule (problems(), fileProblems()): the CLI, the form, the method report
// and the fit finder start from here and show the same {field, message} pairs. Field names are
// the JSON keys ("learning_rate", "lora.rank", "dataset.seq_len").
#pragma once

#include "data/TrainingDataset.h"
#include "lora/LoraSettings.h"
#include "quant/QuantSettings.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace tb {

enum class TrainMethod { Lora, Qlora, Full };
enum class LrScheduleKind { Constant, Linear, Cosine };

const char* trainMethodName(TrainMethod method);          // "lora", "qlora", "full"
TrainMethod trainMethodFromName(const std::string& name); // throws std::invalid_argument
const char* lrScheduleName(LrScheduleKind kind);          // "constant", "linear", "cosine"
LrScheduleKind lrScheduleFromName(const std::string& name);

// One thing wrong with a config: the field (its JSON key, "" for the config as a whole) and a
// sentence saying what is wrong with it.
struct ConfigProblem {
    std::string field;
    std::string message;
    bool operator==(const ConfigProblem& o) const { return field == o.field && message == o.message; }
};

// Thrown by TrainConfig::validate(): every problem, what() as "field: message; field: message".
class ConfigError : public std::invalid_argument {
public:
    explicit ConfigError(std::vector<ConfigProblem> problems);
    const std::vector<ConfigProblem>& problems() const { return m_problems; }

private:
    std::vector<ConfigProblem> m_problems;
};

struct TrainConfig {
    TrainConfig(); // the defaults of a LoRA run

    // A run of `method` with every default: the learning rate follows the method.
    static TrainConfig defaults(TrainMethod method);
    static double defaultLearningRate(TrainMethod method); // adapters 2e-4, full fine-tuning 2e-5
    static double defaultAlpha(int64_t rank);              // 2 x rank, the usual LoRA setting

    std::string name;           // shown in the Runs tab; "": the run folder's name
    std::string modelDir;
    std::string dataPath;
    std::string validationPath; // empty: split off dataPath
    std::string outputDir;      // the run folder: checkpoints/, adapter/, train_config.json

    TrainMethod method = TrainMethod::Lora;
    LoraSettings lora; // alpha defaultAlpha(rank) here, not PEFT's 8 (LoraSettings' own default)
    // LoRA only: continue training this PEFT adapter folder instead of fresh adapters; its
    // adapter_config.json then decides rank, alpha, dropout, rsLoRA and targets.
    std::string initialAdapter;
    // QLoRA only: how the frozen base is quantized (NF4 + double quantization by default).
    QuantSettings quant;
    std::string quantCacheDir; // "" : <model>/.tunebench-cache
    DatasetOptions data; // its splitSeed is not used: the split follows `seed` (datasetOptions())
    // A config written before the split followed the seed keeps its own split (read from its
    // "dataset.split_seed" when that differs from "seed"), so such a run still resumes.
    std::optional<uint64_t> splitSeedOverride;

    double learningRate = defaultLearningRate(TrainMethod::Lora);
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
    int threads = 0;         // 0: all cores (per worker process)
    // Data-parallel: worker processes `tunebench-cli train` starts on this machine (the form's
    // Processes field, --nproc-per-node); 1: one process, no torch.distributed. A run placed by
    // another launcher (torchrun, srun) takes its world size from the environment instead.
    int processes = 1;
    // CUDA devices of this machine to train on, one worker process each (the form's device
    // checkboxes, --devices 0,1): each worker sees only its own (CUDA_VISIBLE_DEVICES) as
    // cuda:0. Empty: `processes` workers on `device`. When given, processes equals its size.
    std::vector<int> devices;
    // How long a worker waits for the others in a collective or the rendezvous before the run
    // fails naming the worker that did not come (--dist-timeout).
    int distTimeoutSeconds = 60;
    std::string device = "cpu";
    std::string baseDtype = "bf16"; // frozen base weights for LoRA (full fine-tuning is fp32)

    // The dataset options the run prepares its data with: `data`, its validation split seeded
    // from `seed`, so the same settings give the same split in every front end.
    DatasetOptions datasetOptions() const;

    nlohmann::json toJson() const;
    // Unknown keys are errors (they are typos); missing keys keep their defaults, and a missing
    // learning rate or alpha the default of the config's method or rank.
    static TrainConfig fromJson(const nlohmann::json& j, const std::string& source);
    // Reads a run description (RUN.json) as fromJson does; errors name the file.
    static TrainConfig fromFile(const std::string& path);

    // Every impossible value, in the order of the form's fields; empty when the run can start.
    std::vector<ConfigProblem> problems() const;
    // What the files on disk say: the model folder (config.json), the data and validation files,
    // the initial adapter, and, unless resuming, an output folder that already holds a run
    // (its train_config.json or checkpoints/ would mix with the new run's).
    std::vector<ConfigProblem> fileProblems(bool resume) const;
    // Throws ConfigError with problems() when there are any.
    void validate() const;
    // Every path made absolute and normalised ("runs/a/" -> "/home/u/runs/a"): a run's row is
    // found again by its folder, and a resumed run must name the same model and data however
    // the user spelled them.
    void makePathsAbsolute();
};

} // namespace tb
