#include "MemoryInspector.h"

#include "MemoryCategories.h"
#include "QCustomPlotCompat.h"

#include "store/RunQueries.h"
#include "store/RunStore.h"

#include <QCheckBox>
#include <QComboBox>
#include <QFileInfo>
#include <QFutureWatcher>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLocale>
#include <QSplitter>
#include <QTableWidget>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

#include <algorithm>
#include <limits>
#include <stdexcept>

namespace {

// The recorded categories the inspector knows, in table order, and where a MemorySample keeps
// each. "activations" is derived and has no field.
struct RecordedCategory {
    const char* key;
    const char* label;
    int64_t tb::MemorySample::*field;
};
const RecordedCategory kRecorded[] = {
    {"base_weights", "Base weights", &tb::MemorySample::baseWeightBytes},
    {"adapters", "Adapters (trained)", &tb::MemorySample::adapterBytes},
    {"gradients", "Gradients", &tb::MemorySample::gradientBytes},
    {"optimizer", "Optimizer state", &tb::MemorySample::optimizerBytes},
    {"activations", "Activations and the rest", nullptr},
    {"rss", "Process RSS", &tb::MemorySample::residentBytes},
    {"peak_rss", "Peak RSS", &tb::MemorySample::peakResidentBytes},
    {"cuda_allocated", "CUDA allocated", &tb::MemorySample::cudaAllocatedBytes},
    {"cuda_reserved", "CUDA reserved", &tb::MemorySample::cudaReservedBytes},
    {"cuda_peak_allocated", "CUDA peak allocated", &tb::MemorySample::cudaPeakAllocatedBytes},
};

const QString kDeviceTotal = QStringLiteral("device_total");
const QString kDeviceFree = QStringLiteral("device_free");
const QString kPeakShare = QStringLiteral("peak_share");

// The stacked tensor categories of a sample, bottom to top (negative: not recorded).
int64_t tensorPart(const tb::MemorySample& s, int index)
{
    return std::max<int64_t>(0, s.*kRecorded[index].field);
}

// A sample read back from the database starts with every category unrecorded.
tb::MemorySample unrecordedSample(int64_t step)
{
    tb::MemorySample s;
    for (const RecordedCategory& c : kRecorded)
        if (c.field)
            s.*c.field = -1;
    s.step = step;
    return s;
}

// Peak within this fraction of the device's capacity: the capacity line fits the scale.
constexpr double kCapacityFitsWithin = 4.0;

// A recorded category the inspector does not stack: only its peak and last value are shown.
struct OtherCategory {
    QString name;
    int64_t peak = -1;
    int64_t current = -1;
};

struct DeviceQuery {
    quint64 request = 0;
    std::optional<tb::DeviceMemoryInfo> info;
    QString error;
};

DeviceQuery queryDeviceMemory(const QString& device, quint64 request)
{
    DeviceQuery q;
    q.request = request;
    try {
        q.info = tb::deviceMemory(device.toStdString());
    } catch (const std::exception& e) {
        q.error = QString::fromStdString(e.what());
    }
    return q;
}

} // namespace

struct MemoryInspector::LoadResult {
    quint64 request = 0;
    int64_t runId = -1;
    QString error;                            // non-empty: nothing was loaded
    QString device;                           // the run's device ("" when the run has none)
    std::vector<tb::MemorySample> samples;    // in step order
    std::vector<OtherCategory> extra;
    DeviceQuery deviceQuery;
};

