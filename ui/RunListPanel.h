// The window's "Runs" tab: the experiment database's runs in a sortable, filterable table
// (RunListModel behind a QSortFilterProxyModel), Refresh and Compare buttons, and a context
// menu with Compare, Re-run with the same settings, Resume, Export, Show memory, Rename, Add
// tag, Note, Open run folder and Delete. The actions that belong to other parts of the window
// (compare, re-run, resume, export, memory) are only requested through signals; MainWindow
// routes them.
//
// Thread contract: GUI thread only (see RunListModel for why reading the database there is
// acceptable). Dialogs are opened with open() (non-blocking); the slots they end in
// (renameRun, addTag, setNote, deleteRuns) are public so tests can drive them directly.
#pragma once

#include <QList>
#include <functional>
#include <QWidget>

class QLineEdit;
class QPushButton;
class QSortFilterProxyModel;
class QTableView;
class RunListModel;
namespace tb {
struct RunSummary;
}

class RunListPanel : public QWidget {
    Q_OBJECT
public:
    explicit RunListPanel(const QString& databasePath, QWidget* parent = nullptr);

    RunListModel* model() const { return m_model; }
    QSortFilterProxyModel* proxy() const { return m_proxy; }
    QTableView* view() const { return m_view; }
    QLineEdit* filterEdit() const { return m_filter; }
    QPushButton* refreshButton() const { return m_refresh; }
    QPushButton* compareButton() const { return m_compare; }
    // Ids of the selected rows, in view order.
    QList<qint64> selectedRunIds() const;

public Q_SLOTS:
    void refresh();
    // Each writes through the model's RunStore and refreshes; false (with a status message
    // in the tooltip-less error label) when the store refused.
    bool renameRun(qint64 runId, const QString& name);
    bool addTag(qint64 runId, const QString& tag);
    bool setNote(qint64 runId, const QString& note);
    bool deleteRuns(const QList<qint64>& runIds, bool deleteFiles);
    void openRunFolder(qint64 runId);

Q_SIGNALS:
    void errorOccurred(const QString& message);
    void selectionChanged(const QList<qint64>& runIds);
    void compareRequested(const QList<qint64>& runIds);
    void rerunRequested(qint64 runId);  // a new run with this run's settings
    void resumeRequested(qint64 runId); // continue an interrupted/cancelled/failed run from its checkpoint
    void exportRequested(qint64 runId);
    void memoryRequested(qint64 runId);

private Q_SLOTS:
    void showContextMenu(const QPoint& pos);

private:
    void askRename(qint64 runId);
    void askTag(const QList<qint64>& runIds);
    void askNote(qint64 runId);
    void askDelete(const QList<qint64>& runIds);
    bool write(const std::function<void()>& action);
    const tb::RunSummary* summaryOf(qint64 runId) const; // nullptr when not in the list

    RunListModel* m_model;
    QSortFilterProxyModel* m_proxy;
    QTableView* m_view;
    QLineEdit* m_filter;
    QPushButton* m_refresh;
    QPushButton* m_compare;
};
