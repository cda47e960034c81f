#include "MainWindow.h"

#include "CompareView.h"
#include "DatasetPreview.h"
#include "ExportDialog.h"
#include "MemoryInspector.h"
#include "CliLocation.h"
#include "MethodComparisonDialog.h"
#include "ModelChooser.h"
#include "PlaygroundPanel.h"
#include "RunForm.h"
#include "RunListPanel.h"
#include "TrainPanel.h"
#include "TrainingWorker.h"

#include "store/RunQueries.h"
#include "store/RunStore.h"
#include "store/StorePaths.h"
#include "train/TrainConfig.h"

#include <QAction>
#include <QCloseEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QLineEdit>
#include <QMenuBar>
#include <QMessageBox>
#include <QPushButton>
#include <QStatusBar>
#include <QTabWidget>
#include <QVBoxLayout>

struct RecordedRun {
    tb::TrainConfig config;
    std::string runDir;
    tb::RunStatus status = tb::RunStatus::Finished;
};

namespace {

QString resolveDatabase(const QString& explicitPath)
{
    try {
        return QString::fromStdString(tb::StorePaths::resolve(explicitPath.toStdString()).database);
    } catch (const std::exception&) {
        return QString(); // no HOME: runs are not recorded
    }
}

} // namespace

MainWindow::MainWindow(const QString& modelDir, QWidget* parent, const QString& databasePath)
    : QMainWindow(parent), m_database(resolveDatabase(databasePath))
{
    setWindowTitle(tr("Tunebench"));
    resize(1280, 800);

    auto* fileMenu = menuBar()->addMenu(tr("&File"));
    fileMenu->addAction(tr("&Open model folder..."), this, &MainWindow::openModel);
    fileMenu->addAction(tr("Use the &demo model"), this, [this] {
        m_playground->loadModel(QString());
        m_train->form()->modelChooser()->chooseBuiltInDemo();
    });
    fileMenu->addSeparator();
    fileMenu->addAction(tr("&Quit"), this, &QWidget::close);
    auto* toolsMenu = menuBar()->addMenu(tr("&Tools"));
    toolsMenu->addAction(tr("Compare &methods (LoRA / QLoRA / full)..."), this, &MainWindow::compareMethods);

    m_playground = new PlaygroundPanel;
    m_playground->setDatabasePath(m_database);
    m_train = new TrainPanel(m_database);
    m_preview = new DatasetPreview;
    m_train->datasetPreviewSlot()->layout()->addWidget(m_preview); // the slot has a margin-free QVBoxLayout
    m_runs = new RunListPanel(m_database);
    m_compare = new CompareView(m_database);
    m_memory = new MemoryInspector(m_database);

    m_tabs = new QTabWidget;
    m_tabs->addTab(m_playground, tr("Playground"));
    m_tabs->addTab(m_train, tr("Train"));
    m_tabs->addTab(m_runs, tr("Runs"));
    m_tabs->addTab(m_compare, tr("Compare"));
    m_tabs->addTab(m_memory, tr("Memory"));
    setCentralWidget(m_tabs);

    auto status = [this](const QString& m) { statusBar()->showMessage(m, 10000); };
    TrainingWorker* worker = m_train->worker();
    // A run that ended (finished, cancelled or failed) changes the run list and may add an adapter.
    connect(worker, &TrainingWorker::finished, m_runs, &RunListPanel::refresh);
    connect(worker, &TrainingWorker::finished, m_playground, &PlaygroundPanel::refreshAdapters);
    connect(worker, &TrainingWorker::finished, this, [this](tb::TrainStatus status, const QString& reason) {
        if (status != tb::TrainStatus::Finished && !reason.isEmpty())
            statusBar()->showMessage(tr("Run ended: %1").arg(reason));
        if (m_closeWhenStopped)
            close();
    });
    // The Memory tab follows the running run live.
    connect(worker, &TrainingWorker::started, m_memory, [this](qint64 runId) { m_memory->followLive(runId); });
    connect(worker, &TrainingWorker::memorySampled, m_memory, &MemoryInspector::addSample);
    connect(m_train, &TrainPanel::runRefused, this, status);
    connect(m_train, &TrainPanel::liveRunAttached, this, [this](qint64 runId) {
        statusBar()->showMessage(tr("Run %1 is still training in a process of its own: following it").arg(runId), 10000);
        m_tabs->setCurrentWidget(m_train);
    });
    // A dataset the preview rejects is refused at Start, with the preview's reason at the field.
    connect(m_preview, &DatasetPreview::previewFailed, this, [this](const QString& message) {
        m_train->form()->setDatasetProblem(m_train->form()->datasetEdit()->text(), message);
    });
    connect(m_preview, &DatasetPreview::previewReady, this, [this] { m_train->form()->setDatasetProblem(QString(), QString()); });
    // A run that starts (or resumes) changes its row: running again.
    connect(worker, &TrainingWorker::runRegistered, m_runs, &RunListPanel::refresh);
    connect(m_train, &TrainPanel::datasetPreviewRequested, m_preview,
            [this](const QString& model, const QString& data, const tb::DatasetOptions& options) {
                m_preview->setInputs(model, data, m_train->form()->validationEdit()->text(), options);
            });

    connect(m_runs, &RunListPanel::errorOccurred, this, status);
    connect(m_runs, &RunListPanel::compareRequested, this, &MainWindow::compareRuns);
    connect(m_runs, &RunListPanel::memoryRequested, this, &MainWindow::showMemory);
    connect(m_runs, &RunListPanel::rerunRequested, this, &MainWindow::rerun);
    connect(m_runs, &RunListPanel::resumeRequested, this, &MainWindow::resumeRun);
    connect(m_runs, &RunListPanel::exportRequested, this, &MainWindow::exportRun);
    // One selected run is shown in the Memory tab without switching to it (unless a run trains).
    connect(m_runs, &RunListPanel::selectionChanged, this, [this](const QList<qint64>& ids) {
        if (ids.size() == 1 && !m_train->running())
            m_memory->showRun(ids.first());
    });
    connect(m_compare, &CompareView::errorOccurred, this, status);
    connect(m_memory, &MemoryInspector::errorOccurred, this, status);
    connect(m_playground, &PlaygroundPanel::status, this, status);

    m_playground->loadModel(modelDir);
    // The Train tab starts on the model the window was opened with; without one it keeps the
    // model remembered from the last launch (RunFormSettings).
    if (!modelDir.isEmpty())
        m_train->setModelDir(modelDir);
}

