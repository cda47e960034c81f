#include "CompareView.h"

#include "QCustomPlotCompat.h"

#include "store/RunQueries.h"
#include "store/RunStore.h"

#include <QCheckBox>
#include <QComboBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFutureWatcher>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPainter>
#include <QPushButton>
#include <QSaveFile>
#include <QSignalBlocker>
#include <QSplitter>
#include <QTableWidget>
#include <QTextDocument>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

#include <algorithm>
#include <cmath>
#include <map>

namespace {

constexpr double kMiB = 1024.0 * 1024.0;
// The differing rows' background, as ComparisonTable::toHtml colours them.
const QColor kDiffersBackground(0xff, 0xf2, 0xb3);

// Tableau 10: distinct hues that stay apart in print; run i gets colour i mod 10.
const QColor kRunColors[] = {
    QColor(31, 119, 180), QColor(255, 127, 14), QColor(44, 160, 44),  QColor(214, 39, 40),  QColor(148, 103, 189),
    QColor(140, 86, 75),  QColor(227, 119, 194), QColor(127, 127, 127), QColor(188, 189, 34), QColor(23, 190, 207),
};

QCustomPlot* makePlot(const QString& yLabel)
{
    auto* plot = new QCustomPlot;
    plot->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
    plot->yAxis->setLabel(yLabel);
    plot->legend->setVisible(true);
    plot->legend->setFont(QFont(plot->font().family(), 8));
    plot->setMinimumHeight(200);
    return plot;
}

QString axisLabel(CompareView::XAxis axis)
{
    switch (axis) {
    case CompareView::XAxis::Tokens: return QObject::tr("tokens");
    case CompareView::XAxis::WallTime: return QObject::tr("wall time (s)");
    case CompareView::XAxis::Step: break;
    }
    return QObject::tr("step");
}

// The x of a metric point on the chosen axis; nullopt when the point did not record it.
std::optional<double> metricKey(const tb::MetricPoint& p, CompareView::XAxis axis)
{
    switch (axis) {
    case CompareView::XAxis::Tokens:
        return p.tokens ? std::optional<double>(static_cast<double>(*p.tokens)) : std::nullopt;
    case CompareView::XAxis::WallTime: return p.wallSeconds;
    case CompareView::XAxis::Step: break;
    }
    return static_cast<double>(p.step);
}

void setMetricData(QCPGraph* graph, const std::vector<tb::MetricPoint>& points, CompareView::XAxis axis)
{
    QVector<double> keys, values;
    for (const tb::MetricPoint& p : points) {
        if (const auto key = metricKey(p, axis)) {
            keys.push_back(*key);
            values.push_back(p.value);
        }
    }
    graph->setData(keys, values);
}

// Memory samples carry step and seconds but no tokens: on the tokens axis a sample takes the
// tokens its run's loss recorded at the same step. Returns false when some sample has no x on
// this axis (then the whole memory plot falls back to steps, so runs stay comparable).
bool memoryKeys(const CompareRunCurves& run, const std::vector<tb::MemoryPoint>& points, CompareView::XAxis axis,
                QVector<double>* keys)
{
    std::map<int64_t, int64_t> tokensAtStep;
    if (axis == CompareView::XAxis::Tokens)
        for (const tb::MetricPoint& p : run.loss)
            if (p.tokens)
                tokensAtStep[p.step] = *p.tokens;
    keys->clear();
    for (const tb::MemoryPoint& p : points) {
        if (axis == CompareView::XAxis::Step) {
            keys->push_back(static_cast<double>(p.step));
        } else if (axis == CompareView::XAxis::WallTime) {
            if (!p.seconds)
                return false;
            keys->push_back(*p.seconds);
        } else {
            const auto it = tokensAtStep.find(p.step);
            if (it == tokensAtStep.end())
                return false;
            keys->push_back(static_cast<double>(it->second));
        }
    }
    return true;
}

// A data-parallel run records a sample per worker at each step: the run's curve is the largest
// worker's at each step (as its peak is the largest over the workers), taken at worker 0's
// seconds. A one-process run's points are kept as they are.
std::vector<tb::MemoryPoint> largestWorkerPerStep(std::vector<tb::MemoryPoint> points)
{
    if (std::none_of(points.begin(), points.end(), [](const tb::MemoryPoint& p) { return p.worker != 0; }))
        return points;
    std::vector<tb::MemoryPoint> merged; // points come in step order (RunQueries::memorySeries)
    for (const tb::MemoryPoint& p : points) {
        if (!merged.empty() && merged.back().step == p.step) {
            merged.back().bytes = std::max(merged.back().bytes, p.bytes);
            if (!merged.back().seconds)
                merged.back().seconds = p.seconds;
        } else {
            merged.push_back(p);
        }
    }
    return merged;
}

QVector<double> mebibytes(const std::vector<tb::MemoryPoint>& points)
{
    QVector<double> values;
    for (const tb::MemoryPoint& p : points)
        values.push_back(static_cast<double>(p.bytes) / kMiB);
    return values;
}

} // namespace

