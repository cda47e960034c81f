// One stacked-memory plot for every view of a run's memory (the Train tab's live monitor and
// the Memory tab): the categories of MemoryCategories.h stacked bottom to top against the
// sample's basis (tb::MemorySample::basisBytes(): process RSS on the CPU, the CUDA allocator's
// allocated bytes on a GPU; "activations and the rest" = basis minus the tensor categories),
// the peak line (peak RSS or CUDA peak allocated), a marker and label where the peak was first
// reached, and the device's capacity as a horizontal line when shown. The x axis is the step,
// or seconds with a resumed run's sessions laid end to end; the y unit is MiB, or GiB once the
// values pass 2 GiB (chosen from the largest, so a live run changes unit at most once).
//
// Thread contract: GUI thread only. Thin pens, no antialiasing, queued replots: a live run's
// samples cost one paint per burst.
#pragma once

#include "TrainingTypes.h"

#include <QString>
#include <QWidget>

#include <cstdint>
#include <vector>

class QCPGraph;
class QCPItemStraightLine;
class QCPItemText;
class QCustomPlot;

class StackedMemoryPlot : public QWidget {
    Q_OBJECT
public:
    explicit StackedMemoryPlot(QWidget* parent = nullptr);

    QCustomPlot* plot() const { return m_plot; }
    // index 0..kStackedMemoryCategoryCount-1, bottom to top; each holds the running sum.
    QCPGraph* stackGraph(int index) const;
    QCPGraph* peakLineGraph() const;
    QCPGraph* peakMarkerGraph() const;
    bool capacityLineShown() const;
    double unitBytes() const { return m_unit; } // bytes per unit of the y axis (MiB or GiB)
    bool cudaBasis() const { return m_cudaBasis; }
    int64_t peakStep() const { return m_peakStep; }   // first step at the peak; -1 without samples
    int64_t peakBytes() const { return m_peakBytes; } // -1 without samples
    const std::vector<tb::MemorySample>& samples() const { return m_samples; }

    // Replaces the samples and redraws.
    void setSamples(std::vector<tb::MemorySample> samples);
    // Appends one (a live run); redraws everything only when the basis or the unit changes.
    void addSample(const tb::MemorySample& sample);
    void clear();
    // The device's total memory (-1: unknown) and its name, for the capacity line.
    void setCapacity(int64_t totalBytes, const QString& deviceName);
    void setShowCapacity(bool on);
    bool showCapacity() const { return m_showCapacity; }
    void setSecondsAxis(bool seconds);

private:
    void rebuild();
    void accumulate(size_t index);
    void chooseUnit(int64_t maxBytes);
    int64_t scaleBytes(int64_t dataMax) const; // with the capacity when it is shown
    void updatePeakMarker();
    void updateRanges();
    QString bytesText(int64_t bytes) const;

    QCustomPlot* m_plot;
    QCPItemStraightLine* m_capacityLine;
    QCPItemText* m_capacityText;
    QCPItemText* m_peakText;

    std::vector<tb::MemorySample> m_samples;
    std::vector<double> m_seconds; // cumulative over sessions, per sample
    bool m_cudaBasis = false;
    int64_t m_capacityBytes = -1;
    QString m_capacityName;
    bool m_showCapacity = false;
    bool m_secondsAxis = false;

    int64_t m_peakStep = -1;
    int64_t m_peakBytes = -1;
    double m_peakX = 0;
    int64_t m_plotMaxBytes = 0;
    double m_xMin = 0, m_xMax = 0;
    double m_lastRawSeconds = 0, m_secondsOffset = 0;
    double m_unit = 1024.0 * 1024.0;
    QString m_unitName = QStringLiteral("MiB");
};
