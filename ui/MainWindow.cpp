#include "MainWindow.h"

#include "PlaygroundPanel.h"
#include "RunListPanel.h"
#include "TrainPanel.h"
#include "TrainingWorker.h"

#include "store/StorePaths.h"

#include <QAction>
#include <QFileDialog>
#include <QMenuBar>
#include <QStatusBar>
#include <QTabWidget>

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

MainWindow::MainWindow(const QString& modelDir, QWidget* parent, const QString& databasePath) : QMainWindow(parent)
{
    setWindowTitle(tr("Tunebench"));
    resize(1000, 640);

    auto* fileMenu = menuBar()->addMenu(tr("&File"));
    fileMenu->addAction(tr("&Open model folder..."), this, &MainWindow::openModel);
    fileMenu->addAction(tr("Use the &demo model"), this, [this] { m_playground->loadModel(QString()); });
    fileMenu->addSeparator();
    fileMenu->addAction(tr("&Quit"), this, &QWidget::close);

    const QString database = resolveDatabase(databasePath);
    m_playground = new PlaygroundPanel;
    m_playground->setDatabasePath(database);
    m_train = new TrainPanel(database);
    m_runs = new RunListPanel(database);
    auto* tabs = new QTabWidget;
    tabs->addTab(m_playground, tr("Playground"));
    tabs->addTab(m_train, tr("Train"));
    tabs->addTab(m_runs, tr("Runs"));
    // A run that ended (finished, cancelled or failed) changes the run list and may add an adapter.
    connect(m_train->worker(), &TrainingWorker::finished, m_runs, &RunListPanel::refresh);
    connect(m_train->worker(), &TrainingWorker::finished, m_playground, &PlaygroundPanel::refreshAdapters);
    connect(m_runs, &RunListPanel::errorOccurred, this, [this](const QString& m) { statusBar()->showMessage(m); });
    connect(m_playground, &PlaygroundPanel::status, this, [this](const QString& m) { statusBar()->showMessage(m); });
    // The Train tab trains the model the Playground has loaded.
    connect(m_playground, &PlaygroundPanel::modelLoadStarted, m_train, [this] { m_train->setModelDir(QString()); });
    connect(m_playground, &PlaygroundPanel::modelLoaded, m_train, [this](const ModelSummary& s) { m_train->setModelDir(s.dir); });
    setCentralWidget(tabs);

    m_playground->loadModel(modelDir);
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
    if (!dir.isEmpty())
        m_playground->loadModel(dir);
}
