// The Compare view: several recorded runs side by side. Loss and validation-loss curves of
// every run overlaid (one colour per run, validation dashed) against step, tokens or wall
// time, with a log-scale toggle and drag/zoom; host memory (peak RSS, else RSS) and, where
// recorded, CUDA allocated memory overlaid in MiB; the runs' ComparisonTable (settings and
// results, differing rows highlighted); and exports to PNG, Markdown and CSV.
//
// Thread contract: a GUI-thread widget. showRuns() returns at once: the database is read on a
// QtConcurrent pool thread, which opens its own tb::RunStore connection (never the GUI's) and
// hands plain values back through a QFutureWatcher, so the GUI thread never waits on SQLite.
// A newer showRuns() supersedes an older one still loading (whose result is dropped).
#pragma once

#include "store/ComparisonTable.h"
#include "store/StoreTypes.h"

#include <QList>
#include <QString>
#include <QWidget>

#include <vector>

class QCheckBox;
class QComboBox;
class QCPGraph;
class QCustomPlot;
class QLabel;
class QPushButton;
class QTableWidget;

// One run's curves as read from the database (plain values; built on the pool thread).
struct CompareRunCurves {
    qint64 id = 0;
    QString name;
    std::vector<tb::MetricPoint> loss, validationLoss;
    QString hostCategory;                  // "peak_rss" or "rss"; "" when neither was recorded
    // A data-parallel run's: the largest worker's at each step.
    std::vector<tb::MemoryPoint> host;
    std::vector<tb::MemoryPoint> cuda;     // cuda_allocated; empty when not recorded
};

class CompareView : public QWidget {
    Q_OBJECT
public:
    enum class XAxis { Step, Tokens, WallTime };
    // Set on every item of a differing table row: true.
    static constexpr int DiffersRole = Qt::UserRole + 1;

    explicit CompareView(const QString& databasePath, QWidget* parent = nullptr);
    ~CompareView() override;

    QCustomPlot* lossPlot() const { return m_lossPlot; }
    QCustomPlot* memoryPlot() const { return m_memoryPlot; }
    QTableWidget* table() const { return m_table; }
    QComboBox* xAxisChooser() const { return m_xAxis; }
    QCheckBox* logScaleBox() const { return m_logScale; }
    QLabel* messageLabel() const { return m_message; }
    QPushButton* exportPngButton() const { return m_exportPng; }
    QPushButton* exportMarkdownButton() const { return m_exportMarkdown; }
    QPushButton* exportCsvButton() const { return m_exportCsv; }
    // runIndex in the order given to showRuns; nullptr when out of range.
    QCPGraph* lossGraph(int runIndex) const;
    QCPGraph* validationGraph(int runIndex) const;
    QCPGraph* hostMemoryGraph(int runIndex) const;
    QCPGraph* cudaMemoryGraph(int runIndex) const; // nullptr when the run recorded no CUDA memory
    const tb::ComparisonTable& comparisonTable() const { return m_comparison; }
    const QList<qint64>& shownRuns() const { return m_shownIds; }
    XAxis xAxis() const { return m_axis; }
    bool isLoading() const { return m_pending != 0; }

    // Fills `table` with `comparison` as this view shows it: a "Property" column, one per
    // compared thing, section heading rows, differing rows highlighted (DiffersRole true).
    static void fillComparisonTable(QTableWidget* table, const tb::ComparisonTable& comparison);

    // One image: the table's title, the loss plot above the memory plot.
    bool exportPng(const QString& path);
    bool exportMarkdown(const QString& path);
    bool exportCsv(const QString& path);

public Q_SLOTS:
    void showRuns(const QList<qint64>& runIds);
    void setXAxis(CompareView::XAxis axis);
    void setLogScale(bool on);

Q_SIGNALS:
    // A showRuns request finished and is on screen (runCount 0 after an empty request).
    void loaded(int runCount);
    void errorOccurred(const QString& message);

private:
    struct LoadResult;
    void applyResult(const LoadResult& result);
    void rebuildPlots();
    void fillTable();
    void showError(const QString& message);
    bool writeText(const QString& path, const std::string& text, const char* what);
    void chooseExportFile(const QString& caption, const QString& filter, const QString& suffix,
                          bool (CompareView::*exporter)(const QString&));

    QString m_databasePath;
    QCustomPlot* m_lossPlot;
    QCustomPlot* m_memoryPlot;
    QTableWidget* m_table;
    QComboBox* m_xAxis;
    QCheckBox* m_logScale;
    QLabel* m_message;
    QPushButton* m_exportPng;
    QPushButton* m_exportMarkdown;
    QPushButton* m_exportCsv;

    XAxis m_axis = XAxis::Step;
    quint64 m_requests = 0;                // showRuns calls so far; a result of an older one is dropped
    quint64 m_pending = 0;                 // the request being loaded, 0 when none
    QList<qint64> m_shownIds;
    std::vector<CompareRunCurves> m_runs;
    tb::ComparisonTable m_comparison;
    // Graph indices per run in the plots: loss, validation; host, cuda (-1: none).
    std::vector<int> m_lossGraphs, m_validationGraphs, m_hostGraphs, m_cudaGraphs;
};

Q_DECLARE_METATYPE(CompareView::XAxis)
