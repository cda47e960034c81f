#include "ExportDialog.h"

#include "AdapterExportWorker.h"

#include "store/RunQueries.h"
#include "store/RunStore.h"

#include <QComboBox>
#include <QDialogButtonBox>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

#include <exception>

namespace {

constexpr int kProgressSteps = 1000; // the bar's range; the engine reports fractions 0..1

QString q(const std::string& s) { return QString::fromStdString(s); }

// Runs on QtConcurrent's pool with its own connection. Decides which adapter the run has to
// export, or why it has none.
ExportDialog::RunSource readRunSource(const QString& databasePath, qint64 runId)
{
    ExportDialog::RunSource s;
    s.loaded = true;
    try {
        if (databasePath.isEmpty())
            throw std::runtime_error("no experiment database is configured");
        if (!QFileInfo::exists(databasePath))
            throw std::runtime_error("no experiment database at " + databasePath.toStdString());
        tb::StoreOptions options;
        options.recoverInterruptedRuns = false; // a dialog changes no run's status
        tb::RunStore store(databasePath.toStdString(), options);
        const tb::RunDetails d = tb::RunQueries(store.database()).getRun(runId);
        s.name = q(d.summary.name);
        s.method = q(d.summary.method);
        s.status = q(tb::runStatusName(d.summary.status));
        s.runDir = q(d.runDir);
        s.modelDir = q(d.summary.modelPath);
        if (s.modelDir.isEmpty() && d.config.is_object() && d.config.value("model", nlohmann::json()).is_string())
            s.modelDir = q(d.config["model"].get<std::string>());

        // The newest adapter (and fine-tuned model) recorded for the run.
        const tb::ArtifactInfo* adapter = nullptr;
        const tb::ArtifactInfo* fullModel = nullptr;
        for (const tb::ArtifactInfo& a : d.artifacts) {
            if (a.kind == tb::ArtifactKind::Adapter)
                adapter = &a;
            else if (a.kind == tb::ArtifactKind::Merged && !fullModel && s.method == "full")
                fullModel = &a; // the trainer's model/ folder comes before any export of it
        }
        const QString runAdapter = s.runDir.isEmpty() ? QString() : QDir(s.runDir).filePath("adapter");
        if (d.summary.status == tb::RunStatus::Running || d.summary.status == tb::RunStatus::Queued) {
            s.noAdapterReason = QObject::tr("Run %1 is still %2; its adapter is saved when it ends.").arg(runId).arg(s.status);
        } else if (s.method == "full") {
            const QString model = fullModel ? q(fullModel->path) : QDir(s.runDir).filePath("model");
            s.noAdapterReason = QObject::tr("Run %1 was full fine-tuning: it has no LoRA adapter to export. Its fine-tuned model is "
                                            "already a complete Hugging Face folder: %2")
                                    .arg(runId)
                                    .arg(model);
        } else if (adapter && !adapter->missing) {
            s.adapterDir = q(adapter->path);
            s.adapterStep = adapter->step.value_or(-1);
        } else if (adapter) {
            s.noAdapterReason = QObject::tr("The adapter folder recorded for run %1 no longer exists: %2").arg(runId).arg(q(adapter->path));
        } else if (!runAdapter.isEmpty() && QFileInfo::exists(QDir(runAdapter).filePath("adapter_config.json"))) {
            s.adapterDir = runAdapter; // saved but not recorded (e.g. the database was busy at the end)
        } else if (d.summary.status == tb::RunStatus::Failed) {
            s.noAdapterReason = QObject::tr("Run %1 failed before saving an adapter%2")
                                    .arg(runId)
                                    .arg(d.summary.reason.empty() ? QString(".") : QString(": %1").arg(q(d.summary.reason)));
        } else if (d.summary.status == tb::RunStatus::Finished) {
            s.noAdapterReason = QObject::tr("Run %1 has no adapter: %2 is missing.").arg(runId).arg(runAdapter);
        } else {
            s.noAdapterReason = QObject::tr("Run %1 was %2 before saving an adapter; resume it to train on and save one.")
                                    .arg(runId)
                                    .arg(s.status);
        }
    } catch (const std::exception& e) {
        s.error = QObject::tr("Run %1 could not be read: %2").arg(runId).arg(q(e.what()));
    }
    return s;
}

// `name` inside `parent`, or name-2, name-3, ... when that exists and is not empty.
QString freeChild(const QString& parent, const QString& name)
{
    const QDir dir(parent);
    QString candidate = dir.filePath(name);
    for (int n = 2; QFileInfo::exists(candidate) && !QDir(candidate).isEmpty(); ++n)
        candidate = dir.filePath(QString("%1-%2").arg(name).arg(n));
    return candidate;
}

} // namespace