namespace {

// Runs on QtConcurrent's pool: its own connection, nothing shared with the widget.
// Samples are joined from the per-category series by (step, n-th sample at that step): a
// resumed run can hold two samples of the step it resumed from.
void readRun(const QString& databasePath, int64_t runId, std::vector<tb::MemorySample>& samples,
             std::vector<OtherCategory>& extra, QString& device)
{
    if (databasePath.isEmpty())
        throw std::runtime_error("no experiment database is configured");
    if (!QFileInfo::exists(databasePath))
        throw std::runtime_error("no experiment database at " + databasePath.toStdString());
    tb::StoreOptions options;
    options.recoverInterruptedRuns = false; // a viewer changes no run's status
    tb::RunStore store(databasePath.toStdString(), options);
    tb::RunQueries queries(store.database());
    const tb::RunDetails details = queries.getRun(runId);
    device = QString::fromStdString(details.device);
    std::map<std::pair<int64_t, int>, tb::MemorySample> joined;
    for (const std::string& category : queries.memoryCategories(runId)) {
        const std::vector<tb::MemoryPoint> points = queries.memorySeries(runId, category);
        const auto known = std::find_if(std::begin(kRecorded), std::end(kRecorded),
                                        [&](const RecordedCategory& c) { return c.field && category == c.key; });
        if (known == std::end(kRecorded)) {
            int64_t peak = -1;
            for (const tb::MemoryPoint& p : points)
                peak = std::max<int64_t>(peak, p.bytes);
            extra.push_back({QString::fromStdString(category), peak, points.empty() ? -1 : points.back().bytes});
            continue;
        }
        std::map<int64_t, int> seen;
        for (const tb::MemoryPoint& p : points) {
            auto [it, inserted] = joined.try_emplace({p.step, seen[p.step]++}, unrecordedSample(p.step));
            it->second.*known->field = p.bytes;
            if (p.seconds)
                it->second.elapsedSeconds = *p.seconds;
        }
    }
    for (const auto& entry : joined)
        samples.push_back(entry.second);
}

} // namespace

MemoryInspector::MemoryInspector(const QString& databasePath, QWidget* parent)
    : QWidget(parent), m_databasePath(databasePath)
{
    m_summary = new QLabel(tr("No run selected."));
    m_summary->setWordWrap(true);
    m_summary->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_status = new QLabel;
    m_status->setWordWrap(true);

    m_table = new QTableWidget(0, ColumnCount);
    m_table->setHorizontalHeaderLabels({tr("Category"), tr("Peak"), tr("Current")});
    m_table->verticalHeader()->setVisible(false);
    m_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_table->horizontalHeader()->setSectionResizeMode(CategoryColumn, QHeaderView::Stretch);
    m_table->horizontalHeader()->setSectionResizeMode(PeakColumn, QHeaderView::ResizeToContents);
    m_table->horizontalHeader()->setSectionResizeMode(CurrentColumn, QHeaderView::ResizeToContents);

    // Thin pens, no antialiasing, queued replots: a live run's samples cost one paint per burst.
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
    m_plot->setMinimumHeight(200);
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

    m_capacityCheck = new QCheckBox(tr("Show device capacity"));
    m_xAxis = new QComboBox;
    m_xAxis->addItems({tr("Step"), tr("Seconds")});

    auto* bar = new QHBoxLayout;
    bar->addWidget(new QLabel(tr("X axis:")));
    bar->addWidget(m_xAxis);
    bar->addWidget(m_capacityCheck);
    bar->addStretch(1);

    auto* splitter = new QSplitter(Qt::Vertical);
    splitter->addWidget(m_table);
    splitter->addWidget(m_plot);
    splitter->setStretchFactor(0, 2);
    splitter->setStretchFactor(1, 3);
    splitter->setSizes({200, 300});

    auto* layout = new QVBoxLayout(this);
    layout->addWidget(m_summary);
    layout->addWidget(m_status);
    layout->addLayout(bar);
    layout->addWidget(splitter, 1);

    // The capacity can change the plot's unit (MiB to GiB): redraw from the samples.
    connect(m_capacityCheck, &QCheckBox::toggled, this, &MemoryInspector::rebuild);
    connect(m_xAxis, qOverload<int>(&QComboBox::currentIndexChanged), this, [this](int index) {
        m_plot->xAxis->setLabel(index == 1 ? tr("seconds") : tr("step"));
        rebuild();
    });
    updateTable();
}

// Loads still running keep only copies of their inputs; their results are dropped with the
// watchers, which are children of this widget.
MemoryInspector::~MemoryInspector() = default;

int MemoryInspector::tableRow(const QString& key) const
{
    return static_cast<int>(m_rowKeys.indexOf(key));
}

QCPGraph* MemoryInspector::stackGraph(int index) const
{
    return index >= 0 && index < kStackedMemoryCategoryCount ? m_plot->graph(index) : nullptr;
}

QCPGraph* MemoryInspector::peakLineGraph() const
{
    return m_plot->graph(kStackedMemoryCategoryCount);
}

