#include "MethodComparisonDialog.h"

#include "CliLocation.h"

#include "CompareView.h"
#include "MethodComparisonWorker.h"
#include "ModelChooser.h"
#include "RunFormSettings.h"

#include "core/DeviceMemory.h"
#include "memory/FitFinder.h"
#include "report/MethodReport.h"
#include "report/ReportFolder.h"
#include "store/StorePaths.h"

#include <QCheckBox>
#include <QComboBox>
#include <QCoreApplication>
#include <QDateTime>
#include <QDesktopServices>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QFutureWatcher>
#include <QGridLayout>
#include <QHeaderView>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QLocale>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QRegularExpressionValidator>
#include <QScrollArea>
#include <QScrollBar>
#include <QSpinBox>
#include <QSplitter>
#include <QStandardPaths>
#include <QTabWidget>
#include <QTableWidget>
#include <QTimer>
#include <QUrl>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

#include <algorithm>
#include <climits>
#include <exception>

namespace {

const char* const kMethodNames[] = {"lora", "qlora", "full"};
constexpr int kFitAutomatic = -1; // the fit combo's "automatic" entry: confirm with a budget, estimate without
constexpr int kLogLines = 5000;   // the log pane keeps the latest lines only

QString q(const std::string& s) { return QString::fromStdString(s); }

QString methodTitle(const QString& method)
{
    if (method == QLatin1String("lora"))
        return QStringLiteral("LoRA");
    if (method == QLatin1String("qlora"))
        return QStringLiteral("QLoRA");
    return QStringLiteral("Full fine-tuning");
}

QSpinBox* spinBox(int minimum, int maximum, int value, const QString& tip)
{
    auto* box = new QSpinBox;
    box->setRange(minimum, maximum);
    box->setValue(value);
    box->setToolTip(tip);
    return box;
}

// A line edit and a "Browse..." button in one row.
QWidget* withBrowse(QLineEdit* edit, QPushButton** browse)
{
    auto* row = new QWidget;
    auto* layout = new QHBoxLayout(row);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(edit, 1);
    *browse = new QPushButton(QObject::tr("Browse..."));
    layout->addWidget(*browse);
    return row;
}

} // namespace

