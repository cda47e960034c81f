#include "PlaygroundWorker.h"

#include "ModelFolderFacts.h"

#include "formats/WeightFootprint.h"
#include "generate/ChatPrompt.h"
#include "generate/TextGenerator.h"
#include "lora/LoraInjector.h"
#include "lora/PeftAdapter.h"
#include "model/ModelLoader.h"
#include "tokenizer/Tokenizer.h"
#include "tokenizer/TokenizerConfig.h"

#include <QFileInfo>
#include <QStringList>

PlaygroundWorker::PlaygroundWorker() = default;
PlaygroundWorker::~PlaygroundWorker() = default;

void PlaygroundWorker::loadModel(const QString& requestedDir)
{
    try {
        QString dir = requestedDir;
        if (dir.isEmpty()) {
            dir = builtInDemoModelDir(); // shared with the Train tab's model chooser
            if (!QFileInfo::exists(dir + "/model.safetensors"))
                Q_EMIT status(tr("Making the built-in demo model in %1 ...").arg(dir));
            ensureBuiltInDemoModel(); // serialised with the chooser's check
        }
        Q_EMIT status(tr("Loading %1 ...").arg(dir));
        auto loaded = std::make_unique<tb::LoadedModel>(tb::loadModel(dir.toStdString()));
        auto tokenizer = std::make_unique<tb::Tokenizer>(tb::Tokenizer::fromFile((dir + "/tokenizer.json").toStdString()));
        auto tokenizerConfig = std::make_unique<tb::TokenizerConfig>(
            tb::TokenizerConfig::fromFile((dir + "/tokenizer_config.json").toStdString()));
        m_model = std::move(loaded);
        m_tokenizer = std::move(tokenizer);
        m_tokenizerConfig = std::move(tokenizerConfig);
        m_adapterDir.clear(); // a freshly loaded model has none

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
        s.hasChatTemplate = !m_tokenizerConfig->chatTemplate.empty();
        for (const auto& t : m_model->model->parameters())
            s.loadedBytes += t.numel() * static_cast<qint64>(t.element_size());
        for (const auto& t : m_model->model->buffers())
            s.loadedBytes += t.numel() * static_cast<qint64>(t.element_size());
        Q_EMIT modelLoaded(s);
        for (const auto& w : m_model->warnings)
            Q_EMIT status(QString::fromStdString(w));
    } catch (const std::exception& e) {
        Q_EMIT failed(QString::fromStdString(e.what()));
    }
}

void PlaygroundWorker::loadAdapter(const QString& dir)
{
    if (!m_model) {
        Q_EMIT adapterFailed(dir, tr("No model is loaded."));
        return;
    }
    Q_EMIT status(tr("Loading adapter %1 ...").arg(dir));
    // loadPeftAdapter wraps the model before it has checked every tensor, so a failure can
    // leave it half wrapped: unwrap on every path that does not end with the new adapter.
    tb::removeLora(*m_model->model);
    m_adapterDir.clear();
    try {
        const tb::PeftAdapterInfo info = tb::loadPeftAdapter(*m_model->model, dir.toStdString());
        m_model->model->eval(); // no LoRA dropout while generating
        m_adapterDir = dir;
        QStringList targets;
        for (const auto& t : info.settings.targets)
            targets << QString::fromStdString(t);
        const QString description =
            tr("r=%1, alpha %2, on %3").arg(info.settings.rank).arg(info.settings.alpha).arg(targets.join(QStringLiteral(", ")));
        Q_EMIT adapterLoaded(dir, description);
    } catch (const std::exception& e) {
        tb::removeLora(*m_model->model);
        Q_EMIT adapterFailed(dir, QString::fromStdString(e.what()));
    }
}

void PlaygroundWorker::clearAdapter()
{
    if (m_model)
        tb::removeLora(*m_model->model);
    m_adapterDir.clear();
    Q_EMIT adapterCleared();
}

void PlaygroundWorker::unloadModel()
{
    m_model.reset();
    m_tokenizer.reset();
    m_tokenizerConfig.reset();
    m_adapterDir.clear();
    Q_EMIT modelUnloaded();
}

void PlaygroundWorker::generate(const QString& prompt, int maxNewTokens, double temperature, double topP, quint64 seed, bool chat)
{
    if (!m_model) {
        Q_EMIT failed(tr("No model is loaded."));
        Q_EMIT generationFinished();
        return;
    }
    m_stop.store(false);
    tb::LlamaForCausalLM& model = *m_model->model;
    try {
        tb::GenerationOptions options;
        options.maxNewTokens = maxNewTokens;
        options.temperature = temperature;
        options.topP = topP;
        options.seed = seed;
        options.eosTokenIds = tb::defaultEosTokenIds(m_model->config, *m_tokenizer, *m_tokenizerConfig);
        const tb::GenerationPrompt text = tb::generationPrompt(
            *m_tokenizerConfig, m_model->dir + "/tokenizer_config.json", prompt.toStdString(), chat);
        const std::vector<int32_t> encoded = m_tokenizer->encode(text.text, text.addSpecialTokens);
        const std::vector<int64_t> promptIds(encoded.begin(), encoded.end());
        tb::TextGenerator generator(model, *m_tokenizer);

        // Base first (adapters switched off: exactly the base model), then base + adapter, with
        // the same options and seed so that only the adapter differs.
        const bool withAdapter = !m_adapterDir.isEmpty();
        const int passes = withAdapter ? 2 : 1;
        for (int pane = BasePane; pane < passes && !m_stop.load(); ++pane) {
            tb::setLoraEnabled(model, pane == AdapterPane);
            const tb::GenerationResult result = generator.generate(promptIds, options, [this, pane](const std::string& piece) {
                Q_EMIT textPiece(pane, QString::fromStdString(piece));
                return !m_stop.load();
            });
            Q_EMIT passFinished(pane, QString::fromLatin1(tb::stopReasonName(result.stopReason)),
                                static_cast<int>(result.tokenIds.size()), result.tokensPerSecond());
        }
        tb::setLoraEnabled(model, true);
    } catch (const std::exception& e) {
        tb::setLoraEnabled(model, true);
        Q_EMIT failed(QString::fromStdString(e.what()));
    }
    Q_EMIT generationFinished();
}
