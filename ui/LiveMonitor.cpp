#include "LiveMonitor.h"

#include "QCustomPlotCompat.h"

#include <QCheckBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QSplitter>
#include <QVBoxLayout>

#include <algorithm>

namespace {

constexpr double kMiB = 1024.0 * 1024.0;

// Memory categories, bottom to top of the stack.
struct Category {
    const char* name;
    QColor color;
};
const Category kCategories[] = {
    {"base weights", QColor(70, 110, 170)}, {"adapters", QColor(220, 130, 40)}, {"gradients", QColor(90, 160, 80)},
    {"optimizer", QColor(180, 70, 70)},     {"rest of RSS", QColor(150, 150, 150)},
};
constexpr int kCategoryCount = 5;

QCustomPlot* makePlot(const QString& xLabel, const QString& yLabel)
{
    auto* plot = new QCustomPlot;
    plot->setNotAntialiasedElements(QCP::aeAll);
    plot->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
    plot->xAxis->setLabel(xLabel);
    plot->yAxis->setLabel(yLabel);
    plot->legend->setVisible(true);
    plot->setMinimumHeight(180);
    return plot;
}

QString clock(double seconds)
{
    const qint64 s = static_cast<qint64>(seconds + 0.5);
    return QStringLiteral("%1:%2:%3").arg(s / 3600, 2, 10, QChar('0')).arg((s / 60) % 60, 2, 10, QChar('0')).arg(s % 60, 2, 10, QChar('0'));
}

} // namespace

LiveMonitor::LiveMonitor(QWidget* parent) : QWidget(parent)
{
    m_lossPlot = makePlot(tr("step"), tr("loss"));
    QCPGraph* loss = m_lossPlot->addGraph();
    loss->setName(tr("training loss"));
    loss->setPen(QPen(QColor(40, 90, 200), 1));
    QCPGraph* validation = m_lossPlot->addGraph();
    validation->setName(tr("validation loss"));
    validation->setPen(QPen(QColor(220, 80, 30), 1));
    validation->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, 5));

    m_memoryPlot = makePlot(tr("step"), tr("memory (MiB)"));
    for (int i = 0; i < kCategoryCount; ++i) {
        // Each graph holds the running sum up to its category and fills down to the one below.
        QCPGraph* g = m_memoryPlot->addGraph();
        g->setName(tr(kCategories[i].name));
        g->setPen(QPen(kCategories[i].color.darker(120), 1));
        QColor fill = kCategories[i].color;
        fill.setAlpha(150);
        g->setBrush(fill);
        if (i > 0)
            g->setChannelFillGraph(m_memoryPlot->graph(i - 1));
    }

    m_logScale = new QCheckBox(tr("Log scale"));
    m_progress = new QProgressBar;
    m_progress->setFormat(tr("step %v / %m"));
    m_speed = new QLabel;
    m_eta = new QLabel;
    m_log = new QPlainTextEdit;
    m_log->setReadOnly(true);
    m_log->setMaximumBlockCount(5000);
    m_pause = new QPushButton(tr("Pause"));
    m_resume = new QPushButton(tr("Resume"));
    m_stop = new QPushButton(tr("Stop"));

    auto* bar = new QHBoxLayout;
    bar->addWidget(m_progress, 1);
    bar->addWidget(m_eta);
    bar->addWidget(m_speed);
    bar->addWidget(m_logScale);
    bar->addWidget(m_pause);
    bar->addWidget(m_resume);
    bar->addWidget(m_stop);

    auto* splitter = new QSplitter(Qt::Vertical);
    auto* plots = new QSplitter(Qt::Horizontal);
    plots->addWidget(m_lossPlot);
    plots->addWidget(m_memoryPlot);
    splitter->addWidget(plots);
    splitter->addWidget(m_log);
    splitter->setStretchFactor(0, 3);
    splitter->setStretchFactor(1, 1);

    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addLayout(bar);
    layout->addWidget(splitter, 1);

    connect(m_logScale, &QCheckBox::toggled, this, &LiveMonitor::setLogScale);
    connect(m_pause, &QPushButton::clicked, this, [this] {
        setControls(true, true);
        Q_EMIT pauseRequested();
    });
    connect(m_resume, &QPushButton::clicked, this, [this] {
        setControls(true, false);
        Q_EMIT resumeRequested();
    });
    connect(m_stop, &QPushButton::clicked, this, [this] {
        m_stop->setEnabled(false);
        m_pause->setEnabled(false);
        m_resume->setEnabled(false);
        addLog(0, tr("Stopping after the current step ..."));
        Q_EMIT stopRequested();
    });
    setControls(false, false);
}

QCPGraph* LiveMonitor::lossGraph() const
{
    return m_lossPlot->graph(0);
}

QCPGraph* LiveMonitor::validationGraph() const
{
    return m_lossPlot->graph(1);
}

void LiveMonitor::beginRun(qint64 totalSteps)
{
    m_totalSteps = totalSteps;
    m_firstStep = -1;
    m_haveLoss = false;
    m_memoryMax = 0;
    for (int i = 0; i < m_lossPlot->graphCount(); ++i)
        m_lossPlot->graph(i)->data()->clear();
    for (int i = 0; i < m_memoryPlot->graphCount(); ++i)
        m_memoryPlot->graph(i)->data()->clear();
    const double right = totalSteps > 0 ? static_cast<double>(totalSteps) : 10.0;
    m_lossPlot->xAxis->setRange(0, right);
    m_memoryPlot->xAxis->setRange(0, right);
    m_progress->setRange(0, static_cast<int>(std::max<qint64>(1, totalSteps)));
    m_progress->setValue(0);
    m_speed->clear();
    m_eta->clear();
    setControls(true, false);
    m_lossPlot->replot(QCustomPlot::rpQueuedReplot);
    m_memoryPlot->replot(QCustomPlot::rpQueuedReplot);
}

