#include "cli/ArgList.h"
#include "cli/Commands.h"
#include "cli/TextFormat.h"

#include "store/ComparisonTable.h"
#include "store/RunQueries.h"
#include "store/RunStore.h"
#include "store/StorePaths.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <functional>
#include <set>
#include <sstream>

namespace tbcli {

namespace {

using nlohmann::json;

template <typename T>
json optional(const std::optional<T>& v)
{
    return v ? json(*v) : json(nullptr);
}

std::string human(std::optional<int64_t> bytes)
{
    return bytes ? humanBytes(*bytes) : std::string("-");
}

std::string number(std::optional<double> v, int precision = 4)
{
    if (!v)
        return "-";
    std::ostringstream out;
    out << std::fixed << std::setprecision(precision) << *v;
    return out.str();
}

json summaryJson(const tb::RunSummary& s)
{
    return {{"id", s.id},
            {"name", s.name},
            {"method", s.method},
            {"status", tb::runStatusName(s.status)},
            {"reason", s.reason},
            {"model", s.modelPath},
            {"architecture", s.modelArchitecture},
            {"dataset", s.datasetPath},
            {"rank", optional(s.loraRank)},
            {"created", s.createdAt},
            {"started", s.startedAt},
            {"ended", s.endedAt},
            {"step", s.lastStep},
            {"total_steps", optional(s.totalSteps)},
            {"final_loss", optional(s.finalLoss)},
            {"final_val_loss", optional(s.finalValLoss)},
            {"best_val_loss", optional(s.bestValLoss)},
            {"peak_rss", optional(s.peakResidentBytes)},
            {"peak_cuda", optional(s.peakCudaBytes)},
            {"tags", s.tags}};
}

json resultsJson(const tb::RunResults& r)
{
    return {{"final_loss", optional(r.finalLoss)},
            {"final_val_loss", optional(r.finalValLoss)},
            {"best_val_loss", optional(r.bestValLoss)},
            {"mean_tokens_per_second", optional(r.meanTokensPerSecond)},
            {"peak_memory", r.peakMemory},
            {"trainable_parameters", optional(r.trainableParameters)},
            {"adapter_bytes", optional(r.adapterBytes)},
            {"wall_seconds", r.wallSeconds}};
}

int64_t runIdArg(const std::vector<std::string>& args, size_t index, const char* usage)
{
    if (args.size() <= index)
        throw UsageError(std::string("usage: tunebench-cli runs ") + usage);
    try {
        size_t used = 0;
        const long long id = std::stoll(args[index], &used);
        if (used == args[index].size() && id > 0)
            return id;
    } catch (const std::exception&) {
    }
    throw UsageError("\"" + args[index] + "\" is not a run id (see tunebench-cli runs list)");
}

std::string shortPath(const std::string& path)
{
    return path.empty() ? "-" : std::filesystem::path(path).filename().string();
}

void printList(const std::vector<tb::RunSummary>& runs)
{
    std::cout << std::left << std::setw(5) << "ID" << std::setw(22) << "NAME" << std::setw(16) << "MODEL" << std::setw(7)
              << "METHOD" << std::setw(6) << "RANK" << std::setw(12) << "STATUS" << std::setw(12) << "STEP" << std::setw(10)
              << "VAL LOSS" << std::setw(11) << "PEAK RSS" << "STARTED\n";
    for (const auto& r : runs) {
        const std::string step = std::to_string(r.lastStep) + (r.totalSteps ? "/" + std::to_string(*r.totalSteps) : "");
        std::cout << std::left << std::setw(5) << r.id << std::setw(22) << r.name.substr(0, 21) << std::setw(16)
                  << shortPath(r.modelPath).substr(0, 15) << std::setw(7) << r.method << std::setw(6)
                  << (r.loraRank ? std::to_string(*r.loraRank) : "-") << std::setw(12) << tb::runStatusName(r.status)
                  << std::setw(12) << step << std::setw(10) << number(r.finalValLoss) << std::setw(11)
                  << human(r.peakResidentBytes) << r.startedAt << "\n";
    }
}

void printDetails(const tb::RunDetails& d)
{
    const tb::RunSummary& s = d.summary;
    std::cout << "Run " << s.id << " \"" << s.name << "\": " << s.method << ", " << tb::runStatusName(s.status);
    if (!s.reason.empty())
        std::cout << " (" << s.reason << ")";
    std::cout << "\n  model     " << s.modelPath << " (" << s.modelArchitecture << ")\n"
              << "  data      " << s.datasetPath << "\n"
              << "  folder    " << d.runDir << "\n"
              << "  started   " << s.startedAt << ", ended " << (s.endedAt.empty() ? "-" : s.endedAt) << "\n"
              << "  step      " << s.lastStep << (s.totalSteps ? " of " + std::to_string(*s.totalSteps) : "") << "\n"
              << "  versions  Tunebench " << d.appVersion << ", LibTorch " << d.torchVersion << ", device " << d.device << "\n";
    if (!s.tags.empty()) {
        std::cout << "  tags     ";
        for (const auto& t : s.tags)
            std::cout << " " << t;
        std::cout << "\n";
    }
    if (!d.note.empty())
        std::cout << "  note      " << d.note << "\n";
    std::cout << "Results\n"
              << "  loss " << number(d.results.finalLoss) << ", validation loss " << number(d.results.finalValLoss) << " (best "
              << number(d.results.bestValLoss) << "), " << number(d.results.meanTokensPerSecond, 0) << " tokens/s, "
              << number(d.results.wallSeconds, 1) << " s\n"
              << "  trainable parameters " << (d.results.trainableParameters ? std::to_string(*d.results.trainableParameters) : "-")
              << ", adapter " << human(d.results.adapterBytes) << "\n"
              << "Peak memory\n";
    for (const auto& [category, bytes] : d.results.peakMemory)
        std::cout << "  " << std::left << std::setw(22) << category << human(bytes) << "\n";
    std::cout << "Artifacts\n";
    for (const auto& a : d.artifacts)
        std::cout << "  " << std::left << std::setw(11) << tb::artifactKindName(a.kind) << a.path << "  " << human(a.sizeBytes)
                  << (a.missing ? "  (missing)" : "") << "\n";
    std::cout << "Config\n" << d.config.dump(2) << "\n";
}

const char* const kRunsUsage = R"(usage: tunebench-cli runs SUBCOMMAND [--db PATH]
  list [--status S] [--tag T] [--json]
  show ID [--json]
  compare ID ID [ID...] [--format text|markdown|csv|html] [--json]
  delete ID [--files]
  rename ID NAME
  tag ID TAG [--remove]
  note ID TEXT
)";

} // namespace