QCPGraph* MemoryInspector::peakMarkerGraph() const
{
    return m_plot->graph(kStackedMemoryCategoryCount + 1);
}

bool MemoryInspector::capacityLineShown() const
{
    return m_capacityLine->visible();
}

void MemoryInspector::showRun(qint64 runId)
{
    m_live = false;
    m_runId = runId;
    m_status->setText(tr("Loading run %1 ...").arg(runId));
    startLoad(runId);
}

void MemoryInspector::followLive(qint64 runId)
{
    clearRun();
    m_live = true;
    m_runId = runId;
    if (runId >= 0 && !m_databasePath.isEmpty() && QFileInfo::exists(m_databasePath)) {
        startLoad(runId);
    } else {
        ++m_request; // whatever load is in flight belongs to another run
        m_status->setText(tr("Following the running run (not recorded)."));
    }
}

void MemoryInspector::startLoad(qint64 runId)
{
    const quint64 request = ++m_request;
    const QString path = m_databasePath;
    auto* watcher = new QFutureWatcher<LoadResult>(this);
    connect(watcher, &QFutureWatcherBase::finished, this, [this, watcher] {
        const LoadResult result = watcher->result();
        watcher->deleteLater();
        applyLoad(result);
    });
    watcher->setFuture(QtConcurrent::run([path, runId, request] {
        LoadResult r;
        r.request = request;
        r.runId = runId;
        try {
            readRun(path, runId, r.samples, r.extra, r.device);
        } catch (const std::exception& e) {
            r.error = QString::fromStdString(e.what());
            return r;
        }
        // A run recorded without a device: its samples say whether it ran on a GPU.
        QString device = r.device;
        if (device.isEmpty()) {
            const bool cuda = std::any_of(r.samples.begin(), r.samples.end(),
                                          [](const tb::MemorySample& s) { return s.cudaAllocatedBytes >= 0; });
            device = cuda ? QStringLiteral("cuda") : QStringLiteral("cpu");
        }
        r.deviceQuery = queryDeviceMemory(device, request);
        if (r.device.isEmpty())
            r.device = device;
        return r;
    }));
}

void MemoryInspector::applyLoad(const LoadResult& result)
{
    if (result.request != m_request)
        return; // superseded by a newer showRun/followLive
    if (!result.error.isEmpty()) {
        const QString message = tr("Memory of run %1: %2").arg(result.runId).arg(result.error);
        if (!m_live) { // a live run keeps the samples it was fed
            clearRun();
            m_runId = result.runId;
        }
        m_status->setText(message);
        m_status->setStyleSheet(QStringLiteral("color: #b00020"));
        Q_EMIT errorOccurred(message);
        return;
    }
    m_status->clear();
    m_status->setStyleSheet(QString());
    std::vector<tb::MemorySample> samples = result.samples;
    if (m_live) {
        // Samples that arrived live while the database was read are newer than what it holds.
        const int64_t firstLive = m_samples.empty() ? std::numeric_limits<int64_t>::max() : m_samples.front().step;
        samples.erase(std::remove_if(samples.begin(), samples.end(),
                                     [&](const tb::MemorySample& s) { return s.step >= firstLive; }),
                      samples.end());
        samples.insert(samples.end(), m_samples.begin(), m_samples.end());
    }
    m_samples = std::move(samples);
    m_extra.clear();
    for (const OtherCategory& c : result.extra)
        m_extra.push_back({c.name, Stat{c.peak, c.current}});
    m_deviceName = result.device;
    m_deviceFromRun = true;
    ++m_deviceRequest; // this device answer is the newest
    m_device = result.deviceQuery.info;
    m_deviceError = result.deviceQuery.error;
    rebuild();
    autoCapacity();
    Q_EMIT loaded(result.runId, static_cast<int>(result.samples.size()));
}

void MemoryInspector::queryDevice(const QString& device)
{
    m_deviceName = device;
    const quint64 request = ++m_deviceRequest;
    auto* watcher = new QFutureWatcher<DeviceQuery>(this);
    connect(watcher, &QFutureWatcherBase::finished, this, [this, watcher] {
        const DeviceQuery q = watcher->result();
        watcher->deleteLater();
        if (q.request == m_deviceRequest)
            applyDevice(q.info, q.error);
    });
    watcher->setFuture(QtConcurrent::run([device, request] { return queryDeviceMemory(device, request); }));
}

