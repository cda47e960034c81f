#include "LiveMonitor.h"

#include "StackedMemoryPlot.h"

#include "QCustomPlotCompat.h"

#include <QCheckBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLocale>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QScrollBar>
#include <QSplitter>
#include <QTableWidget>
#include <QVBoxLayout>

#include <algorithm>
#include <cstdint>

namespace {

constexpr double kMiB = 1024.0 * 1024.0;

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
    // The schedule (warmup, decay) next to the loss it shapes, on its own right-hand axis.
    QCPGraph* lr = m_lossPlot->addGraph(m_lossPlot->xAxis, m_lossPlot->yAxis2);
    lr->setName(tr("learning rate"));
    lr->setPen(QPen(QColor(120, 120, 120), 1, Qt::DashLine));
    m_lossPlot->yAxis2->setVisible(true);
    m_lossPlot->yAxis2->setLabel(tr("learning rate"));
    m_lossPlot->yAxis2->setNumberFormat("eb");
    m_lossPlot->yAxis2->setNumberPrecision(1);

    // The Memory tab's plot: the same categories against the same basis (RSS on the CPU, the
    // CUDA allocator on a GPU), the peak line and the device's capacity.
    m_memory = new StackedMemoryPlot;

    m_logScale = new QCheckBox(tr("Log scale"));
    m_progress = new QProgressBar;
    m_progress->setFormat(tr("step %v / %m"));
    m_speed = new QLabel;
    m_speed->setToolTip(tr("Tokens trained per second by the whole run (all worker processes together)"));
    m_eta = new QLabel;
    m_lr = new QLabel;
    m_capacity = new QLabel;
    m_showCapacity = new QCheckBox(tr("Show device capacity"));
    m_showCapacity->setToolTip(tr("Draw the device's total memory on the memory plot"));
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
    bar->addWidget(m_lr);
    bar->addWidget(m_logScale);
    bar->addWidget(m_pause);
    bar->addWidget(m_resume);
    bar->addWidget(m_stop);

    // A data-parallel run's workers, under the memory plot; shown once a second one reports.
    m_workerTable = new QTableWidget(0, 3);
    m_workerTable->verticalHeader()->setVisible(false);
    m_workerTable->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_workerTable->horizontalHeader()->setSectionResizeMode(0, QHeaderView::Stretch);
    m_workerTable->setMaximumHeight(140);
    auto* workerCaption = new QLabel(tr("Each worker process's memory; the plot above stacks worker 0's."));
    workerCaption->setWordWrap(true);
    m_workerPanel = new QWidget;
    auto* workerColumn = new QVBoxLayout(m_workerPanel);
    workerColumn->setContentsMargins(0, 0, 0, 0);
    workerColumn->addWidget(workerCaption);
    workerColumn->addWidget(m_workerTable);
    m_workerPanel->hide();
    auto* memoryColumn = new QWidget;
    auto* memoryLayout = new QVBoxLayout(memoryColumn);
    memoryLayout->setContentsMargins(0, 0, 0, 0);
    memoryLayout->addWidget(m_memory, 1);
    memoryLayout->addWidget(m_workerPanel);

    auto* splitter = new QSplitter(Qt::Vertical);
    auto* plots = new QSplitter(Qt::Horizontal);
    plots->addWidget(m_lossPlot);
    plots->addWidget(memoryColumn);
    splitter->addWidget(plots);
    splitter->addWidget(m_log);
    splitter->setStretchFactor(0, 3);
    splitter->setStretchFactor(1, 1);

    auto* memoryBar = new QHBoxLayout;
    memoryBar->addWidget(m_capacity, 1);
    memoryBar->addWidget(m_showCapacity);

    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addLayout(bar);
    layout->addLayout(memoryBar);
    layout->addWidget(splitter, 1);