struct CompareView::LoadResult {
    quint64 request = 0;
    QString error;
    tb::ComparisonTable table;
    std::vector<CompareRunCurves> runs;
};

CompareView::CompareView(const QString& databasePath, QWidget* parent) : QWidget(parent), m_databasePath(databasePath)
{
    qRegisterMetaType<CompareView::XAxis>();
    m_lossPlot = makePlot(tr("loss"));
    m_memoryPlot = makePlot(tr("memory (MiB)"));

    m_xAxis = new QComboBox;
    m_xAxis->addItem(tr("Step"), int(XAxis::Step));
    m_xAxis->addItem(tr("Tokens"), int(XAxis::Tokens));
    m_xAxis->addItem(tr("Wall time"), int(XAxis::WallTime));
    m_logScale = new QCheckBox(tr("Log scale"));
    m_exportPng = new QPushButton(tr("Export PNG..."));
    m_exportMarkdown = new QPushButton(tr("Export Markdown..."));
    m_exportCsv = new QPushButton(tr("Export CSV..."));
    m_message = new QLabel;
    m_message->setTextInteractionFlags(Qt::TextSelectableByMouse);

    m_table = new QTableWidget;
    m_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_table->setSelectionMode(QAbstractItemView::ContiguousSelection);
    m_table->verticalHeader()->setVisible(false);
    m_table->horizontalHeader()->setStretchLastSection(true);

    auto* bar = new QHBoxLayout;
    bar->addWidget(new QLabel(tr("x axis:")));
    bar->addWidget(m_xAxis);
    bar->addWidget(m_logScale);
    bar->addWidget(m_message, 1);
    bar->addWidget(m_exportPng);
    bar->addWidget(m_exportMarkdown);
    bar->addWidget(m_exportCsv);

    auto* plots = new QSplitter(Qt::Horizontal);
    plots->addWidget(m_lossPlot);
    plots->addWidget(m_memoryPlot);
    auto* splitter = new QSplitter(Qt::Vertical);
    splitter->addWidget(plots);
    splitter->addWidget(m_table);
    splitter->setStretchFactor(0, 3);
    splitter->setStretchFactor(1, 2);

    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addLayout(bar);
    layout->addWidget(splitter, 1);

    connect(m_xAxis, qOverload<int>(&QComboBox::currentIndexChanged), this,
            [this](int index) { setXAxis(static_cast<XAxis>(m_xAxis->itemData(index).toInt())); });
    connect(m_logScale, &QCheckBox::toggled, this, &CompareView::setLogScale);
    connect(m_exportPng, &QPushButton::clicked, this, [this] {
        chooseExportFile(tr("Export PNG"), tr("PNG images (*.png)"), "png", &CompareView::exportPng);
    });
    connect(m_exportMarkdown, &QPushButton::clicked, this, [this] {
        chooseExportFile(tr("Export Markdown"), tr("Markdown (*.md)"), "md", &CompareView::exportMarkdown);
    });
    connect(m_exportCsv, &QPushButton::clicked, this, [this] {
        chooseExportFile(tr("Export CSV"), tr("CSV (*.csv)"), "csv", &CompareView::exportCsv);
    });
    applyResult(LoadResult{});
}

// Watchers still loading are children and go with the view; their pool tasks finish on their
// own (they share nothing with the view) and the results are dropped.
CompareView::~CompareView() = default;

QCPGraph* CompareView::lossGraph(int runIndex) const
{
    return runIndex >= 0 && runIndex < int(m_lossGraphs.size()) ? m_lossPlot->graph(m_lossGraphs[runIndex]) : nullptr;
}

QCPGraph* CompareView::validationGraph(int runIndex) const
{
    return runIndex >= 0 && runIndex < int(m_validationGraphs.size()) ? m_lossPlot->graph(m_validationGraphs[runIndex])
                                                                       : nullptr;
}

QCPGraph* CompareView::hostMemoryGraph(int runIndex) const
{
    if (runIndex < 0 || runIndex >= int(m_hostGraphs.size()) || m_hostGraphs[runIndex] < 0)
        return nullptr;
    return m_memoryPlot->graph(m_hostGraphs[runIndex]);
}

