// Plain value types of the experiment store: what callers pass in to record a run and what
// the queries hand back. No SQLite, no Torch, no Qt: the CLI prints them, the GUI's adapter
// copies them into its models.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace tb {

enum class RunStatus { Queued, Running, Finished, Failed, Cancelled, Interrupted };
enum class ArtifactKind { Checkpoint, Adapter, Merged, Export, Report };

const char* runStatusName(RunStatus status);            // "queued", "running", ...
RunStatus runStatusFromName(const std::string& name);  // throws std::invalid_argument
const char* artifactKindName(ArtifactKind kind);       // "checkpoint", "adapter", ...
ArtifactKind artifactKindFromName(const std::string& name);

// A model or dataset a run used; registering the same path with the same content hash again
// returns the existing row.
struct ModelRecord {
    std::string path;
    std::string architecture;             // config.json "architectures"[0], e.g. LlamaForCausalLM
    std::optional<int64_t> parameterCount;
    std::string contentHash;              // contentHash(path)
};

struct DatasetRecord {
    std::string path;
    std::string format;                   // e.g. "chat", "alpaca", "text"
    std::optional<int64_t> recordCount;
    std::optional<int64_t> tokenCount;
    std::string contentHash;
};

// Everything createRun needs. `config` is the full TrainConfig::toJson(); the key columns
// repeat a few of its values so the sqlite3 shell and the run list can filter on them.
struct NewRun {
    std::string name;                     // empty: "run-<id>"
    std::string method = "lora";          // lora, qlora, full
    nlohmann::json config = nlohmann::json::object();
    std::optional<int64_t> modelId;       // from RunStore::registerModel
    std::optional<int64_t> datasetId;
    std::optional<int64_t> loraRank;
    std::optional<double> loraAlpha;
    std::string loraTargets;              // comma-separated, e.g. "q_proj,v_proj"
    std::optional<double> learningRate;
    std::optional<int64_t> batchSize;
    std::optional<int64_t> seqLen;
    std::string quant;                    // "" (none) or e.g. "nf4"
    std::optional<int64_t> seed;          // TrainConfig's uint64 seed as int64 (same bits)
    std::optional<int64_t> totalSteps;
    std::string appVersion;               // strings from the caller: the store links neither
    std::string torchVersion;
    std::string device;                   // "cpu", "cuda:0"
    std::string runDir;                   // the run folder (TrainConfig::outputDir)
    RunStatus status = RunStatus::Running; // Running: owned by this process from now; or Queued
};

// How a run ended (finishRun). Status must be Finished, Failed or Cancelled.
struct RunEnd {
    RunStatus status = RunStatus::Finished;
    std::string reason;                   // why it failed or was cancelled; "" when finished
    int64_t lastStep = -1;                // -1: keep what the metrics recorded
    std::string lastCheckpoint;           // "": keep the recorded one
    std::optional<int64_t> trainableParameters;
    std::optional<double> wallSeconds;    // this session's seconds; nullopt: measured by the store
};

struct ArtifactInfo {
    int64_t id = 0;
    int64_t runId = 0;
    ArtifactKind kind = ArtifactKind::Checkpoint;
    std::string path;
    std::optional<int64_t> sizeBytes;     // file size, or the sum over a folder's files
    std::optional<int64_t> step;
    std::string createdAt;
    bool missing = false;                 // the file or folder no longer exists
};

// One row of the run list.
struct RunSummary {
    int64_t id = 0;
    std::string name;
    std::string method;
    RunStatus status = RunStatus::Queued;
    std::string reason;
    std::string modelPath;                // "" when no model was registered
    std::string modelArchitecture;
    std::string datasetPath;
    std::optional<int64_t> loraRank;
    std::string createdAt, startedAt, endedAt; // ISO-8601 UTC, "" when not yet
    int64_t lastStep = 0;
    std::optional<int64_t> totalSteps;
    std::optional<double> finalLoss;      // training loss at the last recorded step
    std::optional<double> finalValLoss;   // val_loss at the last step it was measured
    std::optional<double> bestValLoss;
    std::optional<int64_t> peakResidentBytes; // max of memory category peak_rss (or rss)
    std::optional<int64_t> peakCudaBytes;     // max of cuda_peak_allocated (or cuda_allocated)
    std::vector<std::string> tags;
};

struct RunFilter {
    std::optional<RunStatus> status;
    std::string tag;                      // "": any
    int64_t limit = -1;                   // newest first; -1: all
};

// Key results of a run, as compare shows them side by side.
struct RunResults {
    std::optional<double> finalLoss;
    std::optional<double> finalValLoss;
    std::optional<double> bestValLoss;
    std::optional<double> meanTokensPerSecond; // mean of the tokens_per_second metric
    std::map<std::string, int64_t> peakMemory;  // category -> max bytes
    std::optional<int64_t> trainableParameters;
    std::optional<int64_t> adapterBytes;   // size of the newest adapter artifact
    double wallSeconds = 0;                // sum over the run's sessions
};

struct RunDetails {
    RunSummary summary;
    nlohmann::json config;
    std::optional<double> loraAlpha;
    std::string loraTargets;
    std::optional<double> learningRate;
    std::optional<int64_t> batchSize, seqLen, seed;
    std::string quant;
    std::string appVersion, torchVersion, device, runDir;
    std::optional<int64_t> ownerPid;
    std::string heartbeatAt;              // last committed batch of metrics
    std::string lastCheckpoint;
    std::string note;
    std::map<std::string, double> finalMetrics; // each metric's value at its last step
    RunResults results;
    std::vector<ArtifactInfo> artifacts;
};

struct MetricPoint {
    int64_t step = 0;
    std::optional<int64_t> tokens;
    std::optional<double> wallSeconds;
    double value = 0;
};

struct MemoryPoint {
    int64_t step = 0;
    std::optional<double> seconds;
    int64_t bytes = 0;
    int worker = 0; // the data-parallel worker's rank (0 in a one-process run)
};

// A setting that differs between compared runs: values[i] is run i's value as JSON text, or
// nullopt where run i's config does not have the key.
struct ConfigDifference {
    std::string key;                      // dotted, e.g. "lora.rank"
    std::vector<std::optional<std::string>> values;
};

struct RunComparison {
    std::vector<RunSummary> runs;         // in the order asked
    std::vector<ConfigDifference> differences; // sorted by key
    std::vector<RunResults> results;      // results[i] belongs to runs[i]
};

// What deleteRun did to files (rows are always removed).
struct DeleteReport {
    std::vector<std::string> removed;     // artifact paths (and the run folder) deleted
    std::vector<std::string> kept;        // artifact paths outside the allowed folders
    std::vector<std::string> failed;      // "path: reason"
};

} // namespace tb
