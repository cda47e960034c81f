// The run list as a table model: one row per run of RunQueries::listRuns() (newest first),
// re-read by refresh(). Columns: name, model (folder name), method, rank, status, reason (why a
// run failed, was cancelled or interrupted; the whole text as the status's and reason's
// tooltip), final validation loss, peak memory (shown human-readable, sorted by bytes through
// SortRole), started date.
//
// Thread contract: GUI thread only. The model opens its own RunStore connection on the GUI
// thread and queries it there. That is acceptable only because listRuns is cheap: ~0.2 ms for
// 20 runs of 2,000 steps (docs/database.md, "listRuns" benchmark); anything heavier (curves,
// compare) must go to a worker thread.
#pragma once

#include "store/StoreTypes.h"

#include <QAbstractTableModel>
#include <QString>

#include <memory>
#include <vector>

namespace tb {
class RunStore;
}

class RunListModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { Name, Model, Method, Rank, Status, Reason, ValLoss, PeakMemory, Started, ColumnCount };
    static constexpr int SortRole = Qt::UserRole + 1; // numbers for numeric columns
    static constexpr int RunIdRole = Qt::UserRole + 2;

    // databasePath empty: no database, the list stays empty.
    explicit RunListModel(const QString& databasePath, QObject* parent = nullptr);
    ~RunListModel() override;

    int rowCount(const QModelIndex& parent = QModelIndex()) const override;
    int columnCount(const QModelIndex& parent = QModelIndex()) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;

    const tb::RunSummary& run(int row) const { return m_runs.at(static_cast<size_t>(row)); }
    // The write side on the same connection (rename, tag, note, delete); nullptr without a database.
    tb::RunStore* store();
    QString databasePath() const { return m_databasePath; }
    QString lastError() const { return m_lastError; }

public Q_SLOTS:
    // Re-reads the list; returns false (and keeps lastError) when the database cannot be read.
    // A database file that does not exist yet gives an empty list and is not created.
    bool refresh();

private:
    QString m_databasePath;
    std::unique_ptr<tb::RunStore> m_store;
    std::vector<tb::RunSummary> m_runs;
    QString m_lastError;
};
