#include "RunForm.h"

#include "CudaDevicePicker.h"
#include "HubRepoDialog.h"
#include "ModelChooser.h"

#include "core/UsableCores.h"
#include "train/RunRegistration.h"

#include <QButtonGroup>
#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QFutureWatcher>
#include <QGridLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QLocale>
#include <QPushButton>
#include <QRadioButton>
#include <QRegularExpressionValidator>
#include <QScrollArea>
#include <QSet>
#include <QSignalBlocker>
#include <QSpinBox>
#include <QTimer>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace {

const char* const kErrorStyle = "color: #c0392b";
const int kIntMax = std::numeric_limits<int>::max();

// Ranges are wider than TrainConfig::validate() accepts, so an impossible value reaches the
// validation and is refused at its field with the reason, instead of being clamped silently.
QSpinBox* spin(int low, int high, int value, const QString& special = QString())
{
    auto* s = new QSpinBox;
    s->setRange(low, high);
    s->setValue(value);
    if (!special.isEmpty())
        s->setSpecialValueText(special); // shown for the minimum
    return s;
}

QDoubleSpinBox* doubleSpin(double low, double high, int decimals, double step, double value)
{
    auto* s = new QDoubleSpinBox;
    s->setRange(low, high);
    s->setDecimals(decimals);
    s->setSingleStep(step);
    s->setValue(value);
    return s;
}

int clampToInt(int64_t v)
{
    return static_cast<int>(std::clamp<int64_t>(v, 0, kIntMax));
}

QWidget* withBrowse(QLineEdit* edit, QPushButton* browse)
{
    auto* w = new QWidget;
    auto* row = new QHBoxLayout(w);
    row->setContentsMargins(0, 0, 0, 0);
    row->addWidget(edit, 1);
    row->addWidget(browse);
    return w;
}

void selectData(QComboBox* combo, const QVariant& data)
{
    const int i = combo->findData(data);
    if (i >= 0)
        combo->setCurrentIndex(i);
}

// Shortest text that reads back as the same double: "2e-4", "0.001", "3.5e-5".
QString exactNumber(double v)
{
    QString text = QString::number(v, 'g', QLocale::FloatingPointShortest); // "2e-04"
    static const QRegularExpression paddedExponent("e([+-])0+(\\d)");
    return text.replace(paddedExponent, "e\\1\\2");
}

const QStringList& projectionNames()
{
    static const QStringList names = [] {
        QStringList n;
        for (const std::string& t : tb::LoraSettings().targets)
            n << QString::fromStdString(t);
        return n;
    }();
    return names;
}

} // namespace

RunForm::RunForm(const QString& workspace, QWidget* parent) : QWidget(parent), m_workspace(workspace)
{
    auto* column = new QVBoxLayout(this);
    column->addWidget(buildModelAndData());
    column->addWidget(buildMethod());
    column->addWidget(buildOptimisation());
    column->addWidget(buildRun());
    column->addStretch();

    // A child until the owner places it (outside any scroll area, so it is always in view).
    auto* general = new QLabel(this);
    general->setStyleSheet(kErrorStyle);
    general->setWordWrap(true);
    general->hide();
    m_errors.insert(QString(), general);

    connect(m_dataset, &QLineEdit::textChanged, this, &RunForm::datasetInputsChanged);
    connect(m_format, &QComboBox::currentIndexChanged, this, &RunForm::datasetInputsChanged);
    connect(m_seqLen, &QSpinBox::valueChanged, this, &RunForm::datasetInputsChanged);
    connect(m_trainOnPrompt, &QCheckBox::toggled, this, &RunForm::datasetInputsChanged);
    connect(m_pack, &QCheckBox::toggled, this, &RunForm::datasetInputsChanged);
    connect(m_model, &ModelChooser::modelChanged, this, &RunForm::datasetInputsChanged);
    connect(m_method, &QComboBox::currentIndexChanged, this, &RunForm::updateEnabledFields);
    connect(m_method, &QComboBox::currentIndexChanged, this, &RunForm::followMethodDefaults);
    connect(m_validation, &QLineEdit::textChanged, this, &RunForm::updateEnabledFields);
    connect(m_bySteps, &QRadioButton::toggled, this, &RunForm::updateEnabledFields);

    m_changedSoon = new QTimer(this);
    m_changedSoon->setSingleShot(true);
    m_changedSoon->setInterval(0);
    connect(m_changedSoon, &QTimer::timeout, this, &RunForm::changed);
    watchFieldChanges();
    connect(m_model, &ModelChooser::modelChanged, m_changedSoon, qOverload<>(&QTimer::start));
    // The checkboxes are made when the device list arrives, after watchFieldChanges() looked.
    connect(m_device, &QComboBox::currentIndexChanged, this, &RunForm::followDeviceChoice);
    connect(m_devicePicker, &CudaDevicePicker::toggledByUser, this, &RunForm::followDeviceChecks);

    // The device list may initialise a CUDA driver: off the GUI thread.
    auto* devices = new QFutureWatcher<std::vector<tb::DeviceMemoryInfo>>(this);
    m_deviceQuery = devices;
    connect(devices, &QFutureWatcher<std::vector<tb::DeviceMemoryInfo>>::finished, this, [this, devices] {
        m_deviceQuery = nullptr;
        devices->deleteLater();
        setDevices(devices->result());
    });
    devices->setFuture(QtConcurrent::run([] {
        try {
            return tb::availableDevices();
        } catch (const std::exception&) {
            return std::vector<tb::DeviceMemoryInfo>{};
        }
    }));
}

