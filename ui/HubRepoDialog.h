// "From Hugging Face...": the new-run form's way to a model or a dataset by its Hub id.
// For a model, Look up fetches the repository's file list and config.json alone (a few KB, into
// the shared cache) and shows, before any weight is downloaded, what the model is (architecture,
// parameters, the files to download with their sizes) and the memory estimate of LoRA, QLoRA and
// full fine-tuning at the form's settings against the device's free memory; or why Tunebench
// cannot train it (an architecture it lacks, pickle-only weights), naming it. For a dataset it
// lists the JSON, JSONL and CSV files. Download then fetches the files (engine/hub: resumable,
// verified) with bytes, speed and time left, and Cancel; the snapshot folder it ends in is
// snapshotDir(), what --model takes (for a dataset, trainingFile() / validationFile()).
//
// Thread contract: GUI thread only. The look-up and the download run on QtConcurrent's pool;
// results come back through QFutureWatchers and progress through queued invocations, so the
// GUI thread never waits on the network. Cancel sets an atomic flag the download polls; the
// partial file stays resumable. Closing the dialog mid-download cancels it.
#pragma once

#include "train/TrainConfig.h"

#include <QDialog>
#include <QFutureWatcher>
#include <QString>
#include <QStringList>

#include <atomic>
#include <memory>

class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QTableWidget;

class HubRepoDialog : public QDialog {
    Q_OBJECT
public:
    // What a look-up found (read on the pool).
    struct LookUp {
        QString error;         // the repository cannot be read or trained, and why ("" when it can)
        QString repo, revision, commit;
        QStringList files;     // the files Download fetches
        QList<qint64> sizes;   // their sizes (-1: unknown)
        qint64 totalBytes = 0;
        QString facts;         // architecture, parameters
        // "At batch B, sequence length S, LoRA rank R on DEVICE:", then one line per method:
        // "lora: 1.2 GiB peak (fits: 5.6 GiB free)" / "(does not fit: ... free)"; without the
        // parenthesis when the device's free memory is unknown.
        QString estimate;
    };

    // `settings`: the form's settings (method, rank, batch, sequence length, device) for the estimate.
    enum class Kind { Model, Dataset };
    HubRepoDialog(const tb::TrainConfig& settings, QWidget* parent = nullptr, Kind kind = Kind::Model);
    ~HubRepoDialog() override;

    void setRepoId(const QString& id);
    void lookUp();
    void download();
    void cancelDownload();

    QString snapshotDir() const { return m_snapshot; }
    // Dataset: the downloaded file to train on (one named like train, else the first) and one
    // named like validation / val / test ("" when none), inside snapshotDir().
    QString trainingFile() const;
    QString validationFile() const;
    const LookUp& lookUpResult() const { return m_lookUp; }
    QLabel* factsLabel() const { return m_facts; }
    QLabel* estimateLabel() const { return m_estimate; }
    QLabel* statusLabel() const { return m_status; }
    QPushButton* downloadButton() const { return m_download; }
    bool downloading() const { return m_downloading; }

Q_SIGNALS:
    void lookedUp(bool ok);
    void downloadFinished(bool ok, const QString& message);

private:
    void onLookedUp();
    void onDownloaded();
    // The status line while downloading: "3.1 MiB of 7.5 MiB, 488 KiB/s, 0:09 left; 4 of 5 files"
    // ("time unknown" until a speed is measured).
    void onProgress(qint64 done, qint64 total, double bytesPerSecond, int filesDone, int filesTotal);
    void updateControls();

    tb::TrainConfig m_settings;
    Kind m_kind;
    LookUp m_lookUp;
    QFutureWatcher<LookUp> m_lookUpWatcher;
    QFutureWatcher<QString> m_downloadWatcher; // the snapshot folder, or "error: ..."
    std::shared_ptr<std::atomic<bool>> m_cancel;
    bool m_lookingUp = false;
    bool m_downloading = false;
    QString m_snapshot;

    QLineEdit* m_repo;
    QLineEdit* m_revision;
    QPushButton* m_lookUpButton;
    QLabel* m_facts;
    QTableWidget* m_files;
    QLabel* m_estimate;
    QProgressBar* m_progress;
    QLabel* m_status;
    QPushButton* m_download;
    QPushButton* m_cancelButton;
};