ExportDialog::ExportDialog(const QString& databasePath, qint64 runId, QWidget* parent)
    : QDialog(parent), m_databasePath(databasePath), m_runId(runId)
{
    setWindowTitle(tr("Export run %1").arg(runId));

    m_runLabel = new QLabel(tr("Reading run %1...").arg(runId));
    m_runLabel->setTextFormat(Qt::PlainText);
    m_runLabel->setWordWrap(true);
    m_runLabel->setTextInteractionFlags(Qt::TextSelectableByMouse);

    m_format = new QComboBox;
    m_format->addItem(tr("PEFT adapter folder (adapter_config.json + adapter_model.safetensors)"), int(Format::PeftAdapter));
    m_format->addItem(tr("Merged Hugging Face model (base + adapter)"), int(Format::MergedModel));
    m_dtype = new QComboBox;
    m_dtype->addItem("bf16");
    m_dtype->addItem("fp16");
    m_dtype->addItem("fp32");
    m_dtype->setToolTip(tr("The merged weights are computed in fp32 and stored in this type"));

    m_destination = new QLineEdit;
    m_destination->setPlaceholderText(tr("a new or empty folder"));
    m_browse = new QPushButton(tr("Browse..."));
    auto* destinationRow = new QHBoxLayout;
    destinationRow->addWidget(m_destination, 1);
    destinationRow->addWidget(m_browse);

    auto* form = new QFormLayout;
    form->addRow(tr("Format:"), m_format);
    form->addRow(tr("Stored as:"), m_dtype);
    form->addRow(tr("Destination:"), destinationRow);

    m_progress = new QProgressBar;
    m_progress->setRange(0, kProgressSteps);
    m_progress->setValue(0);
    m_status = new QLabel;
    m_status->setWordWrap(true);
    m_status->setTextFormat(Qt::PlainText);
    m_status->setTextInteractionFlags(Qt::TextSelectableByMouse);

    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Close);
    m_export = buttons->addButton(tr("Export"), QDialogButtonBox::ActionRole);
    m_export->setDefault(true);

    auto* layout = new QVBoxLayout(this);
    layout->addWidget(m_runLabel);
    layout->addLayout(form);
    layout->addWidget(m_progress);
    layout->addWidget(m_status);
    layout->addStretch(1);
    layout->addWidget(buttons);
    resize(620, sizeHint().height());

    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    connect(m_export, &QPushButton::clicked, this, &ExportDialog::startExport);
    connect(m_browse, &QPushButton::clicked, this, &ExportDialog::browse);
    connect(m_format, qOverload<int>(&QComboBox::currentIndexChanged), this, [this] {
        updateControls();
        suggestDestination();
    });
    connect(m_dtype, qOverload<int>(&QComboBox::currentIndexChanged), this, &ExportDialog::suggestDestination);
    connect(m_destination, &QLineEdit::textEdited, this, [this] { m_destinationChosen = true; });
    connect(&m_sourceWatcher, &QFutureWatcher<RunSource>::finished, this, &ExportDialog::onSourceLoaded);

    updateControls();
    const QString db = m_databasePath;
    m_sourceWatcher.setFuture(QtConcurrent::run([db, runId] { return readRunSource(db, runId); }));
}

ExportDialog::Format ExportDialog::format() const
{
    return Format(m_format->currentData().toInt());
}

QString ExportDialog::destination() const
{
    return m_destination->text().trimmed();
}

void ExportDialog::setDestination(const QString& dir)
{
    m_destinationChosen = true;
    m_destination->setText(dir);
}

void ExportDialog::setFormat(Format format)
{
    m_format->setCurrentIndex(m_format->findData(int(format)));
}

void ExportDialog::setMergedDtype(const QString& dtype)
{
    const int i = m_dtype->findText(dtype);
    if (i >= 0)
        m_dtype->setCurrentIndex(i);
}

void ExportDialog::onSourceLoaded()
{
    m_source = m_sourceWatcher.result();
    const RunSource& s = m_source;
    if (!s.error.isEmpty()) {
        m_runLabel->setText(s.error);
    } else {
        QStringList lines;
        lines << tr("Run %1 \u201c%2\u201d (%3, %4)").arg(m_runId).arg(s.name, s.method, s.status);
        lines << (s.adapterDir.isEmpty() ? tr("Adapter: none") : tr("Adapter: %1").arg(s.adapterDir));
        lines << tr("Base model: %1").arg(s.modelDir.isEmpty() ? tr("not recorded") : s.modelDir);
        m_runLabel->setText(lines.join('\n'));
        if (!s.noAdapterReason.isEmpty())
            m_status->setText(s.noAdapterReason);
    }
    suggestDestination();
    updateControls();
    Q_EMIT sourceLoaded();
    if (m_startWhenLoaded) {
        m_startWhenLoaded = false;
        startExport();
    }
}

