#include "MemoryEstimateBar.h"

#include "MemoryCategories.h"

#include "core/DeviceMemory.h"
#include "memory/MemoryEstimator.h"

#include <QDateTime>
#include <QEvent>
#include <QFileInfo>
#include <QFutureWatcher>
#include <QHBoxLayout>
#include <QHash>
#include <QHelpEvent>
#include <QLabel>
#include <QLocale>
#include <QMutex>
#include <QMutexLocker>
#include <QPainter>
#include <QStyle>
#include <QTimer>
#include <QToolTip>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

#include <algorithm>
#include <array>
#include <exception>
#include <cmath>

namespace {

const char* const kErrorColor = "#c0392b";
const char* const kTightColor = "#b9770e";
const char* const kNoteColor = "#707070";

struct CategoryStyle {
    const char* label;
    QRgb color;
};

// The first four share the memory inspector's colours (ui/MemoryCategories.h); the inspector's
// grey "activations and the rest" is split here into what the estimator tells apart, in greys
// and a violet for the phase's transient copies.
const std::array<CategoryStyle, MemoryEstimateBar::CategoryCount>& categoryStyles()
{
    static const std::array<CategoryStyle, MemoryEstimateBar::CategoryCount> styles = {{
        {kStackedMemoryCategories[0].label, kStackedMemoryCategories[0].color},
        {kStackedMemoryCategories[1].label, kStackedMemoryCategories[1].color},
        {kStackedMemoryCategories[2].label, kStackedMemoryCategories[2].color},
        {kStackedMemoryCategories[3].label, kStackedMemoryCategories[3].color},
        {"activations", kStackedMemoryCategories[4].color},
        {"allocator slack", qRgb(200, 200, 200)},
        {"transient", qRgb(150, 110, 185)},
        {"framework overhead", qRgb(100, 100, 100)},
    }};
    return styles;
}

QString bytesText(qint64 bytes, int precision = 2)
{
    return QLocale().formattedDataSize(bytes, precision, QLocale::DataSizeIecFormat);
}

// "a", "a or b", "a, b or c"
QString alternatives(const QStringList& items)
{
    if (items.size() <= 1)
        return items.value(0);
    return items.mid(0, items.size() - 1).join(QStringLiteral(", ")) + MemoryEstimateBar::tr(" or ") + items.last();
}

} // namespace

// What one estimate task hands back: plain values, copied.
struct MemoryEstimateBar::Result {
    quint64 serial = 0;
    QString error; // empty: the estimate is good
    tb::MemoryEstimate estimate;
    tb::DeviceMemoryInfo device;
    bool deviceHere = false; // false: deviceMemory refused the device (not on this machine)
    tb::TrainMethod method = tb::TrainMethod::Lora;
    bool gradientCheckpointing = false;
};

// config.json + safetensors sizes per model folder, so a form edit does not re-parse the model's
// config. Shared by the widget and its tasks (which may outlive it).
class MemoryEstimateBar::FolderCache {
public:
    tb::MemoryEstimateRequest requestFor(const QString& dir)
    {
        // A folder whose config.json changed (size or time) is read again.
        const QFileInfo config(dir + QStringLiteral("/config.json"));
        const QString stamp = config.exists()
            ? QStringLiteral("%1:%2").arg(config.size()).arg(config.lastModified().toMSecsSinceEpoch())
            : QString();
        {
            QMutexLocker lock(&m_mutex);
            const auto it = m_entries.constFind(dir);
            if (it != m_entries.constEnd() && !stamp.isEmpty() && it->stamp == stamp)
                return it->request;
        }
        Entry entry{stamp, tb::requestForModelFolder(dir.toStdString())}; // throws naming the file
        QMutexLocker lock(&m_mutex);
        m_entries.insert(dir, entry);
        return entry.request;
    }

private:
    struct Entry {
        QString stamp;
        tb::MemoryEstimateRequest request;
    };
    QMutex m_mutex;
    QHash<QString, Entry> m_entries; // guarded by m_mutex
};

