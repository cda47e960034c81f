#include "ExportDialog.h"

#include "AdapterExportWorker.h"

#include "export/GgufExport.h"
#include "ollama/ChatFamily.h"
#include "ollama/OllamaChat.h"
#include "store/RunExportSource.h"
#include "store/RunStore.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDialogButtonBox>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QLocale>
#include <QSignalBlocker>
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
        const tb::RunExportSource e = tb::runExportSource(store.database(), runId);
        s.name = q(e.name);
        s.method = q(e.method);
        s.status = q(e.status);
        s.runDir = q(e.runDir);
        s.modelDir = q(e.modelDir);
        s.adapterDir = q(e.adapterDir);
        s.noAdapterReason = q(e.noAdapterReason);
        s.adapterStep = e.adapterStep;
    } catch (const std::exception& e) {
        s.error = QObject::tr("Run %1 could not be read: %2").arg(runId).arg(q(e.what()));
    }
    return s;
}

// Runs on QtConcurrent's pool: the size of every GGUF type and the chat template's family,
// from config.json and the tokenizer files alone (no weights are read).
ExportDialog::GgufPreview readGgufPreview(const QString& modelDir)
{
    ExportDialog::GgufPreview p;
    p.loaded = true;
    try {
        const auto plans = tb::planGgufModelTypes(modelDir.toStdString(), tb::allGgufFileTypes());
        for (const auto& [type, typePlan] : plans)
            p.bytes[tb::ggufFileTypeName(type)] = qint64(typePlan.fileBytes);
        const tb::GgufModelPlan& plan = plans.begin()->second;
        const tb::OllamaChat chat = tb::ollamaChatFor(
            tb::recognizeChatFamily(plan.vocabulary.chatTemplate, plan.vocabulary.bosToken, plan.vocabulary.eosToken));
        p.chatRecognized = chat.recognized;
        p.chatFamily = q(chat.familyTitle.empty() ? chat.family : chat.familyTitle);
        p.chatNote = q(chat.note);
    } catch (const std::exception& e) {
        p.error = q(e.what());
    }
    return p;
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
    m_format->addItem(tr("GGUF for llama.cpp / LM Studio (adapter merged in)"), int(Format::GgufModel));
    m_format->addItem(tr("GGUF LoRA adapter + the base model's GGUF"), int(Format::GgufLora));
    m_format->addItem(tr("Ollama folder (GGUF + Modelfile)"), int(Format::Ollama));
    m_dtype = new QComboBox;
    m_separate = new QCheckBox(tr("Keep the adapter in its own GGUF (ADAPTER line)"));
    m_separate->setToolTip(tr("Ollama applies the adapter at load time on top of the base model's GGUF"));
    m_chat = new QLabel;
    m_chat->setWordWrap(true);
    m_chat->setTextFormat(Qt::PlainText);

    m_destination = new QLineEdit;
    m_destination->setPlaceholderText(tr("a new or empty folder"));
    m_browse = new QPushButton(tr("Browse..."));
    auto* destinationRow = new QHBoxLayout;
    destinationRow->addWidget(m_destination, 1);
    destinationRow->addWidget(m_browse);

    auto* form = new QFormLayout;
    form->addRow(tr("Format:"), m_format);
    form->addRow(tr("Stored as:"), m_dtype);
    form->addRow(QString(), m_separate);
    form->addRow(QString(), m_chat);
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
    m_cancel = buttons->addButton(tr("Cancel export"), QDialogButtonBox::ActionRole);

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
    connect(m_cancel, &QPushButton::clicked, this, &ExportDialog::cancelExport);
    connect(m_format, qOverload<int>(&QComboBox::currentIndexChanged), this, [this] {
        fillTypes();
        updateControls();
        suggestDestination();
    });
    connect(&m_previewWatcher, &QFutureWatcher<GgufPreview>::finished, this, &ExportDialog::onPreviewLoaded);
    connect(m_dtype, qOverload<int>(&QComboBox::currentIndexChanged), this, &ExportDialog::suggestDestination);
    connect(m_separate, &QCheckBox::toggled, this, &ExportDialog::suggestDestination);
    connect(m_destination, &QLineEdit::textEdited, this, [this] { m_destinationChosen = true; });
    connect(&m_sourceWatcher, &QFutureWatcher<RunSource>::finished, this, &ExportDialog::onSourceLoaded);

    fillTypes();
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
    const int i = m_dtype->findData(dtype);
    if (i >= 0)
        m_dtype->setCurrentIndex(i);
}

void ExportDialog::setSeparateAdapter(bool separate)
{
    m_separate->setChecked(separate);
}

bool ExportDialog::isGguf() const
{
    return format() == Format::GgufModel || format() == Format::GgufLora || format() == Format::Ollama;
}

