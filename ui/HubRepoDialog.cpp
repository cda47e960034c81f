#include "HubRepoDialog.h"

#include "core/DeviceMemory.h"
#include "formats/ModelConfig.h"
#include "hub/HubClient.h"
#include "hub/HubDownload.h"
#include "hub/HubEnvironment.h"
#include "hub/HubError.h"
#include "hub/HubFileSelection.h"
#include "memory/MemoryEstimator.h"

#include <QDialogButtonBox>
#include <QDir>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QLocale>
#include <QMetaObject>
#include <QPointer>
#include <QProgressBar>
#include <QPushButton>
#include <QTableWidget>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

#include <filesystem>

namespace {

constexpr int kProgressSteps = 1000;

QString q(const std::string& s) { return QString::fromStdString(s); }

QString sizeText(qint64 bytes)
{
    return bytes < 0 ? QObject::tr("size unknown") : QLocale().formattedDataSize(bytes);
}

// Runs on the pool: the file list, config.json (into the cache) and the estimates.
HubRepoDialog::LookUp lookUpRepo(const QString& repoText, const QString& revisionText, const tb::TrainConfig& settings,
                                 bool dataset, std::shared_ptr<std::atomic<bool>> cancel)
{
    HubRepoDialog::LookUp r;
    r.repo = repoText;
    r.revision = revisionText.isEmpty() ? QString("main") : revisionText;
    try {
        const tb::HubEnvironment env = tb::HubEnvironment::fromProcess();
        const tb::HubRepoId repo =
            tb::HubRepoId::parse(repoText.toStdString(), dataset ? tb::HubRepoType::Dataset : tb::HubRepoType::Model);
        tb::HubClient client(env, {}, [cancel] { return cancel->load(); });
        const tb::HubRepoInfo info = client.repoInfo(repo, r.revision.toStdString());
        const std::vector<tb::HubSibling> files = tb::selectHubFiles(info, repo, {}); // refuses pickle-only repositories
        r.commit = q(info.commit);
        for (const auto& f : files) {
            r.files << q(f.path);
            r.sizes << f.size;
            r.totalBytes += std::max<int64_t>(f.size, 0);
        }

        if (dataset) {
            r.facts = QObject::tr("Dataset %1: %2 files, %3 to download").arg(repoText).arg(r.files.size()).arg(sizeText(r.totalBytes));
            return r;
        }
        // config.json alone, so the architecture is checked before any weight is downloaded.
        tb::HubDownloadOptions options;
        options.cancel = cancel.get();
        tb::HubDownloadRequest request;
        request.repo = repo;
        request.revision = info.commit;
        request.include = {"config.json"};
        const tb::HubDownloadResult configOnly = tb::HubDownload(env, options).run(request);
        const std::string configPath = (std::filesystem::path(configOnly.snapshotPath) / "config.json").string();
        const tb::ModelConfig model = tb::ModelConfig::fromFile(configPath);
        r.facts = QObject::tr("%1 (%2), %3 M parameters, %4 layers, hidden %5; %6 files, %7 to download")
                      .arg(q(model.architecture), q(model.modelType))
                      .arg(model.parameterCount() / 1e6, 0, 'f', 1)
                      .arg(model.numLayers)
                      .arg(model.hiddenSize)
                      .arg(r.files.size())
                      .arg(sizeText(r.totalBytes));

        const tb::DeviceMemoryInfo device = tb::deviceMemory(settings.device);
        QStringList lines;
        for (tb::TrainMethod method : {tb::TrainMethod::Lora, tb::TrainMethod::Qlora, tb::TrainMethod::Full}) {
            tb::TrainConfig c = settings;
            c.method = method;
            tb::MemoryEstimateRequest er = tb::MemoryEstimateRequest::fromTrainConfig(c, model);
            const tb::MemoryEstimate e = tb::estimateMemory(er);
            const bool fits = device.freeBytes < 0 || e.peakBytes() <= device.freeBytes;
            lines << QObject::tr("%1: %2 peak %3")
                         .arg(q(tb::trainMethodName(method)))
                         .arg(sizeText(e.peakBytes()))
                         .arg(device.freeBytes < 0 ? QString()
                                                   : (fits ? QObject::tr("(fits: %1 free)") : QObject::tr("(does not fit: %1 free)"))
                                                         .arg(sizeText(device.freeBytes)));
        }
        r.estimate = QObject::tr("At batch %1, sequence length %2, LoRA rank %3 on %4:\n")
                         .arg(settings.batchSize)
                         .arg(settings.data.maxSeqLen)
                         .arg(settings.lora.rank)
                         .arg(q(device.name.empty() ? settings.device : device.name))
                     + lines.join('\n');
    } catch (const std::exception& e) {
        r.error = q(e.what());
    }
    return r;
}

} // namespace