MethodComparisonDialog::MethodComparisonDialog(const QString& databasePath, const QString& cliPath, QWidget* parent)
    : QDialog(parent), m_cliPath(cliPath), m_worker(new MethodComparisonWorker)
{
    MethodComparisonWorker::registerMetaTypes();
    setWindowTitle(tr("Compare methods"));

    // The database and its workspace as the CLI resolves them (environment only, no file access).
    QString resolveError;
    try {
        const tb::StorePaths paths = tb::StorePaths::resolve(databasePath.toStdString());
        m_databasePath = q(paths.database);
        m_workspace = q(paths.workspace);
    } catch (const std::exception& e) {
        m_databasePath = databasePath;
        resolveError = tr("No experiment database: %1").arg(q(e.what()));
    }

    // ---- settings (left) ----
    m_settings = new QWidget;
    auto* form = new QFormLayout(m_settings);
    form->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);

    m_model = new ModelChooser;
    m_model->setRecentModels(RunFormSettings().recentModels());
    form->addRow(tr("Base model:"), m_model);

    QPushButton* browseData = nullptr;
    m_data = new QLineEdit;
    m_data->setPlaceholderText(tr("training data (JSON Lines)"));
    form->addRow(tr("Dataset:"), withBrowse(m_data, &browseData));
    QPushButton* browseValidation = nullptr;
    m_validation = new QLineEdit;
    m_validation->setPlaceholderText(tr("optional; empty: 10% of the dataset is held out"));
    form->addRow(tr("Validation file:"), withBrowse(m_validation, &browseValidation));

    auto* methodsRow = new QWidget;
    auto* methodsLayout = new QHBoxLayout(methodsRow);
    methodsLayout->setContentsMargins(0, 0, 0, 0);
    for (const char* name : kMethodNames) {
        auto* box = new QCheckBox(methodTitle(name));
        box->setChecked(true);
        m_methods.insert(name, box);
        methodsLayout->addWidget(box);
        connect(box, &QCheckBox::toggled, this, &MethodComparisonDialog::updateButtons);
    }
    methodsLayout->addStretch(1);
    form->addRow(tr("Methods:"), methodsRow);

    const tb::MethodComparisonRequest defaults;
    m_steps = spinBox(1, 10'000'000, int(defaults.steps), tr("Optimizer steps per method"));
    m_seqLen = spinBox(2, 1 << 22, int(defaults.seqLen), tr("Tokens per sequence"));
    m_batch = spinBox(1, 1 << 20, int(defaults.batchSize), tr("Sequences per step"));
    m_rank = spinBox(1, 4096, int(defaults.rank), tr("LoRA / QLoRA rank (alpha is twice the rank)"));
    m_seed = new QLineEdit(QString::number(defaults.seed));
    m_seed->setValidator(new QRegularExpressionValidator(QRegularExpression(QStringLiteral("[0-9]{1,20}")), m_seed));
    m_threads = spinBox(0, 1024, defaults.threads, tr("CPU threads per training process"));
    m_threads->setSpecialValueText(tr("all cores"));
    m_device = new QComboBox;
    m_device->addItem(QStringLiteral("cpu"), QStringLiteral("cpu"));
    form->addRow(tr("Steps:"), m_steps);
    form->addRow(tr("Sequence length:"), m_seqLen);
    form->addRow(tr("Batch size:"), m_batch);
    form->addRow(tr("Rank:"), m_rank);
    form->addRow(tr("Seed:"), m_seed);
    form->addRow(tr("Threads:"), m_threads);
    form->addRow(tr("Device:"), m_device);

    m_budget = new QLineEdit;
    m_budget->setPlaceholderText(tr("e.g. 8G, 512MiB; empty: the device's free memory"));
    m_fit = new QComboBox;
    m_fit->addItem(tr("automatic (confirm with a budget, estimate without)"), kFitAutomatic);
    m_fit->addItem(tr("confirm with real capped runs"), int(tb::FitMode::Confirm));
    m_fit->addItem(tr("estimate only"), int(tb::FitMode::Estimate));
    m_fit->addItem(tr("off"), int(tb::FitMode::Off));
    m_fit->setToolTip(tr("How the largest batch size and longest sequence within the budget are found"));
    m_price = new QLineEdit;
    m_price->setPlaceholderText(tr("optional, e.g. 0.40"));
    m_watts = new QLineEdit;
    m_watts->setPlaceholderText(tr("optional, e.g. 65"));
    form->addRow(tr("Memory budget:"), m_budget);
    form->addRow(tr("Budget rows:"), m_fit);
    form->addRow(tr("Price per hour:"), m_price);
    form->addRow(tr("Power (watts):"), m_watts);

    QPushButton* browseOutput = nullptr;
    m_output = new QLineEdit;
    m_output->setPlaceholderText(m_workspace.isEmpty()
                                     ? tr("a new or empty folder")
                                     : tr("empty: a new report-<UTC time> folder in %1").arg(QDir::toNativeSeparators(m_workspace)));
    form->addRow(tr("Report folder:"), withBrowse(m_output, &browseOutput));

    auto* settingsScroll = new QScrollArea;
    settingsScroll->setWidgetResizable(true);
    settingsScroll->setWidget(m_settings);
    // The whole form stays visible: it scrolls vertically only.
    settingsScroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    settingsScroll->setMinimumWidth(m_settings->minimumSizeHint().width() + settingsScroll->verticalScrollBar()->sizeHint().width() + 4);

    // ---- progress and results (right) ----
    auto* progressBox = new QWidget;
    m_progressGrid = new QGridLayout(progressBox);
    m_progressGrid->setContentsMargins(0, 0, 0, 0);
    m_progressGrid->setColumnStretch(1, 1);
    m_message = new QLabel;
    m_message->setWordWrap(true);
    m_message->setTextFormat(Qt::PlainText);
    m_message->setTextInteractionFlags(Qt::TextSelectableByMouse);

    m_log = new QPlainTextEdit;
    m_log->setReadOnly(true);
    m_log->setMaximumBlockCount(kLogLines);
    m_log->setLineWrapMode(QPlainTextEdit::NoWrap);
    m_table = new QTableWidget;
    m_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_table->verticalHeader()->hide();
    m_compare = new CompareView(m_databasePath);
    m_results = new QTabWidget;
    m_results->addTab(m_log, tr("Log"));
    m_results->addTab(m_table, tr("Report"));
    m_results->addTab(m_compare, tr("Curves"));

    auto* right = new QWidget;
    auto* rightLayout = new QVBoxLayout(right);
    rightLayout->setContentsMargins(0, 0, 0, 0);
    rightLayout->addWidget(progressBox);
    rightLayout->addWidget(m_message);
    rightLayout->addWidget(m_results, 1);

    auto* splitter = new QSplitter;
    splitter->addWidget(settingsScroll);
    splitter->addWidget(right);
    splitter->setStretchFactor(1, 1);
    splitter->setCollapsible(0, false);

    m_start = new QPushButton(tr("Start"));
    m_start->setDefault(true);
    m_cancel = new QPushButton(tr("Cancel comparison"));
    m_openReport = new QPushButton(tr("Open report"));
    m_openFolder = new QPushButton(tr("Open folder"));
    auto* close = new QPushButton(tr("Close"));
    auto* buttons = new QHBoxLayout;
    buttons->addWidget(m_start);
    buttons->addWidget(m_cancel);
    buttons->addStretch(1);
    buttons->addWidget(m_openReport);
    buttons->addWidget(m_openFolder);
    buttons->addWidget(close);

    auto* layout = new QVBoxLayout(this);
    layout->addWidget(splitter, 1);
    layout->addLayout(buttons);
    resize(1200, 780);

    connect(m_start, &QPushButton::clicked, this, [this] { startComparison(); });
    connect(m_cancel, &QPushButton::clicked, this, &MethodComparisonDialog::cancelComparison);
    connect(close, &QPushButton::clicked, this, &QDialog::reject); // hides; a running comparison goes on
    connect(m_openReport, &QPushButton::clicked, this, [this] {
        QDesktopServices::openUrl(QUrl::fromLocalFile(QDir(m_reportDir).filePath(tb::kReportHtmlFile)));
    });
    connect(m_openFolder, &QPushButton::clicked, this, [this] { QDesktopServices::openUrl(QUrl::fromLocalFile(m_reportDir)); });
    connect(browseData, &QPushButton::clicked, this, [this] { this->browseData(m_data, tr("Training data")); });
    connect(browseValidation, &QPushButton::clicked, this, [this] { this->browseData(m_validation, tr("Validation data")); });
    connect(browseOutput, &QPushButton::clicked, this, &MethodComparisonDialog::browseOutput);
    connect(m_model, &ModelChooser::modelChanged, this, &MethodComparisonDialog::onModelChanged);
    connect(m_data, &QLineEdit::textChanged, this, &MethodComparisonDialog::updateButtons);

    m_worker->moveToThread(&m_thread);
    connect(&m_thread, &QThread::finished, m_worker, &QObject::deleteLater);
    connect(m_worker, &MethodComparisonWorker::methodStarted, this, &MethodComparisonDialog::onMethodStarted);
    connect(m_worker, &MethodComparisonWorker::stepReported, this, &MethodComparisonDialog::onStep);
    connect(m_worker, &MethodComparisonWorker::evalReported, this, &MethodComparisonDialog::onEval);
    connect(m_worker, &MethodComparisonWorker::logged, m_log, &QPlainTextEdit::appendPlainText);
    connect(m_worker, &MethodComparisonWorker::methodFinished, this, &MethodComparisonDialog::onMethodFinished);
    connect(m_worker, &MethodComparisonWorker::finished, this, &MethodComparisonDialog::onFinished);
    m_thread.start();

    // The device list may initialise a CUDA driver: off the GUI thread.
    auto* devices = new QFutureWatcher<std::vector<tb::DeviceMemoryInfo>>(this);
    connect(devices, &QFutureWatcher<std::vector<tb::DeviceMemoryInfo>>::finished, this, [this, devices] {
        devices->deleteLater();
        const QString chosen = m_device->currentData().toString();
        for (const tb::DeviceMemoryInfo& d : devices->result()) {
            const QString id = q(d.device);
            if (m_device->findData(id) < 0)
                m_device->addItem(QStringLiteral("%1 (%2)").arg(id, q(d.name)), id);
            else
                m_device->setItemText(m_device->findData(id), QStringLiteral("%1 (%2)").arg(id, q(d.name)));
        }
        m_device->setCurrentIndex(std::max(0, m_device->findData(chosen)));
    });
    devices->setFuture(QtConcurrent::run([] {
        try {
            return tb::availableDevices();
        } catch (const std::exception&) {
            return std::vector<tb::DeviceMemoryInfo>{};
        }
    }));

    // Without setInputs() before the event loop runs, the built-in demo model is the choice.
    QTimer::singleShot(0, this, [this] {
        if (m_model->modelDir().isEmpty())
            m_model->chooseBuiltInDemo();
    });

    setRunningState(false);
    if (!resolveError.isEmpty())
        showMessage(resolveError, true);
}

