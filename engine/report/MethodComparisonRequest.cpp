#include "report/MethodComparisonRequest.h"

#include <set>
#include <sstream>
#include <stdexcept>

namespace tb {

namespace {

const char* const kMethodNames[] = {"lora", "qlora", "full"};

bool isMethodName(const std::string& name)
{
    for (const char* known : kMethodNames)
        if (name == known)
            return true;
    return false;
}

std::string numberText(double v)
{
    std::ostringstream out;
    out << v;
    return out.str();
}

} // namespace

const char* fitModeName(FitMode mode)
{
    switch (mode) {
    case FitMode::Confirm: return "confirm";
    case FitMode::Estimate: return "estimate";
    case FitMode::Off: return "off";
    }
    return "confirm";
}

FitMode fitModeFromName(const std::string& name)
{
    if (name == "confirm") return FitMode::Confirm;
    if (name == "estimate") return FitMode::Estimate;
    if (name == "off") return FitMode::Off;
    throw std::invalid_argument("fit \"" + name + "\": expected confirm, estimate or off");
}

std::vector<std::string> comparisonMethodsFromList(const std::string& list)
{
    std::vector<std::string> methods;
    std::set<std::string> seen;
    std::stringstream in(list);
    std::string item;
    while (std::getline(in, item, ',')) {
        if (item.empty())
            continue;
        if (!isMethodName(item))
            throw std::invalid_argument("methods: unknown method \"" + item + "\" (expected lora, qlora or full)");
        if (!seen.insert(item).second)
            throw std::invalid_argument("methods: \"" + item + "\" is listed twice");
        methods.push_back(item);
    }
    if (methods.empty())
        throw std::invalid_argument("methods: no method given (expected a list such as lora,qlora,full)");
    return methods;
}

void MethodComparisonRequest::validate() const
{
    if (modelDir.empty())
        throw std::invalid_argument("model: no model folder given");
    if (dataPath.empty())
        throw std::invalid_argument("data: no training data file given");
    if (methods.empty())
        throw std::invalid_argument("methods: no method given (expected a list such as lora,qlora,full)");
    std::set<std::string> seen;
    for (const auto& m : methods) {
        if (!isMethodName(m))
            throw std::invalid_argument("methods: unknown method \"" + m + "\" (expected lora, qlora or full)");
        if (!seen.insert(m).second)
            throw std::invalid_argument("methods: \"" + m + "\" is listed twice");
    }
    if (steps < 1)
        throw std::invalid_argument("steps: must be at least 1, got " + std::to_string(steps));
    if (seqLen < 2)
        throw std::invalid_argument("seq_len: must be at least 2, got " + std::to_string(seqLen));
    if (batchSize < 1)
        throw std::invalid_argument("batch_size: must be at least 1, got " + std::to_string(batchSize));
    if (rank < 1)
        throw std::invalid_argument("rank: must be at least 1, got " + std::to_string(rank));
    if (threads < 0)
        throw std::invalid_argument("threads: must be 0 (all cores) or more, got " + std::to_string(threads));
    if (device.empty())
        throw std::invalid_argument("device: empty (expected cpu or cuda:N)");
    if (budgetBytes && *budgetBytes <= 0)
        throw std::invalid_argument("budget: must be more than 0 bytes, got " + std::to_string(*budgetBytes));
    if (pricePerHour && !(*pricePerHour >= 0))
        throw std::invalid_argument("price_per_hour: must be 0 or more, got " + numberText(*pricePerHour));
    if (watts && !(*watts > 0))
        throw std::invalid_argument("watts: must be more than 0, got " + numberText(*watts));
}

std::string MethodComparisonRequest::commandLine(const std::string& outDir) const
{
    std::string methodList;
    for (const auto& m : methods)
        methodList += (methodList.empty() ? "" : ",") + m;
    std::ostringstream out;
    out << "tunebench-cli report --model " << shellWord(modelDir) << " --data " << shellWord(dataPath);
    if (!validationPath.empty())
        out << " --val-data " << shellWord(validationPath);
    out << " --methods " << methodList << " --steps " << steps << " --seq-len " << seqLen << " --batch-size "
        << batchSize << " --rank " << rank << " --seed " << seed;
    if (threads > 0)
        out << " --threads " << threads;
    if (device != "cpu")
        out << " --device " << shellWord(device);
    if (budgetBytes)
        out << " --budget " << *budgetBytes;
    if (pricePerHour)
        out << " --price-per-hour " << numberText(*pricePerHour);
    if (watts)
        out << " --watts " << numberText(*watts);
    out << " --fit " << fitModeName(fit); // always: the CLI's default depends on --budget
    if (!databasePath.empty())
        out << " --db " << shellWord(databasePath);
    out << " --out " << shellWord(outDir);
    return out.str();
}

nlohmann::json MethodComparisonRequest::toJson() const
{
    nlohmann::json j = {{"model", modelDir},   {"data", dataPath},       {"val_data", validationPath},
                        {"methods", methods},  {"steps", steps},         {"seq_len", seqLen},
                        {"batch_size", batchSize}, {"rank", rank},       {"seed", seed},
                        {"threads", threads},  {"device", device},       {"database", databasePath},
                        {"fit", fitModeName(fit)}};
    j["budget_bytes"] = budgetBytes ? nlohmann::json(*budgetBytes) : nlohmann::json(nullptr);
    j["price_per_hour"] = pricePerHour ? nlohmann::json(*pricePerHour) : nlohmann::json(nullptr);
    j["watts"] = watts ? nlohmann::json(*watts) : nlohmann::json(nullptr);
    return j;
}

MethodComparisonRequest MethodComparisonRequest::fromJson(const nlohmann::json& j, const std::string& source)
{
    if (!j.is_object())
        throw std::invalid_argument(source + ": request: expected an object");
    MethodComparisonRequest r;
    try {
        r.modelDir = j.value("model", "");
        r.dataPath = j.value("data", "");
        r.validationPath = j.value("val_data", "");
        if (j.contains("methods"))
            r.methods = j.at("methods").get<std::vector<std::string>>();
        r.steps = j.value("steps", r.steps);
        r.seqLen = j.value("seq_len", r.seqLen);
        r.batchSize = j.value("batch_size", r.batchSize);
        r.rank = j.value("rank", r.rank);
        r.seed = j.value("seed", r.seed);
        r.threads = j.value("threads", r.threads);
        r.device = j.value("device", r.device);
        r.databasePath = j.value("database", "");
        r.fit = fitModeFromName(j.value("fit", "confirm"));
        if (j.contains("budget_bytes") && !j.at("budget_bytes").is_null())
            r.budgetBytes = j.at("budget_bytes").get<int64_t>();
        if (j.contains("price_per_hour") && !j.at("price_per_hour").is_null())
            r.pricePerHour = j.at("price_per_hour").get<double>();
        if (j.contains("watts") && !j.at("watts").is_null())
            r.watts = j.at("watts").get<double>();
    } catch (const nlohmann::json::exception& e) {
        throw std::invalid_argument(source + ": request: " + e.what());
    }
    return r;
}

std::string shellWord(const std::string& s)
{
    if (!s.empty() && s.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.,/:=+@%") ==
                          std::string::npos)
        return s;
    std::string out = "'";
    for (const char c : s)
        out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

} // namespace tb
