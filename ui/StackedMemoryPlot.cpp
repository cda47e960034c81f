#include "StackedMemoryPlot.h"

#include "MemoryCategories.h"
#include "QCustomPlotCompat.h"

#include <QLocale>
#include <QVBoxLayout>

#include <algorithm>

StackedMemoryPlot::StackedMemoryPlot(QWidget* parent) : QWidget(parent)
{
    m_plot = new QCustomPlot;
    m_plot->setNotAntialiasedElements(QCP::aeAll);
    m_plot->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
    m_plot->xAxis->setLabel(tr("step"));
    m_plot->yAxis->setLabel(tr("memory (MiB)"));
    m_plot->legend->setVisible(true);
    // The legend beside the axis rect, not over the curves, at the top of its column.
    m_plot->axisRect()->insetLayout()->take(m_plot->legend);
    auto* legendColumn = new QCPLayoutGrid;
    m_plot->plotLayout()->addElement(0, 1, legendColumn);
    m_plot->plotLayout()->setColumnStretchFactor(1, 0.001);
    legendColumn->addElement(0, 0, m_plot->legend);
    legendColumn->addElement(1, 0, new QCPLayoutElement(m_plot));
    legendColumn->setRowStretchFactor(0, 0.001);
    m_plot->legend->setLayer(QStringLiteral("legend"));
    m_plot->setMinimumHeight(180);
    for (int i = 0; i < kStackedMemoryCategoryCount; ++i) {
        // Each graph holds the running sum up to its category and fills down to the one below.
        QCPGraph* g = m_plot->addGraph();
        g->setName(tr(kStackedMemoryCategories[i].label));
        const QColor color = QColor::fromRgb(kStackedMemoryCategories[i].color);
        g->setPen(QPen(color.darker(120), 1));
        QColor fill = color;
        fill.setAlpha(150);
        g->setBrush(fill);
        if (i > 0)
            g->setChannelFillGraph(m_plot->graph(i - 1));
    }
    QCPGraph* peakLine = m_plot->addGraph();
    peakLine->setName(tr("peak RSS"));
    peakLine->setPen(QPen(QColor::fromRgb(kPeakMemoryColor), 1, Qt::DashLine));
    QCPGraph* marker = m_plot->addGraph();
    marker->setName(tr("peak"));
    marker->setLineStyle(QCPGraph::lsNone);
    marker->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, QColor::fromRgb(kPeakMemoryColor), 8));
    m_peakText = new QCPItemText(m_plot);
    m_peakText->setVisible(false);
    m_peakText->setPadding(QMargins(4, 2, 4, 6));
    m_capacityLine = new QCPItemStraightLine(m_plot);
    m_capacityLine->setPen(QPen(QColor::fromRgb(kDeviceCapacityColor), 1, Qt::DashDotLine));
    m_capacityLine->setVisible(false);
    m_capacityText = new QCPItemText(m_plot);
    m_capacityText->setColor(QColor::fromRgb(kDeviceCapacityColor));
    m_capacityText->setPositionAlignment(Qt::AlignRight | Qt::AlignBottom);
    m_capacityText->setVisible(false);

    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(m_plot);
    rebuild();
}

QCPGraph* StackedMemoryPlot::stackGraph(int index) const
{
    return index >= 0 && index < kStackedMemoryCategoryCount ? m_plot->graph(index) : nullptr;
}

QCPGraph* StackedMemoryPlot::peakLineGraph() const
{
    return m_plot->graph(kStackedMemoryCategoryCount);
}

QCPGraph* StackedMemoryPlot::peakMarkerGraph() const
{
    return m_plot->graph(kStackedMemoryCategoryCount + 1);
}

bool StackedMemoryPlot::capacityLineShown() const
{
    return m_capacityLine->visible();
}

void StackedMemoryPlot::setSamples(std::vector<tb::MemorySample> samples)
{
    m_samples = std::move(samples);
    rebuild();
}