MethodComparisonDialog::~MethodComparisonDialog()
{
    // The running child finishes its step and saves a checkpoint; run() then returns at once.
    m_worker->cancel();
    m_thread.quit();
    m_thread.wait();
}

void MethodComparisonDialog::setInputs(const QString& modelDir, const QString& dataPath)
{
    if (!modelDir.trimmed().isEmpty())
        m_model->setModelDir(modelDir);
    if (!dataPath.trimmed().isEmpty())
        m_data->setText(dataPath);
}

void MethodComparisonDialog::setRequest(const tb::MethodComparisonRequest& r)
{
    setInputs(q(r.modelDir), q(r.dataPath));
    m_validation->setText(q(r.validationPath));
    for (auto it = m_methods.begin(); it != m_methods.end(); ++it)
        it.value()->setChecked(std::find(r.methods.begin(), r.methods.end(), it.key().toStdString()) != r.methods.end());
    m_steps->setValue(int(std::min<int64_t>(r.steps, m_steps->maximum())));
    m_seqLen->setValue(int(std::min<int64_t>(r.seqLen, m_seqLen->maximum())));
    m_batch->setValue(int(std::min<int64_t>(r.batchSize, m_batch->maximum())));
    m_rank->setValue(int(std::min<int64_t>(r.rank, m_rank->maximum())));
    m_seed->setText(QString::number(r.seed));
    m_threads->setValue(r.threads);
    const QString device = q(r.device);
    if (m_device->findData(device) < 0)
        m_device->addItem(device, device);
    m_device->setCurrentIndex(m_device->findData(device));
    m_budget->setText(r.budgetBytes ? QString::number(*r.budgetBytes) : QString());
    m_fit->setCurrentIndex(m_fit->findData(int(r.fit)));
    m_price->setText(r.pricePerHour ? QString::number(*r.pricePerHour) : QString());
    m_watts->setText(r.watts ? QString::number(*r.watts) : QString());
}

