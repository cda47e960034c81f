#include "ModelChooser.h"

#include "HubRepoDialog.h"

#include "formats/FormatError.h"
#include "formats/ModelConfig.h"
#include "hub/HubCache.h"
#include "hub/HubEnvironment.h"

#include <QComboBox>
#include <QDir>
#include <QDirIterator>
#include <QFileDialog>
#include <QFileInfo>
#include <QFutureWatcher>
#include <QHash>
#include <QLabel>
#include <QLocale>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

namespace {

constexpr int kBrowseRole = Qt::UserRole + 1; // true on the "Browse..." entry
constexpr int kHubRole = Qt::UserRole + 2;    // true on the "From Hugging Face..." entry

// Runs on the pool: every cached model repository's snapshots that hold a config.json.
QList<QPair<QString, QString>> listCachedModels()
{
    QList<QPair<QString, QString>> found;
    try {
        const tb::HubCache cache(tb::HubEnvironment::fromProcess().hubCache);
        for (const tb::HubCachedRepo& repo : cache.listRepos()) {
            if (repo.repo.type != tb::HubRepoType::Model)
                continue;
            for (const tb::HubCachedSnapshot& s : repo.snapshots) {
                if (!QFileInfo::exists(QString::fromStdString(s.path) + "/config.json"))
                    continue;
                QString revision = QString::fromStdString(s.commit).left(10);
                if (!s.refs.empty())
                    revision = QString::fromStdString(s.refs.front());
                // What the entry says about the model: from config.json and the files' sizes.
                QString what;
                try {
                    const tb::ModelConfig c = tb::ModelConfig::fromFile(s.path + "/config.json");
                    qint64 bytes = 0; // every file of the snapshot, in subfolders too
                    QDirIterator files(QString::fromStdString(s.path), QDir::Files, QDirIterator::Subdirectories);
                    while (files.hasNext()) {
                        files.next();
                        bytes += files.fileInfo().size(); // follows the snapshot's links into blobs/
                    }
                    what = QObject::tr("%1, %2 M parameters, %3")
                               .arg(QString::fromStdString(c.architecture))
                               .arg(c.parameterCount() / 1e6, 0, 'f', 1)
                               .arg(QLocale().formattedDataSize(bytes));
                } catch (const tb::FormatError& e) {
                    // The key and why, without the snapshot path ("key "architectures": unsupported ...").
                    what = QObject::tr("not supported: %1").arg(QString::fromStdString(e.detail()));
                } catch (const std::exception& e) {
                    what = QObject::tr("not supported: %1").arg(QString::fromStdString(e.what()));
                }
                found.append({QStringLiteral("%1 (%2) \u2014 %3, Hugging Face cache").arg(QString::fromStdString(repo.repo.id), revision, what),
                              QString::fromStdString(s.path)});
            }
        }
    } catch (const std::exception&) {
        // No cache, or one that cannot be read: nothing to offer.
    }
    return found;
}

QString cleanDir(const QString& dir)
{
    return QDir::cleanPath(QFileInfo(dir).absoluteFilePath());
}

QString folderLabel(const QString& dir)
{
    return QStringLiteral("%1  (%2)").arg(QFileInfo(dir).fileName(), QDir::toNativeSeparators(dir));
}

} // namespace

ModelChooser::ModelChooser(QWidget* parent) : QWidget(parent)
{
    qRegisterMetaType<ModelFolderFacts>();
    m_combo = new QComboBox;
    // Long folder paths must not widen the form: the full path is in the tooltip.
    m_combo->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
    m_combo->setMinimumContentsLength(24);
    m_factsLabel = new QLabel;
    m_factsLabel->setWordWrap(true);
    m_factsLabel->setTextInteractionFlags(Qt::TextSelectableByMouse);
    auto* column = new QVBoxLayout(this);
    column->setContentsMargins(0, 0, 0, 0);
    column->setSpacing(2);
    column->addWidget(m_combo);
    column->addWidget(m_factsLabel);
    rebuildCombo();
    connect(m_combo, &QComboBox::activated, this, &ModelChooser::onActivated);
    refreshCache();
}

void ModelChooser::refreshCache()
{
    auto* watcher = new QFutureWatcher<QList<QPair<QString, QString>>>(this);
    connect(watcher, &QFutureWatcher<QList<QPair<QString, QString>>>::finished, this, [this, watcher] {
        watcher->deleteLater();
        m_cached = watcher->result();
        rebuildCombo();
        Q_EMIT cacheListed();
    });
    watcher->setFuture(QtConcurrent::run(listCachedModels));
}

HubRepoDialog* ModelChooser::openHubDialog()
{
    rebuildCombo(); // show the current choice again while the dialog is open
    auto* dialog = new HubRepoDialog(m_settings ? m_settings() : tb::TrainConfig(), this);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    connect(dialog, &HubRepoDialog::downloadFinished, this, [this, dialog](bool ok, const QString&) {
        if (!ok)
            return;
        setModelDir(dialog->snapshotDir());
        refreshCache();
    });
    dialog->open();
    return dialog;
}

ModelChooser::~ModelChooser() = default; // a check still running finishes into a deleted watcher: dropped

void ModelChooser::chooseBuiltInDemo()
{
    setModelDir(builtInDemoModelDir());
}

