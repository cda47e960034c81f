#include "train/RunRegistration.h"

#include "core/TorchCompat.h"
#include "formats/ModelConfig.h"
#include "store/ContentHash.h"
#include "store/RunQueries.h"
#include "store/RunStore.h"
#include "train/TrainConfig.h"
#include "train/TrainingCheckpoint.h"

#include <cctype>
#include <ctime>
#include <filesystem>
#include <optional>

namespace tb {

std::string defaultRunFolder(const std::string& workspace, const std::string& name)
{
    const std::time_t now = std::time(nullptr);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", std::gmtime(&now));
    std::string safe;
    for (char ch : name.empty() ? std::string("run") : name)
        safe += std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' || ch == '.' ? ch : '-';
    std::string folder = (std::filesystem::path(workspace) / (safe + "-" + stamp)).string();
    for (int i = 2; std::filesystem::exists(folder); ++i)
        folder = (std::filesystem::path(workspace) / (safe + "-" + stamp + "-" + std::to_string(i))).string();
    return folder;
}

int64_t registerTrainingRun(RunStore& store, const TrainConfig& c, bool resume, const std::string& name)
{
    if (resume) {
        if (const auto existing = RunQueries(store.database()).findRunByDir(c.outputDir)) {
            const std::string checkpoint = latestCheckpoint(c.outputDir);
            std::optional<int64_t> fromStep;
            if (!checkpoint.empty())
                fromStep = std::stoll(std::filesystem::path(checkpoint).filename().string().substr(5)); // "step-00000040"
            store.resumeRun(*existing, fromStep);
            return *existing;
        }
    }
    // Every front end registers here, so this is where a folder that already holds a run is
    // refused: a second run there would mix its checkpoints with the first one's.
    // (A resume whose folder has no row here, e.g. a --no-db run, registers a new row for it.)
    if (!resume)
        for (const ConfigProblem& p : c.fileProblems(false))
            if (p.field == "output_dir")
                throw ConfigError({p});
    namespace fs = std::filesystem;
    const ModelConfig model = ModelConfig::fromFile((fs::path(c.modelDir) / "config.json").string());
    ModelRecord modelRecord;
    modelRecord.path = fs::absolute(c.modelDir).lexically_normal().string();
    modelRecord.architecture = model.architecture;
    modelRecord.parameterCount = model.parameterCount();
    modelRecord.contentHash = contentHash(c.modelDir);
    DatasetRecord dataRecord;
    dataRecord.path = fs::absolute(c.dataPath).lexically_normal().string();
    dataRecord.format = datasetFormatName(c.data.format);
    dataRecord.contentHash = contentHash(c.dataPath);

    NewRun run;
    // --name (or the caller's) first, then the config's own, then the run folder's name.
    run.name = !name.empty() ? name : !c.name.empty() ? c.name : fs::path(c.outputDir).filename().string();
    run.method = trainMethodName(c.method);
    run.config = c.toJson();
    run.modelId = store.registerModel(modelRecord);
    run.datasetId = store.registerDataset(dataRecord);
    if (c.method != TrainMethod::Full) {
        run.loraRank = c.lora.rank;
        run.loraAlpha = c.lora.alpha;
        std::string targets;
        for (const auto& t : c.lora.targets)
            targets += (targets.empty() ? "" : ",") + t;
        run.loraTargets = targets;
    }
    if (c.method == TrainMethod::Qlora)
        run.quant = c.quant.tag();
    run.learningRate = c.learningRate;
    run.batchSize = c.batchSize;
    run.seqLen = c.data.maxSeqLen;
    run.seed = static_cast<int64_t>(c.seed);
    if (c.maxSteps > 0)
        run.totalSteps = c.maxSteps;
    run.appVersion = TUNEBENCH_VERSION;
    run.torchVersion = compat::torchVersion();
    run.device = c.device;
    run.runDir = c.outputDir;
    return store.createRun(run);
}

} // namespace tb