HubRepoDialog::HubRepoDialog(const tb::TrainConfig& settings, QWidget* parent, Kind kind)
    : QDialog(parent), m_settings(settings), m_kind(kind), m_cancel(std::make_shared<std::atomic<bool>>(false))
{
    const bool dataset = kind == Kind::Dataset;
    setWindowTitle(dataset ? tr("Dataset from Hugging Face") : tr("Model from Hugging Face"));
    m_repo = new QLineEdit;
    m_repo->setPlaceholderText(dataset ? "tatsu-lab/alpaca" : "Qwen/Qwen2.5-0.5B-Instruct");
    m_revision = new QLineEdit("main");
    m_lookUpButton = new QPushButton(tr("Look up"));
    auto* idRow = new QHBoxLayout;
    idRow->addWidget(m_repo, 1);
    idRow->addWidget(new QLabel(tr("revision")));
    idRow->addWidget(m_revision);
    idRow->addWidget(m_lookUpButton);

    m_facts = new QLabel;
    m_facts->setWordWrap(true);
    m_facts->setTextFormat(Qt::PlainText);
    m_files = new QTableWidget(0, 2);
    m_files->setHorizontalHeaderLabels({tr("File"), tr("Size")});
    m_files->horizontalHeader()->setSectionResizeMode(0, QHeaderView::Stretch);
    m_files->verticalHeader()->hide();
    m_files->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_estimate = new QLabel;
    m_estimate->setWordWrap(true);
    m_estimate->setTextFormat(Qt::PlainText);
    m_progress = new QProgressBar;
    m_progress->setRange(0, kProgressSteps);
    m_status = new QLabel(dataset ? tr("Type a dataset id and press Look up: its JSON, JSONL and CSV files are listed.")
                                  : tr("Type a model id and press Look up: only config.json is fetched before you decide."));
    m_status->setWordWrap(true);
    m_status->setTextFormat(Qt::PlainText);

    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Close);
    m_download = buttons->addButton(tr("Download"), QDialogButtonBox::AcceptRole);
    m_cancelButton = buttons->addButton(tr("Cancel download"), QDialogButtonBox::ActionRole);
    // Download is handled here, not by accept(): the dialog is accepted when the files are in.
    disconnect(buttons, &QDialogButtonBox::accepted, nullptr, nullptr);

    auto* layout = new QVBoxLayout(this);
    auto* form = new QFormLayout;
    form->addRow(dataset ? tr("Dataset id:") : tr("Model id:"), idRow);
    layout->addLayout(form);
    layout->addWidget(m_facts);
    layout->addWidget(m_files, 1);
    layout->addWidget(m_estimate);
    layout->addWidget(m_progress);
    layout->addWidget(m_status);
    layout->addWidget(buttons);
    resize(640, 480);

    connect(m_lookUpButton, &QPushButton::clicked, this, &HubRepoDialog::lookUp);
    connect(m_repo, &QLineEdit::returnPressed, this, &HubRepoDialog::lookUp);
    connect(m_download, &QPushButton::clicked, this, &HubRepoDialog::download);
    connect(m_cancelButton, &QPushButton::clicked, this, &HubRepoDialog::cancelDownload);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    connect(&m_lookUpWatcher, &QFutureWatcher<LookUp>::finished, this, &HubRepoDialog::onLookedUp);
    connect(&m_downloadWatcher, &QFutureWatcher<QString>::finished, this, &HubRepoDialog::onDownloaded);
    updateControls();
}