QWidget* RunForm::buildModelAndData()
{
    m_model = new ModelChooser;
    m_model->setSettingsSource([this] { return config(); });
    m_dataset = new QLineEdit;
    m_dataset->setPlaceholderText(tr("JSONL, JSON, CSV, Parquet or text training file"));
    auto* browseData = new QPushButton(tr("Browse..."));
    m_format = new QComboBox;
    m_format->addItem(tr("Detect from the file"), int(tb::DatasetFormat::Auto));
    m_format->addItem(tr("Plain text"), int(tb::DatasetFormat::Text));
    m_format->addItem(tr("JSON text records"), int(tb::DatasetFormat::JsonText));
    m_format->addItem(tr("Instruction records"), int(tb::DatasetFormat::Instruction));
    m_format->addItem(tr("Chat records (messages)"), int(tb::DatasetFormat::Chat));
    m_validation = new QLineEdit;
    m_validation->setPlaceholderText(tr("Optional: none holds out a fraction of the dataset"));
    auto* browseValidation = new QPushButton(tr("Browse..."));
    m_validationFraction = doubleSpin(0, 1, 3, 0.05, 0.1);
    m_seqLen = spin(0, 1 << 22, 512);
    m_trainOnPrompt = new QCheckBox(tr("Train on the prompt too"));
    m_trainOnPrompt->setToolTip(tr("Off: loss only on completions (assistant turns, \"output\")"));
    m_pack = new QCheckBox(tr("Pack examples into full sequences"));
    m_previewSlot = new QWidget;
    auto* slotLayout = new QVBoxLayout(m_previewSlot);
    slotLayout->setContentsMargins(0, 0, 0, 0);

    auto* box = new QGroupBox(tr("Model and data"));
    auto* form = new QFormLayout(box);
    form->addRow(tr("Base model"), withError(m_model, "model"));
    m_hubData = new QPushButton(tr("From Hugging Face..."));
    auto* dataRow = new QWidget;
    auto* dataLayout = new QHBoxLayout(dataRow);
    dataLayout->setContentsMargins(0, 0, 0, 0);
    dataLayout->addWidget(withBrowse(m_dataset, browseData), 1);
    dataLayout->addWidget(m_hubData);
    form->addRow(tr("Dataset"), withError(dataRow, "data"));
    form->addRow(tr("Format"), m_format);
    form->addRow(tr("Sequence length"), withError(m_seqLen, "dataset.seq_len"));
    form->addRow(QString(), m_trainOnPrompt);
    form->addRow(QString(), m_pack);
    form->addRow(m_previewSlot); // the lead embeds DatasetPreview here
    form->addRow(tr("Validation file"), withError(withBrowse(m_validation, browseValidation), "validation_data"));
    form->addRow(tr("Held-out fraction"), withError(m_validationFraction, "dataset.validation_fraction"));

    auto openFile = [this](QLineEdit* target, const QString& title) {
        auto* dialog = new QFileDialog(this, title, QFileInfo(target->text()).absolutePath(),
                                       tr("Datasets (*.jsonl *.json *.csv *.parquet *.txt);;All files (*)"));
        dialog->setFileMode(QFileDialog::ExistingFile);
        dialog->setAttribute(Qt::WA_DeleteOnClose);
        connect(dialog, &QFileDialog::fileSelected, target, &QLineEdit::setText);
        dialog->open();
    };
    connect(browseData, &QPushButton::clicked, this, [this, openFile] { openFile(m_dataset, tr("Training data")); });
    connect(m_hubData, &QPushButton::clicked, this, &RunForm::openHubDataset);
    connect(browseValidation, &QPushButton::clicked, this, [this, openFile] { openFile(m_validation, tr("Validation data")); });
    return box;
}