// The painted bar: segments left to right scaled to `scale` bytes, a marker at the free memory.
class MemoryEstimateBar::StackedBar : public QWidget {
public:
    explicit StackedBar(QWidget* parent) : QWidget(parent)
    {
        setMinimumHeight(22);
        setMaximumHeight(22);
        setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Fixed);
    }

    void setValues(const qint64* segments, qint64 scale, qint64 free, qint64 total, const QString& deviceName)
    {
        std::copy(segments, segments + CategoryCount, m_segments);
        m_scale = scale;
        m_free = free;
        m_total = total;
        m_deviceName = deviceName;
        update();
    }

protected:
    void paintEvent(QPaintEvent*) override
    {
        QPainter p(this);
        const QRectF area = QRectF(rect()).adjusted(0.5, 4.5, -0.5, -0.5);
        p.fillRect(area, QColor(240, 240, 240)); // the device's memory
        if (m_scale <= 0)
            return;
        double x = area.left();
        for (int c = 0; c < CategoryCount; ++c) {
            if (m_segments[c] <= 0)
                continue;
            // At least one pixel, so a small but present category still shows.
            const double w = std::max(1.0, area.width() * double(m_segments[c]) / double(m_scale));
            p.fillRect(QRectF(x, area.top(), std::min(w, area.right() - x), area.height()), QColor(categoryStyles()[c].color));
            x += w;
            if (x >= area.right())
                break;
        }
        const double end = std::min(x, area.right());
        p.setPen(QColor(160, 160, 160));
        p.drawRect(area);
        if (m_free >= 0) {
            const double fx = markerX(area);
            if (end > fx) // the part that does not fit, hatched red
                p.fillRect(QRectF(fx, area.top(), end - fx, area.height()), QBrush(QColor(kDeviceCapacityColor), Qt::BDiagPattern));
            p.setPen(QPen(QColor(kPeakMemoryColor), 2));
            p.drawLine(QPointF(fx, 0), QPointF(fx, area.bottom()));
            p.setPen(Qt::NoPen);
            p.setBrush(QColor(kPeakMemoryColor));
            p.drawPolygon(QPolygonF({QPointF(fx - 4, 0), QPointF(fx + 4, 0), QPointF(fx, 5)}));
        }
    }

    bool event(QEvent* e) override
    {
        if (e->type() != QEvent::ToolTip)
            return QWidget::event(e);
        const auto* help = static_cast<QHelpEvent*>(e);
        QToolTip::showText(help->globalPos(), tipAt(help->pos().x()), this);
        return true;
    }

private:
    double markerX(const QRectF& area) const
    {
        return area.left() + area.width() * std::min(1.0, double(m_free) / double(m_scale));
    }

    QString tipAt(int px) const
    {
        const QRectF area = QRectF(rect()).adjusted(0.5, 4.5, -0.5, -0.5);
        if (m_scale <= 0)
            return QString();
        if (m_free >= 0 && std::abs(px - markerX(area)) <= 3)
            return MemoryEstimateBar::tr("Free now: %1").arg(bytesText(m_free));
        qint64 peak = 0;
        for (qint64 s : m_segments)
            peak += s;
        double x = area.left();
        for (int c = 0; c < CategoryCount; ++c) {
            if (m_segments[c] <= 0)
                continue;
            const double w = std::max(1.0, area.width() * double(m_segments[c]) / double(m_scale));
            if (px >= x && px < x + w)
                return MemoryEstimateBar::tr("%1: %2 (%3% of the peak)")
                    .arg(MemoryEstimateBar::categoryLabel(Category(c)), bytesText(m_segments[c]))
                    .arg(peak > 0 ? 100.0 * double(m_segments[c]) / double(peak) : 0.0, 0, 'f', 1);
            x += w;
        }
        return m_total >= 0 ? MemoryEstimateBar::tr("%1: %2 in all").arg(m_deviceName, bytesText(m_total)) : QString();
    }

    qint64 m_segments[CategoryCount] = {};
    qint64 m_scale = 0;
    qint64 m_free = -1;
    qint64 m_total = -1;
    QString m_deviceName;
};