HubRepoDialog::~HubRepoDialog()
{
    // The pool jobs hold the flag, not the dialog: they stop soon and their results are dropped.
    m_cancel->store(true);
    m_lookUpWatcher.disconnect(this);
    m_downloadWatcher.disconnect(this);
}

void HubRepoDialog::setRepoId(const QString& id)
{
    m_repo->setText(id);
}

void HubRepoDialog::lookUp()
{
    if (m_lookingUp || m_downloading || m_repo->text().trimmed().isEmpty())
        return;
    m_lookingUp = true;
    m_lookUp = LookUp();
    m_files->setRowCount(0);
    m_facts->clear();
    m_estimate->clear();
    m_status->setStyleSheet(QString());
    m_status->setText(tr("Looking up %1...").arg(m_repo->text().trimmed()));
    updateControls();
    const QString repo = m_repo->text().trimmed(), revision = m_revision->text().trimmed();
    const tb::TrainConfig settings = m_settings;
    auto cancel = m_cancel;
    const bool dataset = m_kind == Kind::Dataset;
    m_lookUpWatcher.setFuture(QtConcurrent::run([=] { return lookUpRepo(repo, revision, settings, dataset, cancel); }));
}

void HubRepoDialog::onLookedUp()
{
    m_lookingUp = false;
    m_lookUp = m_lookUpWatcher.result();
    if (!m_lookUp.error.isEmpty()) {
        m_status->setStyleSheet("color: #b00020;");
        m_status->setText(m_lookUp.error);
    } else {
        m_facts->setText(m_lookUp.facts);
        m_estimate->setText(m_lookUp.estimate);
        m_files->setRowCount(m_lookUp.files.size());
        for (int i = 0; i < m_lookUp.files.size(); ++i) {
            m_files->setItem(i, 0, new QTableWidgetItem(m_lookUp.files[i]));
            m_files->setItem(i, 1, new QTableWidgetItem(sizeText(m_lookUp.sizes[i])));
        }
        m_status->setText(tr("Revision %1 is commit %2.").arg(m_lookUp.revision, m_lookUp.commit.left(12)));
    }
    updateControls();
    Q_EMIT lookedUp(m_lookUp.error.isEmpty());
}

void HubRepoDialog::download()
{
    if (m_downloading || m_lookingUp || !m_lookUp.error.isEmpty() || m_lookUp.commit.isEmpty())
        return;
    m_downloading = true;
    m_cancel->store(false);
    m_progress->setValue(0);
    m_status->setStyleSheet(QString());
    m_status->setText(tr("Downloading %1...").arg(m_lookUp.repo));
    updateControls();

    // Progress comes from the download's thread; a QPointer drops it once the dialog is gone.
    struct Callbacks : tb::HubDownloadCallbacks {
        QPointer<HubRepoDialog> dialog;
        void onProgress(const tb::HubProgress& p) override
        {
            const qint64 done = qint64(p.bytesDone), total = qint64(p.bytesTotal);
            const double speed = p.bytesPerSecond;
            const int filesDone = int(p.filesDone), filesTotal = int(p.filesTotal);
            QMetaObject::invokeMethod(dialog, [d = dialog, done, total, speed, filesDone, filesTotal] {
                if (d)
                    d->onProgress(done, total, speed, filesDone, filesTotal);
            }, Qt::QueuedConnection);
        }
    };
    auto callbacks = std::make_shared<Callbacks>();
    callbacks->dialog = this;
    const std::string repo = m_lookUp.repo.toStdString(), commit = m_lookUp.commit.toStdString(),
                      revision = m_lookUp.revision.toStdString();
    auto cancel = m_cancel;
    const tb::HubRepoType type = m_kind == Kind::Dataset ? tb::HubRepoType::Dataset : tb::HubRepoType::Model;
    m_downloadWatcher.setFuture(QtConcurrent::run([=]() -> QString {
        try {
            tb::HubDownloadOptions options;
            options.cancel = cancel.get();
            tb::HubDownloadRequest request;
            request.repo = tb::HubRepoId::parse(repo, type);
            request.revision = revision; // the ref is written too, so transformers finds it by name
            const tb::HubDownloadResult r = tb::HubDownload(tb::HubEnvironment::fromProcess(), options).run(request, callbacks.get());
            if (r.commit != commit)
                return QObject::tr("error: %1 moved from commit %2 to %3 since the look-up; look it up again")
                    .arg(q(revision), q(commit).left(12), q(r.commit).left(12));
            return q(r.snapshotPath);
        } catch (const std::exception& e) {
            return "error: " + q(e.what());
        }
    }));
}

