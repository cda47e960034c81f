// One export of a run's adapter on QtConcurrent's thread pool: a PEFT folder copy, a merged
// Hugging Face model, or GGUF files for llama.cpp / LM Studio / Ollama (engine/export), recorded
// afterwards as artifacts of the run in the experiment database (ArtifactKind::Export for the
// PEFT folder and GGUF files, Merged for a merged model; every GGUF file is its own artifact).
//
// Thread contract:
// - Create it on the GUI thread, connect to its signals, then call start(). It lives on the
//   GUI thread but does its work on a pool thread; it never touches widgets.
// - progressed() and finished() are emitted on the pool thread, so GUI-thread receivers get
//   them queued. finished() is the last signal; the object then deletes itself (deleteLater),
//   so never keep its pointer past finished().
// - cancel() (GUI thread, any time before finished()) asks the GGUF exports to stop between
//   tensors; nothing is left at the destination. The PEFT copy and the merge run to the end.
// - The export holds no reference to whoever started it: closing the dialog mid-way lets the
//   export run to its end, and it is still recorded.
#pragma once

#include <QObject>
#include <QString>

#include <atomic>

enum class AdapterExportFormat {
    PeftAdapter, // the adapter folder as it is
    MergedModel, // a Hugging Face model folder with the adapter merged in
    GgufModel,   // one GGUF file, the adapter merged in
    GgufLora,    // the adapter as a llama.cpp LoRA GGUF, with the base model's GGUF beside it
    Ollama,      // GGUF file(s) and a Modelfile
};

struct AdapterExportRequest {
    QString databasePath;  // the experiment database; "" records nothing
    qint64 runId = -1;
    QString runName;       // GGUF files are named after it ("" : after the adapter folder)
    AdapterExportFormat format = AdapterExportFormat::PeftAdapter;
    QString dtype = "bf16"; // MergedModel: bf16, fp16 or fp32; GGUF formats: a GGUF file type (q4_k_m, ...)
    bool separateAdapter = false; // Ollama: the adapter in its own GGUF (ADAPTER) instead of merged
    QString modelDir;      // all but PeftAdapter: the run's base model folder
    QString adapterDir;    // the run's PEFT adapter folder
    QString outDir;        // absolute; must not exist or be empty
    qint64 adapterStep = -1; // the step the adapter was saved at (recorded with the artifact); -1: unknown
};

class AdapterExportWorker : public QObject {
    Q_OBJECT
public:
    explicit AdapterExportWorker(const AdapterExportRequest& request);

    // GUI thread, once: queues the export on QThreadPool::globalInstance().
    void start();
    void cancel();

Q_SIGNALS:
    // fraction 0..1 of the whole export; stage: what it does now ("loading the base model (fp32)").
    void progressed(double fraction, const QString& stage);
    // ok: the folder is complete at outDir (message says whether recording it failed);
    // !ok: nothing was written to outDir, message gives the reason.
    void finished(bool ok, const QString& message, const QString& outDir);

private:
    void run(); // pool thread

    const AdapterExportRequest m_request;
    bool m_started = false;
    std::atomic<bool> m_cancelled{false};
};