tb::MethodComparisonRequest MethodComparisonDialog::request(QString* error) const
{
    auto refuse = [error](const QString& message) {
        if (error && error->isEmpty())
            *error = message;
    };
    if (error)
        error->clear();
    tb::MethodComparisonRequest r;
    r.modelDir = m_model->modelDir().toStdString();
    r.dataPath = m_data->text().trimmed().toStdString();
    r.validationPath = m_validation->text().trimmed().toStdString();
    r.methods.clear();
    for (const char* name : kMethodNames)
        if (m_methods.value(name)->isChecked())
            r.methods.push_back(name);
    r.steps = m_steps->value();
    r.seqLen = m_seqLen->value();
    r.batchSize = m_batch->value();
    r.rank = m_rank->value();
    bool ok = false;
    r.seed = m_seed->text().toULongLong(&ok);
    if (!ok)
        refuse(tr("Seed: \"%1\" is not a whole number from 0 to 18446744073709551615").arg(m_seed->text()));
    r.threads = m_threads->value();
    r.device = m_device->currentData().toString().toStdString();
    r.databasePath = m_databasePath.toStdString();

    const QString budget = m_budget->text().trimmed();
    if (!budget.isEmpty()) {
        try {
            r.budgetBytes = tb::parseByteSize(budget.toStdString());
        } catch (const std::exception& e) {
            refuse(tr("Memory budget: %1").arg(q(e.what())));
        }
    }
    const int fit = m_fit->currentData().toInt();
    r.fit = fit == kFitAutomatic ? (r.budgetBytes ? tb::FitMode::Confirm : tb::FitMode::Estimate) : tb::FitMode(fit);
    auto number = [&](QLineEdit* edit, const QString& field, bool positive) -> std::optional<double> {
        const QString text = edit->text().trimmed();
        if (text.isEmpty())
            return std::nullopt;
        bool parsed = false;
        const double value = QLocale::c().toDouble(text, &parsed);
        if (!parsed || value < 0 || (positive && value == 0)) {
            refuse(tr("%1: \"%2\" is not a %3 number").arg(field, text, positive ? tr("positive") : tr("non-negative")));
            return std::nullopt;
        }
        return value;
    };
    r.pricePerHour = number(m_price, tr("Price per hour"), false);
    r.watts = number(m_watts, tr("Power (watts)"), true);

    if (r.methods.empty())
        refuse(tr("Methods: choose at least one of LoRA, QLoRA and full fine-tuning"));
    if (r.dataPath.empty())
        refuse(tr("Dataset: choose a training data file"));
    if (error && error->isEmpty()) {
        try {
            r.validate();
        } catch (const std::exception& e) {
            refuse(q(e.what()));
        }
    }
    return r;
}

