// Loads a model and generates text on a worker thread for the window's playground.
//
// Thread contract: the object lives on its own QThread (moveToThread). loadModel() and
// generate() are slots invoked through queued connections and run on that thread; every
// signal is emitted from it and reaches the GUI thread queued. requestStop() is the one
// method the GUI thread calls directly: it sets an atomic flag that generation checks after
// each token.
#pragma once

#include <QObject>
#include <QString>

#include <atomic>
#include <memory>

namespace tb {
struct LoadedModel;
class Tokenizer;
struct TokenizerConfig;
}

struct ModelSummary {
    QString dir;
    QString architecture;
    qint64 parameters = 0;
    int layers = 0;
    int hiddenSize = 0;
    int heads = 0;
    int keyValueHeads = 0;
    int vocabSize = 0;
    int contextLength = 0;
    qint64 bf16Bytes = 0;
    qint64 nf4Bytes = 0;
    QString torchDtype;
};
Q_DECLARE_METATYPE(ModelSummary)

class PlaygroundWorker : public QObject {
    Q_OBJECT
public:
    PlaygroundWorker();
    ~PlaygroundWorker() override;

    void requestStop() { m_stop.store(true); }

public Q_SLOTS:
    // An empty dir means the built-in demo model, made on first use in the app-data folder.
    void loadModel(const QString& dir);
    void generate(const QString& prompt, int maxNewTokens, double temperature, double topP, quint64 seed);

Q_SIGNALS:
    void status(const QString& message);
    void modelLoaded(const ModelSummary& summary);
    void textPiece(const QString& text);
    void generationFinished(const QString& stopReason, int tokens, double tokensPerSecond);
    void failed(const QString& message);

private:
    std::unique_ptr<tb::LoadedModel> m_model;
    std::unique_ptr<tb::Tokenizer> m_tokenizer;
    std::unique_ptr<tb::TokenizerConfig> m_tokenizerConfig;
    std::atomic<bool> m_stop{false};
};