MainWindow::~MainWindow() = default;

QPlainTextEdit* MainWindow::outputView() const
{
    return m_playground->basePane();
}

QPushButton* MainWindow::generateButton() const
{
    return m_playground->generateButton();
}

QPlainTextEdit* MainWindow::promptEdit() const
{
    return m_playground->promptEdit();
}

void MainWindow::openModel()
{
    const QString dir = QFileDialog::getExistingDirectory(this, tr("Open a Hugging Face model folder"));
    if (dir.isEmpty())
        return;
    m_playground->loadModel(dir);
    m_train->setModelDir(dir);
}

void MainWindow::compareRuns(const QList<qint64>& runIds)
{
    if (runIds.isEmpty())
        return;
    m_compare->showRuns(runIds);
    m_tabs->setCurrentWidget(m_compare);
}

void MainWindow::showMemory(qint64 runId)
{
    m_memory->showRun(runId);
    m_tabs->setCurrentWidget(m_memory);
}

bool MainWindow::recordedConfig(qint64 runId, RecordedRun& out)
{
    // One indexed row read: well under a millisecond (docs/database.md), so on the GUI thread.
    try {
        if (m_database.isEmpty() || !QFileInfo::exists(m_database))
            throw std::runtime_error("no experiment database");
        tb::StoreOptions options;
        options.recoverInterruptedRuns = false; // reading only; the trainer's process owns its run
        tb::RunStore store(m_database.toStdString(), options);
        const tb::RunDetails run = tb::RunQueries(store.database()).getRun(runId);
        out.config = tb::TrainConfig::fromJson(run.config, "run " + std::to_string(runId));
        out.runDir = run.runDir;
        out.status = run.summary.status;
        return true;
    } catch (const std::exception& e) {
        statusBar()->showMessage(tr("Run %1: %2").arg(runId).arg(QString::fromStdString(e.what())));
        return false;
    }
}