    connect(m_logScale, &QCheckBox::toggled, this, &LiveMonitor::setLogScale);
    connect(m_showCapacity, &QCheckBox::toggled, this, &LiveMonitor::setShowCapacity);
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
        addLog(tb::LogLevel::Info, tr("Stopping after the current step ..."));
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

QCPGraph* LiveMonitor::learningRateGraph() const
{
    return m_lossPlot->graph(2);
}

QCustomPlot* LiveMonitor::memoryPlot() const
{
    return m_memory->plot();
}

void LiveMonitor::setDeviceCapacity(qint64 totalBytes, const QString& deviceName)
{
    m_deviceTotal = totalBytes;
    m_deviceName = deviceName;
    m_capacity->setText(totalBytes > 0 ? tr("Device: %1, %2 GiB total").arg(deviceName).arg(totalBytes / kMiB / 1024.0, 0, 'f', 1)
                                       : tr("Device: %1").arg(deviceName));
    m_showCapacity->setEnabled(totalBytes > 0);
    m_memory->setCapacity(totalBytes, deviceName);
}

void LiveMonitor::setShowCapacity(bool on)
{
    if (m_showCapacity->isChecked() != on) {
        m_showCapacity->setChecked(on); // re-enters through toggled
        return;
    }
    m_memory->setShowCapacity(on);
}

void LiveMonitor::beginRun(qint64 totalSteps)
{
    m_totalSteps = totalSteps;
    m_firstStep = -1;
    m_haveLoss = false;
    m_lrMax = 0;
    m_lr->clear();
    for (int i = 0; i < m_lossPlot->graphCount(); ++i)
        m_lossPlot->graph(i)->data()->clear();
    m_memory->clear();
    m_workerMemory.clear();
    m_workerTable->setRowCount(0);
    m_workerPanel->hide();
    m_tokensPerSecond = -1;
    const double right = totalSteps > 0 ? static_cast<double>(totalSteps) : 10.0;
    m_lossPlot->xAxis->setRange(0, right);
    m_progress->setRange(0, static_cast<int>(std::max<qint64>(1, totalSteps)));
    m_progress->setValue(0);
    m_speed->clear();
    m_eta->clear();
    setControls(true, false);
    m_lossPlot->replot(QCustomPlot::rpQueuedReplot);
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
    }
    m_progress->setValue(static_cast<int>(r.step));
    m_tokensPerSecond = r.tokensPerSecond;
    updateSpeedText();
    m_lr->setText(tr("lr %1").arg(r.learningRate, 0, 'e', 2));
    learningRateGraph()->addData(static_cast<double>(r.step), r.learningRate);
    if (r.learningRate > m_lrMax) {
        m_lrMax = r.learningRate;
        m_lossPlot->yAxis2->setRange(0, m_lrMax * 1.1);
    }
    const double perStep = r.elapsedSeconds / static_cast<double>(std::max<qint64>(1, r.step - m_firstStep + 1));
    m_eta->setText(tr("ETA %1").arg(clock(perStep * static_cast<double>(std::max<qint64>(0, m_totalSteps - r.step)))));
    if (!r.skipped) {
        lossGraph()->addData(static_cast<double>(r.step), r.loss);
        growLossRange(static_cast<double>(r.step), r.loss);
    }
    m_lossPlot->replot(QCustomPlot::rpQueuedReplot);
}

void LiveMonitor::addEval(const tb::EvalReport& r)
{
    validationGraph()->addData(static_cast<double>(r.step), r.loss);
    growLossRange(static_cast<double>(r.step), r.loss);
    m_lossPlot->replot(QCustomPlot::rpQueuedReplot);
}

void LiveMonitor::addMemory(const tb::MemorySample& m)
{
    // One stacked plot can hold one process's categories: worker 0's (a one-process run sends
    // nothing else).
    if (m.worker == 0)
        m_memory->addSample(m);
    const size_t workersBefore = m_workerMemory.size();
    WorkerMemory& w = m_workerMemory[m.worker];
    w.current = m.basisBytes();
    w.peak = std::max(w.peak, m.peakBytes());
    m_cudaBasis = m.onCuda();
    if (m_workerMemory.size() > 1) {
        updateWorkerTable();
        m_workerPanel->show();
    }
    if (m_workerMemory.size() != workersBefore)
        updateSpeedText();
    updateCapacityText();
}