void StackedMemoryPlot::addSample(const tb::MemorySample& sample)
{
    m_samples.push_back(sample);
    const double unitBefore = m_unit;
    chooseUnit(scaleBytes(std::max(m_plotMaxBytes, std::max(sample.basisBytes(), sample.peakBytes()))));
    if (sample.onCuda() != m_cudaBasis || m_unit != unitBefore || m_samples.size() == 1) {
        rebuild(); // the basis or the unit changed: every point is redrawn, once
        return;
    }
    accumulate(m_samples.size() - 1);
    updatePeakMarker();
    updateRanges();
    m_plot->replot(QCustomPlot::rpQueuedReplot);
}

void StackedMemoryPlot::clear()
{
    m_samples.clear();
    rebuild();
}

void StackedMemoryPlot::setCapacity(int64_t totalBytes, const QString& deviceName)
{
    m_capacityBytes = totalBytes;
    m_capacityName = deviceName;
    rebuild(); // the capacity can change the unit
}

void StackedMemoryPlot::setShowCapacity(bool on)
{
    m_showCapacity = on;
    rebuild();
}

void StackedMemoryPlot::setSecondsAxis(bool seconds)
{
    m_secondsAxis = seconds;
    m_plot->xAxis->setLabel(seconds ? tr("seconds") : tr("step"));
    rebuild();
}

void StackedMemoryPlot::chooseUnit(int64_t maxBytes)
{
    const bool gib = maxBytes >= (int64_t(2) << 30);
    m_unit = gib ? 1024.0 * 1024.0 * 1024.0 : 1024.0 * 1024.0;
    m_unitName = gib ? QStringLiteral("GiB") : QStringLiteral("MiB");
}

int64_t StackedMemoryPlot::scaleBytes(int64_t dataMax) const
{
    return m_showCapacity && m_capacityBytes > 0 ? std::max(dataMax, m_capacityBytes) : dataMax;
}

void StackedMemoryPlot::rebuild()
{
    m_cudaBasis = std::any_of(m_samples.begin(), m_samples.end(), [](const tb::MemorySample& s) { return s.onCuda(); });
    int64_t maxBytes = 0;
    for (const tb::MemorySample& s : m_samples)
        maxBytes = std::max({maxBytes, s.residentBytes, s.peakResidentBytes, s.cudaAllocatedBytes, s.cudaPeakAllocatedBytes});
    chooseUnit(scaleBytes(maxBytes));
    m_plot->yAxis->setLabel(tr("memory (%1)").arg(m_unitName));
    peakLineGraph()->setName(m_cudaBasis ? tr("CUDA peak allocated") : tr("peak RSS"));
    for (int i = 0; i < m_plot->graphCount(); ++i)
        m_plot->graph(i)->data()->clear();
    m_seconds.clear();
    m_peakStep = -1;
    m_peakBytes = -1;
    m_peakX = 0;
    m_plotMaxBytes = 0;
    m_lastRawSeconds = 0;
    m_secondsOffset = 0;
    for (size_t i = 0; i < m_samples.size(); ++i)
        accumulate(i);
    updatePeakMarker();
    updateRanges();
    m_plot->replot(QCustomPlot::rpQueuedReplot);
}