QString ExportDialog::suggestedFolderName() const
{
    QString base = QFileInfo(m_source.runDir).fileName();
    if (base.isEmpty())
        base = QString("run-%1").arg(m_runId);
    return format() == Format::MergedModel ? QString("%1-merged-%2").arg(base, m_dtype->currentText()) : base + "-adapter";
}

// Beside the adapter in the run folder, until the user picks a destination.
void ExportDialog::suggestDestination()
{
    if (m_destinationChosen || m_source.runDir.isEmpty() || m_source.adapterDir.isEmpty())
        return;
    m_destination->setText(freeChild(QDir(m_source.runDir).filePath("exports"), suggestedFolderName()));
}

void ExportDialog::browse()
{
    QString start = destination();
    while (!start.isEmpty() && !QFileInfo(start).isDir())
        start = QFileInfo(start).path() == start ? QString() : QFileInfo(start).path();
    auto* chooser = new QFileDialog(this, tr("Export to folder"), start.isEmpty() ? m_source.runDir : start);
    chooser->setFileMode(QFileDialog::Directory);
    chooser->setOption(QFileDialog::ShowDirsOnly);
    chooser->setAttribute(Qt::WA_DeleteOnClose);
    connect(chooser, &QFileDialog::fileSelected, this, [this](const QString& dir) {
        // An occupied folder is taken as the place to put a new one.
        setDestination(QFileInfo(dir).isDir() && !QDir(dir).isEmpty() ? freeChild(dir, suggestedFolderName()) : dir);
    });
    chooser->open();
}

void ExportDialog::updateControls()
{
    const bool idle = !m_exporting;
    m_format->setEnabled(idle);
    m_dtype->setEnabled(idle && format() == Format::MergedModel);
    m_destination->setEnabled(idle);
    m_browse->setEnabled(idle);
    m_export->setEnabled(idle && m_source.loaded && m_source.error.isEmpty() && !m_source.adapterDir.isEmpty());
    m_export->setText(m_exporting ? tr("Exporting...") : tr("Export"));
}

void ExportDialog::fail(const QString& message)
{
    m_status->setStyleSheet("color: #b00020;");
    m_status->setText(message);
    Q_EMIT exportFinished(false, message, destination());
}

void ExportDialog::startExport()
{
    if (m_exporting)
        return;
    if (!m_source.loaded) {
        m_startWhenLoaded = true;
        m_status->setText(tr("Reading run %1...").arg(m_runId));
        return;
    }
    if (!m_source.error.isEmpty())
        return fail(m_source.error);
    if (m_source.adapterDir.isEmpty())
        return fail(m_source.noAdapterReason);
    const QString dest = destination();
    if (dest.isEmpty())
        return fail(tr("Choose a destination folder."));
    if (QDir::isRelativePath(dest))
        return fail(tr("The destination must be an absolute path, not \"%1\".").arg(dest));
    const bool merged = format() == Format::MergedModel;
    if (merged && m_source.modelDir.isEmpty())
        return fail(tr("Run %1 has no base model recorded, so there is nothing to merge the adapter into.").arg(m_runId));

    AdapterExportRequest request;
    request.databasePath = m_databasePath;
    request.runId = m_runId;
    request.merged = merged;
    request.dtype = m_dtype->currentText();
    request.modelDir = m_source.modelDir;
    request.adapterDir = m_source.adapterDir;
    request.outDir = QDir::cleanPath(dest);
    request.adapterStep = m_source.adapterStep;
    auto* worker = new AdapterExportWorker(request);
    connect(worker, &AdapterExportWorker::progressed, this, &ExportDialog::onProgress);
    connect(worker, &AdapterExportWorker::finished, this, &ExportDialog::onFinished);

    m_exporting = true;
    m_progress->setValue(0);
    m_status->setStyleSheet(QString());
    m_status->setText(merged ? tr("Merging...") : tr("Exporting..."));
    updateControls();
    worker->start();
}

void ExportDialog::onProgress(double fraction, const QString& stage)
{
    m_status->setText(stage.isEmpty() ? QString() : stage.at(0).toUpper() + stage.mid(1) + "...");
    m_progress->setValue(qBound(0, int(fraction * kProgressSteps + 0.5), kProgressSteps));
}

void ExportDialog::onFinished(bool ok, const QString& message, const QString& outDir)
{
    m_exporting = false;
    if (ok)
        m_progress->setValue(kProgressSteps);
    m_status->setStyleSheet(ok ? QString() : QString("color: #b00020;"));
    m_status->setText(message);
    updateControls();
    Q_EMIT exportFinished(ok, message, outDir);
}