void LiveMonitor::updateCapacityText()
{
    if (m_deviceTotal <= 0 || m_workerMemory.empty())
        return;
    // On the CPU every worker is a process of this machine: their RSS adds up against its RAM.
    // On CUDA each worker has its own device; the device shown is worker 0's.
    const bool sum = !m_cudaBasis && m_workerMemory.size() > 1;
    int64_t bytes = 0;
    if (sum) {
        for (const auto& entry : m_workerMemory)
            bytes += std::max<int64_t>(0, entry.second.current);
    } else {
        bytes = m_workerMemory.begin()->second.current;
    }
    const QString basis = m_cudaBasis ? tr("CUDA allocated") : tr("process RSS");
    m_capacity->setText(tr("Device: %1 — %2 %3 MiB of %4 GiB total (%5%)")
                            .arg(m_deviceName)
                            .arg(sum ? tr("%1 of %2 workers").arg(basis).arg(m_workerMemory.size()) : basis)
                            .arg(double(bytes) / kMiB, 0, 'f', 0)
                            .arg(double(m_deviceTotal) / kMiB / 1024.0, 0, 'f', 1)
                            .arg(100.0 * double(bytes) / double(m_deviceTotal), 0, 'f', 1));
}

void LiveMonitor::updateSpeedText()
{
    if (m_tokensPerSecond < 0)
        return;
    const QString speed = tr("%1 tokens/s").arg(m_tokensPerSecond, 0, 'f', 0);
    m_speed->setText(m_workerMemory.size() > 1 ? tr("%1 (%2 workers)").arg(speed).arg(m_workerMemory.size()) : speed);
}

void LiveMonitor::updateWorkerTable()
{
    const int rows = static_cast<int>(m_workerMemory.size()) + 1; // the workers, then their sum
    if (m_workerTable->rowCount() != rows) {
        m_workerTable->setRowCount(rows);
        for (int row = 0; row < rows; ++row)
            for (int column = 0; column < 3; ++column) {
                auto* item = new QTableWidgetItem;
                if (column > 0)
                    item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
                m_workerTable->setItem(row, column, item);
            }
    }
    m_workerTable->setHorizontalHeaderLabels({tr("Worker"), m_cudaBasis ? tr("CUDA allocated") : tr("Process RSS"),
                                              m_cudaBasis ? tr("CUDA peak allocated") : tr("Peak RSS")});
    const QLocale locale;
    auto setBytes = [&](int row, int column, int64_t bytes) {
        QTableWidgetItem* item = m_workerTable->item(row, column);
        item->setText(bytes < 0 ? QStringLiteral("-") : locale.formattedDataSize(bytes, 1, QLocale::DataSizeIecFormat));
        item->setData(Qt::UserRole, qint64(bytes));
    };
    int row = 0;
    int64_t current = 0, peak = 0;
    for (const auto& [rank, w] : m_workerMemory) {
        m_workerTable->item(row, 0)->setText(tr("Worker %1").arg(rank));
        m_workerTable->item(row, 0)->setData(Qt::UserRole, rank);
        setBytes(row, 1, w.current);
        setBytes(row, 2, w.peak);
        current += std::max<int64_t>(0, w.current);
        peak += std::max<int64_t>(0, w.peak);
        ++row;
    }
    QTableWidgetItem* total = m_workerTable->item(row, 0);
    total->setText(tr("All workers (sum)"));
    total->setData(Qt::UserRole, -1);
    total->setToolTip(tr("The peak column sums each worker's own peak: at most what the run held at once"));
    setBytes(row, 1, current);
    setBytes(row, 2, peak);
}

void LiveMonitor::addLog(tb::LogLevel level, const QString& message)
{
    const QString prefix = level == tb::LogLevel::Error ? tr("error: ") : level == tb::LogLevel::Warning ? tr("warning: ") : QString();
    m_log->appendPlainText(prefix + message);
    // Follow the newest line, as a terminal does.
    m_log->verticalScrollBar()->setValue(m_log->verticalScrollBar()->maximum());
}

void LiveMonitor::setPaused(bool paused, qint64 step)
{
    m_eta->setText(paused ? tr("paused after step %1").arg(step) : tr("resumed"));
    addLog(tb::LogLevel::Info, paused ? tr("paused after step %1").arg(step) : tr("resumed at step %1").arg(step));
    setControls(true, paused);
}

void LiveMonitor::endRun(tb::TrainStatus status, const QString& reason, const QString& adapterDir)
{
    const QString name = QString::fromLatin1(tb::trainStatusName(status));
    addLog(status == tb::TrainStatus::Failed ? tb::LogLevel::Error : tb::LogLevel::Info, reason.isEmpty() ? name : name + ": " + reason);
    if (!adapterDir.isEmpty())
        addLog(tb::LogLevel::Info, tr("saved %1").arg(adapterDir));
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
