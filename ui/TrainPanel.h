// The window's "Train" tab: the complete new-run form (base model, data, method with its LoRA
// and QLoRA options, optimisation, evaluation/saving, seed, threads, device, output folder) in
// a scroll area beside the LiveMonitor, and the TrainingWorker (on its own QThread) that runs
// one training run at a time. Every field maps to a TrainConfig field; fields the form does not
// show (Adam betas, initial adapter, ...) are kept from the last setConfig().
//
// Thread contract: everything here runs on the GUI thread. The model chooser's folder check
// and the device list run through QtConcurrent and come back through QFutureWatcher. A run
// starts by a queued call of TrainingWorker::start; its reports come back as queued signals;
// Pause / Resume / Stop call the worker's thread-safe methods directly. While a run is going
// the Start button is disabled: a second run is refused until the first has ended.
// Every field change (coalesced to one per event-loop turn) feeds the MemoryEstimateBar above
// Start, which estimates off the GUI thread.
// The form is remembered between launches (RunFormSettings) on Start and on destruction.
#pragma once

#include "RunFormSettings.h"
#include "TrainingTypes.h"

#include "core/DeviceMemory.h"

#include <QHash>
#include <QThread>
#include <QWidget>

#include <vector>

class LiveMonitor;
class MemoryEstimateBar;
class ModelChooser;
class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QGroupBox;
class QLabel;
class QLineEdit;
class QPushButton;
class QRadioButton;
class QScrollArea;
class QSpinBox;
class QTimer;
class TrainingWorker;

class TrainPanel : public QWidget {
    Q_OBJECT
public:
    // databasePath: the experiment database runs are recorded in (its workspace holds the
    // default run folders); empty: not recorded, and the output folder must be given.
    // settingsPath: where the form is remembered; empty: the application's QSettings.
    explicit TrainPanel(const QString& databasePath, QWidget* parent = nullptr, const QString& settingsPath = QString());
    ~TrainPanel() override; // saves the form

    // Chooses the base model in the model chooser (the window's loaded model); its check runs
    // off the GUI thread and Start is enabled once it passes. Empty: ignored.
    void setModelDir(const QString& dir);

    // The form as a TrainConfig (not validated). An empty output field gives a new
    // "run-<UTC time>" folder in the database's workspace (empty without a database).
    tb::TrainConfig config() const;
    // Fills every field from `config` ("re-run with the same settings": clear outputDir first
    // for a new run folder). An empty modelDir chooses the built-in demo model.
    void setConfig(const tb::TrainConfig& config);
    // Validates the form, shows each problem at its field; true when a run can start.
    bool validateForm();
    // Starts a run with `config` as given (e.g. resuming an interrupted run), after the
    // one-run-at-a-time check and TrainConfig::validate(). A refusal returns false, is shown
    // under the form and emitted as runRefused(reason).
    bool startRun(const tb::TrainConfig& config, bool resume);
    bool running() const { return m_running; }
    // Writes the form and the recent models to the settings now.
    void saveSettings();

    // The dataset options as the form has them (what DatasetPreview renders with).
    tb::DatasetOptions datasetOptions() const;
    // An empty container (QVBoxLayout, no margins) below the dataset fields, for the dataset
    // preview widget the window embeds.
    QWidget* datasetPreviewSlot() const { return m_previewSlot; }

