// The new-run form's dataset preview: the detected format, counts (records, skipped with the
// first warnings, truncated at the sequence length, tokens, loss tokens, train/validation
// sizes), the first records rendered exactly as training sees them (masked part grey, trained
// part bold on light green), and a token-length histogram with the sequence length marked.
// An unusable file shows its error (file and line, as FormatError names them) instead.
//
// Thread contract: a GUI-thread widget. setInputs() only stores the request and (re)starts a
// 200 ms debounce timer; the work (tokenizer loading, cached per model folder; prepareDataset
// over the whole file; renderRecordSegments) runs on QThreadPool::globalInstance() through
// QtConcurrent::run, at most one job at a time, and comes back through a QFutureWatcher. A
// newer request supersedes an older one: a job whose request is no longer the latest has its
// result dropped, and the latest request starts when it ends. The job owns copies of its
// inputs and shares only the tokenizer cache (mutex-guarded), so the widget may be destroyed
// while a job runs.
#pragma once

#include "data/TrainingDataset.h"

#include <QFutureWatcher>
#include <QString>
#include <QStringList>
#include <QTimer>
#include <QWidget>

#include <memory>

class QCPBars;
class QCPItemStraightLine;
class QCPItemText;
class QCustomPlot;
class QLabel;
class QStackedWidget;
class QTextBrowser;

class DatasetPreview : public QWidget {
    Q_OBJECT
public:
    // The counts shown, one label each (the text starts with the number).
    enum Count { Records, Split, Skipped, Truncated, Tokens, LossTokens };
    // QTextCharFormat property on each rendered piece: "masked" (no loss) or "trained".
    static constexpr int kSegmentRole = 0x100100; // QTextFormat::UserProperty + 0x100
    static constexpr int kShownRecords = 5;

    explicit DatasetPreview(QWidget* parent = nullptr);
    ~DatasetPreview() override;

    // Accessors for tests and for whoever embeds the widget.
    QLabel* formatLabel() const { return m_format; }
    QLabel* countLabel(Count which) const;
    QLabel* warningsLabel() const { return m_warnings; }
    QLabel* errorLabel() const { return m_error; }
    QLabel* statusLabel() const { return m_status; }
    QTextBrowser* textView() const { return m_text; }
    QCustomPlot* histogramPlot() const { return m_plot; }
    QCPBars* histogramBars() const { return m_bars; }
    QCPItemStraightLine* seqLenLine() const { return m_seqLenLine; }
    QCPItemText* truncationText() const { return m_truncationText; }
    bool showsError() const;
    // A job is on the pool now (possibly a superseded one whose result will be dropped).
    bool jobRunning() const;

    // Statistics of the preview on display (both empty before the first one or after an error).
    const tb::DatasetStats& trainStats() const { return m_train; }
    const tb::DatasetStats& validationStats() const { return m_validation; }

public Q_SLOTS:
    // modelDir: the Hugging Face folder whose tokenizer.json / tokenizer_config.json render the
    // data. validationPath empty: split off dataPath by options.validationFraction. An empty
    // modelDir or dataPath clears the preview without starting a job. Debounced (200 ms).
    void setInputs(const QString& modelDir, const QString& dataPath, const QString& validationPath,
                   const tb::DatasetOptions& options);
    // Runs the last inputs again (the file may have changed on disk).
    void refresh();

Q_SIGNALS:
    // A preview for the latest inputs is on display. format: datasetFormatName of the format
    // used ("instruction", ...). Sum the two splits for the file's totals.
    void previewReady(const tb::DatasetStats& train, const tb::DatasetStats& validation, const QString& format);
    // The latest inputs cannot be used; message names the file (and line) at fault.
    void previewFailed(const QString& message);

public:
    struct Inputs {
        QString modelDir, dataPath, validationPath;
        tb::DatasetOptions options;
    };
    struct Result; // defined in the .cpp: what a job hands back
    struct TokenizerCache;

private:
    void startJob();
    void jobFinished();
    void showResult(const Result& result);
    void showError(const QString& message);
    void showRecords(const std::vector<tb::RenderedRecord>& records, int64_t maxSeqLen, const QStringList& specialTokens);
    void showHistogram(const tb::DatasetStats& train, const tb::DatasetStats& validation, int64_t maxSeqLen);

    QLabel* m_format;
    QLabel* m_counts[6];
    QLabel* m_warnings;
    QLabel* m_error;
    QLabel* m_status;
    QStackedWidget* m_pages;
    QTextBrowser* m_text;
    QCustomPlot* m_plot;
    QCPBars* m_bars;
    QCPItemStraightLine* m_seqLenLine;
    QCPItemText* m_truncationText;

    QTimer m_debounce;
    QFutureWatcher<std::shared_ptr<const Result>>* m_watcher;
    std::shared_ptr<TokenizerCache> m_tokenizers; // shared with the running job
    Inputs m_inputs;            // the latest request
    QString m_stamp;            // the latest request with its files' sizes and times: repeats are ignored
    quint64 m_generation = 0;   // bumped by each request; a job's result counts only if it matches
    bool m_pendingStart = false; // the latest request has no job yet (debouncing, or waiting for a stale job)
    bool m_haveResult = false;  // a result (preview or error) of a non-empty request is on display
    tb::DatasetStats m_train, m_validation;
};