void MethodComparisonDialog::setOutputDir(const QString& dir)
{
    m_output->setText(dir);
}

QCheckBox* MethodComparisonDialog::methodBox(const QString& method) const
{
    return m_methods.value(method, nullptr);
}

QProgressBar* MethodComparisonDialog::progressBar(const QString& method) const
{
    return m_rows.value(method).bar;
}

QLabel* MethodComparisonDialog::methodStatus(const QString& method) const
{
    return m_rows.value(method).status;
}

bool MethodComparisonDialog::startComparison()
{
    if (isRunning()) {
        showMessage(tr("A comparison is already running."), true);
        return false;
    }
    QString error;
    request(&error);
    if (!error.isEmpty()) {
        showMessage(error, true);
        return false;
    }
    if (m_model->modelDir().isEmpty()) {
        showMessage(tr("Base model: choose a model folder."), true);
        return false;
    }
    if (m_model->isChecking()) {
        m_startWhenChecked = true;
        setRunningState(true);
        showMessage(tr("Checking the model folder; the comparison starts when the check passes."), false);
        return true;
    }
    if (!m_model->isValid()) {
        showMessage(tr("Base model: %1").arg(m_model->error()), true);
        return false;
    }
    launch();
    return true;
}

void MethodComparisonDialog::launch()
{
    QString error;
    const tb::MethodComparisonRequest r = request(&error);
    if (!error.isEmpty()) { // changed while the model was being checked
        showMessage(error, true);
        setRunningState(false);
        Q_EMIT comparisonFinished(false, QString(), {});
        return;
    }
    QString out = m_output->text().trimmed();
    const bool pickFreeName = out.isEmpty();
    if (pickFreeName)
        out = defaultOutputDir();

    m_running = true;
    m_reportDir.clear();
    m_runIds.clear();
    m_table->clear();
    m_table->setRowCount(0);
    m_table->setColumnCount(0);
    m_compare->showRuns({});
    m_log->clear();
    m_log->appendPlainText(tr("The same report from a terminal: %1").arg(q(r.commandLine(out.toStdString()))));
    m_results->setCurrentWidget(m_log);
    buildProgressRows(r.methods, r.steps);
    setRunningState(true);
    showMessage(tr("Comparing %1 method(s) ...").arg(r.methods.size()), false);

    m_worker->clearCancel();
    MethodComparisonWorker* worker = m_worker;
    const QString cli = m_cliPath;
    QMetaObject::invokeMethod(
        worker, [worker, r, cli, out, pickFreeName] { worker->run(r, cli, out, pickFreeName); }, Qt::QueuedConnection);
}