MemoryEstimateBar::MemoryEstimateBar(QWidget* parent)
    : QWidget(parent), m_debounce(new QTimer(this)), m_cache(std::make_shared<FolderCache>())
{
    m_debounce->setSingleShot(true);
    m_debounce->setInterval(kDebounceMs);
    connect(m_debounce, &QTimer::timeout, this, &MemoryEstimateBar::startEstimate);

    m_bar = new StackedBar(this);
    m_summary = new QLabel;
    m_summary->setWordWrap(true);
    m_legend = new QLabel;
    m_legend->setWordWrap(true);
    m_legend->setTextFormat(Qt::RichText);
    m_warningIcon = new QLabel;
    m_warning = new QLabel;
    m_warning->setWordWrap(true);
    m_warning->setTextInteractionFlags(Qt::TextSelectableByMouse);
    auto* warningRow = new QHBoxLayout;
    warningRow->setContentsMargins(0, 0, 0, 0);
    warningRow->addWidget(m_warningIcon, 0, Qt::AlignTop);
    warningRow->addWidget(m_warning, 1);

    auto* column = new QVBoxLayout(this);
    column->setContentsMargins(0, 0, 0, 0);
    column->setSpacing(2);
    column->addWidget(m_summary);
    column->addWidget(m_bar);
    column->addWidget(m_legend);
    column->addLayout(warningRow);
    clear();
}

MemoryEstimateBar::~MemoryEstimateBar() = default;

QString MemoryEstimateBar::categoryLabel(Category category)
{
    return tr(categoryStyles()[category].label);
}

void MemoryEstimateBar::setRun(const QString& modelDir, const tb::TrainConfig& config)
{
    m_modelDir = modelDir;
    m_config = config;
    m_hasRun = true;
    ++m_serial; // a result still on its way describes older settings
    if (m_state == State::Empty) {
        m_state = State::Estimating;
        m_summary->setText(tr("Estimating the memory this run needs..."));
    }
    m_debounce->start();
}

void MemoryEstimateBar::clear(const QString& reason)
{
    m_debounce->stop();
    ++m_serial;
    m_hasRun = false;
    m_last.reset();
    m_state = State::Empty;
    m_peakBytes = m_freeBytes = m_totalBytes = -1;
    std::fill(std::begin(m_segments), std::end(m_segments), 0);
    m_peakPhase.clear();
    m_summary->setText(reason.isEmpty() ? tr("Memory estimate: choose a base model") : reason);
    m_summary->setStyleSheet(QStringLiteral("color: %1").arg(kNoteColor));
    m_summary->setToolTip(QString());
    m_bar->hide();
    m_legend->hide();
    m_warningIcon->hide();
    m_warning->hide();
}

void MemoryEstimateBar::setFreeMemoryOverride(qint64 bytes)
{
    m_freeOverride = bytes < 0 ? -1 : bytes;
    if (m_last && m_last->serial == m_serial)
        showResult(*m_last); // only the comparison changes
}

