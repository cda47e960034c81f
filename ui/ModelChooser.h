// The new-run form's base-model chooser: a combo of "Built-in demo model", the recent model
// folders (most recent first, at most 10), the models already in the Hugging Face cache
// (HF_HUB_CACHE: id and revision, one click away), "From Hugging Face..." (HubRepoDialog: by id,
// with facts and estimates before any weight is downloaded) and "Browse..." (a folder dialog),
// with a line of facts under it (architecture, parameters, size on disk, stored dtype) or, in
// red, what is wrong with the folder, naming the file.
//
// Thread contract: GUI thread. Each choice is checked off the GUI thread (QtConcurrent::run of
// inspectModelFolder, which also makes the demo model on first use) and comes back through a
// QFutureWatcher; a result for a folder that is no longer the choice is dropped. The recent
// list lives here in memory; RunFormSettings stores it. The cache is listed on the pool too
// (refreshCache()), at construction and after each Hub download.
#pragma once

#include "ModelFolderFacts.h"

#include "train/TrainConfig.h"

#include <QStringList>
#include <QWidget>

#include <functional>

class HubRepoDialog;
class QComboBox;
class QLabel;

class ModelChooser : public QWidget {
    Q_OBJECT
public:
    static constexpr int kMaxRecent = 10;

    explicit ModelChooser(QWidget* parent = nullptr);
    ~ModelChooser() override;

    // The chosen folder (the demo model's path for the demo entry); empty before any choice.
    QString modelDir() const { return m_dir; }
    bool isChecking() const { return m_checking; }
    // The chosen folder has been checked and can be trained.
    bool isValid() const { return !m_checking && !m_dir.isEmpty() && m_facts.valid(); }
    // The last check's result for modelDir() (empty while checking).
    const ModelFolderFacts& facts() const { return m_facts; }
    // Why the choice cannot be trained ("" when it can, or while checking).
    QString error() const { return m_checking ? QString() : m_facts.error; }

    // Chooses a folder (the demo's path selects the demo entry) and starts its check; the
    // folder already chosen and valid (or being checked) is not checked again.
    void setModelDir(const QString& dir);
    void chooseBuiltInDemo();

    // Model folders, most recent first; a folder joins the front when its check succeeds.
    QStringList recentModels() const { return m_recent; }
    void setRecentModels(const QStringList& dirs);

    // The form's settings, for the Hub dialog's memory estimates (default settings without it).
    void setSettingsSource(std::function<tb::TrainConfig()> source) { m_settings = std::move(source); }
    // Opens "From Hugging Face..." (non-modal); a finished download becomes the choice.
    HubRepoDialog* openHubDialog();
    // Lists the Hugging Face cache again, off the GUI thread; cachedModels() when it is in.
    void refreshCache();
    // Snapshot folders of cached model repositories with a config.json: label -> folder. The
    // label: "ORG/NAME (REVISION) — ARCHITECTURE, N.N M parameters, SIZE, Hugging Face cache"
    // (REVISION: a ref naming the snapshot, else the commit's first 10 digits; SIZE: the
    // snapshot's files), or "ORG/NAME (REVISION) — not supported: WHY" (config.json's key and
    // reason, e.g. an architecture Tunebench lacks).
    QList<QPair<QString, QString>> cachedModels() const { return m_cached; }

    QComboBox* combo() const { return m_combo; }
    QLabel* factsLabel() const { return m_factsLabel; }

Q_SIGNALS:
    // Emitted when the choice changes (valid false: being checked) and again when its check
    // ends (valid: it can be trained).
    void modelChanged(const QString& dir, bool valid);
    void cacheListed();

private:
    void rebuildCombo();
    void onActivated(int index);
    void browse();
    void showFacts();

    QComboBox* m_combo;
    QLabel* m_factsLabel;
    QString m_dir;
    QStringList m_recent;
    QList<QPair<QString, QString>> m_cached; // "org/name (main)" -> snapshot folder
    std::function<tb::TrainConfig()> m_settings;
    ModelFolderFacts m_facts;
    bool m_checking = false;
    quint64 m_generation = 0; // the check whose result still counts
};
