// "Compare methods": trains LoRA, QLoRA and/or full fine-tuning on the same model, data, seed
// and steps (each an ordinary run in the experiment database), writes the comparison report
// folder (report.md, report.html, loss.png, memory.png, report.json; docs/report.md) and shows
// its table and the runs' overlaid curves (an embedded CompareView).
//
// Thread contract: a GUI-thread dialog, used non-modally (open()). The comparison runs on the
// dialog's own worker QThread (MethodComparisonWorker: tb::MethodComparison starts one child
// `tunebench-cli train` per method); progress, log lines and the result arrive as queued
// signals. Cancel reaches the worker directly (thread-safe). The model folder is checked off the
// GUI thread (ModelChooser), the device list is read on QtConcurrent's pool. Closing (hiding)
// the dialog leaves a comparison running; destroying it cancels the comparison and waits for
// the running child to stop (it finishes its current step and saves a checkpoint).
#pragma once

#include "report/MethodComparisonRequest.h"

#include <QDialog>
#include <QList>
#include <QMap>
#include <QString>
#include <QStringList>
#include <QThread>

class CompareView;
class MethodComparisonWorker;
class ModelChooser;
class QCheckBox;
class QComboBox;
class QGridLayout;
class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QProgressBar;
class QPushButton;
class QSpinBox;
class QTabWidget;
class QTableWidget;

namespace tb {
struct MethodReport;
}

class MethodComparisonDialog : public QDialog {
    Q_OBJECT
public:
    // databasePath: the experiment database ("": tb::StorePaths::resolve(), as the CLI).
    // cliPath: the tunebench-cli that trains each method (tunebenchCliPath() in the window).
    MethodComparisonDialog(const QString& databasePath, const QString& cliPath, QWidget* parent = nullptr);
    ~MethodComparisonDialog() override;

    // Pre-fills the model folder (checked off the GUI thread) and the training data file; an
    // empty argument leaves its field as it is.
    void setInputs(const QString& modelDir, const QString& dataPath);
    // Fills every field from `request` (model, data, validation data, methods, steps, sequence
    // length, batch size, rank, seed, threads, device, budget, fit mode, price, watts).
    void setRequest(const tb::MethodComparisonRequest& request);
    // The form as a request (databasePath: this dialog's database). When a field cannot be read,
    // *error names it ("Budget: ...") and the returned request is incomplete.
    tb::MethodComparisonRequest request(QString* error = nullptr) const;
    // The report folder ("": a new report-<UTC time> folder in the database's workspace).
    void setOutputDir(const QString& dir);

    // Starts the comparison with the form's choices (the Start button does the same). Returns
    // false, with the reason shown in red, when the form is refused at once (a comparison is
    // running, no method chosen, no data file, an unreadable field, a model folder that failed
    // its check). Otherwise comparisonFinished() follows: a model still being checked starts the
    // comparison when its check passes; files (model, data, tunebench-cli, report folder) are
    // checked on the worker before any child starts.
    bool startComparison();
    // Stops the running comparison (the Cancel button does the same): comparisonFinished(false).
    void cancelComparison();
    bool isRunning() const { return m_running || m_startWhenChecked; }

    QString databasePath() const { return m_databasePath; }
    QString cliPath() const { return m_cliPath; }
    // The last written report folder; "" before one is written.
    QString reportDir() const { return m_reportDir; }
    // The runs the last comparison recorded, in method order.
    QList<qint64> runIds() const { return m_runIds; }

    ModelChooser* modelChooser() const { return m_model; }
    QLineEdit* dataEdit() const { return m_data; }
    QLineEdit* outputEdit() const { return m_output; }
    QLineEdit* budgetEdit() const { return m_budget; }
    QCheckBox* methodBox(const QString& method) const; // "lora", "qlora", "full"; nullptr otherwise
    QPushButton* startButton() const { return m_start; }
    QPushButton* cancelButton() const { return m_cancel; }
    QPushButton* openReportButton() const { return m_openReport; }
    QPushButton* openFolderButton() const { return m_openFolder; }
    QProgressBar* progressBar(const QString& method) const; // nullptr before the method's row exists
    QLabel* methodStatus(const QString& method) const;
    QLabel* messageLabel() const { return m_message; }
    QPlainTextEdit* logView() const { return m_log; }
    QTableWidget* reportTable() const { return m_table; }
    CompareView* compareView() const { return m_compare; }

Q_SIGNALS:
    // ok: every method ran (or was left out for the budget) and the report was written in
    // reportDir. ok false: cancelled, refused, or a method failed (reportDir is still set when a
    // report was written). runIds: the runs recorded in the database, in method order (for the
    // Runs tab to refresh).
    void comparisonFinished(bool ok, const QString& reportDir, const QList<qint64>& runIds);

private:
    struct MethodRow {
        QLabel* title = nullptr;
        QProgressBar* bar = nullptr;
        QLabel* status = nullptr;
    };

    void launch();
    void onModelChanged();
    void onMethodStarted(const QString& method, int index, int count);
    void onStep(const QString& method, qint64 step, qint64 totalSteps, double loss);
    void onEval(const QString& method, qint64 step, double valLoss);
    void onMethodFinished(const QString& method, const QString& status, const QString& reason, qint64 runId);
    void onFinished(int outcome, const QString& message, const QString& reportDir, const QList<qint64>& runIds,
                    const tb::MethodReport& report);
    void buildProgressRows(const std::vector<std::string>& methods, int64_t steps);
    void setRunningState(bool running);
    void updateButtons();
    void showMessage(const QString& text, bool error);
    void browseData(QLineEdit* target, const QString& caption);
    void browseOutput();
    QString defaultOutputDir() const;

    QString m_databasePath;
    QString m_cliPath;
    QString m_workspace;   // "" when the database path could not be resolved
    QString m_reportDir;
    QList<qint64> m_runIds;
    bool m_running = false;
    bool m_startWhenChecked = false;

    QThread m_thread;
    MethodComparisonWorker* m_worker;

    QWidget* m_settings;
    ModelChooser* m_model;
    QLineEdit* m_data;
    QLineEdit* m_validation;
    QMap<QString, QCheckBox*> m_methods;
    QSpinBox* m_steps;
    QSpinBox* m_seqLen;
    QSpinBox* m_batch;
    QSpinBox* m_rank;
    QLineEdit* m_seed;
    QSpinBox* m_threads;
    QComboBox* m_device;
    QLineEdit* m_budget;
    QComboBox* m_fit;
    QLineEdit* m_price;
    QLineEdit* m_watts;
    QLineEdit* m_output;

    QGridLayout* m_progressGrid;
    QMap<QString, MethodRow> m_rows;
    QLabel* m_message;
    QTabWidget* m_results;
    QPlainTextEdit* m_log;
    QTableWidget* m_table;
    CompareView* m_compare;
    QPushButton* m_start;
    QPushButton* m_cancel;
    QPushButton* m_openReport;
    QPushButton* m_openFolder;
};
