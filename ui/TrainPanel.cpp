#include "TrainPanel.h"

#include "LiveMonitor.h"
#include "TrainingWorker.h"

#include "store/StorePaths.h"

#include <QComboBox>
#include <QDateTime>
#include <QDir>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QVBoxLayout>

#include <stdexcept>

namespace {

QSpinBox* spin(int low, int high, int value)
{
    auto* s = new QSpinBox;
    s->setRange(low, high);
    s->setValue(value);
    return s;
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

} // namespace

TrainPanel::TrainPanel(const QString& databasePath, QWidget* parent) : QWidget(parent), m_worker(new TrainingWorker)
{
    m_dataset = new QLineEdit;
    m_dataset->setPlaceholderText(tr("JSONL, CSV or Parquet training file"));
    auto* browseData = new QPushButton(tr("Browse..."));
    m_method = new QComboBox;
    m_method->addItem(tr("LoRA"), int(tb::TrainMethod::Lora));
    m_method->addItem(tr("QLoRA"), int(tb::TrainMethod::Qlora));
    m_method->addItem(tr("Full"), int(tb::TrainMethod::Full));
    m_rank = spin(1, 4096, 8);
    m_alpha = new QDoubleSpinBox;
    m_alpha->setRange(0.01, 1e6);
    m_alpha->setValue(16);
    m_learningRate = new QDoubleSpinBox;
    m_learningRate->setDecimals(6);
    m_learningRate->setRange(0.000001, 1.0);
    m_learningRate->setSingleStep(0.0001);
    m_learningRate->setValue(2e-4);
    m_steps = spin(1, 1 << 30, 100);
    m_batchSize = spin(1, 1 << 20, 4);
    m_seqLen = spin(2, 1 << 22, 512);
    m_output = new QLineEdit;
    if (!databasePath.isEmpty())
        m_output->setText(QDir(QString::fromStdString(tb::StorePaths::workspaceFor(databasePath.toStdString())))
                              .filePath(QStringLiteral("run-") + QDateTime::currentDateTimeUtc().toString("yyyyMMdd-HHmmss")));
    auto* browseOut = new QPushButton(tr("Browse..."));
    m_start = new QPushButton(tr("Start"));
    m_start->setEnabled(false); // until a model is loaded

    auto* formBox = new QGroupBox(tr("New run"));
    auto* form = new QFormLayout(formBox);
    form->addRow(tr("Dataset"), withError(withBrowse(m_dataset, browseData), "data"));
    form->addRow(tr("Method"), m_method);
    form->addRow(tr("Rank"), withError(m_rank, "lora.rank"));
    form->addRow(tr("Alpha"), withError(m_alpha, "lora.alpha"));
    form->addRow(tr("Learning rate"), withError(m_learningRate, "learning_rate"));
    form->addRow(tr("Steps"), withError(m_steps, "max_steps"));
    form->addRow(tr("Batch size"), withError(m_batchSize, "batch_size"));
    form->addRow(tr("Sequence length"), withError(m_seqLen, "dataset.seq_len"));
    form->addRow(tr("Output folder"), withError(withBrowse(m_output, browseOut), "output_dir"));
    auto* general = new QLabel;
    general->setStyleSheet("color: #c0392b");
    general->setWordWrap(true);
    general->hide();
    m_errors.insert(QString(), general);
    form->addRow(general);
    form->addRow(m_start);
    formBox->setMaximumWidth(420);

    m_monitor = new LiveMonitor;
    auto* layout = new QHBoxLayout(this);
    layout->addWidget(formBox);
    layout->addWidget(m_monitor, 1);

    connect(browseData, &QPushButton::clicked, this, [this] {
        const QString f = QFileDialog::getOpenFileName(this, tr("Training data"), QString(),
                                                       tr("Datasets (*.jsonl *.json *.csv *.parquet);;All files (*)"));
        if (!f.isEmpty())
            m_dataset->setText(f);
    });
    connect(browseOut, &QPushButton::clicked, this, [this] {
        const QString d = QFileDialog::getExistingDirectory(this, tr("Run folder"));
        if (!d.isEmpty())
            m_output->setText(d);
    });
    connect(m_method, &QComboBox::currentIndexChanged, this, [this] {
        const bool lora = m_method->currentData().toInt() != int(tb::TrainMethod::Full);
        m_rank->setEnabled(lora);
        m_alpha->setEnabled(lora);
    });
    connect(m_start, &QPushButton::clicked, this, &TrainPanel::onStartClicked);

    m_worker->setDatabasePath(databasePath);
    m_worker->moveToThread(&m_thread);
    connect(&m_thread, &QThread::finished, m_worker, &QObject::deleteLater);
    connect(this, &TrainPanel::startRequested, m_worker, &TrainingWorker::start); // queued
    connect(m_worker, &TrainingWorker::started, m_monitor, [this](qint64, qint64 total) { m_monitor->beginRun(total); });
    connect(m_worker, &TrainingWorker::stepReported, m_monitor, &LiveMonitor::addStep);
    connect(m_worker, &TrainingWorker::evalReported, m_monitor, &LiveMonitor::addEval);
    connect(m_worker, &TrainingWorker::memorySampled, m_monitor, &LiveMonitor::addMemory);
    connect(m_worker, &TrainingWorker::logged, m_monitor, &LiveMonitor::addLog);
    connect(m_worker, &TrainingWorker::finished, this, &TrainPanel::onFinished);
    // Direct calls from the GUI thread: the worker's own event loop is busy running.
    connect(m_monitor, &LiveMonitor::pauseRequested, this, [this] { m_worker->pause(); });
    connect(m_monitor, &LiveMonitor::resumeRequested, this, [this] { m_worker->resume(); });
    connect(m_monitor, &LiveMonitor::stopRequested, this, [this] { m_worker->cancel(); });
    m_thread.start();
}

TrainPanel::~TrainPanel()
{
    if (m_running)
        m_worker->cancel(); // ends within one optimizer step
    m_thread.quit();
    m_thread.wait();
}

void TrainPanel::setModelDir(const QString& dir)
{
    m_modelDir = dir;
    m_start->setEnabled(!m_running && !dir.isEmpty());
}

tb::TrainConfig TrainPanel::config() const
{
    tb::TrainConfig c;
    c.modelDir = m_modelDir.toStdString();
    c.dataPath = m_dataset->text().trimmed().toStdString();
    c.outputDir = m_output->text().trimmed().toStdString();
    c.method = static_cast<tb::TrainMethod>(m_method->currentData().toInt());
    c.lora.rank = m_rank->value();
    c.lora.alpha = m_alpha->value();
    c.learningRate = m_learningRate->value();
    c.maxSteps = m_steps->value();
    c.batchSize = m_batchSize->value();
    c.data.maxSeqLen = m_seqLen->value();
    return c;
}

QWidget* TrainPanel::withError(QWidget* field, const QString& key)
{
    auto* w = new QWidget;
    auto* column = new QVBoxLayout(w);
    column->setContentsMargins(0, 0, 0, 0);
    column->setSpacing(1);
    auto* error = new QLabel;
    error->setStyleSheet("color: #c0392b");
    error->setWordWrap(true);
    error->hide();
    column->addWidget(field);
    column->addWidget(error);
    m_errors.insert(key, error);
    return w;
}

void TrainPanel::clearErrors()
{
    for (QLabel* label : std::as_const(m_errors)) {
        label->clear();
        label->hide();
    }
}

QString TrainPanel::fieldError(const QString& field) const
{
    QLabel* label = m_errors.value(field);
    return label ? label->text() : QString();
}

bool TrainPanel::validateForm()
{
    clearErrors();
    const tb::TrainConfig c = config();
    try {
        c.validate();
    } catch (const std::invalid_argument& e) {
        // "field: why" as TrainConfig::validate names it.
        const QString message = QString::fromStdString(e.what());
        const int colon = message.indexOf(QStringLiteral(": "));
        const QString field = colon > 0 ? message.left(colon) : QString();
        QLabel* label = m_errors.value(field, m_errors.value(QString()));
        label->setText(label == m_errors.value(QString()) ? message : message.mid(colon + 2));
        label->show();
        return false;
    }
    if (!QFileInfo::exists(QString::fromStdString(c.dataPath))) {
        m_errors.value("data")->setText(tr("no such file"));
        m_errors.value("data")->show();
        return false;
    }
    return true;
}

void TrainPanel::onStartClicked()
{
    if (m_running) // refused: one run at a time
        return;
    if (!validateForm())
        return;
    m_running = true;
    m_start->setEnabled(false);
    m_start->setText(tr("Running..."));
    const tb::TrainConfig c = config();
    m_monitor->beginRun(c.maxSteps);
    Q_EMIT startRequested(c, false);
}

void TrainPanel::onFinished(int status, const QString& reason, const QString& adapterDir)
{
    m_monitor->endRun(status, reason, adapterDir);
    m_running = false;
    m_start->setText(tr("Start"));
    m_start->setEnabled(!m_modelDir.isEmpty());
}
