// The Memory tab: where a run's memory went and how its peak was reached.
//
// (a) A table: per category the peak and the current (last sample) bytes, human-readable;
//     "activations and the rest" (the basis minus the tensor categories); the process RSS and
//     peak RSS; on CUDA the allocator's allocated / reserved / peak; any other category the
//     database holds; then the run's device: total, free now, and the peak as a share of the total.
// (b) The StackedMemoryPlot the live monitor uses too, over step (or seconds, sessions of a
//     resumed run laid end to end): the categories stacked, the peak line, a marker and label
//     where the peak was first reached, and the device's capacity as a horizontal line ("Show
//     device capacity"; on for a run whose peak is within a quarter of the capacity, so a small
//     run is not squashed flat).
// (c) Live mode: followLive(runId) then addSample() per TrainingWorker::memorySampled; samples
//     append without reloading.
// (d) A data-parallel run (several workers, tb::MemorySample::worker): the table and the plot
//     show one worker's samples, chosen in the "Worker" box (worker 0 first; the box is shown
//     only for a run with several), and the table adds a row per worker with its peak and
//     current basis bytes, so the workers can be compared at a glance.
//
// The basis is the process RSS for a CPU run; for a run whose samples carry CUDA figures it is
// the CUDA allocator's allocated bytes, and the peak is its peak allocated bytes (the tensors
// live on the card, not in the RSS).
//
// Thread contract: GUI thread only. showRun/followLive read the database (a RunStore opened
// inside the task) and query the device (tb::deviceMemory) on QtConcurrent's pool; the result
// comes back to the GUI thread through a QFutureWatcher. A newer request supersedes an older
// one: the older result is dropped when it arrives. Nothing here blocks on the task.
#pragma once

#include "TrainingTypes.h"

#include "core/DeviceMemory.h"
#include "store/StoreTypes.h"

#include <QString>
#include <QStringList>
#include <QWidget>

#include <map>
#include <optional>
#include <utility>
#include <vector>

class QCheckBox;
class QComboBox;
class QCPGraph;
class QCPItemStraightLine;
class QCPItemText;
class QCustomPlot;
class QLabel;
class QTableWidget;
class StackedMemoryPlot;

class MemoryInspector : public QWidget {
    Q_OBJECT
public:
    enum TableColumn { CategoryColumn, PeakColumn, CurrentColumn, ColumnCount };
    // Qt::UserRole of a table item: the row's key in the Category column, the bytes (qint64;
    // the device rows' too, in the Peak column) in the value columns.
    static constexpr int BytesRole = Qt::UserRole;
    // The peak_share row's Peak item: the peak as a percentage of the device's total (double;
    // -1 when unknown).
    static constexpr int ShareRole = Qt::UserRole + 1;

    // databasePath: the experiment database (StorePaths::resolve().database); it is only read.
    explicit MemoryInspector(const QString& databasePath, QWidget* parent = nullptr);
    ~MemoryInspector() override;

    QTableWidget* table() const { return m_table; }
    // The row of a key: base_weights, adapters, gradients, optimizer, activations, rss,
    // peak_rss, cuda_allocated, cuda_reserved, cuda_peak_allocated, any other recorded
    // category, worker_0, worker_1, ... (a run with several workers: each one's basis),
    // device_total, device_free, peak_share. -1 when the run has no such row.
    int tableRow(const QString& key) const;
    QCustomPlot* plot() const;
    // index 0..kStackedMemoryCategoryCount-1, bottom to top; each holds the running sum.
    QCPGraph* stackGraph(int index) const;
    QCPGraph* peakLineGraph() const;
    QCPGraph* peakMarkerGraph() const;
    QCheckBox* capacityCheck() const { return m_capacityCheck; }
    bool capacityLineShown() const;
    QComboBox* xAxisCombo() const { return m_xAxis; }
    QLabel* summaryLabel() const { return m_summary; }
    QComboBox* workerCombo() const { return m_workerCombo; } // hidden unless the run has several workers
    // The ranks of the workers whose samples the run has, ascending.
    const std::vector<int>& workers() const { return m_workers; }
    int selectedWorker() const { return m_worker; } // whose samples the plot and the categories show
    double unitBytes() const; // bytes per unit of the plot's y axis (MiB or GiB)

