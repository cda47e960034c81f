// The Runs tab, offscreen: a temporary experiment database with two runs recorded through the
// store's real API, shown by RunListPanel; rows, values, sorting, the filter, and rename /
// tag / note / delete through the panel's slots reaching the database; compare, re-run, resume
// and export requested through signals.
#include "RunListModel.h"
#include "RunListPanel.h"

#include "store/MetricBuffer.h"
#include "store/RunQueries.h"
#include "store/RunStore.h"

#include <QApplication>
#include <algorithm>
#include <QFileInfo>
#include <QLineEdit>
#include <QMenu>
#include <QSignalSpy>
#include <QItemSelectionModel>
#include <QPushButton>
#include <QSortFilterProxyModel>
#include <QTableView>
#include <QTemporaryDir>
#include <QTest>

namespace {

int64_t recordRun(tb::RunStore& store, const std::string& name, const std::string& modelPath, int64_t rank,
                  double valLoss, int64_t peakBytes)
{
    tb::ModelRecord model;
    model.path = modelPath;
    model.architecture = "LlamaForCausalLM";
    model.contentHash = "hash-" + name;
    tb::NewRun run;
    run.name = name;
    run.method = "lora";
    run.modelId = store.registerModel(model);
    run.loraRank = rank;
    run.totalSteps = 4;
    const int64_t id = store.createRun(run);
    {
        tb::MetricBuffer buffer(store.database(), id);
        for (int64_t step = 1; step <= 4; ++step) {
            buffer.appendMetric(step, step * 100, step * 0.5, "loss", valLoss + 1.0 / step);
            buffer.appendMemory(step, step * 0.5, "peak_rss", peakBytes / 4 * step);
        }
        buffer.appendMetric(4, 400, 2.0, "val_loss", valLoss);
        buffer.flush();
    }
    store.finishRun(id, {tb::RunStatus::Finished, "", -1, "", 1000, 2.0});
    return id;
}

QString cell(QAbstractItemModel* model, int row, int column)
{
    return model->index(row, column).data().toString();
}

} // namespace

