// The window's "Playground" tab: the loaded model's facts, an adapter chooser, a prompt with
// generation settings, and the output. With no adapter one pane streams the continuation; with
// a PEFT adapter two panes side by side stream "Base" and "Base + adapter <name>" from one
// request (same prompt, seed and settings; PlaygroundWorker generates with the adapters off,
// then on).
//
// The chooser lists "(no adapter)", the finished runs of the experiment database whose model
// is the loaded model and that saved an adapter, folders picked with "Browse...", and
// "Browse..." itself.
//
// Thread contract: GUI thread only. The PlaygroundWorker lives on the panel's own QThread: the
// panel sends it queued requests (loadModel, loadAdapter, clearAdapter, generate) and receives
// its queued signals; Stop calls PlaygroundWorker::requestStop() directly (an atomic flag).
// The adapter list is read on a QtConcurrent pool thread with its own RunStore connection and
// comes back through a QFutureWatcher; a newer refresh supersedes an older one.
#pragma once

#include "PlaygroundWorker.h"

#include <QList>
#include <QString>
#include <QThread>
#include <QWidget>

class QComboBox;
class QDoubleSpinBox;
class QFormLayout;
class QGroupBox;
class QLabel;
class QPlainTextEdit;
class QCheckBox;
class QPushButton;
class QSpinBox;

class PlaygroundPanel : public QWidget {
    Q_OBJECT
public:
    // A finished run of the loaded model with a saved adapter, as the chooser lists it.
    struct AdapterRun {
        qint64 runId = 0;
        QString name;
        QString dir; // the run's adapter artifact (a PEFT folder)
    };

    // Item roles of adapterChooser().
    static constexpr int DirRole = Qt::UserRole;      // QString: the adapter folder ("" for none)
    static constexpr int KindRole = Qt::UserRole + 1; // ChoiceKind
    enum ChoiceKind { NoAdapterChoice, RunChoice, FolderChoice, BrowseChoice };

    explicit PlaygroundPanel(QWidget* parent = nullptr);
    // Stops a generation and waits for the worker thread (a model load in progress finishes).
    ~PlaygroundPanel() override;

    // The experiment database the adapter list reads; empty: only browsed folders. Refreshes.
    void setDatabasePath(const QString& path);
    QString databasePath() const { return m_databasePath; }

    bool isModelLoaded() const { return m_modelLoaded; }
    QString modelDir() const { return m_modelDir; }    // of the last loaded model
    QString adapterDir() const { return m_adapterDir; } // loaded or loading; "" for none
    bool isGenerating() const { return m_generating; }

    QPlainTextEdit* basePane() const { return m_baseOutput; }       // also the only pane without an adapter
    QPlainTextEdit* adapterPane() const { return m_adapterOutput; } // hidden without an adapter
    QGroupBox* basePaneBox() const { return m_baseBox; }            // titled "Output" or "Base"
    QGroupBox* adapterPaneBox() const { return m_adapterBox; }      // titled "Base + adapter <name>"
    QPushButton* generateButton() const { return m_generate; }      // reads "Stop" while generating
    QPushButton* unloadButton() const { return m_unload; }
    // "Held in this window: N MiB of weights", apart from any training run's memory.
    QLabel* memoryLabel() const { return m_memory; }
    // The prompt as a user turn through the model's chat template (on for a model that has one).
    QCheckBox* chatCheck() const { return m_chat; }
    QPlainTextEdit* promptEdit() const { return m_prompt; }
    QComboBox* adapterChooser() const { return m_adapterChooser; }
    QLabel* adapterMessage() const { return m_adapterMessage; }     // the adapter's facts, or its error in red
    QSpinBox* maxTokensBox() const { return m_maxTokens; }
    QDoubleSpinBox* temperatureBox() const { return m_temperature; }
    QDoubleSpinBox* topPBox() const { return m_topP; }
    QSpinBox* seedBox() const { return m_seed; }

public Q_SLOTS:
    // Empty dir: the built-in demo model. Drops the current adapter.
    void loadModel(const QString& dir);
    // Frees the model the playground holds in the window's process (Unload); loadModel() again
    // to use it.
    void unloadModel();
    // Loads the PEFT folder on the worker and selects it in the chooser (adding it as a folder
    // entry when it is not a listed run); name is the pane title's ("" : the folder's name, or
    // its parent's when the folder is called "adapter"). Empty dir: no adapter.
    void setAdapter(const QString& dir, const QString& name = QString());
    // What picking chooser item `index` does (the chooser's activated signal lands here).
    void chooseAdapter(int index);
    // Re-reads the finished runs with an adapter for the loaded model (call after a run ends).
    void refreshAdapters();
    // Generate when idle, Stop while generating (the Generate button's click).
    void generateOrStop();

Q_SIGNALS:
    void status(const QString& message);
    void modelLoadStarted(const QString& dir);
    void modelLoaded(const ModelSummary& summary);
    void adapterLoaded(const QString& dir);
    void adapterFailed(const QString& dir, const QString& message);
    void adapterListRefreshed(int runs); // the chooser holds the database's list now
    void generationFinished();

    // To the worker (queued).
    void loadModelRequested(const QString& dir);
    void loadAdapterRequested(const QString& dir);
    void clearAdapterRequested();
    void unloadModelRequested();
    void generateRequested(const QString& prompt, int maxNewTokens, double temperature, double topP, quint64 seed, bool chat);

private:
    void onModelLoaded(const ModelSummary& summary);
    void onModelUnloaded();
    void onAdapterLoaded(const QString& dir, const QString& description);
    void onAdapterFailed(const QString& dir, const QString& message);
    void onPassFinished(int pane, const QString& stopReason, int tokens, double tokensPerSecond);
    void onGenerationFinished();
    void onFailed(const QString& message);
    void browseForAdapter();
    void rebuildChooser();
    void showAdapterPane(bool shown);
    void updateControls();

    QThread m_workerThread;
    PlaygroundWorker* m_worker; // lives on m_workerThread

    QString m_databasePath;
    QString m_modelDir;
    bool m_modelLoaded = false;
    bool m_generating = false;
    QString m_adapterDir;  // requested or loaded; "" for none
    QString m_adapterName;
    bool m_adapterPending = false; // loadAdapter sent, no answer yet
    QList<AdapterRun> m_runs;      // the database's list for the loaded model
    QStringList m_browsedDirs;     // folders added with Browse... or setAdapter
    QStringList m_passReports;     // per finished pass, for the status line
    quint64 m_listSerial = 0;      // the newest adapter-list request

    QFormLayout* m_facts;
    QComboBox* m_adapterChooser;
    QLabel* m_adapterMessage;
    QPlainTextEdit* m_prompt;
    QGroupBox* m_baseBox;
    QGroupBox* m_adapterBox;
    QPlainTextEdit* m_baseOutput;
    QPlainTextEdit* m_adapterOutput;
    QPushButton* m_generate;
    QPushButton* m_unload;
    QLabel* m_memory;
    QCheckBox* m_chat;
    QSpinBox* m_maxTokens;
    QDoubleSpinBox* m_temperature;
    QDoubleSpinBox* m_topP;
    QSpinBox* m_seed;
};