    qint64 runId() const { return m_runId; }      // -1: none
    bool following() const { return m_live; }
    int sampleCount() const { return static_cast<int>(m_samples.size()); } // every worker's
    qint64 peakStep() const;  // first step at the peak; -1 without samples
    qint64 peakBytes() const; // -1 without samples
    // The run's device as queried (nullopt until known or when it is not on this machine).
    std::optional<tb::DeviceMemoryInfo> deviceInfo() const { return m_device; }

public Q_SLOTS:
    // Loads the run's memory series and its device off the GUI thread; leaves live mode.
    void showRun(qint64 runId);
    // Shows the running run: clears, loads what the database already holds of it (runId < 0:
    // not recorded, nothing to load), then takes addSample() calls.
    void followLive(qint64 runId);
    // Ignored unless following a live run.
    void addSample(const tb::MemorySample& sample);
    void setShowCapacity(bool on);
    // false: step on the x axis; true: seconds.
    void setSecondsAxis(bool seconds);
    // Shows worker `rank`'s samples in the plot and the category rows (a rank the run does not
    // have: ignored).
    void setWorker(int rank);

Q_SIGNALS:
    // After a load (showRun, or followLive's database part) is shown.
    void loaded(qint64 runId, int samples);
    void errorOccurred(const QString& message);

private:
    struct Stat {
        int64_t peak = -1;    // -1: the category was never recorded
        int64_t current = -1; // last recorded value
    };
    struct LoadResult;

    void startLoad(qint64 runId);
    void applyLoad(const LoadResult& result);
    void queryDevice(const QString& device);
    void applyDevice(const std::optional<tb::DeviceMemoryInfo>& info, const QString& error);
    void clearRun();

    bool cudaBasis() const;
    void rebuild();                  // plot, stats and table from m_samples
    void accumulate(const tb::MemorySample& sample); // the table's stats of one sample
    void accumulateWorker(const tb::MemorySample& sample); // its worker's row
    void updateWorkerChoice();       // the Worker box from m_workers
    void updateTable();
    void updateSummary();
    void autoCapacity();
    QString bytesText(int64_t bytes) const;

    QString m_databasePath;
    QTableWidget* m_table;
    StackedMemoryPlot* m_memoryPlot; // the plot, its peak and its capacity line
    QCheckBox* m_capacityCheck;
    QComboBox* m_xAxis;
    QLabel* m_workerLabel;
    QComboBox* m_workerCombo;
    QLabel* m_summary;
    QLabel* m_status;

    qint64 m_runId = -1;
    bool m_live = false;
    quint64 m_request = 0;       // the newest load; older results are dropped
    quint64 m_deviceRequest = 0; // the newest device query

    std::vector<tb::MemorySample> m_samples; // negative bytes: category not recorded
    std::vector<std::pair<QString, Stat>> m_extra; // categories the inspector does not stack
    QString m_deviceName;                    // the run's device spelling ("cpu", "cuda:0")
    bool m_deviceFromRun = false;            // m_deviceName came from the database
    std::optional<tb::DeviceMemoryInfo> m_device;
    QString m_deviceError;

    std::vector<int> m_workers;              // ranks in m_samples, ascending
    int m_worker = 0;                        // the worker shown (m_workers' first when 0 is absent)

    // Derived from m_samples by accumulate() (the shown worker's samples) and accumulateWorker().
    std::map<QString, Stat> m_stats;
    std::map<int, Stat> m_workerStats;       // rank -> the basis's peak and current bytes
    QStringList m_rowKeys;
};
