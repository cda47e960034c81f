#include "RunListPanel.h"

#include "RunListModel.h"

#include "store/RunQueries.h"
#include "store/RunStore.h"

#include <QDesktopServices>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QInputDialog>
#include <QItemSelectionModel>
#include <QLineEdit>
#include <QMenu>
#include <QMessageBox>
#include <QPushButton>
#include <QRegularExpression>
#include <QSortFilterProxyModel>
#include <QTableView>
#include <QUrl>
#include <QVBoxLayout>

namespace {

// Filters on name, model and status (any of them containing the text, case-insensitive).
class RunFilterProxy : public QSortFilterProxyModel {
public:
    using QSortFilterProxyModel::QSortFilterProxyModel;

protected:
    bool filterAcceptsRow(int row, const QModelIndex& parent) const override
    {
        const QString text = filterRegularExpression().pattern();
        if (text.isEmpty())
            return true;
        for (int column : {RunListModel::Name, RunListModel::Model, RunListModel::Status}) {
            const QString value = sourceModel()->index(row, column, parent).data().toString();
            if (value.contains(text, Qt::CaseInsensitive))
                return true;
        }
        return false;
    }
};

} // namespace

RunListPanel::RunListPanel(const QString& databasePath, QWidget* parent)
    : QWidget(parent), m_model(new RunListModel(databasePath, this)), m_proxy(new RunFilterProxy(this))
{
    m_proxy->setSourceModel(m_model);
    m_proxy->setSortRole(RunListModel::SortRole);

    m_filter = new QLineEdit;
    m_filter->setPlaceholderText(tr("Filter by name, model or status"));
    m_filter->setClearButtonEnabled(true);
    m_refresh = new QPushButton(tr("Refresh"));
    m_compare = new QPushButton(tr("Compare selected"));
    m_compare->setToolTip(tr("Overlay the selected runs' curves and compare their settings and results"));
    m_compare->setEnabled(false);
    auto* top = new QHBoxLayout;
    top->addWidget(m_filter, 1);
    top->addWidget(m_compare);
    top->addWidget(m_refresh);

    m_view = new QTableView;
    m_view->setModel(m_proxy);
    m_view->setSortingEnabled(true);
    m_view->sortByColumn(RunListModel::Started, Qt::DescendingOrder);
    m_view->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_view->setSelectionMode(QAbstractItemView::ExtendedSelection);
    m_view->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_view->setContextMenuPolicy(Qt::CustomContextMenu);
    m_view->verticalHeader()->hide();
    m_view->horizontalHeader()->setStretchLastSection(true);

    auto* layout = new QVBoxLayout(this);
    layout->addLayout(top);
    layout->addWidget(m_view, 1);

    connect(m_filter, &QLineEdit::textChanged, this, [this](const QString& text) {
        // The pattern is only carried to filterAcceptsRow, which matches it as plain text.
        m_proxy->setFilterRegularExpression(QRegularExpression(text));
    });
    connect(m_refresh, &QPushButton::clicked, this, &RunListPanel::refresh);
    connect(m_view, &QWidget::customContextMenuRequested, this, &RunListPanel::showContextMenu);
    connect(m_compare, &QPushButton::clicked, this, [this] { Q_EMIT compareRequested(selectedRunIds()); });
    connect(m_view->selectionModel(), &QItemSelectionModel::selectionChanged, this, [this] {
        const QList<qint64> ids = selectedRunIds();
        m_compare->setEnabled(!ids.isEmpty());
        Q_EMIT selectionChanged(ids);
    });

    refresh();
}

void RunListPanel::refresh()
{
    if (!m_model->refresh())
        Q_EMIT errorOccurred(m_model->lastError());
    m_view->resizeColumnsToContents();
}

QList<qint64> RunListPanel::selectedRunIds() const
{
    QList<qint64> ids;
    const QModelIndexList rows = m_view->selectionModel()->selectedRows();
    for (const QModelIndex& index : rows)
        ids.append(index.data(RunListModel::RunIdRole).toLongLong());
    return ids;
}

bool RunListPanel::write(const std::function<void()>& action)
{
    tb::RunStore* store = m_model->store();
    if (!store) {
        Q_EMIT errorOccurred(m_model->lastError().isEmpty() ? tr("No experiment database") : m_model->lastError());
        return false;
    }
    bool ok = true;
    try {
        action();
    } catch (const std::exception& e) {
        ok = false;
        Q_EMIT errorOccurred(QString::fromStdString(e.what()));
    }
    refresh();
    return ok;
}

bool RunListPanel::renameRun(qint64 runId, const QString& name)
{
    if (name.trimmed().isEmpty())
        return false;
    return write([&] { m_model->store()->renameRun(runId, name.trimmed().toStdString()); });
}

bool RunListPanel::addTag(qint64 runId, const QString& tag)
{
    if (tag.trimmed().isEmpty())
        return false;
    return write([&] { m_model->store()->addTag(runId, tag.trimmed().toStdString()); });
}

bool RunListPanel::setNote(qint64 runId, const QString& note)
{
    return write([&] { m_model->store()->setNote(runId, note.toStdString()); });
}

bool RunListPanel::deleteRuns(const QList<qint64>& runIds, bool deleteFiles)
{
    return write([&] {
        for (qint64 id : runIds)
            m_model->store()->deleteRun(id, deleteFiles);
    });
}