QWidget* RunForm::buildMethod()
{
    m_method = new QComboBox;
    m_method->addItem(tr("LoRA"), int(tb::TrainMethod::Lora));
    m_method->addItem(tr("QLoRA (quantized base)"), int(tb::TrainMethod::Qlora));
    m_method->addItem(tr("Full fine-tuning"), int(tb::TrainMethod::Full));

    m_rank = spin(0, 100000, 8);
    m_alpha = doubleSpin(0, 1e6, 2, 1, 16);
    m_dropout = doubleSpin(0, 1, 3, 0.05, 0);
    m_rslora = new QCheckBox(tr("rsLoRA scaling (alpha / sqrt(rank))"));
    auto* targets = new QWidget;
    auto* grid = new QGridLayout(targets);
    grid->setContentsMargins(0, 0, 0, 0);
    for (const QString& name : projectionNames()) {
        auto* check = new QCheckBox(name);
        grid->addWidget(check, m_targets.size() / 2, m_targets.size() % 2);
        m_targets << check;
    }
    m_loraBox = new QGroupBox(tr("LoRA"));
    auto* lora = new QFormLayout(m_loraBox);
    lora->addRow(tr("Rank"), withError(m_rank, "lora.rank"));
    lora->addRow(tr("Alpha"), withError(m_alpha, "lora.alpha"));
    lora->addRow(tr("Dropout"), withError(m_dropout, "lora.dropout"));
    lora->addRow(QString(), m_rslora);
    lora->addRow(tr("Target modules"), withError(targets, "lora.targets"));

    m_quantType = new QComboBox;
    m_quantType->addItem(tr("NF4 (4-bit NormalFloat)"), int(tb::QuantSettings::Type::Nf4));
    m_quantType->addItem(tr("8-bit blockwise"), int(tb::QuantSettings::Type::Int8));
    m_doubleQuant = new QCheckBox(tr("Double quantization"));
    m_blockSize = spin(1, 65536, 64);
    m_qloraBox = new QGroupBox(tr("QLoRA quantization"));
    auto* qlora = new QFormLayout(m_qloraBox);
    qlora->addRow(tr("Type"), m_quantType);
    qlora->addRow(QString(), m_doubleQuant);
    qlora->addRow(tr("Block size"), withError(m_blockSize, "quant"));

    auto* box = new QGroupBox(tr("Method"));
    auto* column = new QVBoxLayout(box);
    column->addWidget(withError(m_method, "method"));
    column->addWidget(m_loraBox);
    column->addWidget(m_qloraBox);
    return box;
}

QWidget* RunForm::buildOptimisation()
{
    m_learningRate = new QLineEdit;
    m_learningRate->setPlaceholderText(tr("e.g. 2e-4"));
    m_schedule = new QComboBox;
    m_schedule->addItem(tr("Constant"), int(tb::LrScheduleKind::Constant));
    m_schedule->addItem(tr("Linear decay"), int(tb::LrScheduleKind::Linear));
    m_schedule->addItem(tr("Cosine decay"), int(tb::LrScheduleKind::Cosine));
    m_warmup = spin(0, kIntMax, 0, tr("None"));
    m_bySteps = new QRadioButton(tr("Steps"));
    m_byEpochs = new QRadioButton(tr("Epochs"));
    auto* length = new QButtonGroup(this);
    length->addButton(m_bySteps);
    length->addButton(m_byEpochs);
    m_bySteps->setChecked(true);
    m_steps = spin(0, kIntMax, 100);
    m_epochs = doubleSpin(0, 1e6, 2, 1, 1);
    m_batchSize = spin(0, 1 << 20, 4);
    m_gradAccum = spin(0, 1 << 20, 1);
    m_gradCheckpointing = new QCheckBox(tr("Gradient checkpointing"));
    m_gradCheckpointing->setToolTip(tr("Recompute activations in the backward pass: less memory, about 30% slower"));
    m_weightDecay = doubleSpin(0, 10, 4, 0.01, 0);
    m_maxGradNorm = doubleSpin(0, 1e6, 2, 0.1, 1);
    m_maxGradNorm->setSpecialValueText(tr("No clipping"));
    m_baseDtype = new QComboBox;
    m_baseDtype->addItem(tr("bf16"), "bf16");
    m_baseDtype->addItem(tr("fp32"), "fp32");
    m_baseDtype->setToolTip(tr("Precision of the frozen base weights (full fine-tuning trains in fp32)"));

    auto* box = new QGroupBox(tr("Optimisation"));
    auto* form = new QFormLayout(box);
    form->addRow(tr("Learning rate"), withError(m_learningRate, "learning_rate"));
    form->addRow(tr("Schedule"), withError(m_schedule, "schedule"));
    form->addRow(tr("Warmup steps"), withError(m_warmup, "warmup_steps"));
    form->addRow(m_bySteps, withError(m_steps, "max_steps"));
    form->addRow(m_byEpochs, withError(m_epochs, "epochs"));
    form->addRow(tr("Batch size"), withError(m_batchSize, "batch_size"));
    form->addRow(tr("Gradient accumulation"), withError(m_gradAccum, "grad_accum"));
    form->addRow(QString(), m_gradCheckpointing);
    form->addRow(tr("Weight decay"), withError(m_weightDecay, "weight_decay"));
    form->addRow(tr("Gradient clipping"), withError(m_maxGradNorm, "max_grad_norm"));
    form->addRow(tr("Base weights"), withError(m_baseDtype, "base_dtype"));
    return box;
}

