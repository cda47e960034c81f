#include "PlaygroundPanel.h"

#include "store/RunQueries.h"
#include "store/RunStore.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QFutureWatcher>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLocale>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSpinBox>
#include <QSplitter>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

namespace {

struct AdapterListResult {
    QList<PlaygroundPanel::AdapterRun> runs;
    QString error;
};

QString canonicalDir(const QString& dir)
{
    const QFileInfo info(dir);
    const QString canonical = info.canonicalFilePath();
    return canonical.isEmpty() ? QDir::cleanPath(info.absoluteFilePath()) : canonical;
}

// Pool thread: its own RunStore connection (one per thread, as RunStore requires). listRuns is
// one query; getRun is a few more per run of this model, which is why this is not on the GUI
// thread.
AdapterListResult readAdapterRuns(const QString& databasePath, const QString& modelDir)
{
    AdapterListResult result;
    if (databasePath.isEmpty() || modelDir.isEmpty() || !QFileInfo::exists(databasePath))
        return result; // no database yet: nothing was trained
    try {
        tb::StoreOptions options;
        options.recoverInterruptedRuns = false; // a reader; the Runs tab and trainers recover
        tb::RunStore store(databasePath.toStdString(), options);
        tb::RunQueries queries(store.database());
        tb::RunFilter filter;
        filter.status = tb::RunStatus::Finished;
        const QString model = canonicalDir(modelDir);
        for (const tb::RunSummary& run : queries.listRuns(filter)) {
            if (run.modelPath.empty() || canonicalDir(QString::fromStdString(run.modelPath)) != model)
                continue;
            const tb::RunDetails details = queries.getRun(run.id);
            const tb::ArtifactInfo* newest = nullptr;
            for (const tb::ArtifactInfo& a : details.artifacts)
                if (a.kind == tb::ArtifactKind::Adapter && !a.missing && (!newest || a.id > newest->id))
                    newest = &a;
            if (newest)
                result.runs.append({run.id, QString::fromStdString(run.name), QString::fromStdString(newest->path)});
        }
    } catch (const std::exception& e) {
        result.error = QString::fromStdString(e.what());
    }
    return result;
}

// "runs/reviews/adapter" -> "reviews"; "my-adapter" -> "my-adapter".
QString folderDisplayName(const QString& dir)
{
    const QFileInfo info(QDir::cleanPath(dir));
    if (info.fileName() == QLatin1String("adapter"))
        return QFileInfo(info.absolutePath()).fileName();
    return info.fileName();
}

} // namespace

