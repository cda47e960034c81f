#include "train/TrainingCheckpoint.h"

#include "formats/FormatError.h"
#include "formats/SafetensorsReader.h"
#include "formats/SafetensorsWriter.h"
#include "model/TensorIO.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>

namespace tb {

namespace fs = std::filesystem;

namespace {

void fsyncPath(const fs::path& path)
{
    const int fd = ::open(path.c_str(), O_RDONLY);
    if (fd >= 0) {
        ::fsync(fd);
        ::close(fd);
    }
}

std::string stepFolderName(int64_t step)
{
    std::ostringstream name;
    name << "step-" << std::setw(8) << std::setfill('0') << step;
    return name.str();
}

} // namespace

std::string saveTrainingCheckpoint(const std::string& runDir, const CheckpointContents& c)
{
    const fs::path root = fs::path(runDir) / "checkpoints";
    fs::create_directories(root);
    // Leftovers of an interrupted save.
    for (const auto& entry : fs::directory_iterator(root))
        if (entry.path().filename().string().find(".tmp-") != std::string::npos)
            fs::remove_all(entry.path());

    const fs::path final = root / stepFolderName(c.step);
    const fs::path tmp = root / (stepFolderName(c.step) + ".tmp-" + std::to_string(::getpid()));
    fs::create_directories(tmp);

    SafetensorsWriter trainable;
    for (const auto& [name, t] : c.trainable)
        addTensor(trainable, name, t, at::kFloat);
    trainable.write((tmp / "trainable.safetensors").string());

    SafetensorsWriter state;
    for (const auto& [name, t] : c.optimizerState)
        addTensor(state, name, t);
    addTensor(state, "rng.cpu", c.rngState);
    if (c.cudaRngState.defined())
        addTensor(state, "rng.cuda", c.cudaRngState);
    state.setMetadata({{"trainer_state", c.trainerState.dump()}});
    state.write((tmp / "training_state.safetensors").string());

    {
        std::ofstream out(tmp / "train_config.json", std::ios::binary | std::ios::trunc);
        out << c.config.dump(2) << "\n";
        out.flush();
        if (!out)
            throw std::runtime_error((tmp / "train_config.json").string() + ": cannot write");
    }
    fsyncPath(tmp / "train_config.json");
    fsyncPath(tmp);
    if (fs::exists(final))
        fs::remove_all(final); // re-saving the same step (e.g. cancel right after a periodic save)
    fs::rename(tmp, final);
    fsyncPath(root);
    return final.string();
}

std::string latestCheckpoint(const std::string& runDir)
{
    const fs::path root = fs::path(runDir) / "checkpoints";
    if (!fs::is_directory(root))
        return {};
    std::string best;
    for (const auto& entry : fs::directory_iterator(root)) {
        const std::string name = entry.path().filename().string();
        if (!entry.is_directory() || name.rfind("step-", 0) != 0 || name.find(".tmp") != std::string::npos)
            continue;
        if (name > best) // zero-padded: lexical order is numeric order
            best = name;
    }
    return best.empty() ? std::string() : (root / best).string();
}

CheckpointContents loadTrainingCheckpoint(const std::string& dir)
{
    CheckpointContents c;
    const std::string trainablePath = (fs::path(dir) / "trainable.safetensors").string();
    const std::string statePath = (fs::path(dir) / "training_state.safetensors").string();
    const std::string configPath = (fs::path(dir) / "train_config.json").string();
    {
        const SafetensorsReader reader(trainablePath);
        for (const auto& info : reader.tensors())
            c.trainable[info.name] = readTensor(reader, info);
    }
    {
        const SafetensorsReader reader(statePath);
        for (const auto& info : reader.tensors()) {
            if (info.name == "rng.cpu")
                c.rngState = readTensor(reader, info);
            else if (info.name == "rng.cuda")
                c.cudaRngState = readTensor(reader, info);
            else
                c.optimizerState[info.name] = readTensor(reader, info);
        }
        auto it = reader.metadata().find("trainer_state");
        if (it == reader.metadata().end())
            throw FormatError(statePath, "__metadata__ lacks \"trainer_state\"");
        try {
            c.trainerState = nlohmann::json::parse(it->second);
        } catch (const nlohmann::json::exception& e) {
            throw FormatError(statePath, std::string("trainer_state is not valid JSON: ") + e.what());
        }
        if (!c.rngState.defined())
            throw FormatError(statePath, "tensor \"rng.cpu\" is missing");
    }
    std::ifstream in(configPath, std::ios::binary);
    if (!in)
        throw FormatError(configPath, "cannot open");
    try {
        c.config = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
        throw FormatError(configPath, std::string("not valid JSON: ") + e.what());
    }
    if (!c.trainerState.contains("step") || !c.trainerState["step"].is_number_integer())
        throw FormatError(statePath, "trainer_state lacks an integer \"step\"");
    c.step = c.trainerState["step"].get<int64_t>();
    return c;
}

} // namespace tb
