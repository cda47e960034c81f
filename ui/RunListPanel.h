// The window's "Runs" tab: the experiment database's runs in a sortable, filterable table
// (RunListModel behind a QSortFilterProxyModel), a Refresh button, and a context menu with
// Rename, Add tag, Note, Delete and Open run folder.
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

class RunListPanel : public QWidget {
    Q_OBJECT
public:
    explicit RunListPanel(const QString& databasePath, QWidget* parent = nullptr);

    RunListModel* model() const { return m_model; }
    QSortFilterProxyModel* proxy() const { return m_proxy; }
    QTableView* view() const { return m_view; }
    QLineEdit* filterEdit() const { return m_filter; }
    QPushButton* refreshButton() const { return m_refresh; }
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

private Q_SLOTS:
    void showContextMenu(const QPoint& pos);

private:
    void askRename(qint64 runId);
    void askTag(const QList<qint64>& runIds);
    void askNote(qint64 runId);
    void askDelete(const QList<qint64>& runIds);
    bool write(const std::function<void()>& action);

    RunListModel* m_model;
    QSortFilterProxyModel* m_proxy;
    QTableView* m_view;
    QLineEdit* m_filter;
    QPushButton* m_refresh;
};
