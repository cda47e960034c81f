#include "store/RunExportSource.h"

#include "store/RunQueries.h"

#include <filesystem>

namespace tb {

RunExportSource runExportSource(SqliteDatabase& database, int64_t runId)
{
    namespace fs = std::filesystem;
    const RunDetails d = RunQueries(database).getRun(runId);
    RunExportSource s;
    s.name = d.summary.name;
    s.method = d.summary.method;
    s.status = runStatusName(d.summary.status);
    s.runDir = d.runDir;
    s.modelDir = d.summary.modelPath;
    if (s.modelDir.empty() && d.config.is_object() && d.config.value("model", nlohmann::json()).is_string())
        s.modelDir = d.config["model"].get<std::string>();

    // The newest adapter (and fine-tuned model) recorded for the run.
    const ArtifactInfo* adapter = nullptr;
    const ArtifactInfo* fullModel = nullptr;
    for (const ArtifactInfo& a : d.artifacts) {
        if (a.kind == ArtifactKind::Adapter)
            adapter = &a;
        else if (a.kind == ArtifactKind::Merged && !fullModel && s.method == "full")
            fullModel = &a; // the trainer's model/ folder comes before any export of it
    }
    const std::string id = std::to_string(runId);
    const std::string runAdapter = s.runDir.empty() ? std::string() : (fs::path(s.runDir) / "adapter").string();
    if (d.summary.status == RunStatus::Running || d.summary.status == RunStatus::Queued) {
        s.noAdapterReason = "Run " + id + " is still " + s.status + "; its adapter is saved when it ends.";
    } else if (s.method == "full") {
        const std::string model = fullModel ? fullModel->path : (fs::path(s.runDir) / "model").string();
        s.noAdapterReason = "Run " + id + " was full fine-tuning: it has no LoRA adapter to export. Its fine-tuned model is "
                            "already a complete Hugging Face folder: " + model;
    } else if (adapter && !adapter->missing) {
        s.adapterDir = adapter->path;
        s.adapterStep = adapter->step.value_or(-1);
    } else if (adapter) {
        s.noAdapterReason = "The adapter folder recorded for run " + id + " no longer exists: " + adapter->path;
    } else if (!runAdapter.empty() && fs::exists(fs::path(runAdapter) / "adapter_config.json")) {
        s.adapterDir = runAdapter; // saved but not recorded (e.g. the database was busy at the end)
    } else if (d.summary.status == RunStatus::Failed) {
        s.noAdapterReason = "Run " + id + " failed before saving an adapter" + (d.summary.reason.empty() ? "." : ": " + d.summary.reason);
    } else if (d.summary.status == RunStatus::Finished) {
        s.noAdapterReason = "Run " + id + " has no adapter: " + runAdapter + " is missing.";
    } else {
        s.noAdapterReason = "Run " + id + " was " + s.status + " before saving an adapter; resume it to train on and save one.";
    }
    return s;
}

} // namespace tb