QCPGraph* CompareView::cudaMemoryGraph(int runIndex) const
{
    if (runIndex < 0 || runIndex >= int(m_cudaGraphs.size()) || m_cudaGraphs[runIndex] < 0)
        return nullptr;
    return m_memoryPlot->graph(m_cudaGraphs[runIndex]);
}

void CompareView::showRuns(const QList<qint64>& runIds)
{
    const quint64 request = ++m_requests;
    m_shownIds = runIds;
    if (runIds.isEmpty()) {
        m_pending = 0;
        applyResult(LoadResult{request, {}, {}, {}});
        Q_EMIT loaded(0);
        return;
    }
    m_pending = request;
    m_message->setStyleSheet(QString());
    m_message->setText(tr("Loading %n run(s)...", "", int(runIds.size())));

    auto* watcher = new QFutureWatcher<LoadResult>(this);
    connect(watcher, &QFutureWatcherBase::finished, this, [this, watcher, request] {
        watcher->deleteLater();
        if (request != m_requests)
            return; // a newer showRuns is on its way
        m_pending = 0;
        const LoadResult result = watcher->result();
        applyResult(result);
        if (result.error.isEmpty())
            Q_EMIT loaded(int(m_runs.size()));
        else
            showError(result.error);
    });
    // Pool thread: its own connection, plain values out. Nothing here touches the widget.
    watcher->setFuture(QtConcurrent::run([path = m_databasePath, runIds, request] {
        LoadResult result;
        result.request = request;
        try {
            if (path.isEmpty() || !QFileInfo::exists(path)) {
                result.error = QObject::tr("No experiment database at \"%1\"").arg(path);
                return result;
            }
            tb::StoreOptions options;
            options.recoverInterruptedRuns = false; // a viewer does not change run states
            tb::RunStore store(path.toStdString(), options);
            tb::RunQueries queries(store.database());
            std::vector<int64_t> ids(runIds.begin(), runIds.end());
            const tb::RunComparison comparison = queries.compareRuns(ids);
            std::vector<tb::RunDetails> details;
            for (const int64_t id : ids)
                details.push_back(queries.getRun(id));
            result.table = tb::comparisonTableOf(comparison, details);
            for (const tb::RunSummary& run : comparison.runs) {
                CompareRunCurves curves;
                curves.id = run.id;
                curves.name = QString::fromStdString(run.name);
                curves.loss = queries.metricSeries(run.id, "loss");
                curves.validationLoss = queries.metricSeries(run.id, "val_loss");
                const std::vector<std::string> categories = queries.memoryCategories(run.id);
                auto has = [&](const char* c) { return std::find(categories.begin(), categories.end(), c) != categories.end(); };
                curves.hostCategory = has("peak_rss") ? "peak_rss" : has("rss") ? "rss" : "";
                if (!curves.hostCategory.isEmpty())
                    curves.host = largestWorkerPerStep(queries.memorySeries(run.id, curves.hostCategory.toStdString()));
                if (has("cuda_allocated"))
                    curves.cuda = largestWorkerPerStep(queries.memorySeries(run.id, "cuda_allocated"));
                result.runs.push_back(std::move(curves));
            }
        } catch (const std::exception& e) {
            result.error = QString::fromStdString(e.what());
        }
        return result;
    }));
}

void CompareView::applyResult(const LoadResult& result)
{
    m_runs = result.runs;
    m_comparison = result.table;
    rebuildPlots();
    fillTable();
    const bool any = !m_runs.empty();
    m_exportPng->setEnabled(any);
    m_exportMarkdown->setEnabled(any);
    m_exportCsv->setEnabled(any);
    m_message->setStyleSheet(QString());
    m_message->setText(any ? QString::fromStdString(m_comparison.title()) : tr("No runs to compare: select runs on the Runs tab."));
}

void CompareView::setXAxis(CompareView::XAxis axis)
{
    m_axis = axis;
    {
        const QSignalBlocker blocker(m_xAxis);
        m_xAxis->setCurrentIndex(m_xAxis->findData(int(axis)));
    }
    rebuildPlots();
}

void CompareView::setLogScale(bool on)
{
    {
        const QSignalBlocker blocker(m_logScale);
        m_logScale->setChecked(on);
    }
    m_lossPlot->yAxis->setScaleType(on ? QCPAxis::stLogarithmic : QCPAxis::stLinear);
    if (on)
        m_lossPlot->yAxis->setTicker(QSharedPointer<QCPAxisTickerLog>::create());
    else
        m_lossPlot->yAxis->setTicker(QSharedPointer<QCPAxisTicker>::create());
    m_lossPlot->rescaleAxes();
    m_lossPlot->replot(QCustomPlot::rpQueuedReplot);
}