void RunListPanel::openRunFolder(qint64 runId)
{
    tb::RunStore* store = m_model->store();
    if (!store)
        return;
    try {
        tb::RunQueries queries(store->database());
        const QString dir = QString::fromStdString(queries.getRun(runId).runDir);
        if (dir.isEmpty()) {
            Q_EMIT errorOccurred(tr("Run %1 has no run folder").arg(runId));
            return;
        }
        QDesktopServices::openUrl(QUrl::fromLocalFile(dir));
    } catch (const std::exception& e) {
        Q_EMIT errorOccurred(QString::fromStdString(e.what()));
    }
}

void RunListPanel::showContextMenu(const QPoint& pos)
{
    const QList<qint64> ids = selectedRunIds();
    if (ids.isEmpty())
        return;
    auto* menu = new QMenu(this);
    menu->setAttribute(Qt::WA_DeleteOnClose);
    const bool one = ids.size() == 1;
    const tb::RunSummary* run = one ? summaryOf(ids.first()) : nullptr;
    const bool resumable = run && (run->status == tb::RunStatus::Interrupted || run->status == tb::RunStatus::Cancelled ||
                                   run->status == tb::RunStatus::Failed);
    const bool hasAdapter = run && run->status == tb::RunStatus::Finished && run->method != "full";
    menu->addAction(ids.size() > 1 ? tr("Compare") : tr("Show curves"), this, [this, ids] { Q_EMIT compareRequested(ids); });
    menu->addAction(tr("Show memory"), this, [this, ids] { Q_EMIT memoryRequested(ids.first()); })->setEnabled(one);
    menu->addAction(tr("Re-run with the same settings"), this, [this, ids] { Q_EMIT rerunRequested(ids.first()); })->setEnabled(one);
    menu->addAction(tr("Resume"), this, [this, ids] { Q_EMIT resumeRequested(ids.first()); })->setEnabled(resumable);
    menu->addAction(tr("Export (PEFT, merged, GGUF, Ollama)..."), this, [this, ids] { Q_EMIT exportRequested(ids.first()); })->setEnabled(hasAdapter);
    menu->addSeparator();
    menu->addAction(tr("Rename..."), this, [this, ids] { askRename(ids.first()); })->setEnabled(one);
    menu->addAction(tr("Add tag..."), this, [this, ids] { askTag(ids); });
    menu->addAction(tr("Note..."), this, [this, ids] { askNote(ids.first()); })->setEnabled(one);
    menu->addAction(tr("Open run folder"), this, [this, ids] { openRunFolder(ids.first()); })->setEnabled(one);
    menu->addSeparator();
    menu->addAction(tr("Delete..."), this, [this, ids] { askDelete(ids); });
    menu->popup(m_view->viewport()->mapToGlobal(pos));
}

const tb::RunSummary* RunListPanel::summaryOf(qint64 runId) const
{
    for (int row = 0; row < m_model->rowCount(); ++row)
        if (m_model->run(row).id == runId)
            return &m_model->run(row);
    return nullptr;
}

void RunListPanel::askRename(qint64 runId)
{
    auto* dialog = new QInputDialog(this);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    dialog->setWindowTitle(tr("Rename run"));
    dialog->setLabelText(tr("New name:"));
    for (int row = 0; row < m_model->rowCount(); ++row)
        if (m_model->run(row).id == runId)
            dialog->setTextValue(QString::fromStdString(m_model->run(row).name));
    connect(dialog, &QInputDialog::textValueSelected, this, [this, runId](const QString& name) { renameRun(runId, name); });
    dialog->open();
}

void RunListPanel::askTag(const QList<qint64>& runIds)
{
    auto* dialog = new QInputDialog(this);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    dialog->setWindowTitle(tr("Add tag"));
    dialog->setLabelText(tr("Tag:"));
    connect(dialog, &QInputDialog::textValueSelected, this, [this, runIds](const QString& tag) {
        for (qint64 id : runIds)
            addTag(id, tag);
    });
    dialog->open();
}

void RunListPanel::askNote(qint64 runId)
{
    QString current;
    if (tb::RunStore* store = m_model->store()) {
        try {
            current = QString::fromStdString(tb::RunQueries(store->database()).getRun(runId).note);
        } catch (const std::exception&) {
        }
    }
    auto* dialog = new QInputDialog(this);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    dialog->setWindowTitle(tr("Note"));
    dialog->setLabelText(tr("Note:"));
    dialog->setOption(QInputDialog::UsePlainTextEditForTextInput);
    dialog->setTextValue(current);
    connect(dialog, &QInputDialog::textValueSelected, this, [this, runId](const QString& note) { setNote(runId, note); });
    dialog->open();
}

void RunListPanel::askDelete(const QList<qint64>& runIds)
{
    auto* box = new QMessageBox(QMessageBox::Question, tr("Delete runs"),
                                tr("Delete %n run(s) from the database?", nullptr, int(runIds.size())),
                                QMessageBox::Cancel, this);
    box->setInformativeText(tr("Also delete their files (checkpoints, adapters and run folders inside the workspace)?"));
    QPushButton* rowsOnly = box->addButton(tr("Delete runs only"), QMessageBox::AcceptRole);
    QPushButton* withFiles = box->addButton(tr("Delete runs and files"), QMessageBox::DestructiveRole);
    box->setDefaultButton(QMessageBox::Cancel);
    box->setAttribute(Qt::WA_DeleteOnClose);
    connect(box, &QMessageBox::buttonClicked, this, [this, runIds, rowsOnly, withFiles](QAbstractButton* button) {
        if (button == rowsOnly)
            deleteRuns(runIds, false);
        else if (button == withFiles)
            deleteRuns(runIds, true);
    });
    box->open();
}
