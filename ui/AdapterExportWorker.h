// One export of a run's adapter (a PEFT folder copy, or a merged Hugging Face model) on
// QtConcurrent's thread pool, recorded afterwards as an artifact of the run in the
// experiment database (ArtifactKind::Export for the PEFT folder, Merged for the merged model).
//
// Thread contract:
// - Create it on the GUI thread, connect to its signals, then call start(). It lives on the
//   GUI thread but does its work on a pool thread; it never touches widgets.
// - progressed() and finished() are emitted on the pool thread, so GUI-thread receivers get
//   them queued. finished() is the last signal; the object then deletes itself (deleteLater),
//   so never keep its pointer past finished().
// - The export holds no reference to whoever started it: closing the dialog mid-way lets the
//   export run to its end, and it is still recorded.
#pragma once

#include <QObject>
#include <QString>

struct AdapterExportRequest {
    QString databasePath;  // the experiment database; "" records nothing
    qint64 runId = -1;
    bool merged = false;   // false: PEFT adapter folder; true: merged model
    QString dtype = "bf16"; // merged only: bf16, fp16 or fp32
    QString modelDir;      // merged only: the run's base model folder
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
};