bool MainWindow::rerun(qint64 runId)
{
    RecordedRun run;
    if (!recordedConfig(runId, run))
        return false;
    run.config.outputDir.clear(); // a new run folder; the form fills in its default
    run.config.initialAdapter.clear();
    m_train->setConfig(run.config);
    m_tabs->setCurrentWidget(m_train);
    statusBar()->showMessage(tr("The form holds run %1's settings; press Start to train them again.").arg(runId));
    return true;
}

bool MainWindow::resumeRun(qint64 runId)
{
    RecordedRun run;
    if (!recordedConfig(runId, run))
        return false;
    if (run.runDir.empty()) {
        statusBar()->showMessage(tr("Run %1 has no run folder to resume from.").arg(runId));
        return false;
    }
    run.config.outputDir = run.runDir;
    m_tabs->setCurrentWidget(m_train);
    return m_train->startRun(run.config, true);
}

void MainWindow::exportRun(qint64 runId)
{
    auto* dialog = new ExportDialog(m_database, runId, this);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    connect(dialog, &ExportDialog::exportFinished, m_runs, &RunListPanel::refresh);
    dialog->open();
}

void MainWindow::compareMethods()
{
    if (!m_methods) {
        m_methods = new MethodComparisonDialog(m_database, tunebenchCliPath(), this);
        connect(m_methods, &MethodComparisonDialog::comparisonFinished, m_runs, &RunListPanel::refresh);
    }
    if (!m_methods->isRunning()) {
        const tb::TrainConfig form = m_train->config();
        m_methods->setInputs(QString::fromStdString(form.modelDir), QString::fromStdString(form.dataPath));
    }
    m_methods->open();
}

void MainWindow::closeEvent(QCloseEvent* event)
{
    if (!m_train->running()) {
        event->accept();
        return;
    }
    event->ignore();
    if (m_closeWhenStopped || m_closeQuestion)
        return; // already stopping, or already asking
    m_closeQuestion = new QMessageBox(QMessageBox::Question, tr("A run is training"),
                                      tr("A training run is in progress."), QMessageBox::NoButton, this);
    m_closeQuestion->setInformativeText(
        tr("It runs in a process of its own: it can keep training after the window closes (the database and its "
           "run folder get everything; the next start of the workbench follows it again), or stop after its "
           "current step, saved as cancelled with a checkpoint to resume from."));
    QPushButton* background = m_closeQuestion->addButton(tr("Keep training in the background"), QMessageBox::AcceptRole);
    QPushButton* stop = m_closeQuestion->addButton(tr("Stop and quit"), QMessageBox::DestructiveRole);
    m_closeQuestion->addButton(tr("Cancel"), QMessageBox::RejectRole);
    m_closeQuestion->setAttribute(Qt::WA_DeleteOnClose);
    connect(m_closeQuestion, &QMessageBox::buttonClicked, this, [this, stop, background](QAbstractButton* button) {
        if (button == background) {
            m_train->detachRun();
            QMetaObject::invokeMethod(this, &QWidget::close, Qt::QueuedConnection);
            return;
        }
        if (button != stop)
            return;
        if (!m_train->running()) { // ended while we asked
            QMetaObject::invokeMethod(this, &QWidget::close, Qt::QueuedConnection);
            return;
        }
        m_closeWhenStopped = true;
        statusBar()->showMessage(tr("Stopping the run..."));
        m_train->worker()->cancel(); // finished() then closes the window
    });
    connect(m_closeQuestion, &QObject::destroyed, this, [this] { m_closeQuestion = nullptr; });
    m_closeQuestion->open();
}
