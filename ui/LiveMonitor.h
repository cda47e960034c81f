// Shows a training run as it happens: loss and validation loss against step, memory by
// category stacked over steps (the Memory tab's StackedMemoryPlot), progress with ETA, tokens/s, the run's log, and Pause / Resume /
// Stop buttons. GUI thread only: it is fed by TrainingWorker's queued signals and only emits
// requests; whoever owns the worker turns those into direct TrainingWorker calls.
//
// Plots follow QCustomPlot's performance notes: points are appended with addData, repaints are
// queued (rpQueuedReplot) so a burst of reports costs one paint, thin pens, no antialiasing.
#pragma once

#include "TrainingTypes.h"

#include <QWidget>

class QCheckBox;
class QCPGraph;
class QCustomPlot;
class QLabel;
class QPlainTextEdit;
class QProgressBar;
class QPushButton;
class StackedMemoryPlot;

class LiveMonitor : public QWidget {
    Q_OBJECT
public:
    explicit LiveMonitor(QWidget* parent = nullptr);

    QCustomPlot* lossPlot() const { return m_lossPlot; }
    QCustomPlot* memoryPlot() const; // the StackedMemoryPlot's, as the Memory tab draws it
    StackedMemoryPlot* memory() const { return m_memory; }
    QCPGraph* lossGraph() const;
    QCPGraph* validationGraph() const;
    QCPGraph* learningRateGraph() const; // on the loss plot's right axis
    QLabel* learningRateLabel() const { return m_lr; }
    QLabel* capacityLabel() const { return m_capacity; }
    QCheckBox* capacityCheck() const { return m_showCapacity; }
    QProgressBar* progressBar() const { return m_progress; }
    QLabel* speedLabel() const { return m_speed; }
    QLabel* etaLabel() const { return m_eta; }
    QPlainTextEdit* logView() const { return m_log; }
    QPushButton* pauseButton() const { return m_pause; }
    QPushButton* resumeButton() const { return m_resume; }
    QPushButton* stopButton() const { return m_stop; }

public Q_SLOTS:
    // Clears the plots for a new run of totalSteps optimizer steps (0: unknown yet).
    void beginRun(qint64 totalSteps);
    void addStep(const tb::StepReport& report);
    void addEval(const tb::EvalReport& report);
    void addMemory(const tb::MemorySample& sample);
    void addLog(tb::LogLevel level, const QString& message);
    // The run stopped before its next step (Pause) or goes on (Resume): the status line says so.
    void setPaused(bool paused, qint64 step);
    void endRun(tb::TrainStatus status, const QString& reason, const QString& adapterDir);
    void setLogScale(bool on);
    // The device the run uses and its total memory (-1: unknown), for "RSS of total" and the
    // optional capacity line on the memory plot.
    void setDeviceCapacity(qint64 totalBytes, const QString& deviceName);
    void setShowCapacity(bool on);

Q_SIGNALS:
    void pauseRequested();
    void resumeRequested();
    void stopRequested();

private:
    void setControls(bool running, bool paused);
    void growLossRange(double step, double loss);

    QCustomPlot* m_lossPlot;
    StackedMemoryPlot* m_memory;
    QCheckBox* m_logScale;
    QProgressBar* m_progress;
    QLabel* m_speed;
    QLabel* m_eta;
    QLabel* m_lr;
    QLabel* m_capacity;
    QCheckBox* m_showCapacity;
    QPlainTextEdit* m_log;
    QPushButton* m_pause;
    QPushButton* m_resume;
    QPushButton* m_stop;

    qint64 m_totalSteps = 0;
    qint64 m_firstStep = -1;      // first step reported in this run (a resumed run starts late)
    double m_firstElapsed = 0;    // its elapsed seconds
    double m_lossMin = 0, m_lossMax = 0; // y range seen so far (no rescan of the data)
    bool m_haveLoss = false;
    double m_lrMax = 0;
    qint64 m_deviceTotal = -1;    // bytes
    QString m_deviceName;
};
