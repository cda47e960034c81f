#include "MainWindow.h"

#include "RunListPanel.h"
#include "TrainPanel.h"
#include "TrainingWorker.h"

#include "store/StorePaths.h"

#include <QAction>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLocale>
#include <QMenuBar>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QSplitter>
#include <QStatusBar>
#include <QTabWidget>
#include <QVBoxLayout>

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
    : QMainWindow(parent), m_worker(new PlaygroundWorker)
{
    qRegisterMetaType<ModelSummary>();
    setWindowTitle(tr("Tunebench"));
    resize(1000, 640);

    auto* fileMenu = menuBar()->addMenu(tr("&File"));
    fileMenu->addAction(tr("&Open model folder..."), this, &MainWindow::openModel);
    fileMenu->addAction(tr("Use the &demo model"), this, [this] {
        m_modelLoaded = false;
        m_train->setModelDir(QString());
        m_generate->setEnabled(false);
        Q_EMIT loadRequested(QString());
    });
    fileMenu->addSeparator();
    fileMenu->addAction(tr("&Quit"), this, &QWidget::close);

    auto* factsBox = new QGroupBox(tr("Model"));
    m_facts = new QFormLayout(factsBox);

    auto* playBox = new QGroupBox(tr("Playground"));
    auto* playLayout = new QVBoxLayout(playBox);
    m_prompt = new QPlainTextEdit;
    m_prompt->setPlaceholderText(tr("Type a prompt"));
    m_prompt->setPlainText(tr("The best way to learn a new language is"));
    m_prompt->setMaximumHeight(120);
    m_output = new QPlainTextEdit;
    m_output->setReadOnly(true);
    auto* controls = new QHBoxLayout;
    m_maxTokens = new QSpinBox;
    m_maxTokens->setRange(1, 4096);
    m_maxTokens->setValue(64);
    m_temperature = new QDoubleSpinBox;
    m_temperature->setRange(0.0, 5.0);
    m_temperature->setSingleStep(0.1);
    m_temperature->setValue(0.8);
    m_topP = new QDoubleSpinBox;
    m_topP->setRange(0.01, 1.0);
    m_topP->setSingleStep(0.05);
    m_topP->setValue(0.95);
    m_seed = new QSpinBox;
    m_seed->setRange(0, 1 << 30);
    m_generate = new QPushButton(tr("Generate"));
    m_generate->setEnabled(false);
    controls->addWidget(new QLabel(tr("Max tokens")));
    controls->addWidget(m_maxTokens);
    controls->addWidget(new QLabel(tr("Temperature")));
    controls->addWidget(m_temperature);
    controls->addWidget(new QLabel(tr("Top-p")));
    controls->addWidget(m_topP);
    controls->addWidget(new QLabel(tr("Seed")));
    controls->addWidget(m_seed);
    controls->addStretch();
    controls->addWidget(m_generate);
    playLayout->addWidget(m_prompt);
    playLayout->addLayout(controls);
    playLayout->addWidget(m_output, 1);

    auto* splitter = new QSplitter;
    splitter->addWidget(factsBox);
    splitter->addWidget(playBox);
    splitter->setStretchFactor(1, 1);
    const QString database = resolveDatabase(databasePath);
    m_train = new TrainPanel(database);
    m_runs = new RunListPanel(database);
    auto* tabs = new QTabWidget;
    tabs->addTab(splitter, tr("Playground"));
    tabs->addTab(m_train, tr("Train"));
    tabs->addTab(m_runs, tr("Runs"));
    // A run that ended (finished, cancelled or failed) changes the list.
    connect(m_train->worker(), &TrainingWorker::finished, m_runs, &RunListPanel::refresh);
    connect(m_runs, &RunListPanel::errorOccurred, this, [this](const QString& m) { statusBar()->showMessage(m); });
    setCentralWidget(tabs);

    m_worker->moveToThread(&m_workerThread);
    connect(&m_workerThread, &QThread::finished, m_worker, &QObject::deleteLater);
    connect(this, &MainWindow::loadRequested, m_worker, &PlaygroundWorker::loadModel);
    connect(this, &MainWindow::generateRequested, m_worker, &PlaygroundWorker::generate);
    connect(m_worker, &PlaygroundWorker::status, this, [this](const QString& m) { statusBar()->showMessage(m); });
    connect(m_worker, &PlaygroundWorker::modelLoaded, this, &MainWindow::onModelLoaded);
    connect(m_worker, &PlaygroundWorker::textPiece, this, [this](const QString& piece) {
        m_output->moveCursor(QTextCursor::End);
        m_output->insertPlainText(piece);
    });
    connect(m_worker, &PlaygroundWorker::generationFinished, this, &MainWindow::onFinished);
    connect(m_worker, &PlaygroundWorker::failed, this, &MainWindow::onFailed);
    connect(m_generate, &QPushButton::clicked, this, &MainWindow::onGenerateClicked);
    m_workerThread.start();

    Q_EMIT loadRequested(modelDir);
}

