#include "TrainPanel.h"

#include "LiveMonitor.h"
#include "MemoryEstimateBar.h"
#include "ModelChooser.h"
#include "RunForm.h"
#include "TrainingWorker.h"

#include "store/RunStore.h"
#include "store/StorePaths.h"

#include <QFileInfo>
#include <QFutureWatcher>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QScrollArea>
#include <QScrollBar>
#include <QSplitter>
#include <QTimer>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

#include <stdexcept>

namespace {

QString workspaceOf(const QString& databasePath)
{
    if (databasePath.isEmpty())
        return QString();
    return QString::fromStdString(tb::StorePaths::workspaceFor(databasePath.toStdString()));
}

} // namespace

TrainPanel::TrainPanel(const QString& databasePath, QWidget* parent, const QString& settingsPath)
    : QWidget(parent), m_worker(new TrainingWorker), m_settings(settingsPath)
{
    m_form = new RunForm(workspaceOf(databasePath));
    auto* scroll = new QScrollArea;
    scroll->setWidget(m_form);
    scroll->setWidgetResizable(true);
    scroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    scroll->setFrameShape(QFrame::NoFrame);

    m_start = new QPushButton(tr("Start"));
    m_start->setEnabled(false); // until the chosen model has passed its check

    m_estimate = new MemoryEstimateBar;

    auto* left = new QWidget;
    auto* leftColumn = new QVBoxLayout(left);
    leftColumn->setContentsMargins(0, 0, 0, 0);
    leftColumn->addWidget(scroll, 1);
    leftColumn->addWidget(m_form->generalErrorLabel()); // under the form, always in view
    leftColumn->addWidget(m_estimate); // outside the scroll area: always in view above Start
    leftColumn->addWidget(m_start);
    // Wide enough for the form without a horizontal scroll bar; the monitor takes the rest.
    scroll->setMinimumWidth(m_form->minimumSizeHint().width() + scroll->verticalScrollBar()->sizeHint().width());

    m_monitor = new LiveMonitor;
    auto* splitter = new QSplitter;
    splitter->addWidget(left);
    splitter->addWidget(m_monitor);
    splitter->setStretchFactor(1, 1);
    splitter->setSizes({scroll->minimumWidth(), 800});
    splitter->setChildrenCollapsible(false);
    auto* layout = new QHBoxLayout(this);
    layout->addWidget(splitter);

    m_previewTimer = new QTimer(this);
    m_previewTimer->setSingleShot(true);
    m_previewTimer->setInterval(400);
    connect(m_previewTimer, &QTimer::timeout, this, [this] {
        const QString data = m_form->datasetEdit()->text().trimmed();
        if (m_form->modelChooser()->isValid() && !data.isEmpty())
            Q_EMIT datasetPreviewRequested(m_form->modelChooser()->modelDir(), data, m_form->datasetOptions());
    });
    connect(m_form, &RunForm::datasetInputsChanged, m_previewTimer, qOverload<>(&QTimer::start));
    connect(m_form, &RunForm::changed, this, &TrainPanel::updateEstimate);
    connect(m_form->modelChooser(), &ModelChooser::modelChanged, this, &TrainPanel::updateStartButton);
    connect(m_start, &QPushButton::clicked, this, &TrainPanel::onStartClicked);

    m_worker->setDatabasePath(databasePath);
    m_worker->moveToThread(&m_thread);
    connect(&m_thread, &QThread::finished, m_worker, &QObject::deleteLater);
    connect(this, &TrainPanel::startRequested, m_worker, &TrainingWorker::start); // queued
    connect(this, &TrainPanel::followRequested, m_worker, &TrainingWorker::follow); // queued
    connect(m_worker, &TrainingWorker::started, m_monitor, [this](qint64, qint64 total) { m_monitor->beginRun(total); });
    connect(m_worker, &TrainingWorker::stepReported, m_monitor, &LiveMonitor::addStep);
    connect(m_worker, &TrainingWorker::evalReported, m_monitor, &LiveMonitor::addEval);
    connect(m_worker, &TrainingWorker::memorySampled, m_monitor, &LiveMonitor::addMemory);
    connect(m_worker, &TrainingWorker::deviceCapacity, m_monitor, &LiveMonitor::setDeviceCapacity);
    connect(m_worker, &TrainingWorker::logged, m_monitor, &LiveMonitor::addLog);
    connect(m_worker, &TrainingWorker::pauseChanged, m_monitor, &LiveMonitor::setPaused);
    connect(m_worker, &TrainingWorker::finished, this, &TrainPanel::onFinished);
    // Direct calls from the GUI thread: the worker's own event loop is busy running.
    connect(m_monitor, &LiveMonitor::pauseRequested, this, [this] { m_worker->pause(); });
    connect(m_monitor, &LiveMonitor::resumeRequested, this, [this] { m_worker->resume(); });
    connect(m_monitor, &LiveMonitor::stopRequested, this, [this] { m_worker->cancel(); });
    m_thread.start();

    m_form->modelChooser()->setRecentModels(m_settings.recentModels());
    tb::TrainConfig start = m_settings.loadForm().value_or(tb::TrainConfig::defaults(tb::TrainMethod::Lora));
    start.outputDir.clear(); // each run gets a new folder
    start.name.clear();      // ... and a name of its own
    m_form->setConfig(start);
    if (!databasePath.isEmpty())
        findLiveRuns(databasePath);
}