void ModelChooser::setModelDir(const QString& requested)
{
    if (requested.trimmed().isEmpty())
        return;
    const QString dir = cleanDir(requested);
    if (dir == m_dir && (m_checking || m_facts.valid()))
        return; // already chosen (a refused folder is checked again: the user may have fixed it)
    const bool demo = dir == cleanDir(builtInDemoModelDir());
    m_dir = dir;
    m_checking = true;
    m_facts = ModelFolderFacts();
    const quint64 generation = ++m_generation;
    rebuildCombo();
    showFacts();
    Q_EMIT modelChanged(m_dir, false);

    auto* watcher = new QFutureWatcher<ModelFolderFacts>(this);
    connect(watcher, &QFutureWatcher<ModelFolderFacts>::finished, this, [this, watcher, generation] {
        watcher->deleteLater();
        if (generation != m_generation) // the user chose something else meanwhile
            return;
        m_facts = watcher->result();
        m_checking = false;
        if (m_facts.valid() && m_dir != cleanDir(builtInDemoModelDir())) {
            m_recent.removeAll(m_dir);
            m_recent.prepend(m_dir);
            while (m_recent.size() > kMaxRecent)
                m_recent.removeLast();
        }
        rebuildCombo();
        showFacts();
        Q_EMIT modelChanged(m_dir, m_facts.valid());
    });
    watcher->setFuture(QtConcurrent::run([dir, demo] {
        if (demo) {
            try {
                ensureBuiltInDemoModel();
            } catch (const std::exception& e) {
                ModelFolderFacts failed;
                failed.dir = dir;
                failed.error = QObject::tr("cannot make the built-in demo model: %1").arg(QString::fromStdString(e.what()));
                return failed;
            }
        }
        return inspectModelFolder(dir);
    }));
}

void ModelChooser::setRecentModels(const QStringList& dirs)
{
    m_recent.clear();
    for (const QString& d : dirs) {
        const QString dir = cleanDir(d);
        if (!d.trimmed().isEmpty() && !m_recent.contains(dir) && dir != cleanDir(builtInDemoModelDir()))
            m_recent << dir;
        if (m_recent.size() == kMaxRecent)
            break;
    }
    rebuildCombo();
}

void ModelChooser::rebuildCombo()
{
    const QSignalBlocker block(m_combo);
    m_combo->clear();
    const QString demoDir = cleanDir(builtInDemoModelDir());
    m_combo->addItem(tr("Built-in demo model"), demoDir);
    m_combo->setItemData(0, QDir::toNativeSeparators(demoDir), Qt::ToolTipRole);
    QStringList folders = m_recent;
    if (!m_dir.isEmpty() && m_dir != demoDir && !folders.contains(m_dir))
        folders.prepend(m_dir); // being checked, or refused: still shown as the choice
    QHash<QString, QString> cachedLabel; // a snapshot folder reads as its repository id
    for (const auto& [label, dir] : std::as_const(m_cached))
        cachedLabel.insert(cleanDir(dir), label);
    for (const QString& dir : std::as_const(folders)) {
        m_combo->addItem(cachedLabel.value(dir, folderLabel(dir)), dir);
        m_combo->setItemData(m_combo->count() - 1, QDir::toNativeSeparators(dir), Qt::ToolTipRole);
    }
    QStringList shown = folders;
    shown << demoDir;
    for (const auto& [label, dir] : std::as_const(m_cached)) {
        const QString clean = cleanDir(dir);
        if (shown.contains(clean))
            continue;
        m_combo->addItem(label, clean);
        m_combo->setItemData(m_combo->count() - 1, QDir::toNativeSeparators(clean), Qt::ToolTipRole);
    }
    m_combo->insertSeparator(m_combo->count());
    m_combo->addItem(tr("From Hugging Face..."));
    m_combo->setItemData(m_combo->count() - 1, true, kHubRole);
    m_combo->addItem(tr("Browse..."));
    m_combo->setItemData(m_combo->count() - 1, true, kBrowseRole);
    const int current = m_combo->findData(m_dir.isEmpty() ? demoDir : m_dir);
    m_combo->setCurrentIndex(current < 0 ? 0 : current);
}

void ModelChooser::onActivated(int index)
{
    if (m_combo->itemData(index, kBrowseRole).toBool()) {
        browse();
        return;
    }
    if (m_combo->itemData(index, kHubRole).toBool()) {
        openHubDialog();
        return;
    }
    const QString dir = m_combo->itemData(index).toString();
    if (!dir.isEmpty() && dir != m_dir)
        setModelDir(dir);
}

void ModelChooser::browse()
{
    rebuildCombo(); // show the current choice again while the dialog is open
    auto* dialog = new QFileDialog(this, tr("Base model: a Hugging Face model folder"));
    dialog->setFileMode(QFileDialog::Directory);
    dialog->setOption(QFileDialog::ShowDirsOnly);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    if (!m_dir.isEmpty())
        dialog->setDirectory(QFileInfo(m_dir).absolutePath());
    connect(dialog, &QFileDialog::fileSelected, this, [this](const QString& dir) { setModelDir(dir); });
    dialog->open(); // window-modal, not blocking: the event loop keeps running
}

void ModelChooser::showFacts()
{
    if (m_dir.isEmpty()) {
        m_factsLabel->clear();
        return;
    }
    if (m_checking) {
        m_factsLabel->setStyleSheet(QString());
        m_factsLabel->setText(tr("Checking %1 ...").arg(QDir::toNativeSeparators(m_dir)));
        return;
    }
    if (!m_facts.valid()) {
        m_factsLabel->setStyleSheet("color: #c0392b");
        m_factsLabel->setText(m_facts.error);
        return;
    }
    QLocale locale;
    locale.setNumberOptions(locale.numberOptions() & ~QLocale::OmitGroupSeparator); // "3,950,848" even in the C locale
    m_factsLabel->setStyleSheet(QString());
    m_factsLabel->setText(tr("%1, %2 parameters (%3 M), %4 on disk, stored as %5")
                              .arg(m_facts.architecture, locale.toString(m_facts.parameters),
                                   QString::number(m_facts.parameters / 1e6, 'f', 1),
                                   locale.formattedDataSize(m_facts.diskBytes), m_facts.dtype));
}