PlaygroundPanel::PlaygroundPanel(QWidget* parent) : QWidget(parent), m_worker(new PlaygroundWorker)
{
    qRegisterMetaType<ModelSummary>();

    auto* factsBox = new QGroupBox(tr("Model"));
    auto* factsColumn = new QVBoxLayout(factsBox);
    m_facts = new QFormLayout;
    factsColumn->addLayout(m_facts);
    // The playground's model lives in the window's process; training runs are processes of
    // their own, so this memory is never in a run's figures. Shown apart, and freed on request.
    m_memory = new QLabel;
    m_memory->setWordWrap(true);
    m_unload = new QPushButton(tr("Unload"));
    m_unload->setToolTip(tr("Free the memory the playground's model takes in this window"));
    m_unload->setEnabled(false);
    auto* memoryRow = new QHBoxLayout;
    memoryRow->addWidget(m_memory, 1);
    memoryRow->addWidget(m_unload);
    factsColumn->addLayout(memoryRow);

    auto* playBox = new QGroupBox(tr("Playground"));
    auto* playLayout = new QVBoxLayout(playBox);

    auto* adapterRow = new QHBoxLayout;
    m_adapterChooser = new QComboBox;
    m_adapterChooser->setSizeAdjustPolicy(QComboBox::AdjustToContents);
    m_adapterChooser->setToolTip(tr("A LoRA adapter to compare with the base model: a finished run of this model, or a PEFT folder"));
    m_adapterMessage = new QLabel;
    m_adapterMessage->setWordWrap(true);
    m_adapterMessage->setTextInteractionFlags(Qt::TextSelectableByMouse);
    adapterRow->addWidget(new QLabel(tr("Adapter")));
    adapterRow->addWidget(m_adapterChooser);
    adapterRow->addWidget(m_adapterMessage, 1);

    m_prompt = new QPlainTextEdit;
    m_prompt->setPlaceholderText(tr("Type a prompt"));
    m_prompt->setPlainText(tr("The best way to learn a new language is"));
    m_prompt->setMaximumHeight(120);

    auto* controls = new QHBoxLayout;
    m_maxTokens = new QSpinBox;
    m_maxTokens->setRange(1, 4096);
    m_maxTokens->setValue(64);
    m_temperature = new QDoubleSpinBox;
    m_temperature->setRange(0.0, 5.0);
    m_temperature->setSingleStep(0.1);
    m_temperature->setValue(0.8);
    m_temperature->setToolTip(tr("0: greedy"));
    m_topP = new QDoubleSpinBox;
    m_topP->setRange(0.01, 1.0);
    m_topP->setSingleStep(0.05);
    m_topP->setValue(0.95);
    m_seed = new QSpinBox;
    m_seed->setRange(0, 1 << 30);
    m_chat = new QCheckBox(tr("Chat template"));
    m_chat->setToolTip(tr("Send the prompt as a user turn through the model's chat template, as chat training saw it"));
    m_chat->setEnabled(false); // until a model with a chat template is loaded
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
    controls->addWidget(m_chat);
    controls->addStretch();
    controls->addWidget(m_generate);

    auto makePane = [](QGroupBox* box) {
        auto* output = new QPlainTextEdit;
        output->setReadOnly(true);
        auto* layout = new QVBoxLayout(box);
        layout->setContentsMargins(2, 2, 2, 2);
        layout->addWidget(output);
        return output;
    };
    m_baseBox = new QGroupBox(tr("Output"));
    m_baseOutput = makePane(m_baseBox);
    m_adapterBox = new QGroupBox(tr("Base + adapter"));
    m_adapterOutput = makePane(m_adapterBox);
    m_adapterBox->hide();
    auto* panes = new QSplitter(Qt::Horizontal);
    panes->addWidget(m_baseBox);
    panes->addWidget(m_adapterBox);
    panes->setChildrenCollapsible(false);

    playLayout->addLayout(adapterRow);
    playLayout->addWidget(m_prompt);
    playLayout->addLayout(controls);
    playLayout->addWidget(panes, 1);

    auto* splitter = new QSplitter;
    splitter->addWidget(factsBox);
    splitter->addWidget(playBox);
    splitter->setStretchFactor(1, 1);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(splitter);

    rebuildChooser();

    m_worker->moveToThread(&m_workerThread);
    connect(&m_workerThread, &QThread::finished, m_worker, &QObject::deleteLater);
    connect(this, &PlaygroundPanel::loadModelRequested, m_worker, &PlaygroundWorker::loadModel);
    connect(this, &PlaygroundPanel::loadAdapterRequested, m_worker, &PlaygroundWorker::loadAdapter);
    connect(this, &PlaygroundPanel::clearAdapterRequested, m_worker, &PlaygroundWorker::clearAdapter);
    connect(this, &PlaygroundPanel::generateRequested, m_worker, &PlaygroundWorker::generate);
    connect(m_worker, &PlaygroundWorker::status, this, &PlaygroundPanel::status);
    connect(m_worker, &PlaygroundWorker::modelLoaded, this, &PlaygroundPanel::onModelLoaded);
    connect(this, &PlaygroundPanel::unloadModelRequested, m_worker, &PlaygroundWorker::unloadModel);
    connect(m_worker, &PlaygroundWorker::modelUnloaded, this, &PlaygroundPanel::onModelUnloaded);
    connect(m_unload, &QPushButton::clicked, this, &PlaygroundPanel::unloadModel);
    connect(m_worker, &PlaygroundWorker::adapterLoaded, this, &PlaygroundPanel::onAdapterLoaded);
    connect(m_worker, &PlaygroundWorker::adapterFailed, this, &PlaygroundPanel::onAdapterFailed);
    connect(m_worker, &PlaygroundWorker::textPiece, this, [this](int pane, const QString& piece) {
        QPlainTextEdit* out = pane == PlaygroundWorker::AdapterPane ? m_adapterOutput : m_baseOutput;
        out->moveCursor(QTextCursor::End);
        out->insertPlainText(piece);
    });
    connect(m_worker, &PlaygroundWorker::passFinished, this, &PlaygroundPanel::onPassFinished);
    connect(m_worker, &PlaygroundWorker::generationFinished, this, &PlaygroundPanel::onGenerationFinished);
    connect(m_worker, &PlaygroundWorker::failed, this, &PlaygroundPanel::onFailed);
    connect(m_generate, &QPushButton::clicked, this, &PlaygroundPanel::generateOrStop);
    connect(m_adapterChooser, qOverload<int>(&QComboBox::activated), this, &PlaygroundPanel::chooseAdapter);
    m_workerThread.start();
}