QWidget* RunForm::buildRun()
{
    m_evalEvery = spin(0, kIntMax, 0, tr("At the end"));
    m_evalEvery->setSuffix(tr(" steps"));
    m_saveEvery = spin(0, kIntMax, 0, tr("At the end"));
    m_saveEvery->setSuffix(tr(" steps"));
    m_seed = new QLineEdit;
    m_seed->setValidator(new QRegularExpressionValidator(QRegularExpression("[0-9]{1,20}"), m_seed));
    m_threads = spin(0, 4096, 0, tr("All cores"));
    m_threads->setToolTip(tr("Threads of each training process (All cores: every core that process may use)"));
    m_usableCores = std::max(1, tb::usableCores().usable);
    m_processes = spin(1, m_usableCores, 1);
    m_processes->setToolTip(
        tr("Data-parallel training: starts this many worker processes on this machine, each training on its own "
           "share of every batch (global batch = batch size x gradient accumulation x processes). "
           "On CUDA devices: one process per device. 1: a single process.\n"
           "This machine lets Tunebench use %n core(s).", nullptr, m_usableCores));
    m_device = new QComboBox;
    m_device->addItem(tr("CPU"), "cpu"); // refined when the device list arrives
    m_devicePicker = new CudaDevicePicker;
    m_name = new QLineEdit;
    m_name->setPlaceholderText(tr("e.g. lora-r16-reviews (the Runs tab's name; default: the folder's)"));
    m_output = new QLineEdit;
    m_output->setPlaceholderText(m_workspace.isEmpty() ? tr("Required: the run folder")
                                                       : tr("New run folder in %1").arg(QDir::toNativeSeparators(m_workspace)));
    auto* browseOut = new QPushButton(tr("Browse..."));

    auto* box = new QGroupBox(tr("Run"));
    auto* form = new QFormLayout(box);
    m_runLayout = form;
    form->addRow(tr("Run name"), withError(m_name, "name"));
    form->addRow(tr("Evaluate every"), withError(m_evalEvery, "eval_every"));
    form->addRow(tr("Save a checkpoint every"), withError(m_saveEvery, "save_every"));
    form->addRow(tr("Seed"), withError(m_seed, "seed"));
    form->addRow(tr("Threads"), withError(m_threads, "threads"));
    m_processesRow = withError(m_processes, "processes");
    form->addRow(tr("Processes"), m_processesRow);
    form->addRow(tr("Device"), withError(m_device, "device"));
    m_devicesRow = withError(m_devicePicker, "devices");
    form->addRow(tr("Devices"), m_devicesRow);
    form->setRowVisible(m_devicesRow, false);
    form->addRow(tr("Output folder"), withError(withBrowse(m_output, browseOut), "output_dir"));

    connect(browseOut, &QPushButton::clicked, this, [this] {
        auto* dialog = new QFileDialog(this, tr("Run folder"), m_workspace);
        dialog->setFileMode(QFileDialog::Directory);
        dialog->setAttribute(Qt::WA_DeleteOnClose);
        connect(dialog, &QFileDialog::fileSelected, m_output, &QLineEdit::setText);
        dialog->open();
    });
    return box;
}

void RunForm::watchFieldChanges()
{
    // Every field of the form, found once here rather than wired one by one, so a field added
    // later reports changed() too. The dataset preview (embedded later, in m_previewSlot) is not
    // a field.
    // An edit also hides the error shown under that field: it was about the old value.
    for (QWidget* w : findChildren<QWidget*>()) {
        if (m_previewSlot->isAncestorOf(w) || m_model->isAncestorOf(w))
            continue; // the model chooser reports through modelChanged
        QLabel* error = nullptr;
        for (QWidget* up = w; up && !error; up = up->parentWidget())
            error = m_errorOfField.value(up, nullptr);
        auto soon = [this, error] {
            if (error) {
                error->clear();
                error->hide();
            }
            m_changedSoon->start();
        };
        if (auto* edit = qobject_cast<QLineEdit*>(w))
            connect(edit, &QLineEdit::textChanged, this, soon);
        else if (auto* s = qobject_cast<QSpinBox*>(w))
            connect(s, &QSpinBox::valueChanged, this, soon);
        else if (auto* d = qobject_cast<QDoubleSpinBox*>(w))
            connect(d, &QDoubleSpinBox::valueChanged, this, soon);
        else if (auto* combo = qobject_cast<QComboBox*>(w))
            connect(combo, &QComboBox::currentIndexChanged, this, soon);
        else if (auto* button = qobject_cast<QAbstractButton*>(w); button && button->isCheckable())
            connect(button, &QAbstractButton::toggled, this, soon);
    }
}

