// The window's "Train" tab: a RunForm (the new-run form) in a scroll area beside the
// LiveMonitor, the MemoryEstimateBar and Start under the form, and the TrainingWorker (on its
// own QThread) that runs one training run at a time, each in a `tunebench-cli train` process of
// its own. The form is remembered between launches
// (RunFormSettings) on Start and on destruction.
//
// Thread contract: everything here runs on the GUI thread (RunForm's own off-thread work is
// described in RunForm.h). A run starts by a queued call of TrainingWorker::start; its reports
// come back as queued signals; Pause / Resume / Stop call the worker's thread-safe methods
// directly (they signal the child process). Destroying the panel during a run stops that run
// (the child checkpoints and records it as cancelled by itself) without waiting for it. While a run is going the Start button is disabled: a second run is refused until the
// first has ended. Each RunForm::changed() feeds the MemoryEstimateBar, which estimates off the
// GUI thread.
#pragma once

#include "RunFormSettings.h"
#include "TrainingTypes.h"

#include <QThread>
#include <QWidget>

class LiveMonitor;
class MemoryEstimateBar;
class QPushButton;
class QTimer;
class RunForm;
class TrainingWorker;

class TrainPanel : public QWidget {
    Q_OBJECT
public:
    // databasePath: the experiment database runs are recorded in (its workspace holds the
    // default run folders); empty: not recorded, and the output folder must be given.
    // settingsPath: where the form is remembered; empty: the application's QSettings.
    explicit TrainPanel(const QString& databasePath, QWidget* parent = nullptr, const QString& settingsPath = QString());
    ~TrainPanel() override; // saves the form

    // The new-run form: its fields, config() / setConfig() and validation.
    RunForm* form() const { return m_form; }

    // Chooses the base model in the form's model chooser (the window's loaded model); its check
    // runs off the GUI thread and Start is enabled once it passes. Empty: ignored.
    void setModelDir(const QString& dir);
    tb::TrainConfig config() const; // RunForm::config()
    void setConfig(const tb::TrainConfig& config); // RunForm::setConfig()
    bool validateForm(); // RunForm::validate()
    QString fieldError(const QString& field) const; // RunForm::fieldError()
    QWidget* datasetPreviewSlot() const; // RunForm::datasetPreviewSlot()

    // Starts a run with `config` as given (e.g. resuming an interrupted run), after the
    // one-run-at-a-time check and TrainConfig::validate(). A refusal returns false, is shown
    // under the form and emitted as runRefused(reason).
    bool startRun(const tb::TrainConfig& config, bool resume);
    bool running() const { return m_running; }
    // Follows a run that another process trains (TrainingWorker::follow): the monitor shows
    // its curves from the database, then live; Pause / Resume / Stop reach that process. False
    // (and nothing changes) while a run is going here.
    bool attachRun(qint64 runId, qint64 pid, const QString& startMarker);
    // Leaves the running run's process training on its own (the window is closing with "keep
    // training in the background"): it is no longer followed here, and this panel is free.
    void detachRun();
    // Writes the form and the recent models to the settings now.
    void saveSettings();

    QPushButton* startButton() const { return m_start; }
    LiveMonitor* monitor() const { return m_monitor; }
    // The run's memory estimate above Start, fed with the form whenever a field changes.
    MemoryEstimateBar* memoryEstimate() const { return m_estimate; }
    TrainingWorker* worker() const { return m_worker; }

Q_SIGNALS:
    void startRequested(const tb::TrainConfig& config, bool resume);
    void followRequested(qint64 runId, qint64 pid, const QString& startMarker);
    // A run still training in another process was found at start-up and is followed now.
    void liveRunAttached(qint64 runId);
    void runRefused(const QString& reason);
    // The model, the dataset file or a dataset option changed (debounced, 400 ms), and the
    // model is valid and a dataset is named: time to refresh the dataset preview.
    void datasetPreviewRequested(const QString& modelDir, const QString& dataPath, const tb::DatasetOptions& options);

private Q_SLOTS:
    void onStartClicked();
    void onFinished(tb::TrainStatus status, const QString& reason, const QString& adapterDir);

private:
    void updateStartButton();
    void updateEstimate();
    // Off the GUI thread: runs of the database still training in a process of their own; the
    // newest is attached.
    void findLiveRuns(const QString& databasePath);

    QThread m_thread;
    TrainingWorker* m_worker; // lives on m_thread
    RunFormSettings m_settings;
    bool m_running = false;

    RunForm* m_form;
    QPushButton* m_start;
    QTimer* m_previewTimer;
    MemoryEstimateBar* m_estimate;
    LiveMonitor* m_monitor;
};