void MemoryEstimateBar::startEstimate()
{
    if (!m_hasRun)
        return;
    const quint64 serial = m_serial;
    const QString dir = m_modelDir;
    const tb::TrainConfig config = m_config;
    const std::shared_ptr<FolderCache> cache = m_cache;

    auto* watcher = new QFutureWatcher<Result>(this);
    connect(watcher, &QFutureWatcherBase::finished, this, [this, watcher] {
        const Result r = watcher->result();
        watcher->deleteLater();
        if (r.serial != m_serial)
            return; // overtaken by newer settings
        if (!r.error.isEmpty()) {
            showFailure(r.error);
            return;
        }
        m_last = std::make_shared<const Result>(r);
        showResult(r);
    });
    watcher->setFuture(QtConcurrent::run([serial, dir, config, cache] {
        Result r;
        r.serial = serial;
        r.method = config.method;
        r.gradientCheckpointing = config.gradientCheckpointing;
        try {
            const tb::MemoryEstimateRequest folder = cache->requestFor(dir);
            tb::MemoryEstimateRequest request = tb::MemoryEstimateRequest::fromTrainConfig(config, folder.model);
            request.checkpointFileBytes = folder.checkpointFileBytes;
            if (config.method == tb::TrainMethod::Qlora) // reading a cached quantized base peaks differently
                request.quantizedCacheExists = tb::quantizedCacheExists(dir.toStdString(), config.quant, config.quantCacheDir);
            r.estimate = tb::estimateMemory(request);
        } catch (const std::exception& e) {
            r.error = QString::fromStdString(e.what());
            return r;
        }
        // A device this machine lacks (planning a GPU run on a laptop) still has an estimate.
        try {
            r.device = tb::deviceMemory(config.device);
            r.deviceHere = true;
        } catch (const std::exception&) {
            r.device.device = config.device;
            r.device.name = config.device;
        }
        return r;
    }));
}