QString RunForm::defaultOutputDir() const
{
    if (m_workspace.isEmpty())
        return QString();
    // The CLI's rule: "<name>-<UTC time>" ("run" without a name), with a suffix when taken, so a
    // new run never lands in another run's folder.
    return QString::fromStdString(tb::defaultRunFolder(m_workspace.toStdString(), m_name->text().trimmed().toStdString()));
}

tb::DatasetOptions RunForm::datasetOptions() const
{
    tb::TrainConfig seeded;
    bool ok = false;
    const qulonglong seed = m_seed->text().toULongLong(&ok);
    seeded.seed = ok ? seed : m_base.seed;
    seeded.data = m_base.data;
    seeded.splitSeedOverride = m_base.splitSeedOverride;
    tb::DatasetOptions d = seeded.datasetOptions(); // the split follows the seed, as in every front end
    d.format = static_cast<tb::DatasetFormat>(m_format->currentData().toInt());
    d.maxSeqLen = m_seqLen->value();
    d.trainOnPrompt = m_trainOnPrompt->isChecked();
    d.pack = m_pack->isChecked();
    d.validationFraction = m_validationFraction->value();
    return d;
}

tb::TrainConfig RunForm::config() const
{
    tb::TrainConfig c = m_base;
    c.name = m_name->text().trimmed().toStdString();
    c.modelDir = m_model->modelDir().toStdString();
    c.dataPath = m_dataset->text().trimmed().toStdString();
    c.validationPath = m_validation->text().trimmed().toStdString();
    const QString output = m_output->text().trimmed();
    c.outputDir = (output.isEmpty() ? defaultOutputDir() : output).toStdString();
    c.data = datasetOptions();

    c.method = static_cast<tb::TrainMethod>(m_method->currentData().toInt());
    c.lora.rank = m_rank->value();
    c.lora.alpha = m_alpha->value();
    c.lora.dropout = m_dropout->value();
    c.lora.rslora = m_rslora->isChecked();
    // Keep the order setConfig() was given (and targets the form has no box for), then add
    // newly ticked ones in the default order.
    std::vector<std::string> targets;
    for (const std::string& t : m_base.lora.targets) {
        const int i = projectionNames().indexOf(QString::fromStdString(t));
        if (i < 0 || m_targets[i]->isChecked())
            targets.push_back(t);
    }
    for (QCheckBox* check : m_targets)
        if (check->isChecked() && std::find(targets.begin(), targets.end(), check->text().toStdString()) == targets.end())
            targets.push_back(check->text().toStdString());
    c.lora.targets = targets;
    c.quant.type = static_cast<tb::QuantSettings::Type>(m_quantType->currentData().toInt());
    c.quant.doubleQuant = m_doubleQuant->isChecked();
    c.quant.blockSize = m_blockSize->value();

    bool ok = false;
    const double lr = m_learningRate->text().trimmed().toDouble(&ok);
    c.learningRate = ok ? lr : std::nan(""); // refused by validate() at the field
    c.schedule = static_cast<tb::LrScheduleKind>(m_schedule->currentData().toInt());
    c.warmupSteps = m_warmup->value();
    c.maxSteps = m_bySteps->isChecked() ? m_steps->value() : 0;
    c.epochs = m_epochs->value();
    c.batchSize = m_batchSize->value();
    c.gradAccum = m_gradAccum->value();
    c.gradientCheckpointing = m_gradCheckpointing->isChecked();
    c.weightDecay = m_weightDecay->value();
    c.maxGradNorm = m_maxGradNorm->value();
    c.baseDtype = m_baseDtype->currentData().toString().toStdString();

    c.evalEvery = m_evalEvery->value();
    c.saveEvery = m_saveEvery->value();
    const qulonglong seed = m_seed->text().toULongLong(&ok);
    c.seed = ok ? seed : m_base.seed; // an unreadable seed is refused in showProblems()
    c.threads = m_threads->value();
    c.processes = m_processes->value();
    c.device = m_device->currentData().toString().toStdString();
    c.devices.clear(); // m_base's are the checkboxes' now
    if (m_devicesShown) {
        const std::vector<int> on = m_devicePicker->checked();
        if (on.size() >= 2) {
            c.devices = on;
            c.device = "cuda"; // each worker sees only its own device
        } else if (on.size() == 1) {
            c.device = QStringLiteral("cuda:%1").arg(on.front()).toStdString();
        }
        c.processes = std::max<int>(1, static_cast<int>(on.size()));
    }
    return c;
}

