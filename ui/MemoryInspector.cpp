#include "MemoryInspector.h"

#include "MemoryCategories.h"
#include "StackedMemoryPlot.h"
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
#include <QSignalBlocker>
#include <QSplitter>
#include <QTableWidget>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <tuple>

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
tb::MemorySample unrecordedSample(int64_t step, int worker)
{
    tb::MemorySample s;
    for (const RecordedCategory& c : kRecorded)
        if (c.field)
            s.*c.field = -1;
    s.step = step;
    s.worker = worker;
    return s;
}

const QString kWorkerPrefix = QStringLiteral("worker_");

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
// Samples are joined from the per-category series by (step, worker, n-th sample of that worker
// at that step): a resumed run can hold two samples of the step it resumed from, a
// data-parallel run one per worker.
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
    std::map<std::tuple<int64_t, int, int>, tb::MemorySample> joined;
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
        std::map<std::pair<int64_t, int>, int> seen;
        for (const tb::MemoryPoint& p : points) {
            const int nth = seen[{p.step, p.worker}]++;
            auto [it, inserted] = joined.try_emplace({p.step, p.worker, nth}, unrecordedSample(p.step, p.worker));
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

    m_memoryPlot = new StackedMemoryPlot; // the live monitor draws a run the same way
    m_memoryPlot->setMinimumHeight(200);

    m_capacityCheck = new QCheckBox(tr("Show device capacity"));
    m_xAxis = new QComboBox;
    m_xAxis->addItems({tr("Step"), tr("Seconds")});
    m_workerLabel = new QLabel(tr("Worker:"));
    m_workerCombo = new QComboBox;
    m_workerCombo->setToolTip(tr("A data-parallel run: whose memory the plot and the category rows show"));
    m_workerLabel->hide();
    m_workerCombo->hide();

    auto* bar = new QHBoxLayout;
    bar->addWidget(new QLabel(tr("X axis:")));
    bar->addWidget(m_xAxis);
    bar->addWidget(m_workerLabel);
    bar->addWidget(m_workerCombo);
    bar->addWidget(m_capacityCheck);
    bar->addStretch(1);

    auto* splitter = new QSplitter(Qt::Vertical);
    splitter->addWidget(m_table);
    splitter->addWidget(m_memoryPlot);
    splitter->setStretchFactor(0, 2);
    splitter->setStretchFactor(1, 3);
    splitter->setSizes({200, 300});

    auto* layout = new QVBoxLayout(this);
    layout->addWidget(m_summary);
    layout->addWidget(m_status);
    layout->addLayout(bar);
    layout->addWidget(splitter, 1);

    connect(m_capacityCheck, &QCheckBox::toggled, m_memoryPlot, &StackedMemoryPlot::setShowCapacity);
    connect(m_xAxis, qOverload<int>(&QComboBox::currentIndexChanged), this, [this](int index) {
        m_memoryPlot->setSecondsAxis(index == 1);
        updateSummary();
    });
    connect(m_workerCombo, qOverload<int>(&QComboBox::currentIndexChanged), this, [this](int index) {
        if (index >= 0)
            setWorker(m_workerCombo->itemData(index).toInt());
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

QCustomPlot* MemoryInspector::plot() const
{
    return m_memoryPlot->plot();
}

QCPGraph* MemoryInspector::stackGraph(int index) const
{
    return m_memoryPlot->stackGraph(index);
}

QCPGraph* MemoryInspector::peakLineGraph() const
{
    return m_memoryPlot->peakLineGraph();
}

QCPGraph* MemoryInspector::peakMarkerGraph() const
{
    return m_memoryPlot->peakMarkerGraph();
}

bool MemoryInspector::capacityLineShown() const
{
    return m_memoryPlot->capacityLineShown();
}

bool MemoryInspector::cudaBasis() const
{
    return m_memoryPlot->cudaBasis();
}

double MemoryInspector::unitBytes() const
{
    return m_memoryPlot->unitBytes();
}

qint64 MemoryInspector::peakStep() const
{
    return m_memoryPlot->peakStep();
}

qint64 MemoryInspector::peakBytes() const
{
    return m_memoryPlot->peakBytes();
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
    m_worker = 0;
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
    if (!std::binary_search(m_workers.begin(), m_workers.end(), sample.worker)) {
        if (m_workers.empty())
            m_worker = sample.worker;
        m_workers.insert(std::upper_bound(m_workers.begin(), m_workers.end(), sample.worker), sample.worker);
        updateWorkerChoice();
    }
    if (sample.worker == m_worker) {
        m_memoryPlot->addSample(sample);
        accumulate(sample);
    }
    accumulateWorker(sample);
    updateTable();
    updateSummary();
}

void MemoryInspector::setWorker(int rank)
{
    if (rank == m_worker || !std::binary_search(m_workers.begin(), m_workers.end(), rank))
        return;
    m_worker = rank;
    rebuild();
    autoCapacity();
}

void MemoryInspector::updateWorkerChoice()
{
    const QSignalBlocker block(m_workerCombo); // the choice is m_worker already
    m_workerCombo->clear();
    for (const int rank : m_workers)
        m_workerCombo->addItem(tr("Worker %1").arg(rank), rank);
    m_workerCombo->setCurrentIndex(m_workerCombo->findData(m_worker));
    const bool several = m_workers.size() > 1;
    m_workerLabel->setVisible(several);
    m_workerCombo->setVisible(several);
}

void MemoryInspector::setShowCapacity(bool on)
{
    m_capacityCheck->setChecked(on); // updates through toggled
}

void MemoryInspector::setSecondsAxis(bool seconds)
{
    m_xAxis->setCurrentIndex(seconds ? 1 : 0); // rebuilds through currentIndexChanged
}

void MemoryInspector::rebuild()
{
    std::vector<int> workers;
    for (const tb::MemorySample& s : m_samples)
        workers.push_back(s.worker);
    std::sort(workers.begin(), workers.end());
    workers.erase(std::unique(workers.begin(), workers.end()), workers.end());
    m_workers = workers;
    if (!m_workers.empty() && !std::binary_search(m_workers.begin(), m_workers.end(), m_worker))
        m_worker = m_workers.front();
    updateWorkerChoice();

    std::vector<tb::MemorySample> shown;
    for (const tb::MemorySample& s : m_samples)
        if (s.worker == m_worker)
            shown.push_back(s);
    m_memoryPlot->setCapacity(m_device ? m_device->totalBytes : -1, m_device ? QString::fromStdString(m_device->name) : QString());
    m_memoryPlot->setSamples(shown);
    m_stats.clear();
    m_workerStats.clear();
    for (const tb::MemorySample& s : shown)
        accumulate(s);
    for (const tb::MemorySample& s : m_samples)
        accumulateWorker(s);
    for (const auto& [key, stat] : m_extra)
        m_stats[key] = stat;
    updateTable();
    updateSummary();
}

void MemoryInspector::accumulate(const tb::MemorySample& s)
{
    // "activations" is the plot's derivation (tb::MemorySample::restBytes on the run's basis).
    const int64_t basis = cudaBasis() ? s.cudaAllocatedBytes : s.residentBytes;
    const int64_t tensors = s.tensorBytes();
    for (const RecordedCategory& c : kRecorded) {
        const int64_t value = c.field ? s.*c.field : (basis < 0 ? -1 : tb::MemorySample::restOf(basis, tensors));
        if (value < 0)
            continue;
        Stat& stat = m_stats[QString::fromLatin1(c.key)];
        stat.peak = std::max(stat.peak, value);
        stat.current = value;
    }
}

void MemoryInspector::accumulateWorker(const tb::MemorySample& s)
{
    // The basis and its peak as the plot takes them (tb::MemorySample::basisBytes, peakBytes);
    // a category not recorded is negative.
    const bool cuda = cudaBasis();
    const int64_t current = cuda ? s.cudaAllocatedBytes : s.residentBytes;
    const int64_t peak = std::max(current, cuda ? s.cudaPeakAllocatedBytes : s.peakResidentBytes);
    Stat& stat = m_workerStats[s.worker];
    stat.peak = std::max(stat.peak, peak);
    if (current >= 0)
        stat.current = current;
}

void MemoryInspector::autoCapacity()
{
    // Called after rebuild(): the peak is current. A changed box redraws through toggled.
    const int64_t total = m_device ? m_device->totalBytes : -1;
    const int64_t peak = m_memoryPlot->peakBytes();
    setShowCapacity(total > 0 && peak > 0 && static_cast<double>(total) <= kCapacityFitsWithin * peak);
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
    if (m_workers.size() > 1)
        for (const int rank : m_workers)
            keys << kWorkerPrefix + QString::number(rank);
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
            label->setText(cudaBasis() ? tr("CUDA peak allocated / device total") : tr("Peak RSS / device total"));
            QTableWidgetItem* item = m_table->item(row, PeakColumn);
            const int64_t peak = m_memoryPlot->peakBytes();
            const bool known = total > 0 && peak >= 0;
            const double percent = known ? 100.0 * static_cast<double>(peak) / static_cast<double>(total) : -1;
            item->setText(known ? QLocale().toString(percent, 'f', 1) + QStringLiteral(" %") : QStringLiteral("-"));
            item->setData(BytesRole, qint64(peak));
            item->setData(ShareRole, percent);
        } else if (key.startsWith(kWorkerPrefix)) {
            const int rank = key.mid(kWorkerPrefix.size()).toInt();
            label->setText(tr("Worker %1: %2%3")
                               .arg(rank)
                               .arg(cudaBasis() ? tr("CUDA allocated") : tr("process RSS"))
                               .arg(rank == m_worker ? tr(" (shown)") : QString()));
            const Stat stat = m_workerStats.count(rank) ? m_workerStats.at(rank) : Stat{};
            setBytes(row, PeakColumn, stat.peak);
            setBytes(row, CurrentColumn, stat.current);
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
    const int64_t peak = m_memoryPlot->peakBytes();
    QString text = tr("%1 %2 at step %3")
                       .arg(cudaBasis() ? tr("CUDA peak allocated") : tr("Peak RSS"), bytesText(peak))
                       .arg(m_memoryPlot->peakStep());
    if (m_device && m_device->totalBytes > 0)
        text += tr(" = %1 % of %2 (%3; %4 free now)")
                    .arg(QLocale().toString(100.0 * peak / m_device->totalBytes, 'f', 1),
                         QString::fromStdString(m_device->name), bytesText(m_device->totalBytes),
                         bytesText(m_device->freeBytes));
    if (m_workers.size() > 1)
        text += tr(", worker %1 of %2").arg(m_worker).arg(m_workers.size());
    text += m_live ? tr(" (live, %1 samples)").arg(sampleCount()) : tr(" (%1 samples)").arg(sampleCount());
    m_summary->setText(tr("Run %1: %2").arg(m_runId).arg(text));
}
