#include "export/GgufFolderExport.h"

#include "core/StagingFolder.h"
#include "gguf/GgufVocabulary.h"
#include "ollama/ChatFamily.h"
#include "ollama/OllamaChat.h"
#include "ollama/OllamaModelfile.h"

#include <cctype>
#include <filesystem>
#include <fstream>

namespace tb {

namespace fs = std::filesystem;

namespace {

std::string folderName(const std::string& dir)
{
    fs::path p = fs::absolute(dir).lexically_normal();
    if (!p.has_filename())
        p = p.parent_path();
    return p.filename().string();
}

// A model or run name as part of a file name: [A-Za-z0-9._-], the rest as '-'.
std::string fileStem(const std::string& name)
{
    std::string stem;
    for (char c : name)
        stem += (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-') ? c : '-';
    return stem.empty() || stem[0] == '.' ? "model" + stem : stem;
}

} // namespace

std::string ggufModelFileName(const std::string& name, GgufFileType type)
{
    return fileStem(name) + "-" + ggufFileTypeName(type) + ".gguf";
}

std::string ggufLoraFileName(const std::string& name, GgufFileType type)
{
    return fileStem(name) + "-lora-" + ggufFileTypeName(type) + ".gguf";
}

namespace {

// Everything but the refusal of an unusable destination, inside a staging folder.
GgufFolderResult exportGgufFolderStaged(const GgufFolderRequest& r)
{
    if (r.separateAdapter && r.adapterDir.empty())
        throw std::invalid_argument("an adapter kept apart needs an adapter folder");
    const std::string baseName = folderName(r.modelDir);
    const std::string name = r.options.name.empty() ? (r.adapterDir.empty() ? baseName : folderName(r.adapterDir)) : r.options.name;

    GgufFolderResult result;
    StagingFolder staging(r.outDir);
    auto stage = [&](double from, double to) {
        GgufExportOptions o = r.options;
        o.progress = [&, from, to](double f, const std::string& what) {
            if (r.options.progress)
                r.options.progress(from + (to - from) * f, what);
        };
        return o;
    };

    if (r.separateAdapter) {
        result.modelFile = ggufModelFileName(baseName, r.options.type);
        GgufExportOptions base = stage(0.0, 0.9);
        base.name = baseName;
        const GgufExportReport b = exportGgufModel(r.modelDir, "", (staging.path() / result.modelFile).string(), base);
        result.warnings = b.warnings;
        result.adapterFile = ggufLoraFileName(name, r.loraType);
        GgufExportOptions lora = stage(0.9, 1.0);
        lora.type = r.loraType;
        lora.name = name;
        exportGgufLora(r.modelDir, r.adapterDir, (staging.path() / result.adapterFile).string(), lora);
        result.ggufFiles = {result.modelFile, result.adapterFile};
    } else {
        result.modelFile = ggufModelFileName(name, r.options.type);
        GgufExportOptions merged = stage(0.0, 1.0);
        merged.name = name;
        const GgufExportReport m = exportGgufModel(r.modelDir, r.adapterDir, (staging.path() / result.modelFile).string(), merged);
        result.warnings = m.warnings;
        result.ggufFiles = {result.modelFile};
    }
    result.files = result.ggufFiles;

    if (r.ollama) {
        const GgufVocabulary vocabulary = ggufVocabularyFor(r.modelDir, ModelConfig::fromFile((fs::path(r.modelDir) / "config.json").string()).vocabSize);
        const OllamaChat chat = ollamaChatFor(recognizeChatFamily(vocabulary.chatTemplate, vocabulary.bosToken, vocabulary.eosToken));
        result.chatRecognized = chat.recognized;
        result.chatFamily = chat.family;
        result.chatNote = chat.note;
        result.modelfile = modelfileText("./" + result.modelFile, result.adapterFile.empty() ? "" : "./" + result.adapterFile, chat);
        const fs::path modelfile = staging.path() / "Modelfile";
        std::ofstream out(modelfile, std::ios::binary);
        out << result.modelfile;
        out.close();
        if (!out)
            throw std::runtime_error(r.outDir + ": cannot write the Modelfile");
        result.files.push_back("Modelfile");
    }
    staging.commit();
    result.dir = fs::absolute(r.outDir).lexically_normal().string();
    return result;
}

} // namespace

GgufFolderResult exportGgufFolder(const GgufFolderRequest& r)
{
    StagingFolder::requireUsable(r.outDir); // refuse before the slow work
    // A failure inside the staging folder names its hidden path; say which export it was.
    try {
        return exportGgufFolderStaged(r);
    } catch (const GgufExportCancelled&) {
        throw;
    } catch (const std::exception& e) {
        throw std::runtime_error(r.outDir + ": not exported (nothing was left behind): " + e.what());
    }
}

} // namespace tb