void RunForm::setConfig(const tb::TrainConfig& c)
{
    m_base = c;
    if (m_base.baseDtype == "bfloat16")
        m_base.baseDtype = "bf16";
    else if (m_base.baseDtype == "float32")
        m_base.baseDtype = "fp32";
    if (c.modelDir.empty())
        m_model->chooseBuiltInDemo();
    else
        m_model->setModelDir(QString::fromStdString(c.modelDir));
    m_dataset->setText(QString::fromStdString(c.dataPath));
    m_validation->setText(QString::fromStdString(c.validationPath));
    m_output->setText(QString::fromStdString(c.outputDir));
    m_name->setText(QString::fromStdString(c.name));
    selectData(m_format, int(c.data.format));
    m_seqLen->setValue(clampToInt(c.data.maxSeqLen));
    m_trainOnPrompt->setChecked(c.data.trainOnPrompt);
    m_pack->setChecked(c.data.pack);
    m_validationFraction->setValue(c.data.validationFraction);

    {
        const QSignalBlocker keepLearningRate(m_method); // setConfig's learning rate is the one wanted
        selectData(m_method, int(c.method));
    }
    m_shownMethod = c.method;
    m_rank->setValue(clampToInt(c.lora.rank));
    m_alpha->setValue(c.lora.alpha);
    m_dropout->setValue(c.lora.dropout);
    m_rslora->setChecked(c.lora.rslora);
    for (QCheckBox* check : m_targets)
        check->setChecked(std::find(c.lora.targets.begin(), c.lora.targets.end(), check->text().toStdString()) != c.lora.targets.end());
    selectData(m_quantType, int(c.quant.type));
    m_doubleQuant->setChecked(c.quant.doubleQuant);
    m_blockSize->setValue(clampToInt(c.quant.blockSize));

    m_learningRate->setText(exactNumber(c.learningRate));
    selectData(m_schedule, int(c.schedule));
    m_warmup->setValue(clampToInt(c.warmupSteps));
    (c.maxSteps > 0 ? m_bySteps : m_byEpochs)->setChecked(true);
    if (c.maxSteps > 0)
        m_steps->setValue(clampToInt(c.maxSteps));
    m_epochs->setValue(c.epochs);
    m_batchSize->setValue(clampToInt(c.batchSize));
    m_gradAccum->setValue(clampToInt(c.gradAccum));
    m_gradCheckpointing->setChecked(c.gradientCheckpointing);
    m_weightDecay->setValue(c.weightDecay);
    m_maxGradNorm->setValue(std::max(0.0, c.maxGradNorm)); // <= 0 means no clipping either way
    selectData(m_baseDtype, QString::fromStdString(m_base.baseDtype));

    m_evalEvery->setValue(clampToInt(c.evalEvery));
    m_saveEvery->setValue(clampToInt(c.saveEvery));
    m_seed->setText(QString::number(c.seed));
    m_threads->setValue(std::max(0, c.threads));
    // A config from a larger machine keeps its value (the global batch depends on it);
    // showProblems() refuses more processes than this machine's cores at the field.
    // With devices the checkboxes give the processes; the hidden field keeps a CPU run's default.
    const int processes = c.devices.empty() ? c.processes : 1;
    m_processes->setMaximum(std::max(m_usableCores, std::clamp(processes, 1, 256)));
    m_processes->setValue(processes); // below 1: shown as 1, as config() then gives
    {
        m_syncingDevices = true;
        const bool cuda = CudaDevicePicker::cudaIndex(QString::fromStdString(c.device)) >= 0;
        std::vector<int> checks = c.devices;
        if (checks.empty() && cuda)
            checks = {CudaDevicePicker::cudaIndex(QString::fromStdString(c.device))};
        // A config naming devices with a CPU device cannot be shown: the CPU run is kept.
        m_devicePicker->setChecked(cuda ? checks : std::vector<int>{});
        const std::vector<int> shown = m_devicePicker->checked();
        // With devices the combo names the first of them ("cuda" alone would read as cuda:0).
        selectDevice(cuda && !c.devices.empty() && !shown.empty() ? QStringLiteral("cuda:%1").arg(shown.front())
                                                                  : QString::fromStdString(c.device));
        m_syncingDevices = false;
    }
    updateDeviceFields();
    clearErrors();
    updateEnabledFields();
}