void CompareView::rebuildPlots()
{
    m_lossPlot->clearGraphs();
    m_memoryPlot->clearGraphs();
    m_lossGraphs.clear();
    m_validationGraphs.clear();
    m_hostGraphs.clear();
    m_cudaGraphs.clear();

    // The memory plot shares the x axis unless some sample cannot be placed on it.
    XAxis memoryAxis = m_axis;
    QVector<double> keys;
    for (const CompareRunCurves& run : m_runs)
        if (!memoryKeys(run, run.host, m_axis, &keys) || !memoryKeys(run, run.cuda, m_axis, &keys))
            memoryAxis = XAxis::Step;

    for (size_t i = 0; i < m_runs.size(); ++i) {
        const CompareRunCurves& run = m_runs[i];
        const QColor color = kRunColors[i % (sizeof kRunColors / sizeof kRunColors[0])];
        const QString name = run.name.isEmpty() ? QStringLiteral("#%1").arg(run.id) : run.name;

        QCPGraph* loss = m_lossPlot->addGraph();
        loss->setName(name);
        loss->setPen(QPen(color, 1.5));
        setMetricData(loss, run.loss, m_axis);
        m_lossGraphs.push_back(m_lossPlot->graphCount() - 1);

        QCPGraph* validation = m_lossPlot->addGraph();
        validation->setName(tr("%1 (validation)").arg(name));
        validation->setPen(QPen(color, 1.5, Qt::DashLine));
        validation->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, 5));
        setMetricData(validation, run.validationLoss, m_axis);
        m_validationGraphs.push_back(m_lossPlot->graphCount() - 1);

        m_hostGraphs.push_back(-1);
        if (!run.host.empty()) {
            QCPGraph* host = m_memoryPlot->addGraph();
            host->setName(run.hostCategory == "peak_rss" ? tr("%1 peak RSS").arg(name) : tr("%1 RSS").arg(name));
            host->setPen(QPen(color, 1.5));
            memoryKeys(run, run.host, memoryAxis, &keys);
            host->setData(keys, mebibytes(run.host));
            m_hostGraphs.back() = m_memoryPlot->graphCount() - 1;
        }
        m_cudaGraphs.push_back(-1);
        if (!run.cuda.empty()) {
            QCPGraph* cuda = m_memoryPlot->addGraph();
            cuda->setName(tr("%1 CUDA allocated").arg(name));
            cuda->setPen(QPen(color, 1.5, Qt::DotLine));
            memoryKeys(run, run.cuda, memoryAxis, &keys);
            cuda->setData(keys, mebibytes(run.cuda));
            m_cudaGraphs.back() = m_memoryPlot->graphCount() - 1;
        }
    }
    m_lossPlot->xAxis->setLabel(axisLabel(m_axis));
    m_memoryPlot->xAxis->setLabel(memoryAxis == m_axis ? axisLabel(memoryAxis)
                                                       : tr("step (memory samples have no %1)").arg(axisLabel(m_axis)));
    m_lossPlot->rescaleAxes();
    m_memoryPlot->rescaleAxes();
    // Memory from zero, so that runs' sizes compare by eye.
    if (m_memoryPlot->graphCount() > 0)
        m_memoryPlot->yAxis->setRangeLower(0);
    m_lossPlot->replot(QCustomPlot::rpQueuedReplot);
    m_memoryPlot->replot(QCustomPlot::rpQueuedReplot);
}

void CompareView::fillTable()
{
    fillComparisonTable(m_table, m_comparison);
}

