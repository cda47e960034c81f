// The workbench window: the tabs and how they talk to each other.
//   Playground (PlaygroundPanel): model facts; base and base + adapter generation side by side.
//   Train (TrainPanel + DatasetPreview): the new-run form and the live monitor.
//   Runs (RunListPanel): the experiment database; compare / memory / re-run / resume / export
//     are requested there and routed here to the tab or dialog that does them.
//   Compare (CompareView), Memory (MemoryInspector); Tools > Compare methods (MethodComparisonDialog).
// The GUI thread only sends queued requests to the panels' workers and receives their queued
// signals, so it never waits on loading, generation, training or export.
//
// Closing the window while a run trains asks first (a non-blocking QMessageBox); "Stop and
// quit" cancels the run through the engine's control, which ends it `cancelled` with a
// checkpoint of its last completed step, and the window closes when the worker reports the end.
#pragma once

#include <QMainWindow>

class CompareView;
class DatasetPreview;
class MemoryInspector;
class MethodComparisonDialog;
class PlaygroundPanel;
class QMessageBox;
class QPlainTextEdit;
class QPushButton;
class QTabWidget;
class RunListPanel;
class TrainPanel;

class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    // modelDir empty: the built-in demo model.
    // databasePath: where training runs are recorded; empty: the default experiment database
    // (StorePaths::resolve), or none when that cannot be resolved.
    explicit MainWindow(const QString& modelDir, QWidget* parent = nullptr, const QString& databasePath = QString());
    ~MainWindow() override;

    // The playground's base pane (its only pane without an adapter), button and prompt.
    QPlainTextEdit* outputView() const;
    QPushButton* generateButton() const;
    QPlainTextEdit* promptEdit() const;
    PlaygroundPanel* playgroundPanel() const { return m_playground; }
    TrainPanel* trainPanel() const { return m_train; }
    DatasetPreview* datasetPreview() const { return m_preview; }
    RunListPanel* runListPanel() const { return m_runs; }
    CompareView* compareView() const { return m_compare; }
    MemoryInspector* memoryInspector() const { return m_memory; }
    MethodComparisonDialog* methodComparisonDialog() const { return m_methods; }
    QTabWidget* tabs() const { return m_tabs; }
    QString databasePath() const { return m_database; }
    // The question shown when the window is closed during a run (nullptr when none is open).
    QMessageBox* closeQuestion() const { return m_closeQuestion; }

public Q_SLOTS:
    void compareRuns(const QList<qint64>& runIds);
    void showMemory(qint64 runId);
    // Fills the Train tab with a recorded run's settings (a new run folder) and shows the tab.
    bool rerun(qint64 runId);
    // Continues an interrupted, cancelled or failed run from its last checkpoint, in the same
    // run folder and database row.
    bool resumeRun(qint64 runId);
    void exportRun(qint64 runId);
    // Tools > Compare methods...: LoRA vs QLoRA vs full on the Train tab's model and dataset
    // (MethodComparisonDialog; one dialog, kept while a comparison may run).
    void compareMethods();

protected:
    void closeEvent(QCloseEvent* event) override;

private Q_SLOTS:
    void openModel();

private:
    // The recorded TrainConfig of a run; false (with the reason in the status bar) when the run
    // or its settings cannot be read.
    bool recordedConfig(qint64 runId, struct RecordedRun& out);

    QString m_database;
    QTabWidget* m_tabs;
    PlaygroundPanel* m_playground;
    TrainPanel* m_train;
    DatasetPreview* m_preview;
    RunListPanel* m_runs;
    CompareView* m_compare;
    MemoryInspector* m_memory;
    MethodComparisonDialog* m_methods = nullptr; // made on first use
    QMessageBox* m_closeQuestion = nullptr;
    bool m_closeWhenStopped = false;
};
