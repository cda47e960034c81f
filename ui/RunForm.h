// The Train tab's new-run form: base model, data (with an empty slot for the dataset preview),
// method with its LoRA and QLoRA options, optimisation, evaluation/saving, seed, threads,
// processes (data-parallel workers), device (with one checkbox per CUDA device when this machine
// has several: CudaDevicePicker) and output folder. It maps itself to and from a TrainConfig (fields it does not show, such as
// the Adam betas or the initial adapter, are kept from the last setConfig()), validates that
// config and shows each problem in red under the field it names. It does not start runs:
// TrainPanel holds the form in a scroll area and runs what config() gives.
//
// Thread contract: everything here runs on the GUI thread. The model chooser's folder check and
// the device list (tb::availableDevices() may initialise a CUDA driver) run through
// QtConcurrent and come back through QFutureWatcher.
#pragma once

#include "TrainingTypes.h"

#include "core/DeviceMemory.h"

#include <QHash>
#include <QList>
#include <QWidget>

#include <vector>

class CudaDevicePicker;
class ModelChooser;
class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QFormLayout;
class QGroupBox;
class QLabel;
class QLineEdit;
class QPushButton;
class QRadioButton;
class QSpinBox;
class QTimer;

class HubRepoDialog;

class RunForm : public QWidget {
    Q_OBJECT
public:
    // "From Hugging Face..." beside the dataset: a dataset repository's files, downloaded into
    // the shared cache; its training (and validation) file becomes the form's (non-modal).
    HubRepoDialog* openHubDataset();
    // workspace: the experiment database's workspace, where an empty output field makes a new
    // run folder; empty: there is none and the output folder must be given.
    explicit RunForm(const QString& workspace, QWidget* parent = nullptr);

    // The form as a TrainConfig (not validated). An empty output field gives a new
    // "run-<UTC time>" folder in the workspace (empty without one).
    tb::TrainConfig config() const;
    // Fills every field from `config` ("re-run with the same settings": clear outputDir first
    // for a new run folder) and clears the errors. An empty modelDir chooses the built-in demo.
    void setConfig(const tb::TrainConfig& config);
    // The dataset options as the form has them (what DatasetPreview renders with).
    tb::DatasetOptions datasetOptions() const;

    // What the dataset preview found wrong with `dataPath` ("" : nothing): while the data field
    // still names that file, showProblems() refuses the run with it at the data field.
    void setDatasetProblem(const QString& dataPath, const QString& message);

    // Validates config() and shows each problem at its field; true when a run can start.
    bool validate();
    // Checks `c` (read from this form) with TrainConfig's rules (problems(), fileProblems())
    // plus what only the form knows (an unreadable seed, a device this machine lacks, a model
    // still being checked or refused); shows every problem at its field. An edit of a field
    // hides its error.
    bool showProblems(const tb::TrainConfig& c);
    // Shows `message` under the field `key` (as TrainConfig::validate() names it); a key of no
    // field on the form, or "", goes to generalErrorLabel(). The label is scrolled into view
    // when the form sits in a QScrollArea.
    void setError(const QString& key, const QString& message);
    void clearErrors();
    // The error shown at a field ("data", "output_dir", "lora.rank", "quant", ...; "" for
    // problems of no field on the form).
    QString fieldError(const QString& field) const;
    // The label for problems of no field on the form. Not in the form's layout: the owner places
    // it where it is always in view (TrainPanel: under the scroll area).
    QLabel* generalErrorLabel() const { return m_errors.value(QString()); }

    // An empty container (QVBoxLayout, no margins) below the dataset fields, for the dataset
    // preview widget the window embeds. Its contents are not form fields.
    QWidget* datasetPreviewSlot() const { return m_previewSlot; }