void HubRepoDialog::onProgress(qint64 done, qint64 total, double bytesPerSecond, int filesDone, int filesTotal)
{
    if (!m_downloading)
        return;
    m_progress->setValue(total > 0 ? int(double(done) / double(total) * kProgressSteps) : 0);
    const qint64 left = bytesPerSecond > 0 && total > done ? qint64((total - done) / bytesPerSecond) : -1;
    m_status->setText(tr("%1 of %2, %3/s, %4 left; %5 of %6 files")
                          .arg(sizeText(done), sizeText(total), QLocale().formattedDataSize(qint64(bytesPerSecond)))
                          .arg(left < 0 ? tr("time unknown") : QString("%1:%2").arg(left / 60).arg(left % 60, 2, 10, QChar('0')))
                          .arg(filesDone)
                          .arg(filesTotal));
}

void HubRepoDialog::cancelDownload()
{
    m_cancel->store(true);
    m_status->setText(tr("Cancelling; what was downloaded so far is kept and resumes next time..."));
}

void HubRepoDialog::onDownloaded()
{
    m_downloading = false;
    const QString result = m_downloadWatcher.result();
    const bool ok = !result.startsWith("error: ");
    if (ok) {
        m_snapshot = result;
        m_progress->setValue(kProgressSteps);
        m_status->setText(tr("Downloaded to %1").arg(result));
    } else {
        m_status->setStyleSheet("color: #b00020;");
        m_status->setText(result.mid(7));
    }
    updateControls();
    Q_EMIT downloadFinished(ok, ok ? result : result.mid(7));
    if (ok)
        accept();
}

void HubRepoDialog::updateControls()
{
    const bool busy = m_lookingUp || m_downloading;
    m_repo->setEnabled(!busy);
    m_revision->setEnabled(!busy);
    m_lookUpButton->setEnabled(!busy);
    m_download->setEnabled(!busy && m_lookUp.error.isEmpty() && !m_lookUp.commit.isEmpty());
    m_cancelButton->setVisible(m_downloading);
    m_files->setVisible(!m_lookUp.files.isEmpty());
}

namespace {

// The first of `files` whose name holds one of `words` (case-insensitive), "" when none does.
QString fileNamed(const QStringList& files, const QStringList& words)
{
    for (const QString& f : files) {
        const QString name = QFileInfo(f).fileName().toLower();
        for (const QString& w : words)
            if (name.contains(w))
                return f;
    }
    return {};
}

QString validationFileName(const QStringList& data)
{
    return fileNamed(data, {"validation", "valid", "val.", "val_", "val-", "test", "eval", "dev"});
}

} // namespace

QString HubRepoDialog::trainingFile() const
{
    QStringList data;
    for (const QString& f : m_lookUp.files)
        if (f.endsWith(".jsonl") || f.endsWith(".json") || f.endsWith(".csv"))
            data << f;
    if (m_snapshot.isEmpty() || data.isEmpty())
        return {};
    QString chosen = fileNamed(data, {"train"});
    if (chosen.isEmpty())
        chosen = data.first() == validationFileName(data) && data.size() > 1 ? data[1] : data.first();
    return QDir(m_snapshot).filePath(chosen);
}

QString HubRepoDialog::validationFile() const
{
    QStringList data;
    for (const QString& f : m_lookUp.files)
        if (f.endsWith(".jsonl") || f.endsWith(".json") || f.endsWith(".csv"))
            data << f;
    const QString name = validationFileName(data);
    return m_snapshot.isEmpty() || name.isEmpty() ? QString() : QDir(m_snapshot).filePath(name);
}
