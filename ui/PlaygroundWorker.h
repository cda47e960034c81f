// Loads a model (and optionally a PEFT LoRA adapter on top of it) and generates text on a
// worker thread for the Playground. With an adapter, one request generates twice with the same
// prompt, seed and settings: first with the adapters switched off (the base model exactly,
// tb::setLoraEnabled(false)), then switched on; every piece of text is tagged with its pane.
//
// Thread contract: the object lives on its own QThread (moveToThread). loadModel(),
// loadAdapter(), clearAdapter() and generate() are slots invoked through queued connections
// and run on that thread, in the order they were sent; every signal is emitted from it and
// reaches the GUI thread queued. requestStop() is the one method the GUI thread calls directly:
// it sets an atomic flag that generation checks after each token (it ends both passes).
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
    bool hasChatTemplate = false; // tokenizer_config.json has a chat_template
    qint64 loadedBytes = 0;       // the loaded tensors' bytes in this (the window's) process
};
Q_DECLARE_METATYPE(ModelSummary)

class PlaygroundWorker : public QObject {
    Q_OBJECT
public:
    // Which pane a piece of generated text belongs to.
    enum Pane { BasePane = 0, AdapterPane = 1 };
    Q_ENUM(Pane)

    PlaygroundWorker();
    ~PlaygroundWorker() override;

    void requestStop() { m_stop.store(true); }

public Q_SLOTS:
    // An empty dir means the built-in demo model, made on first use in the app-data folder.
    // A new model has no adapter.
    void loadModel(const QString& dir);
    // Puts the PEFT adapter in `dir` on the loaded model in place of the current one. On an
    // error (not a PEFT folder, a shape that does not fit this model) the model is left with
    // no adapter, the base usable, and adapterFailed names the file and key or tensor.
    void loadAdapter(const QString& dir);
    void clearAdapter();
    // Frees the model (and adapter) this window holds for generation: the playground's memory
    // is the window's, apart from any training run (each is a process of its own).
    void unloadModel();
    // chat: the prompt is a user turn rendered through the model's chat template (as
    // `tunebench-cli generate --chat`), what an adapter trained on chat records expects.
    void generate(const QString& prompt, int maxNewTokens, double temperature, double topP, quint64 seed, bool chat);

Q_SIGNALS:
    void status(const QString& message);
    void modelLoaded(const ModelSummary& summary);
    // description: "r=8, alpha 16, on down_proj, gate_proj, ...".
    void adapterLoaded(const QString& dir, const QString& description);
    void adapterCleared();
    void modelUnloaded();
    void adapterFailed(const QString& dir, const QString& message);
    void textPiece(int pane, const QString& text); // pane: Pane
    // After each pass (one without an adapter, two with one: BasePane then AdapterPane).
    void passFinished(int pane, const QString& stopReason, int tokens, double tokensPerSecond);
    // After the last pass, or after failed() during generation: the request is over.
    void generationFinished();
    void failed(const QString& message);

private:
    std::unique_ptr<tb::LoadedModel> m_model;
    std::unique_ptr<tb::Tokenizer> m_tokenizer;
    std::unique_ptr<tb::TokenizerConfig> m_tokenizerConfig;
    QString m_adapterDir; // "" when the model has no adapter
    std::atomic<bool> m_stop{false};
};
