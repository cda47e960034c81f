#include "RunListModel.h"

#include "store/RunQueries.h"
#include "store/RunStore.h"

#include <QDateTime>
#include <QFileInfo>
#include <QLocale>

#include <limits>

RunListModel::RunListModel(const QString& databasePath, QObject* parent)
    : QAbstractTableModel(parent), m_databasePath(databasePath)
{
}

RunListModel::~RunListModel() = default;

tb::RunStore* RunListModel::store()
{
    // A database that does not exist yet is not created just to show an empty list; the
    // next refresh after a first run is recorded opens it.
    if (!m_store && !m_databasePath.isEmpty() && QFileInfo::exists(m_databasePath)) {
        try {
            // GUI thread: opening and listRuns (~0.2 ms, docs/database.md) are short enough.
            m_store = std::make_unique<tb::RunStore>(m_databasePath.toStdString());
        } catch (const std::exception& e) {
            m_lastError = QString::fromStdString(e.what());
        }
    }
    return m_store.get();
}

bool RunListModel::refresh()
{
    std::vector<tb::RunSummary> runs;
    bool ok = true;
    if (tb::RunStore* s = store()) {
        try {
            tb::RunQueries queries(s->database());
            runs = queries.listRuns();
            m_lastError.clear();
        } catch (const std::exception& e) {
            m_lastError = QString::fromStdString(e.what());
            ok = false;
        }
    } else {
        ok = m_databasePath.isEmpty() || !QFileInfo::exists(m_databasePath) || m_lastError.isEmpty();
    }
    beginResetModel();
    m_runs = std::move(runs);
    endResetModel();
    return ok;
}

int RunListModel::rowCount(const QModelIndex& parent) const
{
    return parent.isValid() ? 0 : static_cast<int>(m_runs.size());
}

int RunListModel::columnCount(const QModelIndex& parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant RunListModel::data(const QModelIndex& index, int role) const
{
    if (!index.isValid() || index.row() >= rowCount())
        return {};
    const tb::RunSummary& r = m_runs[static_cast<size_t>(index.row())];
    if (role == RunIdRole)
        return QVariant::fromValue<qint64>(r.id);
    if (role == Qt::TextAlignmentRole) {
        switch (index.column()) {
        case Rank: case ValLoss: case PeakMemory:
            return QVariant(Qt::AlignRight | Qt::AlignVCenter);
        default:
            return {};
        }
    }
    if (role == Qt::ToolTipRole && index.column() == Model)
        return QString::fromStdString(r.modelPath);
    if (role == Qt::ToolTipRole && (index.column() == Status || index.column() == Reason) && !r.reason.empty())
        return QString::fromStdString(r.reason);
    if (role != Qt::DisplayRole && role != SortRole)
        return {};
    const bool sort = role == SortRole;
    switch (index.column()) {
    case Name:
        return QString::fromStdString(r.name);
    case Model:
        return r.modelPath.empty() ? QString() : QFileInfo(QString::fromStdString(r.modelPath)).fileName();
    case Method:
        return QString::fromStdString(r.method);
    case Rank:
        if (!r.loraRank)
            return sort ? QVariant(qlonglong(-1)) : QVariant(QString());
        return sort ? QVariant(qlonglong(*r.loraRank)) : QVariant(QString::number(*r.loraRank));
    case Status:
        return QString::fromLatin1(tb::runStatusName(r.status));
    case Reason: {
        // One line in the table; the tooltip has it all.
        const QString reason = QString::fromStdString(r.reason).section('\n', 0, 0);
        return reason.size() > 120 ? reason.left(117) + QStringLiteral("...") : reason;
    }
    case ValLoss:
        if (!r.finalValLoss)
            return sort ? QVariant(std::numeric_limits<double>::infinity()) : QVariant(QString());
        return sort ? QVariant(*r.finalValLoss) : QVariant(QString::number(*r.finalValLoss, 'f', 4));
    case PeakMemory:
        if (!r.peakResidentBytes)
            return sort ? QVariant(qlonglong(-1)) : QVariant(QString());
        return sort ? QVariant(qlonglong(*r.peakResidentBytes))
                    : QVariant(QLocale().formattedDataSize(*r.peakResidentBytes));
    case Started: {
        const QString iso = QString::fromStdString(r.startedAt.empty() ? r.createdAt : r.startedAt);
        if (sort)
            return iso;
        const QDateTime t = QDateTime::fromString(iso, Qt::ISODate);
        return t.isValid() ? t.toLocalTime().toString(QStringLiteral("yyyy-MM-dd HH:mm")) : iso;
    }
    default:
        return {};
    }
}

QVariant RunListModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return QAbstractTableModel::headerData(section, orientation, role);
    switch (section) {
    case Name: return tr("Name");
    case Model: return tr("Model");
    case Method: return tr("Method");
    case Rank: return tr("Rank");
    case Status: return tr("Status");
    case Reason: return tr("Reason");
    case ValLoss: return tr("Val loss");
    case PeakMemory: return tr("Peak memory");
    case Started: return tr("Started");
    default: return {};
    }
}
