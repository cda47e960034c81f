// The workbench window. For now: the loaded model's facts and a playground that streams
// generated text (the "Playground" tab), and a "Train" tab (TrainPanel) that fine-tunes the
// loaded model with a live monitor. The GUI thread only sends queued requests to PlaygroundWorker and receives
// its queued signals, so it never waits on loading or generation.
#pragma once

#include "PlaygroundWorker.h"

#include <QMainWindow>
#include <QThread>

class QDoubleSpinBox;
class RunListPanel;
class TrainPanel;
class QFormLayout;
class QLabel;
class QPlainTextEdit;
class QPushButton;
class QSpinBox;

class MainWindow : public QMainWindow {
    Q_OBJECT
public:
    // modelDir empty: the built-in demo model.
    // databasePath: where training runs are recorded; empty: the default experiment database
    // (StorePaths::resolve), or none when that cannot be resolved.
    explicit MainWindow(const QString& modelDir, QWidget* parent = nullptr, const QString& databasePath = QString());
    ~MainWindow() override;

    QPlainTextEdit* outputView() const { return m_output; }
    QPushButton* generateButton() const { return m_generate; }
    QPlainTextEdit* promptEdit() const { return m_prompt; }
    TrainPanel* trainPanel() const { return m_train; }
    RunListPanel* runListPanel() const { return m_runs; }

Q_SIGNALS:
    void loadRequested(const QString& dir);
    void generateRequested(const QString& prompt, int maxNewTokens, double temperature, double topP, quint64 seed);

private Q_SLOTS:
    void openModel();
    void onModelLoaded(const ModelSummary& summary);
    void onGenerateClicked();
    void onFinished(const QString& stopReason, int tokens, double tokensPerSecond);
    void onFailed(const QString& message);

private:
    void setBusy(bool busy);

    QThread m_workerThread;
    PlaygroundWorker* m_worker; // lives on m_workerThread
    bool m_generating = false;
    bool m_modelLoaded = false;

    QFormLayout* m_facts;
    QPlainTextEdit* m_prompt;
    QPlainTextEdit* m_output;
    QPushButton* m_generate;
    QSpinBox* m_maxTokens;
    QDoubleSpinBox* m_temperature;
    QDoubleSpinBox* m_topP;
    QSpinBox* m_seed;
    TrainPanel* m_train;
    RunListPanel* m_runs;
};
