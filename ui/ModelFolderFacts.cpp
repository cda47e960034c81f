#include "ModelFolderFacts.h"

#include "demo/DemoModelMaker.h"
#include "formats/CheckpointFiles.h"
#include "formats/ModelConfig.h"
#include "formats/WeightFootprint.h"

#include <QCoreApplication>
#include <QDir>
#include <QFileInfo>
#include <QStandardPaths>

#include <map>
#include <mutex>
#include <stdexcept>

namespace {

const char* const kNeededFiles[] = {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"};

bool demoComplete(const QString& dir)
{
    for (const char* f : kNeededFiles)
        if (!QFileInfo::exists(QDir(dir).filePath(QString::fromLatin1(f))))
            return false;
    return true;
}

} // namespace

QString builtInDemoModelDir()
{
    return QDir(QStandardPaths::writableLocation(QStandardPaths::GenericDataLocation)).filePath("Tunebench/models/demo-tiny");
}

QString ensureBuiltInDemoModel()
{
    static std::mutex makingDemo; // the chooser's check and the Playground's first load may race
    const std::lock_guard<std::mutex> lock(makingDemo);
    const QString dir = builtInDemoModelDir();
    if (demoComplete(dir))
        return dir;
    const QString partial = dir + QStringLiteral(".partial-%1").arg(QCoreApplication::applicationPid());
    QDir(partial).removeRecursively();
    tb::makeDemoModel(partial.toStdString(), "tiny", 0);
    if (!QDir().rename(partial, dir)) {
        // An incomplete folder (an older, interrupted version) is in the way.
        QDir(dir).removeRecursively();
        if (!QDir().rename(partial, dir)) {
            QDir(partial).removeRecursively();
            throw std::runtime_error(dir.toStdString() + ": cannot move the demo model into place");
        }
    }
    return dir;
}

ModelFolderFacts inspectModelFolder(const QString& requestedDir)
{
    ModelFolderFacts facts;
    facts.dir = QDir::cleanPath(QFileInfo(requestedDir).absoluteFilePath());
    const QDir dir(facts.dir);
    try {
        if (!QFileInfo(facts.dir).isDir()) {
            facts.error = QObject::tr("%1: no such folder").arg(facts.dir);
            return facts;
        }
        const QString configPath = dir.filePath("config.json");
        if (!QFileInfo::exists(configPath)) {
            facts.error = QObject::tr("%1: not found (a Hugging Face model folder needs config.json)").arg(configPath);
            return facts;
        }
        const tb::ModelConfig config = tb::ModelConfig::fromFile(configPath.toStdString());
        const tb::CheckpointFiles checkpoint(facts.dir.toStdString()); // headers only: no weight is read
        for (const char* f : {"tokenizer.json", "tokenizer_config.json"}) {
            const QString path = dir.filePath(QString::fromLatin1(f));
            if (!QFileInfo::exists(path)) {
                facts.error = QObject::tr("%1: not found (training needs the model's tokenizer)").arg(path);
                return facts;
            }
        }
        std::map<std::string, qint64> byDtype; // parameters per stored dtype
        for (const auto& shard : checkpoint.shards())
            for (const auto& t : shard->tensors())
                byDtype[tb::dtypeName(t.dtype)] += t.numel();
        qint64 most = -1;
        for (const auto& [name, count] : byDtype)
            if (count > most) {
                most = count;
                facts.dtype = QString::fromStdString(name);
            }
        facts.architecture = QString::fromStdString(config.architecture);
        facts.parameters = tb::weightFootprint(config).totalParameters;
        facts.diskBytes = static_cast<qint64>(checkpoint.totalFileBytes());
        facts.layers = static_cast<int>(config.numLayers);
        facts.hiddenSize = static_cast<int>(config.hiddenSize);
    } catch (const std::exception& e) {
        facts.error = QString::fromStdString(e.what()); // FormatError: "<file>: <detail>"
    }
    return facts;
}