class TestRunList : public QObject {
    Q_OBJECT
private:
    QTemporaryDir m_tmp;
    QString m_db;
    qint64 m_alpha = 0, m_beta = 0;

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_tmp.isValid());
        m_db = m_tmp.filePath("tunebench.db");
        tb::RunStore store(m_db.toStdString());
        m_alpha = recordRun(store, "alpha", m_tmp.filePath("models/tiny-llama").toStdString(), 8, 1.5,
                            int64_t(2) << 30);
        m_beta = recordRun(store, "beta", m_tmp.filePath("models/small-model").toStdString(), 16, 0.75,
                           int64_t(512) << 20);
    }

    void showsRunsAndSorts()
    {
        RunListPanel panel(m_db);
        panel.show();
        QAbstractItemModel* view = panel.proxy();
        QCOMPARE(panel.view()->model(), view);
        QCOMPARE(view->rowCount(), 2);
        QCOMPARE(view->columnCount(), int(RunListModel::ColumnCount));
        QCOMPARE(view->headerData(RunListModel::ValLoss, Qt::Horizontal).toString(), QString("Val loss"));

        panel.view()->sortByColumn(RunListModel::ValLoss, Qt::AscendingOrder);
        QCOMPARE(cell(view, 0, RunListModel::Name), QString("beta"));
        QCOMPARE(cell(view, 0, RunListModel::Model), QString("small-model"));
        QCOMPARE(cell(view, 0, RunListModel::Method), QString("lora"));
        QCOMPARE(cell(view, 0, RunListModel::Rank), QString("16"));
        QCOMPARE(cell(view, 0, RunListModel::Status), QString("finished"));
        QCOMPARE(cell(view, 0, RunListModel::ValLoss), QString("0.7500"));
        QCOMPARE(view->index(0, RunListModel::PeakMemory).data(RunListModel::SortRole).toLongLong(),
                 qlonglong(512) << 20);
        QVERIFY(cell(view, 0, RunListModel::PeakMemory).contains("512"));
        QVERIFY(!cell(view, 0, RunListModel::Started).isEmpty());
        QCOMPARE(cell(view, 1, RunListModel::Name), QString("alpha"));
        QCOMPARE(cell(view, 1, RunListModel::Model), QString("tiny-llama"));
        QCOMPARE(cell(view, 1, RunListModel::ValLoss), QString("1.5000"));
        QVERIFY(cell(view, 1, RunListModel::PeakMemory).contains("2"));

        panel.view()->sortByColumn(RunListModel::ValLoss, Qt::DescendingOrder);
        QCOMPARE(cell(view, 0, RunListModel::Name), QString("alpha"));
        // Peak memory sorts by bytes, not by its text ("2 GiB" < "512 MiB" as text).
        panel.view()->sortByColumn(RunListModel::PeakMemory, Qt::AscendingOrder);
        QCOMPARE(cell(view, 0, RunListModel::Name), QString("beta"));
        QCOMPARE(cell(view, 1, RunListModel::Name), QString("alpha"));

        // Filter by model, name and status.
        panel.filterEdit()->setText("TINY");
        QCOMPARE(view->rowCount(), 1);
        QCOMPARE(cell(view, 0, RunListModel::Name), QString("alpha"));
        panel.filterEdit()->setText("bet");
        QCOMPARE(view->rowCount(), 1);
        QCOMPARE(cell(view, 0, RunListModel::Name), QString("beta"));
        panel.filterEdit()->setText("finished");
        QCOMPARE(view->rowCount(), 2);
        panel.filterEdit()->setText("nothing-like-this");
        QCOMPARE(view->rowCount(), 0);
        panel.filterEdit()->clear();
        QCOMPARE(view->rowCount(), 2);

        // Multi-select gives both ids.
        panel.view()->selectAll();
        QList<qint64> ids = panel.selectedRunIds();
        std::sort(ids.begin(), ids.end());
        QCOMPARE(ids, (QList<qint64>{m_alpha, m_beta}));
    }

    void editsReachTheDatabase()
    {
        RunListPanel panel(m_db);
        panel.show();
        QVERIFY(panel.renameRun(m_alpha, "alpha-renamed"));
        QVERIFY(panel.addTag(m_alpha, "baseline"));
        QVERIFY(panel.setNote(m_alpha, "first try"));
        panel.filterEdit()->setText("renamed");
        QCOMPARE(panel.proxy()->rowCount(), 1);
        panel.filterEdit()->clear();

        tb::RunStore store(m_db.toStdString());
        tb::RunQueries queries(store.database());
        const tb::RunDetails details = queries.getRun(m_alpha);
        QCOMPARE(QString::fromStdString(details.summary.name), QString("alpha-renamed"));
        QCOMPARE(details.summary.tags, std::vector<std::string>{"baseline"});
        QCOMPARE(QString::fromStdString(details.note), QString("first try"));

        // A failing write reports an error instead of throwing.
        int errors = 0;
        connect(&panel, &RunListPanel::errorOccurred, this, [&] { ++errors; });
        QVERIFY(!panel.renameRun(999999, "ghost"));
        QCOMPARE(errors, 1);
    }

    // Compare, re-run, resume, export and memory belong to other tabs: the panel only asks
    // for them, through signals, and offers each only where it applies.
    void requestsOtherTabsThroughSignals()
    {
        qint64 cancelled = 0;
        {
            tb::RunStore store(m_db.toStdString());
            tb::NewRun run;
            run.name = "stopped";
            cancelled = store.createRun(run);
            store.finishRun(cancelled, {tb::RunStatus::Cancelled, "stopped by the user", -1, "", {}, 1.0});
        }
        RunListPanel panel(m_db);
        panel.show();
        {
            // Why a run did not finish is in the table, and whole in the tooltip.
            int row = -1;
            for (int r = 0; r < panel.proxy()->rowCount(); ++r)
                if (panel.proxy()->index(r, 0).data(RunListModel::RunIdRole).toLongLong() == cancelled)
                    row = r;
            QVERIFY(row >= 0);
            QCOMPARE(panel.proxy()->headerData(RunListModel::Reason, Qt::Horizontal).toString(), QString("Reason"));
            QCOMPARE(cell(panel.proxy(), row, RunListModel::Reason), QString("stopped by the user"));
            QCOMPARE(panel.proxy()->index(row, RunListModel::Status).data(Qt::ToolTipRole).toString(), QString("stopped by the user"));
        }
        QSignalSpy compare(&panel, &RunListPanel::compareRequested);
        QSignalSpy rerun(&panel, &RunListPanel::rerunRequested);
        QSignalSpy resume(&panel, &RunListPanel::resumeRequested);
        QSignalSpy selection(&panel, &RunListPanel::selectionChanged);
        QVERIFY(!panel.compareButton()->isEnabled());

        auto rowOf = [&](qint64 id) {
            for (int row = 0; row < panel.proxy()->rowCount(); ++row)
                if (panel.proxy()->index(row, 0).data(RunListModel::RunIdRole).toLongLong() == id)
                    return row;
            return -1;
        };
        auto select = [&](const QList<qint64>& ids) {
            panel.view()->clearSelection();
            for (qint64 id : ids)
                panel.view()->selectionModel()->select(panel.proxy()->index(rowOf(id), 0),
                                                       QItemSelectionModel::Select | QItemSelectionModel::Rows);
        };
        select({m_alpha, m_beta});
        QVERIFY(panel.compareButton()->isEnabled());
        QVERIFY(!selection.isEmpty());
        QTest::mouseClick(panel.compareButton(), Qt::LeftButton);
        QCOMPARE(compare.size(), 1);
        QList<qint64> asked = compare.at(0).at(0).value<QList<qint64>>();
        std::sort(asked.begin(), asked.end());
        QList<qint64> both{m_alpha, m_beta};
        std::sort(both.begin(), both.end());
        QCOMPARE(asked, both);

        auto menuAction = [&](const QString& text) -> QAction* {
            QMetaObject::invokeMethod(&panel, "showContextMenu", Q_ARG(QPoint, QPoint(5, 5)));
            const QList<QMenu*> menus = panel.findChildren<QMenu*>();
            if (menus.isEmpty())
                return nullptr;
            QMenu* menu = menus.last();
            for (QAction* action : menu->actions())
                if (action->text() == text)
                    return action;
            return nullptr;
        };
        select({m_alpha}); // finished: re-run yes, resume no
        QAction* resumeAction = menuAction("Resume");
        QVERIFY(resumeAction);
        QVERIFY(!resumeAction->isEnabled());
        QAction* rerunAction = menuAction("Re-run with the same settings");
        QVERIFY(rerunAction && rerunAction->isEnabled());
        rerunAction->trigger();
        QCOMPARE(rerun.size(), 1);
        QCOMPARE(rerun.at(0).at(0).toLongLong(), m_alpha);

        // A finished LoRA run has an adapter: Export is offered and asks for that run.
        QSignalSpy exportAsked(&panel, &RunListPanel::exportRequested);
        QAction* exportAction = menuAction("Export (PEFT, merged, GGUF, Ollama)...");
        QVERIFY(exportAction && exportAction->isEnabled());
        exportAction->trigger();
        QCOMPARE(exportAsked.size(), 1);
        QCOMPARE(exportAsked.at(0).at(0).toLongLong(), m_alpha);

        select({cancelled}); // cancelled: resumable, and has no adapter to export
        resumeAction = menuAction("Resume");
        QVERIFY(resumeAction && resumeAction->isEnabled());
        QVERIFY(!menuAction("Export (PEFT, merged, GGUF, Ollama)...")->isEnabled());
        resumeAction->trigger();
        QCOMPARE(resume.size(), 1);
        QCOMPARE(resume.at(0).at(0).toLongLong(), cancelled);
        QVERIFY(panel.deleteRuns({cancelled}, false));
    }

    void refreshSeesNewRunsAndDeleteRemovesRows()
    {
        RunListPanel panel(m_db);
        panel.show();
        QCOMPARE(panel.proxy()->rowCount(), 2);
        qint64 gamma = 0;
        {
            tb::RunStore store(m_db.toStdString());
            gamma = recordRun(store, "gamma", m_tmp.filePath("models/other").toStdString(), 4, 2.0, 1 << 20);
        }
        QCOMPARE(panel.proxy()->rowCount(), 2);
        QTest::mouseClick(panel.refreshButton(), Qt::LeftButton);
        QCOMPARE(panel.proxy()->rowCount(), 3);

        QVERIFY(panel.deleteRuns({gamma, m_beta}, false));
        QCOMPARE(panel.proxy()->rowCount(), 1);
        QCOMPARE(cell(panel.proxy(), 0, RunListModel::Name), QString("alpha-renamed"));
        tb::RunStore store(m_db.toStdString());
        QCOMPARE(tb::RunQueries(store.database()).listRuns().size(), size_t(1));
    }

    void noDatabaseIsEmpty()
    {
        RunListPanel panel{QString()};
        QCOMPARE(panel.proxy()->rowCount(), 0);
        QVERIFY(!panel.addTag(1, "x"));
        // A database that does not exist yet is not created by looking at it.
        const QString missing = m_tmp.filePath("later/tunebench.db");
        RunListPanel later(missing);
        QCOMPARE(later.proxy()->rowCount(), 0);
        QVERIFY(!QFileInfo::exists(missing));
    }
};

QTEST_MAIN(TestRunList)
#include "tst_runlist.moc"