void RunForm::setDevices(const std::vector<tb::DeviceMemoryInfo>& devices)
{
    if (m_deviceQuery) { // an injected list: the query's later answer must not replace it
        m_deviceQuery->disconnect(this);
        m_deviceQuery->deleteLater();
        m_deviceQuery = nullptr;
    }
    if (devices.empty())
        return; // keep the plain "CPU" entry
    m_devices = devices;
    const QString current = m_device->currentData().toString();
    {
        const QSignalBlocker block(m_device);
        m_device->clear();
        for (const tb::DeviceMemoryInfo& d : devices) {
            const QString label = CudaDevicePicker::deviceLabel(d);
            m_device->addItem(label, QString::fromStdString(d.device));
            m_device->setItemData(m_device->count() - 1, label, Qt::ToolTipRole); // the combo may elide it
        }
        selectDevice(current);
    }
    m_devicePicker->setDevices(devices);
    updateDeviceFields();
}

std::string RunForm::estimateDevice(const tb::TrainConfig& c) const
{
    return c.devices.empty() ? c.device : "cuda:" + std::to_string(m_devicePicker->tightest(c.devices));
}

void RunForm::followDeviceChoice()
{
    if (m_syncingDevices)
        return;
    // The combo picks one device; the checkboxes add more to it.
    const int i = CudaDevicePicker::cudaIndex(m_device->currentData().toString());
    if (i >= 0)
        m_devicePicker->setChecked({i});
    updateDeviceFields();
}

void RunForm::followDeviceChecks()
{
    if (QLabel* error = m_errors.value(QStringLiteral("devices"))) { // it was about the old choice
        error->clear();
        error->hide();
    }
    const std::vector<int> on = m_devicePicker->checked();
    if (!on.empty()) {
        // The combo names the first checked device, so one checked box reads as today's
        // single-device choice.
        m_syncingDevices = true;
        selectDevice(QStringLiteral("cuda:%1").arg(on.front()));
        m_syncingDevices = false;
    }
    updateDeviceFields();
    m_changedSoon->start();
}

void RunForm::updateDeviceFields()
{
    const bool cuda = CudaDevicePicker::cudaIndex(m_device->currentData().toString()) >= 0;
    // Two or more checked (a config from another machine) keep the boxes shown, so the round
    // trip keeps them and the missing ones are refused at this field.
    m_devicesShown = cuda && (m_devicePicker->deviceCount() >= 2 || m_devicePicker->checked().size() >= 2);
    m_runLayout->setRowVisible(m_devicesRow, m_devicesShown);
    m_runLayout->setRowVisible(m_processesRow, !m_devicesShown);
}

void RunForm::selectDevice(const QString& device)
{
    // "cuda" is LibTorch's spelling of the current CUDA device.
    int i = m_device->findData(device);
    if (i < 0 && device == QLatin1String("cuda"))
        i = m_device->findData(QStringLiteral("cuda:0"));
    if (i < 0) {
        // Not (yet) listed: kept, so a config from another machine survives a round trip;
        // showProblems() refuses it once the list has arrived.
        m_device->addItem(m_devices.empty() ? device : tr("%1 (not on this machine)").arg(device), device);
        i = m_device->count() - 1;
    }
    m_device->setCurrentIndex(i);
}

void RunForm::followMethodDefaults()
{
    // A learning rate still at the previous method's default becomes the new method's default
    // (TrainConfig's: full fine-tuning trains lower); one the user typed is kept.
    const auto method = static_cast<tb::TrainMethod>(m_method->currentData().toInt());
    bool ok = false;
    const double lr = m_learningRate->text().trimmed().toDouble(&ok);
    if (ok && lr == tb::TrainConfig::defaultLearningRate(m_shownMethod))
        m_learningRate->setText(exactNumber(tb::TrainConfig::defaultLearningRate(method)));
    m_shownMethod = method;
}

void RunForm::updateEnabledFields()
{
    const auto method = static_cast<tb::TrainMethod>(m_method->currentData().toInt());
    m_loraBox->setEnabled(method != tb::TrainMethod::Full);
    m_qloraBox->setEnabled(method == tb::TrainMethod::Qlora);
    m_baseDtype->setEnabled(method != tb::TrainMethod::Full);
    m_validationFraction->setEnabled(m_validation->text().trimmed().isEmpty());
    m_steps->setEnabled(m_bySteps->isChecked());
    m_epochs->setEnabled(m_byEpochs->isChecked());
}

QWidget* RunForm::withError(QWidget* field, const QString& key)
{
    auto* w = new QWidget;
    auto* column = new QVBoxLayout(w);
    column->setContentsMargins(0, 0, 0, 0);
    column->setSpacing(1);
    auto* error = new QLabel;
    error->setStyleSheet(kErrorStyle);
    error->setWordWrap(true);
    error->hide();
    column->addWidget(field);
    column->addWidget(error);
    m_errors.insert(key, error);
    m_errorOfField.insert(w, error);
    return w;
}