MainWindow::~MainWindow()
{
    m_worker->requestStop();
    m_workerThread.quit();
    m_workerThread.wait();
}

void MainWindow::openModel()
{
    const QString dir = QFileDialog::getExistingDirectory(this, tr("Open a Hugging Face model folder"));
    if (!dir.isEmpty()) {
        m_modelLoaded = false;
        m_train->setModelDir(QString());
        m_generate->setEnabled(false);
        Q_EMIT loadRequested(dir);
    }
}

void MainWindow::onModelLoaded(const ModelSummary& s)
{
    while (m_facts->rowCount() > 0)
        m_facts->removeRow(0);
    const QLocale locale;
    m_facts->addRow(tr("Folder"), new QLabel(s.dir));
    m_facts->addRow(tr("Architecture"), new QLabel(s.architecture));
    m_facts->addRow(tr("Parameters"), new QLabel(QStringLiteral("%1 M").arg(s.parameters / 1e6, 0, 'f', 1)));
    m_facts->addRow(tr("Layers"), new QLabel(QString::number(s.layers)));
    m_facts->addRow(tr("Hidden size"), new QLabel(QString::number(s.hiddenSize)));
    m_facts->addRow(tr("Heads (query / key-value)"), new QLabel(QStringLiteral("%1 / %2").arg(s.heads).arg(s.keyValueHeads)));
    m_facts->addRow(tr("Vocabulary"), new QLabel(QString::number(s.vocabSize)));
    m_facts->addRow(tr("Context"), new QLabel(QString::number(s.contextLength)));
    m_facts->addRow(tr("Stored as"), new QLabel(s.torchDtype));
    m_facts->addRow(tr("Weights in bf16"), new QLabel(locale.formattedDataSize(s.bf16Bytes)));
    m_facts->addRow(tr("Weights in NF4"), new QLabel(locale.formattedDataSize(s.nf4Bytes)));
    statusBar()->showMessage(tr("Loaded %1").arg(s.dir));
    m_modelLoaded = true;
    m_train->setModelDir(s.dir);
    setBusy(false);
}

void MainWindow::onGenerateClicked()
{
    if (m_generating) {
        m_worker->requestStop();
        return;
    }
    m_output->clear();
    m_output->insertPlainText(m_prompt->toPlainText());
    setBusy(true);
    Q_EMIT generateRequested(m_prompt->toPlainText(), m_maxTokens->value(), m_temperature->value(), m_topP->value(),
                           static_cast<quint64>(m_seed->value()));
}

void MainWindow::onFinished(const QString& stopReason, int tokens, double tokensPerSecond)
{
    statusBar()->showMessage(tr("%1 tokens, %2 tokens/s (%3)").arg(tokens).arg(tokensPerSecond, 0, 'f', 1).arg(stopReason));
    setBusy(false);
}

void MainWindow::onFailed(const QString& message)
{
    setBusy(false);
    statusBar()->showMessage(message);
    // Window-modal but not blocking: the event loop (and the worker's signals) keep running.
    auto* box = new QMessageBox(QMessageBox::Warning, tr("Tunebench"), message, QMessageBox::Ok, this);
    box->setAttribute(Qt::WA_DeleteOnClose);
    box->open();
}

void MainWindow::setBusy(bool busy)
{
    m_generating = busy;
    m_generate->setEnabled(m_modelLoaded);
    m_generate->setText(busy ? tr("Stop") : tr("Generate"));
}