    ModelChooser* modelChooser() const { return m_model; }
    QLineEdit* datasetEdit() const { return m_dataset; }
    QLineEdit* validationEdit() const { return m_validation; }
    QLineEdit* outputEdit() const { return m_output; }
    QLineEdit* nameEdit() const { return m_name; }
    QComboBox* methodCombo() const { return m_method; }
    QGroupBox* loraBox() const { return m_loraBox; }
    QGroupBox* qloraBox() const { return m_qloraBox; }
    QSpinBox* stepsSpin() const { return m_steps; }
    QLineEdit* learningRateEdit() const { return m_learningRate; }
    QLineEdit* seedEdit() const { return m_seed; }
    QComboBox* deviceCombo() const { return m_device; }
    // TrainConfig::processes: 1 up to the cores this process may use (tb::usableCores()); a
    // larger value from setConfig() is kept and refused at the field by showProblems().
    QSpinBox* processesSpin() const { return m_processes; }
    // One checkbox per CUDA device, shown instead of Processes while the device is a CUDA one
    // and the machine has two or more (or the config checks two or more): k checked devices
    // give TrainConfig::devices (k workers, device "cuda"); one gives a single-process run on
    // it ("cuda:N"). Choosing cuda:N in the device combo checks that device alone.
    CudaDevicePicker* devicePicker() const { return m_devicePicker; }

    // This machine's devices (what tb::availableDevices() gave): fills the device combo and the
    // CUDA checkboxes. The form asks for them off the GUI thread itself; a list given here
    // (tests inject one) replaces that query's answer if it has not arrived. Empty: ignored.
    void setDevices(const std::vector<tb::DeviceMemoryInfo>& devices);
    // The device the memory estimate compares one worker's peak with: `c.device`, or of
    // `c.devices` the one with the least free memory in the device list (each worker needs
    // the estimate on its own device).
    std::string estimateDevice(const tb::TrainConfig& c) const;

Q_SIGNALS:
    // Some field or the model choice changed; the edits of one event-loop turn (a setConfig)
    // give one signal, emitted on the next turn.
    void changed();
    // The model choice, the dataset file or a dataset option changed: emitted at each edit (the
    // receiver debounces), so quick edits that end where they began still report.
    void datasetInputsChanged();

private:
    QPushButton* m_hubData = nullptr;
    QWidget* buildModelAndData();
    QWidget* buildMethod();
    QWidget* buildOptimisation();
    QWidget* buildRun();
    QWidget* withError(QWidget* field, const QString& key);
    void watchFieldChanges();
    void updateEnabledFields();
    void followMethodDefaults();
    void selectDevice(const QString& device);
    void followDeviceChoice();
    void followDeviceChecks();
    void updateDeviceFields();
    QString defaultOutputDir() const;

    QString m_workspace; // empty without a database
    tb::TrainConfig m_base; // fields the form does not show come from here
    std::vector<tb::DeviceMemoryInfo> m_devices; // empty until the device list arrives
    QObject* m_deviceQuery = nullptr; // the pending availableDevices() watcher; null once answered
    QHash<QString, QLabel*> m_errors; // field name -> its error label ("": generalErrorLabel())
    QHash<QWidget*, QLabel*> m_errorOfField; // withError()'s container -> its error label
    QString m_datasetProblemPath, m_datasetProblem; // setDatasetProblem()
    tb::TrainMethod m_shownMethod = tb::TrainMethod::Lora; // whose default learning rate the field may hold
    QTimer* m_changedSoon; // 0 ms: coalesces the edits of one event-loop turn into one changed()

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
    QSpinBox* m_processes;
    int m_usableCores = 1; // tb::usableCores().usable, read once
    QComboBox* m_device;
    CudaDevicePicker* m_devicePicker;
    QFormLayout* m_runLayout;
    QWidget* m_processesRow; // withError()'s containers, for QFormLayout::setRowVisible
    QWidget* m_devicesRow;
    bool m_devicesShown = false; // the checkboxes, not Processes, decide the workers
    bool m_syncingDevices = false; // the combo follows the checkboxes (or setConfig): no reset
    QLineEdit* m_output;
    QLineEdit* m_name;
};