void MemoryInspector::applyDevice(const std::optional<tb::DeviceMemoryInfo>& info, const QString& error)
{
    m_device = info;
    m_deviceError = error;
    rebuild();
    autoCapacity();
}

void MemoryInspector::clearRun()
{
    m_live = false;
    m_runId = -1;
    m_samples.clear();
    m_extra.clear();
    m_deviceName.clear();
    m_deviceFromRun = false;
    m_device.reset();
    m_deviceError.clear();
    ++m_deviceRequest;
    m_status->clear();
    m_status->setStyleSheet(QString());
    rebuild();
}

void MemoryInspector::addSample(const tb::MemorySample& sample)
{
    if (!m_live)
        return;
    m_samples.push_back(sample);
    const bool cuda = sample.cudaAllocatedBytes >= 0;
    // The device the samples say, until the database names the run's own.
    if (!m_deviceFromRun && m_deviceName != (cuda ? "cuda" : "cpu"))
        queryDevice(cuda ? QStringLiteral("cuda") : QStringLiteral("cpu"));
    const int64_t top = cuda ? std::max(sample.cudaAllocatedBytes, sample.cudaPeakAllocatedBytes)
                            : std::max(sample.residentBytes, sample.peakResidentBytes);
    const double unitBefore = m_unit;
    chooseUnit(scaleBytes(std::max(m_plotMaxBytes, top)));
    if (cuda != m_cudaBasis || m_unit != unitBefore || m_samples.size() == 1) {
        rebuild(); // the basis or the unit changed: every point is redrawn, once
        return;
    }
    accumulate(m_samples.size() - 1);
    updatePeakMarker();
    updateRanges();
    updateTable();
    updateSummary();
    m_plot->replot(QCustomPlot::rpQueuedReplot);
}

void MemoryInspector::setShowCapacity(bool on)
{
    m_capacityCheck->setChecked(on); // updates through toggled
}

void MemoryInspector::setSecondsAxis(bool seconds)
{
    m_xAxis->setCurrentIndex(seconds ? 1 : 0); // rebuilds through currentIndexChanged
}

void MemoryInspector::chooseUnit(int64_t maxBytes)
{
    // GiB once the numbers would pass 2048 MiB; chosen from the largest value so a live run
    // changes unit at most once.
    const bool gib = maxBytes >= (int64_t(2) << 30);
    m_unit = gib ? 1024.0 * 1024.0 * 1024.0 : 1024.0 * 1024.0;
    m_unitName = gib ? QStringLiteral("GiB") : QStringLiteral("MiB");
}

int64_t MemoryInspector::scaleBytes(int64_t dataMax) const
{
    const int64_t total = m_device ? m_device->totalBytes : -1;
    return m_capacityCheck->isChecked() && total > 0 ? std::max(dataMax, total) : dataMax;
}

void MemoryInspector::rebuild()
{
    m_cudaBasis = std::any_of(m_samples.begin(), m_samples.end(),
                              [](const tb::MemorySample& s) { return s.cudaAllocatedBytes >= 0; });
    int64_t maxBytes = 0;
    for (const tb::MemorySample& s : m_samples)
        maxBytes = std::max({maxBytes, s.residentBytes, s.peakResidentBytes, s.cudaAllocatedBytes,
                             s.cudaPeakAllocatedBytes});
    chooseUnit(scaleBytes(maxBytes));
    m_plot->yAxis->setLabel(tr("memory (%1)").arg(m_unitName));
    peakLineGraph()->setName(m_cudaBasis ? tr("CUDA peak allocated") : tr("peak RSS"));
    for (int i = 0; i < m_plot->graphCount(); ++i)
        m_plot->graph(i)->data()->clear();
    m_seconds.clear();
    m_stats.clear();
    m_peakStep = -1;
    m_peakBytes = -1;
    m_peakX = 0;
    m_plotMaxBytes = 0;
    m_lastRawSeconds = 0;
    m_secondsOffset = 0;
    for (size_t i = 0; i < m_samples.size(); ++i)
        accumulate(i);
    for (const auto& [key, stat] : m_extra)
        m_stats[key] = stat;
    updatePeakMarker();
    updateRanges();
    updateTable();
    updateSummary();
    m_plot->replot(QCustomPlot::rpQueuedReplot);
}

