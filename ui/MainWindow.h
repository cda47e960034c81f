// The workbench window. For now: the "Playground" tab (PlaygroundPanel: the loaded model's
// facts and streamed generation, base and base + adapter side by side), a "Train" tab
// (TrainPanel) that fine-tunes the loaded model with a live monitor, and a "Runs" tab. The GUI
// thread only sends queued requests to the panels' workers and receives their queued signals,
// so it never waits on loading, generation or training.
#pragma once

#include <QMainWindow>

class PlaygroundPanel;
class RunListPanel;
class TrainPanel;
class QPlainTextEdit;
class QPushButton;

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
    RunListPanel* runListPanel() const { return m_runs; }

private Q_SLOTS:
    void openModel();

private:
    PlaygroundPanel* m_playground;
    TrainPanel* m_train;
    RunListPanel* m_runs;
};