void TrainPanel::findLiveRuns(const QString& databasePath)
{
    if (!QFileInfo::exists(databasePath))
        return;
    auto* watcher = new QFutureWatcher<std::vector<tb::LiveRun>>(this);
    connect(watcher, &QFutureWatcherBase::finished, this, [this, watcher] {
        const std::vector<tb::LiveRun> live = watcher->result();
        watcher->deleteLater();
        if (!live.empty() && attachRun(live.front().runId, live.front().owner.pid, QString::fromStdString(live.front().owner.startMarker)))
            Q_EMIT liveRunAttached(live.front().runId);
    });
    watcher->setFuture(QtConcurrent::run([path = databasePath.toStdString()] {
        try {
            tb::RunStore store(path); // marks runs of dead processes interrupted first
            return store.liveRuns();
        } catch (const std::exception&) {
            return std::vector<tb::LiveRun>{}; // the Runs tab reports a database it cannot open
        }
    }));
}

bool TrainPanel::attachRun(qint64 runId, qint64 pid, const QString& startMarker)
{
    if (m_running)
        return false;
    m_running = true;
    updateStartButton();
    m_start->setText(tr("Running..."));
    m_monitor->beginRun(0);
    m_worker->prepareRun();
    Q_EMIT followRequested(runId, pid, startMarker);
    return true;
}

TrainPanel::~TrainPanel()
{
    saveSettings();
    if (m_running) {
        m_worker->cancel(); // the child ends within one optimizer step, with a checkpoint
        m_worker->detach(); // ... on its own: the window does not wait for it
    }
    m_thread.quit();
    m_thread.wait();
}

void TrainPanel::updateEstimate()
{
    const ModelChooser* model = m_form->modelChooser();
    if (model->isValid()) {
        // Each worker holds a whole replica on its own device: one worker's peak against the
        // tightest of the checked devices, as a Processes count is one worker's peak too.
        tb::TrainConfig c = m_form->config();
        c.device = m_form->estimateDevice(c);
        m_estimate->setRun(model->modelDir(), c);
    }
    else if (model->isChecking())
        m_estimate->clear(tr("Memory estimate: checking the model..."));
    else
        m_estimate->clear(tr("Memory estimate: choose a base model that can be trained"));
}

void TrainPanel::setModelDir(const QString& dir)
{
    m_form->modelChooser()->setModelDir(dir);
}

tb::TrainConfig TrainPanel::config() const
{
    return m_form->config();
}

void TrainPanel::setConfig(const tb::TrainConfig& config)
{
    m_form->setConfig(config);
}

bool TrainPanel::validateForm()
{
    return m_form->validate();
}

QString TrainPanel::fieldError(const QString& field) const
{
    return m_form->fieldError(field);
}

QWidget* TrainPanel::datasetPreviewSlot() const
{
    return m_form->datasetPreviewSlot();
}

void TrainPanel::updateStartButton()
{
    m_start->setEnabled(!m_running && m_form->modelChooser()->isValid());
}

void TrainPanel::saveSettings()
{
    m_settings.saveForm(m_form->config());
    m_settings.saveRecentModels(m_form->modelChooser()->recentModels());
    m_settings.sync();
}

void TrainPanel::onStartClicked()
{
    if (m_running) // refused: one run at a time
        return;
    const tb::TrainConfig c = m_form->config(); // once: the default run folder is named by the time
    if (!m_form->showProblems(c))
        return;
    saveSettings();
    startRun(c, false);
}

bool TrainPanel::startRun(const tb::TrainConfig& config, bool resume)
{
    QString refusal;
    if (m_running) {
        refusal = tr("A run is already going: it must end (finish, or Stop) before another starts.");
    } else {
        try {
            config.validate();
        } catch (const std::invalid_argument& e) {
            refusal = QString::fromStdString(e.what());
        }
    }
    if (!refusal.isEmpty()) {
        m_form->setError(QString(), refusal);
        Q_EMIT runRefused(refusal);
        return false;
    }
    m_running = true;
    updateStartButton();
    m_start->setText(tr("Running..."));
    m_monitor->beginRun(config.maxSteps);
    m_worker->prepareRun();
    Q_EMIT startRequested(config, resume);
    return true;
}

void TrainPanel::detachRun()
{
    if (!m_running)
        return;
    m_worker->detach();
    m_monitor->addLog(tb::LogLevel::Info, tr("the run goes on in the background; the Runs tab follows it from the database"));
    m_running = false;
    m_start->setText(tr("Start"));
    updateStartButton();
}

void TrainPanel::onFinished(tb::TrainStatus status, const QString& reason, const QString& adapterDir)
{
    m_monitor->endRun(status, reason, adapterDir);
    m_running = false;
    m_start->setText(tr("Start"));
    updateStartButton();
}