// The type list for the format: Hugging Face dtypes, or every GGUF type with the size of its
// file once the preview is in (for a LoRA pair, the base model's file).
void ExportDialog::fillTypes()
{
    // The GGUF preview (every type's size, the chat family) is read once, when a GGUF format is
    // first chosen: the other formats need none of it.
    if (isGguf() && !m_previewStarted && !m_source.modelDir.isEmpty()) {
        m_previewStarted = true;
        const QString model = m_source.modelDir;
        m_previewWatcher.setFuture(QtConcurrent::run([model] { return readGgufPreview(model); }));
    }
    const QString current = m_dtype->currentData().toString();
    QSignalBlocker block(m_dtype);
    m_dtype->clear();
    if (isGguf()) {
        for (tb::GgufFileType type : tb::allGgufFileTypes()) {
            const QString name = tb::ggufFileTypeName(type);
            QString label = name;
            if (m_preview.bytes.contains(name))
                label += QString(" \u2014 %1").arg(QLocale().formattedDataSize(m_preview.bytes[name]));
            m_dtype->addItem(label, name);
        }
        m_dtype->setToolTip(tr("Quantized from the merged fp32 weights; q4_k_m keeps attn_v and ffn_down of some layers in q6_k, "
                               "as llama.cpp's quantizer does"));
        const int i = m_dtype->findData(current.isEmpty() || m_dtype->findData(current) < 0 ? QString("q4_k_m") : current);
        m_dtype->setCurrentIndex(i < 0 ? 0 : i);
    } else {
        for (const char* dtype : {"bf16", "fp16", "fp32"})
            m_dtype->addItem(dtype, dtype);
        m_dtype->setToolTip(tr("The merged weights are computed in fp32 and stored in this type"));
        const int i = m_dtype->findData(current);
        m_dtype->setCurrentIndex(i < 0 ? 0 : i);
    }
    if (format() == Format::Ollama) {
        if (!m_preview.loaded)
            m_chat->setText(tr("Reading the chat template..."));
        else if (!m_preview.error.isEmpty())
            m_chat->setText(m_preview.error);
        else if (m_preview.chatRecognized)
            m_chat->setText(tr("Chat template: %1. The Modelfile gets its TEMPLATE and stop tokens.").arg(m_preview.chatFamily)
                            + (m_preview.chatNote.isEmpty() ? QString() : "\n" + m_preview.chatNote));
        else
            m_chat->setText(tr("The chat template was not recognized (%1). The Modelfile gets no TEMPLATE; the GGUF keeps the "
                               "original template, which llama.cpp's server and LM Studio use.")
                                .arg(m_preview.chatNote));
    } else if (isGguf() && m_preview.loaded && !m_preview.error.isEmpty()) {
        m_chat->setText(m_preview.error);
    } else {
        m_chat->clear();
    }
}

void ExportDialog::onPreviewLoaded()
{
    m_preview = m_previewWatcher.result();
    fillTypes();
    updateControls();
    Q_EMIT previewLoaded();
}

void ExportDialog::cancelExport()
{
    if (m_worker)
        m_worker->cancel();
    m_status->setText(tr("Cancelling..."));
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
    fillTypes(); // starts the GGUF preview when a GGUF format is chosen already
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
    const QString type = m_dtype->currentData().toString();
    switch (format()) {
    case Format::MergedModel: return QString("%1-merged-%2").arg(base, type);
    case Format::GgufModel: return QString("%1-gguf-%2").arg(base, type);
    case Format::GgufLora: return QString("%1-gguf-lora-%2").arg(base, type);
    case Format::Ollama: return QString("%1-ollama-%2").arg(base, type);
    case Format::PeftAdapter: break;
    }
    return base + "-adapter";
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
    m_dtype->setEnabled(idle && format() != Format::PeftAdapter);
    m_separate->setVisible(format() == Format::Ollama);
    m_separate->setEnabled(idle);
    m_chat->setVisible(!m_chat->text().isEmpty());
    m_cancel->setVisible(m_exporting && isGguf());
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
    const bool merged = format() != Format::PeftAdapter;
    if (merged && m_source.modelDir.isEmpty())
        return fail(tr("Run %1 has no base model recorded, so there is nothing to merge the adapter into.").arg(m_runId));
    if (isGguf() && m_preview.loaded && !m_preview.error.isEmpty())
        return fail(m_preview.error);

    AdapterExportRequest request;
    request.databasePath = m_databasePath;
    request.runId = m_runId;
    request.runName = m_source.name;
    request.format = format();
    request.dtype = m_dtype->currentData().toString();
    request.separateAdapter = m_separate->isChecked();
    request.modelDir = m_source.modelDir;
    request.adapterDir = m_source.adapterDir;
    request.outDir = QDir::cleanPath(dest);
    request.adapterStep = m_source.adapterStep;
    auto* worker = new AdapterExportWorker(request);
    m_worker = worker;
    connect(worker, &AdapterExportWorker::progressed, this, &ExportDialog::onProgress);
    connect(worker, &AdapterExportWorker::finished, this, &ExportDialog::onFinished);

    m_exporting = true;
    m_progress->setValue(0);
    m_status->setStyleSheet(QString());
    m_status->setText(format() == Format::MergedModel ? tr("Merging...") : tr("Exporting..."));
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