void MemoryInspector::accumulate(size_t index)
{
    const tb::MemorySample& s = m_samples[index];
    // A resumed run's session restarts its clock: lay the sessions end to end.
    if (index > 0 && s.elapsedSeconds < m_lastRawSeconds)
        m_secondsOffset = m_seconds.back();
    m_lastRawSeconds = s.elapsedSeconds;
    m_seconds.push_back(m_secondsOffset + s.elapsedSeconds);
    const double x = m_xAxis->currentIndex() == 1 ? m_seconds.back() : static_cast<double>(s.step);

    const int64_t basis = m_cudaBasis ? s.cudaAllocatedBytes : s.residentBytes;
    int64_t tensors = 0;
    for (int i = 0; i < kStackedMemoryCategoryCount - 1; ++i) {
        tensors += tensorPart(s, i);
        stackGraph(i)->addData(x, static_cast<double>(tensors) / m_unit);
    }
    const int64_t top = std::max(tensors, basis);
    stackGraph(kStackedMemoryCategoryCount - 1)->addData(x, static_cast<double>(top) / m_unit);

    for (const RecordedCategory& c : kRecorded) {
        const int64_t value = c.field ? s.*c.field : (basis < 0 ? -1 : std::max<int64_t>(0, basis - tensors));
        if (value < 0)
            continue;
        Stat& stat = m_stats[QString::fromLatin1(c.key)];
        stat.peak = std::max(stat.peak, value);
        stat.current = value;
    }

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

void MemoryInspector::updatePeakMarker()
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
    m_peakText->setText(m_xAxis->currentIndex() == 1
                            ? tr("peak %1 at step %2 (%3 s)").arg(bytesText(m_peakBytes)).arg(m_peakStep).arg(m_peakX, 0, 'f', 1)
                            : tr("peak %1 at step %2").arg(bytesText(m_peakBytes)).arg(m_peakStep));
    m_peakText->setVisible(true);
}

void MemoryInspector::updateRanges()
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

    const int64_t total = m_device ? m_device->totalBytes : -1;
    const bool showCapacity = m_capacityCheck->isChecked() && total > 0;
    int64_t upper = m_plotMaxBytes;
    if (showCapacity) {
        upper = std::max(upper, total);
        const double y = static_cast<double>(total) / m_unit;
        m_capacityLine->point1->setCoords(left, y);
        m_capacityLine->point2->setCoords(right, y);
        m_capacityText->position->setCoords(right, y);
        m_capacityText->setText(tr("%1: %2").arg(QString::fromStdString(m_device->name), bytesText(total)));
    }
    m_capacityLine->setVisible(showCapacity);
    m_capacityText->setVisible(showCapacity);
    // Headroom above the highest value for the peak's label.
    m_plot->yAxis->setRange(0, std::max(1.0, static_cast<double>(upper) * 1.15 / m_unit));
}

void MemoryInspector::autoCapacity()
{
    // Called after rebuild(): m_peakBytes is current. A changed box rebuilds through toggled.
    const int64_t total = m_device ? m_device->totalBytes : -1;
    setShowCapacity(total > 0 && m_peakBytes > 0 && static_cast<double>(total) <= kCapacityFitsWithin * m_peakBytes);
}

QString MemoryInspector::bytesText(int64_t bytes) const
{
    return bytes < 0 ? QStringLiteral("-") : QLocale().formattedDataSize(bytes, 2, QLocale::DataSizeIecFormat);
}