void CompareView::fillComparisonTable(QTableWidget* table, const tb::ComparisonTable& comparison)
{
    table->clear();
    const auto& columns = comparison.columns();
    const auto& rows = comparison.rows();
    table->setColumnCount(int(columns.size()) + 1);
    QStringList headers{tr("Property")};
    for (const auto& column : columns)
        headers << QString::fromStdString(column.title + (column.detail.empty() ? "" : "\n" + column.detail));
    table->setHorizontalHeaderLabels(headers);

    int sectionRows = 0;
    for (size_t i = 0; i < rows.size(); ++i)
        if (!rows[i].section.empty() && (i == 0 || rows[i].section != rows[i - 1].section))
            ++sectionRows;
    table->setRowCount(int(rows.size()) + sectionRows);

    int r = 0;
    for (size_t i = 0; i < rows.size(); ++i) {
        const tb::ComparisonRow& row = rows[i];
        if (!row.section.empty() && (i == 0 || row.section != rows[i - 1].section)) {
            auto* heading = new QTableWidgetItem(QString::fromStdString(row.section));
            QFont font = heading->font();
            font.setBold(true);
            heading->setFont(font);
            heading->setFlags(Qt::ItemIsEnabled);
            table->setItem(r, 0, heading);
            table->setSpan(r, 0, 1, table->columnCount());
            ++r;
        }
        auto* property = new QTableWidgetItem(QString::fromStdString(row.property));
        if (!row.note.empty())
            property->setToolTip(QString::fromStdString(row.note));
        table->setItem(r, 0, property);
        for (size_t c = 0; c < row.cells.size(); ++c)
            table->setItem(r, int(c) + 1, new QTableWidgetItem(QString::fromStdString(row.cells[c])));
        for (int c = 0; c < table->columnCount(); ++c) {
            QTableWidgetItem* item = table->item(r, c);
            item->setData(DiffersRole, row.differs);
            if (row.differs) {
                item->setBackground(kDiffersBackground);
                item->setForeground(Qt::black); // readable on the pale background in dark themes too
                if (c == 0) {
                    QFont font = item->font();
                    font.setBold(true);
                    item->setFont(font);
                }
            }
        }
        ++r;
    }
    table->resizeColumnsToContents();
    table->resizeRowsToContents();
}

void CompareView::showError(const QString& message)
{
    m_message->setStyleSheet(QStringLiteral("color: #b00020"));
    m_message->setText(message);
    Q_EMIT errorOccurred(message);
}

bool CompareView::writeText(const QString& path, const std::string& text, const char* what)
{
    if (m_runs.empty()) {
        showError(tr("Nothing to export: no runs are shown"));
        return false;
    }
    QSaveFile file(path);
    if (!file.open(QIODevice::WriteOnly)) {
        showError(tr("Could not write %1 to %2: %3").arg(QLatin1String(what), path, file.errorString()));
        return false;
    }
    file.write(text.data(), qint64(text.size()));
    if (!file.commit()) {
        showError(tr("Could not write %1 to %2: %3").arg(QLatin1String(what), path, file.errorString()));
        return false;
    }
    m_message->setStyleSheet(QString());
    m_message->setText(tr("Wrote %1").arg(path));
    return true;
}

bool CompareView::exportMarkdown(const QString& path)
{
    return writeText(path, m_comparison.toMarkdown(), "Markdown");
}

bool CompareView::exportCsv(const QString& path)
{
    return writeText(path, m_comparison.toCsv(), "CSV");
}

bool CompareView::exportPng(const QString& path)
{
    if (m_runs.empty()) {
        showError(tr("Nothing to export: no runs are shown"));
        return false;
    }
    // Fixed sizes, so the image does not depend on the window (or on it being shown at all).
    const int width = 1200, plotHeight = 500, titleHeight = 48, margin = 16;
    QTextDocument table;
    table.setHtml(QString::fromStdString(m_comparison.toHtml()));
    table.setTextWidth(width - 2 * margin);
    const int tableHeight = int(std::ceil(table.size().height()));

    QImage image(width, titleHeight + 2 * plotHeight + tableHeight + 2 * margin, QImage::Format_ARGB32);
    image.fill(Qt::white);
    {
        QPainter painter(&image);
        QFont font = painter.font();
        font.setPointSize(14);
        font.setBold(true);
        painter.setFont(font);
        painter.setPen(Qt::black);
        painter.drawText(QRect(margin, 0, width - 2 * margin, titleHeight), Qt::AlignVCenter | Qt::AlignLeft,
                         QString::fromStdString(m_comparison.title()));
        painter.drawPixmap(0, titleHeight, m_lossPlot->toPixmap(width, plotHeight));
        painter.drawPixmap(0, titleHeight + plotHeight, m_memoryPlot->toPixmap(width, plotHeight));
        painter.translate(margin, titleHeight + 2 * plotHeight + margin);
        table.drawContents(&painter);
    }
    if (!image.save(path, "PNG")) {
        showError(tr("Could not write the PNG image %1").arg(path));
        return false;
    }
    m_message->setStyleSheet(QString());
    m_message->setText(tr("Wrote %1").arg(path));
    return true;
}

void CompareView::chooseExportFile(const QString& caption, const QString& filter, const QString& suffix,
                                   bool (CompareView::*exporter)(const QString&))
{
    // Window-modal through open(): the GUI keeps painting while the dialog is up.
    auto* dialog = new QFileDialog(this, caption, QString(), filter);
    dialog->setAcceptMode(QFileDialog::AcceptSave);
    dialog->setDefaultSuffix(suffix);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    connect(dialog, &QFileDialog::fileSelected, this, [this, exporter](const QString& file) { (this->*exporter)(file); });
    dialog->open();
}
