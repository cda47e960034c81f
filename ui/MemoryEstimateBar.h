// The new-run form's memory estimate: one horizontal stacked bar of what the run is predicted
// to need at its peak (tb::estimateMemory, by category), drawn against the device's total
// memory with a marker at its free memory, a line of text ("Estimated peak 1.23 GiB (train
// step) of 5.6 GiB free on CPU (system RAM)"), a legend, and a warning: red when the peak
// exceeds the free memory ("will not fit"), amber above 90% of it. An impossible setting shows
// the estimator's own message instead of a stale bar.
//
// Thread contract: GUI thread only, never waits. setRun() only records the request and
// (re)starts a 150 ms single-shot timer, so a burst of field edits costs one estimate. The
// estimate runs in a QtConcurrent::run task: config.json and the safetensors sizes of the model
// folder (cached per folder, re-read when config.json's size or time changes; the cache is
// shared with the tasks under a mutex), whether a QLoRA quantized cache exists, the estimate,
// and tb::deviceMemory (which may create a CUDA context: never on the GUI thread). A
// QFutureWatcher brings the plain result back. Each request has a serial number; a result
// that is not the newest is dropped. Tasks hold only copies, so the widget may be destroyed
// while one runs.
#pragma once

#include "memory/MemoryEstimate.h"
#include "train/TrainConfig.h"

#include <QString>
#include <QWidget>

#include <memory>

class QLabel;
class QTimer;

class MemoryEstimateBar : public QWidget {
    Q_OBJECT
public:
    // The stacked categories, left to right (the first four as the memory inspector draws them).
    enum Category { BaseWeights, Adapters, Gradients, Optimizer, Activations, AllocatorSlack, Transient, Overhead, CategoryCount };
    enum class State {
        Empty,      // nothing asked yet, or cleared
        Estimating, // the first estimate since the last clear is on its way
        Fits,       // peak <= 90% of the free memory, or the free memory is unknown
        Tight,      // 90% of the free memory < peak <= free memory
        WillNotFit, // peak > free memory
        Failed,     // the estimator (or the model folder) refused the request
    };

    static constexpr int kDebounceMs = 150;
    static constexpr double kTightFraction = 0.9;

    explicit MemoryEstimateBar(QWidget* parent = nullptr);
    ~MemoryEstimateBar() override;

    State state() const { return m_state; }
    // Of the last estimate shown (-1 before any, or after a failure or clear).
    qint64 peakBytes() const { return m_peakBytes; }
    // The free memory the peak was compared with: the override when set, else the device's
    // free memory at the time of the estimate (-1: unknown, e.g. a device not on this machine).
    qint64 freeBytes() const { return m_freeBytes; }
    qint64 totalBytes() const { return m_totalBytes; }
    // True when the peak is at most the free memory, or the free memory is unknown.
    bool fits() const { return m_state == State::Fits || m_state == State::Tight; }
    qint64 segmentBytes(Category category) const { return m_segments[category]; }
    static QString categoryLabel(Category category);
    QString peakPhase() const { return m_peakPhase; }
    QLabel* summaryLabel() const { return m_summary; }
    // The warning line: "will not fit" (red), "tight" (amber), or the estimator's error (red);
    // hidden otherwise.
    QLabel* warningLabel() const { return m_warning; }
    qint64 freeMemoryOverride() const { return m_freeOverride; }

public Q_SLOTS:
    // The run to estimate: the model folder (config.json + *.safetensors) and the form's
    // config (method, LoRA, quantization, batch size, sequence length, checkpointing, device,
    // threads, base dtype and the quantized-cache folder matter). Debounced.
    void setRun(const QString& modelDir, const tb::TrainConfig& config);
    // No estimate: drops any pending one and shows `reason` (grey) instead of the bar.
    void clear(const QString& reason = QString());
    // A memory budget that replaces the device's free memory in the comparison (bytes; -1:
    // the device's own free memory). Re-estimates the last run at once.
    void setFreeMemoryOverride(qint64 bytes);

Q_SIGNALS:
    // freeBytes -1: unknown (fits is then true).
    void estimated(qint64 peakBytes, qint64 freeBytes, bool fits);
    void estimateFailed(const QString& message);

private:
    struct Result;
    class FolderCache;
    class StackedBar;

    void startEstimate();
    void showResult(const Result& result);
    void showFailure(const QString& message);

    QTimer* m_debounce;
    QString m_modelDir;
    tb::TrainConfig m_config;
    bool m_hasRun = false;
    quint64 m_serial = 0; // the request whose result still counts
    std::shared_ptr<FolderCache> m_cache;
    std::shared_ptr<const Result> m_last; // the result shown (for setFreeMemoryOverride)
    qint64 m_freeOverride = -1;

    State m_state = State::Empty;
    qint64 m_peakBytes = -1;
    qint64 m_freeBytes = -1;
    qint64 m_totalBytes = -1;
    qint64 m_segments[CategoryCount] = {};
    QString m_peakPhase;

    StackedBar* m_bar;
    QLabel* m_summary;
    QLabel* m_legend;
    QLabel* m_warningIcon;
    QLabel* m_warning;
};