void LiveMonitor::growLossRange(double step, double loss)
{
    if (!m_haveLoss) {
        m_lossMin = m_lossMax = loss;
        m_haveLoss = true;
    }
    m_lossMin = std::min(m_lossMin, loss);
    m_lossMax = std::max(m_lossMax, loss);
    const double pad = 0.05 * (m_lossMax - m_lossMin) + 1e-3;
    const bool log = m_logScale->isChecked();
    const double low = log ? std::max(1e-6, m_lossMin * 0.9) : std::max(0.0, m_lossMin - pad);
    m_lossPlot->yAxis->setRange(low, log ? m_lossMax * 1.1 : m_lossMax + pad);
    if (step > m_lossPlot->xAxis->range().upper)
        m_lossPlot->xAxis->setRangeUpper(step);
}

void LiveMonitor::addStep(const tb::StepReport& r)
{
    if (m_firstStep < 0) {
        m_firstStep = r.step;
        m_firstElapsed = 0;
    }
    if (r.totalSteps > 0 && r.totalSteps != m_totalSteps) {
        m_totalSteps = r.totalSteps;
        m_progress->setRange(0, static_cast<int>(r.totalSteps));
        m_lossPlot->xAxis->setRangeUpper(static_cast<double>(r.totalSteps));
        m_memoryPlot->xAxis->setRangeUpper(static_cast<double>(r.totalSteps));
    }
    m_progress->setValue(static_cast<int>(r.step));
    m_speed->setText(tr("%1 tokens/s").arg(r.tokensPerSecond, 0, 'f', 0));
    const double perStep = r.elapsedSeconds / static_cast<double>(std::max<qint64>(1, r.step - m_firstStep + 1));
    m_eta->setText(tr("ETA %1").arg(clock(perStep * static_cast<double>(std::max<qint64>(0, m_totalSteps - r.step)))));
    if (!r.skipped) {
        lossGraph()->addData(static_cast<double>(r.step), r.loss);
        growLossRange(static_cast<double>(r.step), r.loss);
        m_lossPlot->replot(QCustomPlot::rpQueuedReplot);
    }
}

void LiveMonitor::addEval(const tb::EvalReport& r)
{
    validationGraph()->addData(static_cast<double>(r.step), r.loss);
    growLossRange(static_cast<double>(r.step), r.loss);
    m_lossPlot->replot(QCustomPlot::rpQueuedReplot);
}

void LiveMonitor::addMemory(const tb::MemorySample& m)
{
    const double parts[kCategoryCount - 1] = {double(m.baseWeightBytes), double(m.adapterBytes), double(m.gradientBytes),
                                              double(m.optimizerBytes)};
    const double x = static_cast<double>(m.step);
    double sum = 0;
    for (int i = 0; i < kCategoryCount - 1; ++i) {
        sum += parts[i];
        m_memoryPlot->graph(i)->addData(x, sum / kMiB);
    }
    // rest = rss - the measured categories; the top of the stack is the RSS itself.
    const double top = std::max(sum, double(m.residentBytes)) / kMiB;
    m_memoryPlot->graph(kCategoryCount - 1)->addData(x, top);
    m_memoryMax = std::max(m_memoryMax, top);
    m_memoryPlot->yAxis->setRange(0, m_memoryMax * 1.1 + 1);
    if (x > m_memoryPlot->xAxis->range().upper)
        m_memoryPlot->xAxis->setRangeUpper(x);
    m_memoryPlot->replot(QCustomPlot::rpQueuedReplot);
}

void LiveMonitor::addLog(int level, const QString& message)
{
    const QString prefix = level == static_cast<int>(tb::LogLevel::Error)     ? tr("error: ")
                           : level == static_cast<int>(tb::LogLevel::Warning) ? tr("warning: ")
                                                                               : QString();
    m_log->appendPlainText(prefix + message);
}

void LiveMonitor::endRun(int status, const QString& reason, const QString& adapterDir)
{
    static const char* names[] = {"finished", "cancelled", "failed"};
    const QString name = status >= 0 && status < 3 ? QString::fromLatin1(names[status]) : QString::number(status);
    addLog(status == 2 ? static_cast<int>(tb::LogLevel::Error) : 0, reason.isEmpty() ? name : name + ": " + reason);
    if (!adapterDir.isEmpty())
        addLog(0, tr("saved %1").arg(adapterDir));
    m_eta->setText(name);
    setControls(false, false);
}

void LiveMonitor::setLogScale(bool on)
{
    if (m_logScale->isChecked() != on) {
        m_logScale->setChecked(on); // re-enters through toggled
        return;
    }
    m_lossPlot->yAxis->setScaleType(on ? QCPAxis::stLogarithmic : QCPAxis::stLinear);
    if (on)
        m_lossPlot->yAxis->setTicker(QSharedPointer<QCPAxisTickerLog>(new QCPAxisTickerLog));
    else
        m_lossPlot->yAxis->setTicker(QSharedPointer<QCPAxisTicker>(new QCPAxisTicker));
    if (m_haveLoss)
        growLossRange(0, m_lossMin);
    m_lossPlot->replot(QCustomPlot::rpQueuedReplot);
}

void LiveMonitor::setControls(bool running, bool paused)
{
    m_pause->setEnabled(running && !paused);
    m_resume->setEnabled(running && paused);
    m_stop->setEnabled(running);
}
