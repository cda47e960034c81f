// "Export..." for one run of the experiment database: shows the run and its adapter, lets the
// user choose a format (the PEFT adapter folder as it is; a Hugging Face model with the adapter
// merged into its base, in bf16, fp16 or fp32; GGUF for llama.cpp and LM Studio, merged or as a
// LoRA adapter beside its base; an Ollama folder with a Modelfile), the GGUF type with the size
// each will take, and a destination folder, and exports with a progress bar and Cancel. A
// finished export is recorded as artifacts of the run.
//
// Thread contract: GUI thread only. The run's details, and then the GGUF sizes and the chat
// template's family (engine/export's plan, from config.json and the tokenizer files), are read
// on QtConcurrent's pool and come back through QFutureWatchers; the export runs on the pool
// through AdapterExportWorker, whose progress and end arrive queued. Nothing here waits on
// either. Use it non-modally (open()); closing it mid-export lets the export finish (and be
// recorded) in the background.
#pragma once

#include "AdapterExportWorker.h"

#include <QDialog>
#include <QFutureWatcher>
#include <QMap>
#include <QPointer>
#include <QString>

class QCheckBox;
class QComboBox;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;

class ExportDialog : public QDialog {
    Q_OBJECT
public:
    using Format = AdapterExportFormat;

    // What the dialog knows about the run, read off the GUI thread.
    struct RunSource {
        bool loaded = false;
        QString error;           // the run could not be read ("" when it was)
        QString name, method, status, runDir, modelDir;
        QString adapterDir;      // "" when the run has no adapter to export
        QString noAdapterReason; // why adapterDir is "" (full fine-tuning, failed before saving, ...)
        qint64 adapterStep = -1;
    };

    // What the GGUF choices will produce, read off the GUI thread from the base model folder.
    struct GgufPreview {
        bool loaded = false;
        QString error;              // the model cannot be exported to GGUF, and why
        QMap<QString, qint64> bytes; // GGUF type name -> file size (merged model, or the base)
        bool chatRecognized = false;
        QString chatFamily, chatNote;
    };

    ExportDialog(const QString& databasePath, qint64 runId, QWidget* parent = nullptr);

    // For tests and callers that drive the dialog without clicks.
    void setDestination(const QString& dir);
    void setFormat(Format format);
    void setMergedDtype(const QString& dtype); // "bf16", "fp16" or "fp32"; for GGUF formats a type ("q4_k_m")
    void setSeparateAdapter(bool separate);    // Ollama: the adapter in its own GGUF (ADAPTER)
    void cancelExport();                       // the Cancel button: GGUF exports stop between tensors
    // Starts the export with the current choices (the Export button does the same). Called
    // before the run's details have arrived, it starts as soon as they do. A refusal that
    // needs no work (no adapter, no destination) ends at once through exportFinished(false).
    void startExport();

    qint64 runId() const { return m_runId; }
    Format format() const;
    QString destination() const;
    bool exporting() const { return m_exporting; }
    const RunSource& source() const { return m_source; }
    const GgufPreview& ggufPreview() const { return m_preview; }
    QComboBox* typeBox() const { return m_dtype; }
    QLabel* chatLabel() const { return m_chat; }
    QPushButton* cancelButton() const { return m_cancel; }
    QLabel* statusLabel() const { return m_status; }
    QProgressBar* progressBar() const { return m_progress; }
    QPushButton* exportButton() const { return m_export; }

Q_SIGNALS:
    void sourceLoaded();  // the run's details are in (or could not be read: see source().error)
    void previewLoaded(); // the GGUF sizes and chat family are in (see ggufPreview())
    // ok: the export is complete in outDir; message says so, and whether it was recorded.
    void exportFinished(bool ok, const QString& message, const QString& outDir);

private:
    void onSourceLoaded();
    void onPreviewLoaded();
    void fillTypes();
    bool isGguf() const;
    void onProgress(double fraction, const QString& stage);
    void onFinished(bool ok, const QString& message, const QString& outDir);
    void browse();
    void updateControls();
    void suggestDestination();
    void fail(const QString& message);
    QString suggestedFolderName() const;

    QString m_databasePath;
    qint64 m_runId;
    RunSource m_source;
    QFutureWatcher<RunSource> m_sourceWatcher;
    GgufPreview m_preview;
    QFutureWatcher<GgufPreview> m_previewWatcher;
    bool m_previewStarted = false;
    QPointer<AdapterExportWorker> m_worker;
    bool m_exporting = false;
    bool m_startWhenLoaded = false;
    bool m_destinationChosen = false; // the user (or a caller) set it: stop suggesting one

    QLabel* m_runLabel;
    QComboBox* m_format;
    QComboBox* m_dtype;
    QCheckBox* m_separate;
    QLabel* m_chat;
    QLineEdit* m_destination;
    QPushButton* m_browse;
    QPushButton* m_export;
    QPushButton* m_cancel;
    QProgressBar* m_progress;
    QLabel* m_status;
};