int runRuns(const std::vector<std::string>& all)
{
    if (all.empty())
        throw UsageError(std::string("a subcommand is needed\n") + kRunsUsage);
    const std::string sub = all[0];
    // Positional arguments come first, options after them.
    std::vector<std::string> positional, options;
    for (size_t i = 1; i < all.size(); ++i) {
        if (all[i].rfind("--", 0) == 0) {
            options.assign(all.begin() + static_cast<long>(i), all.end());
            break;
        }
        positional.push_back(all[i]);
    }
    const ArgList a(options, {"db", "status", "tag", "format"}, {"json", "files", "remove"});
    tb::RunStore store(tb::StorePaths::resolve(a.text("db", "")).database);
    tb::RunQueries queries(store.database());
    const bool asJson = a.has("json");
    if (a.has("format") && sub != "compare")
        throw UsageError("--format is an option of runs compare only");

    if (sub == "list") {
        tb::RunFilter filter;
        if (a.has("status")) {
            try {
                filter.status = tb::runStatusFromName(a.required("status"));
            } catch (const std::invalid_argument& e) {
                throw UsageError(e.what());
            }
        }
        filter.tag = a.text("tag", "");
        const auto runs = queries.listRuns(filter);
        if (asJson) {
            json out = json::array();
            for (const auto& r : runs)
                out.push_back(summaryJson(r));
            std::cout << out.dump(2) << "\n";
        } else {
            printList(runs);
        }
    } else if (sub == "show") {
        const tb::RunDetails d = queries.getRun(runIdArg(positional, 0, "show ID"));
        if (asJson) {
            json artifacts = json::array();
            for (const auto& art : d.artifacts)
                artifacts.push_back({{"kind", tb::artifactKindName(art.kind)}, {"path", art.path}, {"bytes", optional(art.sizeBytes)},
                                     {"step", optional(art.step)}, {"created", art.createdAt}, {"missing", art.missing}});
            json j = summaryJson(d.summary);
            j["config"] = d.config;
            j["run_dir"] = d.runDir;
            j["device"] = d.device;
            j["app_version"] = d.appVersion;
            j["torch_version"] = d.torchVersion;
            j["last_checkpoint"] = d.lastCheckpoint;
            j["note"] = d.note;
            j["final_metrics"] = d.finalMetrics;
            j["results"] = resultsJson(d.results);
            j["artifacts"] = artifacts;
            std::cout << j.dump(2) << "\n";
        } else {
            printDetails(d);
        }
    } else if (sub == "compare") {
        if (positional.size() < 2)
            throw UsageError("usage: tunebench-cli runs compare ID ID [ID...]");
        std::vector<int64_t> ids;
        for (size_t i = 0; i < positional.size(); ++i)
            ids.push_back(runIdArg(positional, i, "compare ID ID [ID...]"));
        const std::string format = a.text("format", "text");
        if (format != "text" && format != "markdown" && format != "csv" && format != "html")
            throw UsageError("--format must be text, markdown, csv or html, not \"" + format + "\"");
        if (asJson && a.has("format"))
            throw UsageError("--json and --format are alternatives; give one");
        const tb::RunComparison c = queries.compareRuns(ids);
        if (asJson) {
            json runs = json::array(), diffs = json::array();
            for (size_t i = 0; i < c.runs.size(); ++i) {
                json r = summaryJson(c.runs[i]);
                r["results"] = resultsJson(c.results[i]);
                runs.push_back(r);
            }
            for (const auto& d : c.differences) {
                json values = json::array();
                for (const auto& v : d.values)
                    values.push_back(v ? json::parse(*v) : json(nullptr));
                diffs.push_back({{"key", d.key}, {"values", values}});
            }
            std::cout << json{{"runs", runs}, {"differences", diffs}}.dump(2) << "\n";
        } else {
            // The key settings (alpha, learning rate, ...) come from each run's row.
            std::vector<tb::RunDetails> details;
            for (const int64_t id : ids)
                details.push_back(queries.getRun(id));
            const tb::ComparisonTable table = tb::comparisonTableOf(c, details);
            if (format == "markdown")
                std::cout << table.toMarkdown();
            else if (format == "csv")
                std::cout << table.toCsv();
            else if (format == "html")
                std::cout << table.toHtml();
            else
                std::cout << table.toText();
        }
    } else if (sub == "delete") {
        const int64_t id = runIdArg(positional, 0, "delete ID [--files]");
        const tb::DeleteReport report = store.deleteRun(id, a.has("files"));
        std::cout << "Deleted run " << id << "\n";
        for (const auto& kept : report.kept)
            std::cout << "  kept " << kept << "\n";
        for (const auto& failed : report.failed)
            std::cerr << "  could not remove " << failed << "\n";
    } else if (sub == "rename") {
        const int64_t id = runIdArg(positional, 0, "rename ID NAME");
        if (positional.size() != 2)
            throw UsageError("usage: tunebench-cli runs rename ID NAME");
        store.renameRun(id, positional[1]);
    } else if (sub == "tag") {
        const int64_t id = runIdArg(positional, 0, "tag ID TAG [--remove]");
        if (positional.size() != 2)
            throw UsageError("usage: tunebench-cli runs tag ID TAG [--remove]");
        if (a.has("remove"))
            store.removeTag(id, positional[1]);
        else
            store.addTag(id, positional[1]);
    } else if (sub == "note") {
        const int64_t id = runIdArg(positional, 0, "note ID TEXT");
        if (positional.size() != 2)
            throw UsageError("usage: tunebench-cli runs note ID TEXT");
        store.setNote(id, positional[1]);
    } else {
        throw UsageError("unknown subcommand \"" + sub + "\"\n" + kRunsUsage);
    }
    return 0;
}

} // namespace tbcli