PlaygroundPanel::~PlaygroundPanel()
{
    m_worker->requestStop();
    m_workerThread.quit();
    m_workerThread.wait();
}

void PlaygroundPanel::setDatabasePath(const QString& path)
{
    m_databasePath = path;
    refreshAdapters();
}

void PlaygroundPanel::unloadModel()
{
    if (m_generating || !m_modelLoaded)
        return;
    m_modelLoaded = false;
    m_adapterDir.clear();
    m_adapterName.clear();
    m_adapterPending = false;
    showAdapterPane(false);
    updateControls();
    Q_EMIT unloadModelRequested();
}

void PlaygroundPanel::onModelUnloaded()
{
    m_memory->setText(tr("No model held in this window (Open or choose one to load it again)."));
    m_unload->setEnabled(false);
    Q_EMIT status(tr("Unloaded %1").arg(m_modelDir));
    updateControls();
}

void PlaygroundPanel::loadModel(const QString& dir)
{
    m_modelLoaded = false;
    m_runs.clear();
    m_adapterDir.clear();
    m_adapterName.clear();
    m_adapterPending = false;
    m_adapterMessage->clear();
    showAdapterPane(false);
    rebuildChooser();
    updateControls();
    Q_EMIT modelLoadStarted(dir);
    Q_EMIT loadModelRequested(dir);
}

void PlaygroundPanel::setAdapter(const QString& dir, const QString& name)
{
    if (dir.isEmpty()) {
        m_adapterDir.clear();
        m_adapterName.clear();
        m_adapterPending = false;
        m_adapterMessage->clear();
        showAdapterPane(false);
        rebuildChooser();
        updateControls();
        Q_EMIT clearAdapterRequested();
        return;
    }
    const QString clean = QDir::cleanPath(QFileInfo(dir).absoluteFilePath());
    bool isRun = false;
    QString runName;
    for (const AdapterRun& run : m_runs)
        if (QDir::cleanPath(run.dir) == clean) {
            isRun = true;
            runName = run.name;
        }
    if (!isRun && !m_browsedDirs.contains(clean))
        m_browsedDirs.append(clean);
    m_adapterDir = clean;
    m_adapterName = !name.isEmpty() ? name : isRun ? runName : folderDisplayName(clean);
    m_adapterPending = true;
    m_adapterMessage->setStyleSheet(QString());
    m_adapterMessage->setText(tr("Loading..."));
    rebuildChooser();
    updateControls();
    Q_EMIT loadAdapterRequested(clean);
}