void RunForm::setError(const QString& key, const QString& message)
{
    QLabel* general = m_errors.value(QString());
    QLabel* label = m_errors.value(key, general);
    label->setText(label == general && !key.isEmpty() ? key + ": " + message : message);
    label->show();
    // The form's scroll area (QScrollArea > viewport > form): a no-op for the general label,
    // which is outside it.
    if (auto* scroll = parentWidget() ? qobject_cast<QScrollArea*>(parentWidget()->parentWidget()) : nullptr)
        scroll->ensureWidgetVisible(label);
}

void RunForm::clearErrors()
{
    for (QLabel* label : std::as_const(m_errors)) {
        label->clear();
        label->hide();
    }
}

QString RunForm::fieldError(const QString& field) const
{
    QLabel* label = m_errors.value(field);
    return label ? label->text() : QString();
}

bool RunForm::showProblems(const tb::TrainConfig& c)
{
    clearErrors();
    // TrainConfig's own rules first (the same ones the CLI applies), then what only the form
    // knows; every problem is shown at its field, the first of each field kept.
    std::vector<tb::ConfigProblem> problems;
    bool seedOk = false;
    m_seed->text().toULongLong(&seedOk);
    if (!seedOk)
        problems.push_back({"seed", tr("must be a whole number from 0 to %1").arg(qulonglong(1) << 62).toStdString()});
    if (c.devices.empty() && c.processes > m_usableCores) // on GPUs the devices bound the workers
        problems.push_back({"processes", tr("at most %1 on this machine (the cores Tunebench may use)").arg(m_usableCores).toStdString()});
    if (m_bySteps->isChecked() && c.maxSteps < 1)
        problems.push_back({"max_steps", tr("must be at least 1 (or train for a number of epochs)").toStdString()});
    for (tb::ConfigProblem& p : c.problems())
        problems.push_back(std::move(p));
    if (QString::fromStdString(c.modelDir) == m_model->modelDir()) {
        if (m_model->isChecking())
            problems.push_back({"model", tr("still being checked").toStdString()});
        else if (!m_model->isValid())
            problems.push_back({"model", m_model->error().toStdString()});
    }
    for (tb::ConfigProblem& p : c.fileProblems(false))
        if (p.field != "model") // the model chooser has said what is wrong with the folder
            problems.push_back(std::move(p));
    if (!m_datasetProblem.isEmpty() && QString::fromStdString(c.dataPath) == m_datasetProblemPath)
        problems.push_back({"data", m_datasetProblem.toStdString()}); // the preview's verdict
    if (m_devicesShown && m_devicePicker->checked().empty())
        problems.push_back({"devices", tr("check at least one device").toStdString()});
    if (!m_devices.empty()) {
        QStringList known;
        for (const tb::DeviceMemoryInfo& d : m_devices)
            known << QString::fromStdString(d.device);
        const QString device = QString::fromStdString(c.device);
        const QString lacking = m_devicePicker->missingProblem(c.devices);
        if (!lacking.isEmpty())
            problems.push_back({"devices", lacking.toStdString()});
        // With devices, "cuda" is each worker's own device: checked by missingProblem().
        if (c.devices.empty() && !known.contains(device) && !(device == QLatin1String("cuda") && known.contains(QStringLiteral("cuda:0"))))
            problems.push_back({"device", tr("not on this machine (found: %1)").arg(known.join(", ")).toStdString()});
    }
    QSet<QString> shown;
    for (const tb::ConfigProblem& p : problems) {
        QString key = QString::fromStdString(p.field);
        if (!m_errors.contains(key) && key.startsWith(QLatin1String("quant")))
            key = QStringLiteral("quant");
        if (key == QLatin1String("processes") && m_devicesShown)
            key = QStringLiteral("devices"); // the checkboxes stand in for the hidden field
        if (shown.contains(key))
            continue;
        shown.insert(key);
        setError(key, QString::fromStdString(p.message));
    }
    return problems.empty();
}

void RunForm::setDatasetProblem(const QString& dataPath, const QString& message)
{
    m_datasetProblemPath = dataPath.trimmed();
    m_datasetProblem = message;
}

bool RunForm::validate()
{
    return showProblems(config());
}

HubRepoDialog* RunForm::openHubDataset()
{
    auto* dialog = new HubRepoDialog(config(), this, HubRepoDialog::Kind::Dataset);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    connect(dialog, &HubRepoDialog::downloadFinished, this, [this, dialog](bool ok, const QString&) {
        if (!ok || dialog->trainingFile().isEmpty())
            return;
        m_dataset->setText(dialog->trainingFile());
        if (!dialog->validationFile().isEmpty())
            m_validation->setText(dialog->validationFile());
    });
    dialog->open();
    return dialog;
}
