#include "PlaygroundWorker.h"

#include "demo/DemoModelMaker.h"
#include "formats/WeightFootprint.h"
#include "generate/TextGenerator.h"
#include "model/ModelLoader.h"
#include "tokenizer/Tokenizer.h"
#include "tokenizer/TokenizerConfig.h"

#include <QDir>
#include <QFileInfo>
#include <QStandardPaths>

PlaygroundWorker::PlaygroundWorker() = default;
PlaygroundWorker::~PlaygroundWorker() = default;

namespace {

QString demoModelDir()
{
    // Beside the experiment database: ~/.local/share/Tunebench/models/demo-tiny.
    return QDir(QStandardPaths::writableLocation(QStandardPaths::GenericDataLocation)).filePath("Tunebench/models/demo-tiny");
}

} // namespace

void PlaygroundWorker::loadModel(const QString& requestedDir)
{
    try {
        QString dir = requestedDir;
        if (dir.isEmpty()) {
            dir = demoModelDir();
            if (!QFileInfo::exists(dir + "/model.safetensors")) {
                Q_EMIT status(tr("Making the built-in demo model in %1 ...").arg(dir));
                tb::makeDemoModel(dir.toStdString(), "tiny", 0);
            }
        }
        Q_EMIT status(tr("Loading %1 ...").arg(dir));
        auto loaded = std::make_unique<tb::LoadedModel>(tb::loadModel(dir.toStdString()));
        auto tokenizer = std::make_unique<tb::Tokenizer>(tb::Tokenizer::fromFile((dir + "/tokenizer.json").toStdString()));
        auto tokenizerConfig = std::make_unique<tb::TokenizerConfig>(
            tb::TokenizerConfig::fromFile((dir + "/tokenizer_config.json").toStdString()));
        m_model = std::move(loaded);
        m_tokenizer = std::move(tokenizer);
        m_tokenizerConfig = std::move(tokenizerConfig);

        const tb::ModelConfig& c = m_model->config;
        const tb::WeightFootprint f = tb::weightFootprint(c);
        ModelSummary s;
        s.dir = dir;
        s.architecture = QString::fromStdString(c.architecture);
        s.parameters = f.totalParameters;
        s.layers = static_cast<int>(c.numLayers);
        s.hiddenSize = static_cast<int>(c.hiddenSize);
        s.heads = static_cast<int>(c.numHeads);
        s.keyValueHeads = static_cast<int>(c.numKeyValueHeads);
        s.vocabSize = static_cast<int>(c.vocabSize);
        s.contextLength = static_cast<int>(c.maxPositionEmbeddings);
        s.bf16Bytes = f.bf16Bytes;
        s.nf4Bytes = f.nf4Bytes;
        s.torchDtype = QString::fromStdString(c.torchDtype);
        Q_EMIT modelLoaded(s);
        for (const auto& w : m_model->warnings)
            Q_EMIT status(QString::fromStdString(w));
    } catch (const std::exception& e) {
        Q_EMIT failed(QString::fromStdString(e.what()));
    }
}

void PlaygroundWorker::generate(const QString& prompt, int maxNewTokens, double temperature, double topP, quint64 seed)
{
    if (!m_model) {
        Q_EMIT failed(tr("No model is loaded."));
        return;
    }
    m_stop.store(false);
    try {
        tb::GenerationOptions options;
        options.maxNewTokens = maxNewTokens;
        options.temperature = temperature;
        options.topP = topP;
        options.seed = seed;
        options.eosTokenIds = tb::defaultEosTokenIds(m_model->config, *m_tokenizer, *m_tokenizerConfig);
        const std::vector<int32_t> encoded = m_tokenizer->encode(prompt.toStdString(), true);
        tb::TextGenerator generator(*m_model->model, *m_tokenizer);
        const tb::GenerationResult result =
            generator.generate(std::vector<int64_t>(encoded.begin(), encoded.end()), options, [this](const std::string& piece) {
                Q_EMIT textPiece(QString::fromStdString(piece));
                return !m_stop.load();
            });
        Q_EMIT generationFinished(QString::fromLatin1(tb::stopReasonName(result.stopReason)),
                                static_cast<int>(result.tokenIds.size()), result.tokensPerSecond());
    } catch (const std::exception& e) {
        Q_EMIT failed(QString::fromStdString(e.what()));
    }
}