void MethodComparisonDialog::cancelComparison()
{
    if (m_startWhenChecked) { // nothing was started yet
        m_startWhenChecked = false;
        setRunningState(false);
        showMessage(tr("Cancelled before the comparison started."), true);
        Q_EMIT comparisonFinished(false, QString(), {});
        return;
    }
    if (!m_running)
        return;
    m_worker->cancel(); // direct: the worker's thread is busy running
    m_cancel->setEnabled(false);
    showMessage(tr("Cancelling: the running method stops after its current step ..."), false);
}

void MethodComparisonDialog::onModelChanged()
{
    updateButtons();
    if (!m_startWhenChecked || m_model->isChecking())
        return;
    m_startWhenChecked = false;
    if (m_model->isValid()) {
        launch();
        return;
    }
    setRunningState(false);
    showMessage(tr("Base model: %1").arg(m_model->error()), true);
    Q_EMIT comparisonFinished(false, QString(), {});
}

void MethodComparisonDialog::buildProgressRows(const std::vector<std::string>& methods, int64_t steps)
{
    for (const MethodRow& row : std::as_const(m_rows)) {
        delete row.title;
        delete row.bar;
        delete row.status;
    }
    m_rows.clear();
    int line = 0;
    for (const std::string& name : methods) {
        const QString method = q(name);
        MethodRow row;
        row.title = new QLabel(methodTitle(method));
        row.bar = new QProgressBar;
        row.bar->setRange(0, int(std::min<int64_t>(steps, INT_MAX)));
        row.bar->setValue(0);
        row.bar->setFormat(tr("%v / %m steps"));
        row.status = new QLabel(tr("waiting"));
        row.status->setTextFormat(Qt::PlainText);
        row.status->setMinimumWidth(260);
        m_progressGrid->addWidget(row.title, line, 0);
        m_progressGrid->addWidget(row.bar, line, 1);
        m_progressGrid->addWidget(row.status, line, 2);
        m_rows.insert(method, row);
        ++line;
    }
}

void MethodComparisonDialog::onMethodStarted(const QString& method, int index, int count)
{
    if (const MethodRow row = m_rows.value(method); row.status)
        row.status->setText(tr("starting (%1 of %2)").arg(index + 1).arg(count));
}

void MethodComparisonDialog::onStep(const QString& method, qint64 step, qint64 totalSteps, double loss)
{
    const MethodRow row = m_rows.value(method);
    if (!row.bar)
        return;
    if (totalSteps > 0 && totalSteps != row.bar->maximum())
        row.bar->setMaximum(int(std::min<qint64>(totalSteps, INT_MAX)));
    row.bar->setValue(int(std::min<qint64>(step, row.bar->maximum())));
    row.status->setText(tr("training: loss %1").arg(loss, 0, 'f', 4));
}

void MethodComparisonDialog::onEval(const QString& method, qint64 step, double valLoss)
{
    if (const MethodRow row = m_rows.value(method); row.status)
        row.status->setText(tr("validation loss %1 at step %2").arg(valLoss, 0, 'f', 4).arg(step));
}