void PlaygroundPanel::chooseAdapter(int index)
{
    if (index < 0 || index >= m_adapterChooser->count())
        return;
    switch (m_adapterChooser->itemData(index, KindRole).toInt()) {
    case NoAdapterChoice:
        if (!m_adapterDir.isEmpty())
            setAdapter(QString());
        break;
    case RunChoice:
    case FolderChoice: {
        const QString dir = m_adapterChooser->itemData(index, DirRole).toString();
        if (dir != m_adapterDir)
            setAdapter(dir, m_adapterChooser->itemData(index, Qt::DisplayRole).toString());
        break;
    }
    case BrowseChoice:
        rebuildChooser(); // back to the current choice until a folder is picked
        browseForAdapter();
        break;
    }
}

void PlaygroundPanel::browseForAdapter()
{
    // open(), not exec(): the event loop and the worker's signals keep running.
    auto* dialog = new QFileDialog(this, tr("Open a PEFT adapter folder (adapter_config.json, adapter_model.safetensors)"));
    dialog->setFileMode(QFileDialog::Directory);
    dialog->setOption(QFileDialog::ShowDirsOnly);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    if (!m_modelDir.isEmpty())
        dialog->setDirectory(m_modelDir);
    connect(dialog, &QFileDialog::fileSelected, this, [this](const QString& dir) {
        if (!dir.isEmpty())
            setAdapter(dir);
    });
    dialog->open();
}

void PlaygroundPanel::refreshAdapters()
{
    const quint64 serial = ++m_listSerial;
    auto* watcher = new QFutureWatcher<AdapterListResult>(this);
    connect(watcher, &QFutureWatcher<AdapterListResult>::finished, this, [this, watcher, serial] {
        watcher->deleteLater();
        if (serial != m_listSerial)
            return; // a newer request (another model, another database) is on its way
        const AdapterListResult result = watcher->result();
        if (!result.error.isEmpty())
            Q_EMIT status(tr("Adapter list: %1").arg(result.error));
        m_runs = result.runs;
        rebuildChooser();
        Q_EMIT adapterListRefreshed(static_cast<int>(m_runs.size()));
    });
    watcher->setFuture(QtConcurrent::run(readAdapterRuns, m_databasePath, m_modelLoaded ? m_modelDir : QString()));
}

void PlaygroundPanel::rebuildChooser()
{
    QComboBox* c = m_adapterChooser;
    c->clear();
    auto add = [c](const QString& text, const QString& dir, ChoiceKind kind, const QString& tip) {
        c->addItem(text);
        const int i = c->count() - 1;
        c->setItemData(i, dir, DirRole);
        c->setItemData(i, kind, KindRole);
        if (!tip.isEmpty())
            c->setItemData(i, tip, Qt::ToolTipRole);
    };
    add(tr("(no adapter)"), QString(), NoAdapterChoice, QString());
    QStringList listed;
    for (const AdapterRun& run : m_runs) {
        add(run.name, QDir::cleanPath(run.dir), RunChoice, tr("Run %1: %2").arg(run.runId).arg(run.dir));
        listed << QDir::cleanPath(run.dir);
    }
    for (const QString& dir : m_browsedDirs)
        if (!listed.contains(dir))
            add(folderDisplayName(dir), dir, FolderChoice, dir);
    add(tr("Browse..."), QString(), BrowseChoice, QString());
    int current = 0;
    for (int i = 1; i < c->count() && !m_adapterDir.isEmpty(); ++i)
        if (c->itemData(i, DirRole).toString() == m_adapterDir)
            current = i;
    c->setCurrentIndex(current);
}

void PlaygroundPanel::showAdapterPane(bool shown)
{
    m_adapterBox->setVisible(shown);
    m_adapterBox->setTitle(tr("Base + adapter %1").arg(m_adapterName));
    m_baseBox->setTitle(shown ? tr("Base") : tr("Output"));
    if (!shown)
        m_adapterOutput->clear();
}

void PlaygroundPanel::onModelLoaded(const ModelSummary& s)
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
    m_modelDir = s.dir;
    m_modelLoaded = true;
    m_memory->setText(tr("Held in this window: %1 of weights (the window's memory, not any training run's)")
                          .arg(locale.formattedDataSize(s.loadedBytes)));
    m_unload->setEnabled(true);
    m_chat->setEnabled(s.hasChatTemplate);
    m_chat->setChecked(s.hasChatTemplate);
    Q_EMIT status(tr("Loaded %1").arg(s.dir));
    updateControls();
    refreshAdapters();
    Q_EMIT modelLoaded(s);
}