void MemoryEstimateBar::showResult(const Result& r)
{
    const tb::PhaseEstimate& peak = r.estimate.peak();
    const tb::MemoryBreakdown& b = peak.bytes;
    const qint64 values[CategoryCount] = {b.baseWeights, b.adapters,       b.gradients, b.optimizer,
                                          b.activations, b.allocatorSlack, b.transient, b.overhead};
    std::copy(std::begin(values), std::end(values), m_segments);
    m_peakBytes = r.estimate.peakBytes();
    m_peakPhase = QString::fromStdString(peak.name);
    m_totalBytes = r.device.totalBytes;
    m_freeBytes = m_freeOverride >= 0 ? m_freeOverride : r.device.freeBytes;
    const QString deviceName = QString::fromStdString(r.device.name);

    if (m_freeBytes < 0)
        m_state = State::Fits; // nothing to compare with
    else if (m_peakBytes > m_freeBytes)
        m_state = State::WillNotFit;
    else if (double(m_peakBytes) > kTightFraction * double(m_freeBytes))
        m_state = State::Tight;
    else
        m_state = State::Fits;

    // Summary: "Estimated peak 1.23 GiB (train step) of 5.6 GiB free on CPU (system RAM)".
    QString summary = tr("Estimated peak %1 (%2)").arg(bytesText(m_peakBytes), m_peakPhase);
    if (m_freeOverride >= 0)
        summary += tr(" of a %1 budget").arg(bytesText(m_freeOverride, 1));
    else if (!r.deviceHere)
        summary += tr("; %1 is not on this machine, its free memory is unknown").arg(deviceName);
    else if (m_freeBytes >= 0)
        summary += tr(" of %1 free on %2").arg(bytesText(m_freeBytes, 1), deviceName);
    else
        summary += tr("; the free memory of %1 is unknown").arg(deviceName);
    m_summary->setText(summary);
    m_summary->setStyleSheet(QString());
    QStringList details;
    for (const tb::PhaseEstimate& p : r.estimate.phases)
        details << tr("%1: %2").arg(QString::fromStdString(p.name), bytesText(p.bytes.total()));
    QString tip = tr("Phases: %1").arg(details.join(QStringLiteral(", ")));
    if (r.deviceHere && m_totalBytes >= 0)
        tip += tr("\n%1: %2 in all, %3 free now").arg(deviceName, bytesText(m_totalBytes), bytesText(r.device.freeBytes));
    for (const std::string& a : r.estimate.assumptions)
        tip += tr("\nAssumes %1").arg(QString::fromStdString(a));
    m_summary->setToolTip(tip);

    // The bar spans the device's memory (or the peak or budget, when larger).
    const qint64 scale = std::max({m_totalBytes, m_peakBytes, m_freeBytes});
    m_bar->setValues(m_segments, scale, m_freeBytes, m_totalBytes, deviceName);
    m_bar->setToolTip(QString()); // StackedBar answers tooltips per segment
    m_bar->show();

    QStringList legend;
    for (int c = 0; c < CategoryCount; ++c) {
        if (m_segments[c] <= 0)
            continue;
        legend << QStringLiteral("<span style=\"color:%1\">&#9632;</span>&nbsp;%2&nbsp;%3")
                      .arg(QColor(categoryStyles()[c].color).name(),
                           categoryLabel(Category(c)).toHtmlEscaped().replace(' ', QStringLiteral("&nbsp;")),
                           bytesText(m_segments[c], 1).replace(' ', QStringLiteral("&nbsp;")));
    }
    m_legend->setText(legend.join(QStringLiteral(" &nbsp; ")));
    m_legend->setToolTip(peak.note.empty() || b.transient <= 0
                             ? QString()
                             : tr("transient: %1").arg(QString::fromStdString(peak.note)));
    m_legend->show();

    const int iconSize = style()->pixelMetric(QStyle::PM_SmallIconSize, nullptr, this);
    if (m_state == State::WillNotFit) {
        QStringList remedies{tr("lower the batch size / sequence length")};
        if (!r.gradientCheckpointing)
            remedies << tr("enable gradient checkpointing");
        if (r.method != tb::TrainMethod::Qlora)
            remedies << tr("use QLoRA");
        m_warning->setText(tr("Will not fit: needs %1, %2 free \u2014 %3.")
                               .arg(bytesText(m_peakBytes), bytesText(m_freeBytes), alternatives(remedies)));
        m_warning->setStyleSheet(QStringLiteral("color: %1; font-weight: bold").arg(kErrorColor));
        m_warningIcon->setPixmap(style()->standardIcon(QStyle::SP_MessageBoxCritical).pixmap(iconSize, iconSize));
        m_warningIcon->show();
        m_warning->show();
    } else if (m_state == State::Tight) {
        m_warning->setText(tr("Tight: needs %1 of the %2 free (%3%); other programs may push it over.")
                               .arg(bytesText(m_peakBytes), bytesText(m_freeBytes))
                               .arg(100.0 * double(m_peakBytes) / double(m_freeBytes), 0, 'f', 0));
        m_warning->setStyleSheet(QStringLiteral("color: %1").arg(kTightColor));
        m_warningIcon->setPixmap(style()->standardIcon(QStyle::SP_MessageBoxWarning).pixmap(iconSize, iconSize));
        m_warningIcon->show();
        m_warning->show();
    } else {
        m_warning->clear();
        m_warningIcon->hide();
        m_warning->hide();
    }
    Q_EMIT estimated(m_peakBytes, m_freeBytes, fits());
}

void MemoryEstimateBar::showFailure(const QString& message)
{
    m_last.reset();
    m_state = State::Failed;
    m_peakBytes = m_freeBytes = m_totalBytes = -1;
    std::fill(std::begin(m_segments), std::end(m_segments), 0);
    m_peakPhase.clear();
    m_summary->setText(tr("No memory estimate for these settings"));
    m_summary->setStyleSheet(QStringLiteral("color: %1").arg(kNoteColor));
    m_summary->setToolTip(QString());
    m_bar->hide();
    m_legend->hide();
    const int iconSize = style()->pixelMetric(QStyle::PM_SmallIconSize, nullptr, this);
    m_warningIcon->setPixmap(style()->standardIcon(QStyle::SP_MessageBoxCritical).pixmap(iconSize, iconSize));
    m_warningIcon->show();
    m_warning->setText(message);
    m_warning->setStyleSheet(QStringLiteral("color: %1").arg(kErrorColor));
    m_warning->show();
    Q_EMIT estimateFailed(message);
}