    ModelChooser* modelChooser() const { return m_model; }
    QLineEdit* datasetEdit() const { return m_dataset; }
    QLineEdit* validationEdit() const { return m_validation; }
    QLineEdit* outputEdit() const { return m_output; }
    QComboBox* methodCombo() const { return m_method; }
    QGroupBox* loraBox() const { return m_loraBox; }
    QGroupBox* qloraBox() const { return m_qloraBox; }
    QSpinBox* stepsSpin() const { return m_steps; }
    QLineEdit* learningRateEdit() const { return m_learningRate; }
    QLineEdit* seedEdit() const { return m_seed; }
    QComboBox* deviceCombo() const { return m_device; }
    QPushButton* startButton() const { return m_start; }
    LiveMonitor* monitor() const { return m_monitor; }
    // The run's memory estimate above Start, fed with the form whenever a field changes.
    MemoryEstimateBar* memoryEstimate() const { return m_estimate; }
    TrainingWorker* worker() const { return m_worker; }
    // The error shown at a field ("data", "output_dir", "lora.rank", "quant", ... as
    // TrainConfig::validate() names them; "" for problems of no field on the form).
    QString fieldError(const QString& field) const;

Q_SIGNALS:
    void startRequested(const tb::TrainConfig& config, bool resume);
    void runRefused(const QString& reason);
    // The model, the dataset file or a dataset option changed (debounced, 400 ms), and the
    // model is valid and a dataset is named: time to refresh the dataset preview.
    void datasetPreviewRequested(const QString& modelDir, const QString& dataPath, const tb::DatasetOptions& options);

private Q_SLOTS:
    void onStartClicked();
    void onFinished(int status, const QString& reason, const QString& adapterDir);

private:
    QWidget* buildModelAndData();
    QWidget* buildMethod();
    QWidget* buildOptimisation();
    QWidget* buildRun();
    QWidget* withError(QWidget* field, const QString& key);
    void setError(const QString& key, const QString& message);
    void clearErrors();
    bool showProblems(const tb::TrainConfig& c);
    void updateEnabledFields();
    void updateStartButton();
    void setDevices(const std::vector<tb::DeviceMemoryInfo>& devices);
    void selectDevice(const QString& device);
    QString defaultOutputDir() const;
    void watchFieldChanges(QWidget* form);
    void updateEstimate();

    QThread m_thread;
    TrainingWorker* m_worker; // lives on m_thread
    RunFormSettings m_settings;
    QString m_workspace; // the database's workspace; empty without a database
    bool m_running = false;
    tb::TrainConfig m_base; // fields the form does not show come from here
    std::vector<tb::DeviceMemoryInfo> m_devices; // empty until the device list arrives

    ModelChooser* m_model;
    QLineEdit* m_dataset;
    QComboBox* m_format;
    QLineEdit* m_validation;
    QDoubleSpinBox* m_validationFraction;
    QSpinBox* m_seqLen;
    QCheckBox* m_trainOnPrompt;
    QCheckBox* m_pack;
    QWidget* m_previewSlot;

    QComboBox* m_method;
    QGroupBox* m_loraBox;
    QSpinBox* m_rank;
    QDoubleSpinBox* m_alpha;
    QDoubleSpinBox* m_dropout;
    QCheckBox* m_rslora;
    QList<QCheckBox*> m_targets; // one per projection, in LoraSettings' default order
    QGroupBox* m_qloraBox;
    QComboBox* m_quantType;
    QCheckBox* m_doubleQuant;
    QSpinBox* m_blockSize;

    QLineEdit* m_learningRate;
    QComboBox* m_schedule;
    QSpinBox* m_warmup;
    QRadioButton* m_bySteps;
    QRadioButton* m_byEpochs;
    QSpinBox* m_steps;
    QDoubleSpinBox* m_epochs;
    QSpinBox* m_batchSize;
    QSpinBox* m_gradAccum;
    QCheckBox* m_gradCheckpointing;
    QDoubleSpinBox* m_weightDecay;
    QDoubleSpinBox* m_maxGradNorm;
    QComboBox* m_baseDtype;

    QSpinBox* m_evalEvery;
    QSpinBox* m_saveEvery;
    QLineEdit* m_seed;
    QSpinBox* m_threads;
    QComboBox* m_device;
    QLineEdit* m_output;

    QScrollArea* m_scroll;
    QPushButton* m_start;
    QTimer* m_previewTimer;
    MemoryEstimateBar* m_estimate;
    QTimer* m_estimateSoon; // 0 ms: the edits of one event-loop turn (a setConfig) give one setRun
    QHash<QString, QLabel*> m_errors; // field name -> its error label ("" : under the form)
    LiveMonitor* m_monitor;
};