void StackedMemoryPlot::accumulate(size_t index)
{
    const tb::MemorySample& s = m_samples[index];
    // A resumed run's session restarts its clock: lay the sessions end to end.
    if (index > 0 && s.elapsedSeconds < m_lastRawSeconds)
        m_secondsOffset = m_seconds.back();
    m_lastRawSeconds = s.elapsedSeconds;
    m_seconds.push_back(m_secondsOffset + s.elapsedSeconds);
    const double x = m_secondsAxis ? m_seconds.back() : static_cast<double>(s.step);

    // A CPU sample in a run whose basis is CUDA (none in practice) stacks against nothing.
    const int64_t basis = m_cudaBasis ? s.cudaAllocatedBytes : s.residentBytes;
    const int64_t parts[] = {s.baseWeightBytes, s.adapterBytes, s.gradientBytes, s.optimizerBytes};
    int64_t tensors = 0;
    for (int i = 0; i < kStackedMemoryCategoryCount - 1; ++i) {
        tensors += std::max<int64_t>(0, parts[i]);
        stackGraph(i)->addData(x, static_cast<double>(tensors) / m_unit);
    }
    // The top: the tensors plus the rest (tb::MemorySample::restOf), i.e. the basis itself.
    const int64_t top = tensors + tb::MemorySample::restOf(basis, tensors);
    stackGraph(kStackedMemoryCategoryCount - 1)->addData(x, static_cast<double>(top) / m_unit);

    // The peak: VmHWM (or the allocator's peak) never falls, so its first step at the maximum
    // is where the run reached it. max() with the current value covers runs recorded without it.
    const int64_t peak = m_cudaBasis ? std::max(s.cudaPeakAllocatedBytes, s.cudaAllocatedBytes)
                                    : std::max(s.peakResidentBytes, s.residentBytes);
    if (peak >= 0) {
        peakLineGraph()->addData(x, static_cast<double>(peak) / m_unit);
        if (peak > m_peakBytes) {
            m_peakBytes = peak;
            m_peakStep = s.step;
            m_peakX = x;
        }
    }
    m_plotMaxBytes = std::max({m_plotMaxBytes, top, peak});
    m_xMin = index == 0 ? x : std::min(m_xMin, x);
    m_xMax = index == 0 ? x : std::max(m_xMax, x);
}

void StackedMemoryPlot::updatePeakMarker()
{
    QCPGraph* marker = peakMarkerGraph();
    marker->data()->clear();
    if (m_peakBytes < 0) {
        m_peakText->setVisible(false);
        return;
    }
    const double y = static_cast<double>(m_peakBytes) / m_unit;
    marker->addData(m_peakX, y);
    m_peakText->position->setCoords(m_peakX, y);
    // Keep the label inside the plot: to the left of a peak in the right half.
    const bool rightHalf = m_peakX > (m_xMin + m_xMax) / 2;
    m_peakText->setPositionAlignment(Qt::AlignBottom | (rightHalf ? Qt::AlignRight : Qt::AlignLeft));
    m_peakText->setText(m_secondsAxis
                            ? tr("peak %1 at step %2 (%3 s)").arg(bytesText(m_peakBytes)).arg(m_peakStep).arg(m_peakX, 0, 'f', 1)
                            : tr("peak %1 at step %2").arg(bytesText(m_peakBytes)).arg(m_peakStep));
    m_peakText->setVisible(true);
}

void StackedMemoryPlot::updateRanges()
{
    double left = m_xMin, right = m_xMax;
    if (m_samples.empty()) {
        left = 0;
        right = 1;
    } else if (left == right) {
        left -= 1;
        right += 1;
    }
    m_plot->xAxis->setRange(left, right);
    const bool showCapacity = m_showCapacity && m_capacityBytes > 0;
    int64_t upper = m_plotMaxBytes;
    if (showCapacity) {
        upper = std::max(upper, m_capacityBytes);
        const double y = static_cast<double>(m_capacityBytes) / m_unit;
        m_capacityLine->point1->setCoords(left, y);
        m_capacityLine->point2->setCoords(right, y);
        m_capacityText->position->setCoords(right, y);
        m_capacityText->setText(tr("%1: %2").arg(m_capacityName, bytesText(m_capacityBytes)));
    }
    m_capacityLine->setVisible(showCapacity);
    m_capacityText->setVisible(showCapacity);
    // Headroom above the highest value for the peak's label.
    m_plot->yAxis->setRange(0, std::max(1.0, static_cast<double>(upper) * 1.15 / m_unit));
}

QString StackedMemoryPlot::bytesText(int64_t bytes) const
{
    return bytes < 0 ? QStringLiteral("-") : QLocale().formattedDataSize(bytes, 2, QLocale::DataSizeIecFormat);
}