void PlaygroundPanel::onAdapterLoaded(const QString& dir, const QString& description)
{
    if (dir != m_adapterDir)
        return; // superseded by a later choice, whose answer follows
    m_adapterPending = false;
    m_adapterMessage->setStyleSheet(QString());
    m_adapterMessage->setText(description);
    m_adapterMessage->setToolTip(dir);
    showAdapterPane(true);
    updateControls();
    Q_EMIT status(tr("Adapter %1 loaded").arg(m_adapterName));
    Q_EMIT adapterLoaded(dir);
}

void PlaygroundPanel::onAdapterFailed(const QString& dir, const QString& message)
{
    if (dir != m_adapterDir)
        return;
    // The worker left the model without an adapter: the base stays usable.
    m_browsedDirs.removeAll(dir);
    m_adapterDir.clear();
    m_adapterName.clear();
    m_adapterPending = false;
    m_adapterMessage->setStyleSheet(QStringLiteral("color: #b00020"));
    m_adapterMessage->setText(message);
    m_adapterMessage->setToolTip(dir);
    showAdapterPane(false);
    rebuildChooser();
    updateControls();
    Q_EMIT status(message);
    Q_EMIT adapterFailed(dir, message);
}

void PlaygroundPanel::generateOrStop()
{
    if (m_generating) {
        m_worker->requestStop();
        return;
    }
    if (!m_modelLoaded || m_adapterPending)
        return;
    const QString prompt = m_prompt->toPlainText();
    m_baseOutput->clear();
    m_baseOutput->insertPlainText(prompt);
    m_adapterOutput->clear();
    if (!m_adapterDir.isEmpty())
        m_adapterOutput->insertPlainText(prompt);
    m_passReports.clear();
    m_generating = true;
    updateControls();
    Q_EMIT generateRequested(prompt, m_maxTokens->value(), m_temperature->value(), m_topP->value(),
                             static_cast<quint64>(m_seed->value()), m_chat->isEnabled() && m_chat->isChecked());
}

void PlaygroundPanel::onPassFinished(int pane, const QString& stopReason, int tokens, double tokensPerSecond)
{
    const QString report = tr("%1 tokens, %2 tokens/s (%3)").arg(tokens).arg(tokensPerSecond, 0, 'f', 1).arg(stopReason);
    if (m_adapterDir.isEmpty())
        m_passReports << report;
    else
        m_passReports << (pane == PlaygroundWorker::AdapterPane ? tr("Base + adapter: %1") : tr("Base: %1")).arg(report);
}

void PlaygroundPanel::onGenerationFinished()
{
    m_generating = false;
    updateControls();
    if (!m_passReports.isEmpty())
        Q_EMIT status(m_passReports.join(QStringLiteral("; ")));
    Q_EMIT generationFinished();
}

void PlaygroundPanel::onFailed(const QString& message)
{
    updateControls();
    Q_EMIT status(message);
    // Window-modal but not blocking: the event loop (and the worker's signals) keep running.
    auto* box = new QMessageBox(QMessageBox::Warning, tr("Tunebench"), message, QMessageBox::Ok, this);
    box->setAttribute(Qt::WA_DeleteOnClose);
    box->open();
}

void PlaygroundPanel::updateControls()
{
    m_generate->setText(m_generating ? tr("Stop") : tr("Generate"));
    m_generate->setEnabled(m_generating || (m_modelLoaded && !m_adapterPending));
    m_unload->setEnabled(m_modelLoaded && !m_generating);
    // The adapter changes between requests only: a choice made mid-generation would land
    // after it but retitle the panes at once.
    m_adapterChooser->setEnabled(m_modelLoaded && !m_generating);
}