void MemoryInspector::updateTable()
{
    QStringList keys;
    for (const RecordedCategory& c : kRecorded)
        if (m_stats.count(QString::fromLatin1(c.key)))
            keys << QString::fromLatin1(c.key);
    for (const auto& entry : m_extra)
        keys << entry.first;
    keys << kDeviceTotal << kDeviceFree << kPeakShare;

    if (keys != m_rowKeys) {
        m_rowKeys = keys;
        m_table->clearSpans();
        m_table->setRowCount(static_cast<int>(keys.size()));
        for (int row = 0; row < keys.size(); ++row) {
            for (int column = 0; column < ColumnCount; ++column) {
                auto* item = new QTableWidgetItem;
                if (column != CategoryColumn)
                    item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
                m_table->setItem(row, column, item);
            }
            m_table->item(row, CategoryColumn)->setData(BytesRole, keys[row]);
            if (keys[row] == kDeviceTotal || keys[row] == kDeviceFree || keys[row] == kPeakShare)
                m_table->setSpan(row, PeakColumn, 1, 2); // one value, not a peak and a current
        }
    }

    auto setBytes = [this](int row, int column, int64_t bytes) {
        QTableWidgetItem* item = m_table->item(row, column);
        item->setText(bytesText(bytes));
        item->setData(BytesRole, qint64(bytes));
    };
    const int64_t total = m_device ? m_device->totalBytes : -1;
    for (int row = 0; row < keys.size(); ++row) {
        const QString& key = keys[row];
        QTableWidgetItem* label = m_table->item(row, CategoryColumn);
        if (key == kDeviceTotal) {
            label->setText(m_device ? tr("Device: %1 (%2), total").arg(QString::fromStdString(m_device->name),
                                                                       QString::fromStdString(m_device->device))
                                    : tr("Device: %1").arg(m_deviceName.isEmpty() ? tr("unknown") : m_deviceName));
            if (m_device) {
                setBytes(row, PeakColumn, total);
            } else {
                const QString state = !m_deviceError.isEmpty() ? m_deviceError
                                      : m_deviceName.isEmpty() ? QStringLiteral("-")
                                                               : tr("querying ...");
                m_table->item(row, PeakColumn)->setText(state);
                m_table->item(row, PeakColumn)->setData(BytesRole, qint64(-1));
            }
        } else if (key == kDeviceFree) {
            label->setText(tr("Device free now"));
            setBytes(row, PeakColumn, m_device ? m_device->freeBytes : -1);
        } else if (key == kPeakShare) {
            label->setText(m_cudaBasis ? tr("CUDA peak allocated / device total") : tr("Peak RSS / device total"));
            QTableWidgetItem* item = m_table->item(row, PeakColumn);
            const bool known = total > 0 && m_peakBytes >= 0;
            const double percent = known ? 100.0 * static_cast<double>(m_peakBytes) / static_cast<double>(total) : -1;
            item->setText(known ? QLocale().toString(percent, 'f', 1) + QStringLiteral(" %") : QStringLiteral("-"));
            item->setData(BytesRole, qint64(m_peakBytes));
            item->setData(ShareRole, percent);
        } else {
            const auto known = std::find_if(std::begin(kRecorded), std::end(kRecorded),
                                            [&](const RecordedCategory& c) { return key == QLatin1String(c.key); });
            label->setText(known != std::end(kRecorded) ? tr(known->label) : key);
            const Stat stat = m_stats.count(key) ? m_stats.at(key) : Stat{};
            setBytes(row, PeakColumn, stat.peak);
            setBytes(row, CurrentColumn, stat.current);
        }
    }
}

void MemoryInspector::updateSummary()
{
    if (m_samples.empty()) {
        m_summary->setText(m_runId < 0 && !m_live ? tr("No run selected.")
                                                  : tr("Run %1: no memory samples yet.").arg(m_runId));
        return;
    }
    QString text = tr("%1 %2 at step %3")
                       .arg(m_cudaBasis ? tr("CUDA peak allocated") : tr("Peak RSS"), bytesText(m_peakBytes))
                       .arg(m_peakStep);
    if (m_device && m_device->totalBytes > 0)
        text += tr(" = %1 % of %2 (%3; %4 free now)")
                    .arg(QLocale().toString(100.0 * m_peakBytes / m_device->totalBytes, 'f', 1),
                         QString::fromStdString(m_device->name), bytesText(m_device->totalBytes),
                         bytesText(m_device->freeBytes));
    text += m_live ? tr(" (live, %1 samples)").arg(sampleCount()) : tr(" (%1 samples)").arg(sampleCount());
    m_summary->setText(tr("Run %1: %2").arg(m_runId).arg(text));
}
