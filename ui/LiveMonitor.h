// Shows a training run as it happens: loss and validation loss against step, memory by
// category stacked over steps (the Memory tab's StackedMemoryPlot), progress with ETA, tokens/s, the run's log, and Pause / Resume /
// Stop buttons. A data-parallel run (TrainConfig::processes > 1) reports each worker's memory
// (tb::MemorySample::worker): the plot stacks worker 0's, and a table under it, shown once a
// second worker reports, lists every worker's current and peak memory and their sum; tokens/s
// is the whole run's (the trainer sums the workers). GUI thread only: it is fed by TrainingWorker's queued signals and only emits
// requests; whoever owns the worker turns those into direct TrainingWorker calls.
//
// Plots follow QCustomPlot's performance notes: points are appended with addData, repaints are
// queued (rpQueuedReplot) so a burst of reports costs one paint, thin pens, no antialiasing.
#pragma once

#include "TrainingTypes.h"

#include <QWidget>

#include <cstdint>
#include <map>

class QCheckBox;
class QCPGraph;
class QCustomPlot;
class QLabel;
class QPlainTextEdit;
class QProgressBar;
class QPushButton;
class QTableWidget;
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
    // Each worker's memory: a row per worker (rank order: Worker, current basis, its peak), then
    // the sum over the workers. Hidden until a second worker reports. Qt::UserRole of the value
    // items: the bytes (qint64).
    QTableWidget* workerTable() const { return m_workerTable; }
    QWidget* workerPanel() const { return m_workerPanel; }
    int workerCount() const { return static_cast<int>(m_workerMemory.size()); } // workers that reported memory

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
    struct WorkerMemory {
        int64_t current = -1; // the last sample's basis (tb::MemorySample::basisBytes)
        int64_t peak = -1;    // the largest tb::MemorySample::peakBytes
    };

    void setControls(bool running, bool paused);
    void growLossRange(double step, double loss);
    void updateWorkerTable();
    void updateCapacityText();
    void updateSpeedText();

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
    QWidget* m_workerPanel;
    QTableWidget* m_workerTable;

    qint64 m_totalSteps = 0;
    qint64 m_firstStep = -1;      // first step reported in this run (a resumed run starts late)
    double m_firstElapsed = 0;    // its elapsed seconds
    double m_lossMin = 0, m_lossMax = 0; // y range seen so far (no rescan of the data)
    bool m_haveLoss = false;
    double m_lrMax = 0;
    qint64 m_deviceTotal = -1;    // bytes
    QString m_deviceName;
    std::map<int, WorkerMemory> m_workerMemory; // by worker rank
    bool m_cudaBasis = false;     // the last sample's basis: CUDA allocated, else process RSS
    double m_tokensPerSecond = -1; // the last step's, for the speed label; -1 before the first
};
