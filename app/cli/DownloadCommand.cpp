// `tunebench-cli download REPO_ID`: a model (or dataset) from the Hugging Face Hub into the
// cache huggingface_hub shares with transformers/PEFT (engine/hub, docs/hub.md). Prints the
// snapshot folder, which is what --model takes; with --json one object describing the files.
// Progress goes to stderr, only when stderr is a terminal. Ctrl-C stops; the partial files stay
// and the same command resumes them.
#include "cli/ArgList.h"
#include "cli/Commands.h"
#include "cli/SignalCancellation.h"

#include "formats/ModelConfig.h"
#include "hub/HubDownload.h"
#include "hub/HubError.h"

#include <nlohmann/json.hpp>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include <unistd.h>

namespace tbcli {

namespace {

// One status line, redrawn in place: "  42%  1.3 GB / 3.1 GB  48.0 MB/s  2/9 files  model-00001-of-00002.safetensors".
class TerminalProgress : public tb::HubDownloadCallbacks {
public:
    void onProgress(const tb::HubProgress& p) override
    {
        std::string current;
        for (const auto& f : p.files)
            if (f.state == tb::HubFileState::Downloading)
                current += (current.empty() ? "" : ", ") + f.path;
        char line[160];
        const double percent = p.bytesTotal ? 100.0 * static_cast<double>(p.bytesDone) / static_cast<double>(p.bytesTotal) : 100.0;
        std::snprintf(line, sizeof line, "%5.1f%%  %s / %s  %s/s  %zu/%zu files", percent, tb::formatHubBytes(p.bytesDone).c_str(),
                      tb::formatHubBytes(p.bytesTotal).c_str(), tb::formatHubBytes(static_cast<uint64_t>(p.bytesPerSecond)).c_str(),
                      p.filesDone, p.filesTotal);
        std::cerr << "\r" << line << (current.empty() ? "" : "  " + current.substr(0, 60)) << "\x1b[K" << (p.finished ? "\n" : "")
                  << std::flush;
    }
};

nlohmann::json resultJson(const tb::HubDownloadResult& r)
{
    nlohmann::json files = nlohmann::json::array();
    for (const auto& f : r.files)
        files.push_back({{"path", f.path}, {"etag", f.etag}, {"size", f.size}, {"transferred", f.transferred},
                         {"resumed_from", f.resumedFrom}, {"bytes_received", f.bytesReceived},
                         {"verified_by", f.transferred ? tb::blobDigestName(f.verifiedBy) : "cache"}});
    return {{"repo", r.repo.id},           {"repo_type", tb::hubRepoTypeName(r.repo.type)},
            {"revision", r.revision},      {"commit", r.commit},
            {"snapshot", r.snapshotPath},  {"offline", r.offline},
            {"bytes_received", r.bytesReceived}, {"seconds", r.seconds},
            {"files", files}};
}

} // namespace

int runDownload(const std::vector<std::string>& rawArgs)
{
    // `download ORG/NAME` as well as `download --repo ORG/NAME`.
    std::vector<std::string> args = rawArgs;
    if (!args.empty() && args[0].rfind("--", 0) != 0)
        args.insert(args.begin(), "--repo");
    const ArgList a(args, {"repo", "revision", "include", "token", "repo-type", "connections"}, {"json"});
    if (!a.has("repo"))
        throw UsageError("give the repository: tunebench-cli download ORG/NAME (e.g. Qwen/Qwen2.5-0.5B-Instruct)");

    tb::HubDownloadRequest request;
    try {
        request.repo = tb::HubRepoId::parse(a.text("repo", ""), tb::parseHubRepoType(a.text("repo-type", "model")));
    } catch (const tb::HubError& e) {
        throw UsageError(e.what());
    }
    request.revision = a.text("revision", "main");
    request.include = a.all("include");

    tb::HubEnvironment env = tb::HubEnvironment::fromProcess();
    if (a.has("token"))
        env.setToken(a.text("token", ""), "--token");
    tb::HubDownloadOptions options;
    options.connections = static_cast<int>(a.integer("connections", 4, 1, 16));
    std::atomic<bool> stop{false};
    options.cancel = &stop;

    const bool json = a.has("json");
    const bool terminal = ::isatty(2);
    TerminalProgress progress;
    tb::HubDownloadResult result;
    {
        SignalCancellation onSignal([&stop] { stop = true; });
        // A model's config.json comes first and alone: an architecture Tunebench cannot train
        // is refused (FormatError naming config.json and the architecture) before any weight.
        tb::HubDownloadResult config;
        const bool configFirst = request.repo.type == tb::HubRepoType::Model && request.include.empty();
        if (configFirst) {
            tb::HubDownloadRequest configOnly = request;
            configOnly.include = {"config.json"};
            config = tb::HubDownload(env, options).run(configOnly);
            tb::ModelConfig::fromFile((std::filesystem::path(config.snapshotPath) / "config.json").string());
        }
        result = tb::HubDownload(env, options).run(request, terminal ? &progress : nullptr);
        // One report for both runs: config.json was transferred by the first.
        for (const auto& early : config.files)
            for (auto& f : result.files)
                if (f.path == early.path && early.transferred) {
                    f = early;
                    result.bytesReceived += early.bytesReceived;
                }
    }

    if (json) {
        std::cout << resultJson(result).dump(2) << "\n";
    } else {
        if (terminal) {
            size_t fetched = 0;
            for (const auto& f : result.files)
                fetched += f.transferred;
            const size_t cached = result.files.size() - fetched;
            std::cerr << (result.offline ? "offline, from the cache: " : "") << fetched << " of " << result.files.size()
                      << " files downloaded (" << tb::formatHubBytes(result.bytesReceived) << ")"
                      << (cached ? ", " + std::to_string(cached) + " already in the cache" : std::string()) << "; "
                      << request.repo.id << "@" << request.revision << " is commit " << result.commit << "\n";
        }
        std::cout << result.snapshotPath << "\n";
    }
    return 0;
}

} // namespace tbcli