void MethodComparisonDialog::onMethodFinished(const QString& method, const QString& status, const QString& reason,
                                              qint64 runId)
{
    const MethodRow row = m_rows.value(method);
    if (!row.status)
        return;
    QString text = status;
    if (runId >= 0)
        text += tr(" (run #%1)").arg(runId);
    if (!reason.isEmpty())
        text += QStringLiteral(": ") + reason;
    row.status->setText(text);
    row.status->setToolTip(text);
    if (status == QLatin1String("finished")) {
        row.bar->setValue(row.bar->maximum());
        row.status->setStyleSheet(QString());
    } else {
        row.status->setStyleSheet(status == QLatin1String("not run") ? QStringLiteral("color: #7f6000")
                                                                      : QStringLiteral("color: #b00020"));
    }
}

void MethodComparisonDialog::onFinished(int outcome, const QString& message, const QString& reportDir,
                                        const QList<qint64>& runIds, const tb::MethodReport& report)
{
    m_running = false;
    m_reportDir = reportDir;
    m_runIds = runIds;
    // Rows of methods that never got to run say why.
    for (const MethodRow& row : std::as_const(m_rows))
        if (row.status->text() == tr("waiting")) {
            row.status->setText(outcome == MethodComparisonWorker::Cancelled ? tr("not run: cancelled") : tr("not started"));
            row.status->setStyleSheet(QStringLiteral("color: #7f6000"));
        }
    if (!report.columns.empty()) {
        CompareView::fillComparisonTable(m_table, report.table());
        m_results->setCurrentWidget(m_table);
    }
    if (!runIds.isEmpty())
        m_compare->showRuns(runIds);
    m_log->appendPlainText(message);
    setRunningState(false);
    showMessage(message, outcome != MethodComparisonWorker::Completed);
    Q_EMIT comparisonFinished(outcome == MethodComparisonWorker::Completed, reportDir, runIds);
}

void MethodComparisonDialog::setRunningState(bool running)
{
    m_settings->setEnabled(!running);
    updateButtons();
}

void MethodComparisonDialog::updateButtons()
{
    const bool busy = isRunning();
    bool anyMethod = false;
    for (QCheckBox* box : std::as_const(m_methods))
        anyMethod = anyMethod || box->isChecked();
    // A model being checked is fine: Start waits for the check.
    const bool modelOk = m_model->isChecking() || m_model->isValid();
    m_start->setEnabled(!busy && anyMethod && modelOk && !m_data->text().trimmed().isEmpty());
    m_cancel->setEnabled(busy);
    const bool haveReport = !busy && !m_reportDir.isEmpty();
    m_openReport->setEnabled(haveReport);
    m_openFolder->setEnabled(haveReport);
}

void MethodComparisonDialog::showMessage(const QString& text, bool error)
{
    m_message->setStyleSheet(error ? QStringLiteral("color: #b00020") : QString());
    m_message->setText(text);
}

void MethodComparisonDialog::browseData(QLineEdit* target, const QString& caption)
{
    auto* dialog = new QFileDialog(this, caption);
    dialog->setFileMode(QFileDialog::ExistingFile);
    dialog->setNameFilters({tr("JSON Lines (*.jsonl *.json)"), tr("All files (*)")});
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    const QString current = target->text().trimmed();
    if (!current.isEmpty())
        dialog->setDirectory(QFileInfo(current).absolutePath());
    connect(dialog, &QFileDialog::fileSelected, target, &QLineEdit::setText);
    dialog->open(); // window-modal, not blocking
}

void MethodComparisonDialog::browseOutput()
{
    auto* dialog = new QFileDialog(this, tr("Report folder (a new or empty folder)"));
    dialog->setFileMode(QFileDialog::Directory);
    dialog->setOption(QFileDialog::ShowDirsOnly);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    if (!m_workspace.isEmpty())
        dialog->setDirectory(m_workspace);
    connect(dialog, &QFileDialog::fileSelected, m_output, &QLineEdit::setText);
    dialog->open();
}

QString MethodComparisonDialog::defaultOutputDir() const
{
    const QString name = QStringLiteral("report-") + QDateTime::currentDateTimeUtc().toString("yyyyMMdd-HHmmss");
    return m_workspace.isEmpty() ? name : QDir(m_workspace).filePath(name);
}
