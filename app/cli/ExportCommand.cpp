// `tunebench-cli export`: a model (with its adapter merged in) or an adapter alone as GGUF for
// llama.cpp / LM Studio, or an Ollama folder (engine/export: the code the Export dialog runs).
// With --run the run's base model and adapter come from the experiment database, and each file
// written is recorded as an artifact of the run.
#include "cli/ArgList.h"
#include "cli/Commands.h"
#include "cli/SignalCancellation.h"
#include "cli/TextFormat.h"

#include "export/GgufExport.h"
#include "export/GgufFolderExport.h"
#include "store/RunExportSource.h"
#include "store/RunStore.h"
#include "store/StorePaths.h"

#include <nlohmann/json.hpp>

#include <atomic>
#include <climits>
#include <filesystem>
#include <iostream>

#include <unistd.h>

namespace tbcli {

namespace {

std::string allTypeNames()
{
    std::string s;
    for (tb::GgufFileType t : tb::allGgufFileTypes())
        s += (s.empty() ? "" : "|") + std::string(tb::ggufFileTypeName(t));
    return s;
}

tb::GgufFileType typeOption(const ArgList& a, const char* option, tb::GgufFileType fallback)
{
    if (!a.has(option))
        return fallback;
    const auto t = tb::ggufFileTypeFromName(a.text(option, ""));
    if (!t)
        throw UsageError(std::string("option --") + option + ": expected " + allTypeNames());
    return *t;
}

nlohmann::json reportJson(const tb::GgufExportReport& r)
{
    return {{"path", r.path}, {"bytes", r.bytes}, {"seconds", r.seconds}, {"tensors_by_type", r.tensorsByType},
            {"warnings", r.warnings}};
}

} // namespace

int runExport(const std::vector<std::string>& args)
{
    const ArgList a(args, {"model", "adapter", "run", "db", "format", "type", "lora-type", "out", "base-out", "ollama", "name", "threads"},
                    {"json"});
    const std::string format = a.text("format", "gguf");
    if (format != "gguf" && format != "gguf-lora")
        throw UsageError("option --format: expected gguf (one model file, the adapter merged in) or gguf-lora (the adapter alone)");
    if (a.has("adapter") && a.has("run"))
        throw UsageError("options --adapter and --run: give one (--run takes the run's adapter and base model)");
    if (a.has("out") == a.has("ollama"))
        throw UsageError("options --out and --ollama: give one (a .gguf file, or a folder for Ollama)");

    std::string modelDir = a.text("model", "");
    std::string adapterDir = a.text("adapter", "");
    std::string databasePath;
    int64_t runId = -1;
    std::string runName;
    if (a.has("run")) {
        runId = a.integer("run", 0, 1, INT64_MAX);
        databasePath = tb::StorePaths::resolve(a.text("db", "")).database;
        tb::StoreOptions storeOptions;
        storeOptions.recoverInterruptedRuns = false;
        tb::RunStore store(databasePath, storeOptions);
        const tb::RunExportSource source = tb::runExportSource(store.database(), runId);
        if (source.adapterDir.empty())
            throw std::runtime_error(source.noAdapterReason);
        adapterDir = source.adapterDir;
        runName = source.name;
        if (modelDir.empty())
            modelDir = source.modelDir;
        if (modelDir.empty())
            throw UsageError("option --model: run " + std::to_string(runId) + " has no base model recorded; give the folder");
    }
    if (modelDir.empty())
        throw UsageError("option --model: required (the base model folder)");
    if (format == "gguf-lora" && adapterDir.empty())
        throw UsageError("--format gguf-lora: needs --adapter DIR or --run ID");
    if (a.has("base-out") && format != "gguf-lora")
        throw UsageError("option --base-out: only with --format gguf-lora (the base GGUF the adapter is applied to)");

    tb::GgufExportOptions options;
    options.type = typeOption(a, "type", tb::GgufFileType::F16);
    options.name = a.text("name", runName); // a run's files are named after the run
    options.threads = static_cast<int>(a.integer("threads", 0, 0, 1024));
    std::atomic<bool> stop{false};
    SignalCancellation cancellation([&] { stop = true; }); // Ctrl-C: stop between tensors, leave nothing behind
    options.cancelled = [&] { return stop.load(); };
    const bool json = a.has("json");
    if (!json && ::isatty(2))
        options.progress = [](double fraction, const std::string& stage) {
            std::cerr << "\r" << static_cast<int>(fraction * 100) << "% " << stage << "\x1b[K" << std::flush;
        };

    nlohmann::json out = {{"model", modelDir}, {"adapter", adapterDir}, {"format", format}, {"type", tb::ggufFileTypeName(options.type)}};
    std::vector<std::pair<tb::ArtifactKind, std::string>> written;
    if (a.has("ollama")) {
        tb::GgufFolderRequest request;
        request.modelDir = modelDir;
        request.adapterDir = adapterDir;
        request.outDir = a.text("ollama", "");
        request.separateAdapter = format == "gguf-lora";
        request.ollama = true;
        request.options = options;
        request.loraType = typeOption(a, "lora-type", tb::GgufFileType::F16);
        const tb::GgufFolderResult r = tb::exportGgufFolder(request);
        out["ollama"] = {{"dir", r.dir}, {"files", r.files}, {"chat_recognized", r.chatRecognized}, {"chat_family", r.chatFamily},
                         {"chat_note", r.chatNote}, {"warnings", r.warnings}};
        written.emplace_back(tb::ArtifactKind::Export, r.dir);
        for (const auto& f : r.ggufFiles)
            written.emplace_back(tb::ArtifactKind::Export, (std::filesystem::path(r.dir) / f).string());
        if (!json)
            std::cerr << "\n";
        if (!json) {
            std::cout << "Wrote the Ollama folder " << r.dir << " (";
            for (size_t i = 0; i < r.files.size(); ++i)
                std::cout << (i ? ", " : "") << r.files[i];
            std::cout << ")\n"
                      << (r.chatRecognized ? "Chat template: " + r.chatFamily + " (TEMPLATE and stop tokens in the Modelfile)"
                                           : "Chat template not recognized: " + r.chatNote
                                                 + " (the Modelfile has no TEMPLATE; the GGUF keeps the original template)")
                      << "\nImport it with: ollama create NAME -f " << (std::filesystem::path(r.dir) / "Modelfile").string() << "\n";
        }
    } else if (format == "gguf") {
        const tb::GgufExportReport r = tb::exportGgufModel(modelDir, adapterDir, a.text("out", ""), options);
        out["file"] = reportJson(r);
        written.emplace_back(adapterDir.empty() ? tb::ArtifactKind::Export : tb::ArtifactKind::Merged, r.path);
        if (!json)
            std::cerr << "\n";
        if (!json) {
            std::cout << "Wrote " << r.path << " (" << humanBytes(static_cast<long long>(r.bytes)) << ", "
                      << tb::ggufFileTypeName(options.type) << ", " << r.seconds << " s)\n";
            for (const auto& w : r.warnings)
                std::cout << "Note: " << w << "\n";
        }
    } else {
        // With --base-out the pair is written together or not at all: both destinations are
        // checked first, the adapter (quick, and checked against the base's shapes) is written
        // before the base, and removed again when the base cannot be.
        const std::string loraPath = a.text("out", "");
        const std::string basePath = a.text("base-out", "");
        if (!basePath.empty()) {
            if (std::filesystem::absolute(basePath).lexically_normal() == std::filesystem::absolute(loraPath).lexically_normal())
                throw UsageError("options --out and --base-out: the adapter and the base need two files");
            for (const std::string& p : {loraPath, basePath})
                if (std::filesystem::exists(p))
                    throw std::runtime_error(p + ": exists; choose a new file name (an export never replaces a file)");
        }
        tb::GgufExportOptions loraOptions = options;
        loraOptions.type = typeOption(a, "lora-type", tb::GgufFileType::F16);
        const tb::GgufExportReport r = tb::exportGgufLora(modelDir, adapterDir, loraPath, loraOptions);
        out["file"] = reportJson(r);
        written.emplace_back(tb::ArtifactKind::Export, r.path);
        if (!basePath.empty()) {
            try {
                const tb::GgufExportReport base = tb::exportGgufModel(modelDir, "", basePath, options);
                out["base"] = reportJson(base);
                written.emplace_back(tb::ArtifactKind::Export, base.path);
            } catch (...) {
                std::error_code ignored;
                std::filesystem::remove(r.path, ignored); // an adapter without its base is not the pair asked for
                throw;
            }
        }
        if (!json)
            std::cerr << "\n";
        if (!json) {
            std::cout << "Wrote the LoRA adapter " << r.path << " (" << humanBytes(static_cast<long long>(r.bytes)) << ")";
            if (out.contains("base"))
                std::cout << " and its base " << basePath << " (" << humanBytes(static_cast<long long>(out["base"]["bytes"].get<uint64_t>()))
                          << "); apply it with: llama-cli -m " << basePath << " --lora " << r.path << "\n";
            else
                std::cout << "; apply it with: llama-cli -m BASE.gguf --lora " << r.path << "\n";
        }
    }

    if (runId > 0) {
        try {
            tb::RunStore store(databasePath);
            for (const auto& [kind, path] : written)
                store.addArtifact(runId, kind, std::filesystem::absolute(path).string());
            out["recorded"] = true;
        } catch (const std::exception& e) {
            out["recorded"] = false;
            std::cerr << "warning: the export is complete but was not recorded in " << databasePath << ": " << e.what() << "\n";
        }
    }
    if (json)
        std::cout << out.dump(2) << "\n";
    return 0;
}

} // namespace tbcli
