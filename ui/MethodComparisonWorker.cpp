#include "MethodComparisonWorker.h"

#include "report/MethodComparison.h"
#include "report/ReportFolder.h"

#include <QDir>
#include <QFileInfo>

#include <exception>

namespace {

QString q(const std::string& s) { return QString::fromStdString(s); }

// The engine's callbacks (worker thread) as the worker's signals; also keeps the ids of the
// runs recorded so far, so a comparison that throws still reports them.
class SignalCallbacks : public tb::MethodComparisonCallbacks {
public:
    explicit SignalCallbacks(MethodComparisonWorker* worker) : m_worker(worker) {}

    void onMethodStarted(const std::string& method, size_t index, size_t count) override
    {
        Q_EMIT m_worker->methodStarted(q(method), int(index), int(count));
    }
    void onStep(const std::string& method, int64_t step, int64_t totalSteps, double loss) override
    {
        Q_EMIT m_worker->stepReported(q(method), step, totalSteps, loss);
    }
    void onEval(const std::string& method, int64_t step, double valLoss) override
    {
        Q_EMIT m_worker->evalReported(q(method), step, valLoss);
    }
    void onLog(const std::string& message) override { Q_EMIT m_worker->logged(q(message)); }
    void onMethodFinished(const tb::MethodColumn& column) override
    {
        if (column.runId)
            runIds.push_back(*column.runId);
        Q_EMIT m_worker->methodFinished(q(column.method), q(column.status), q(column.reason),
                                        column.runId ? *column.runId : -1);
    }

    QList<qint64> runIds;

private:
    MethodComparisonWorker* m_worker;
};

// `dir`, or dir-2, dir-3, ... when it exists and is not an empty folder.
QString freeFolder(const QString& dir)
{
    QString candidate = dir;
    for (int n = 2; QFileInfo::exists(candidate) && !(QFileInfo(candidate).isDir() && QDir(candidate).isEmpty()); ++n)
        candidate = QStringLiteral("%1-%2").arg(dir).arg(n);
    return candidate;
}

} // namespace

void MethodComparisonWorker::registerMetaTypes()
{
    qRegisterMetaType<tb::MethodComparisonRequest>();
    qRegisterMetaType<tb::MethodReport>();
    qRegisterMetaType<QList<qint64>>();
}

void MethodComparisonWorker::clearCancel()
{
    std::lock_guard<std::mutex> lock(m_mutex);
    m_cancelRequested = false;
}

void MethodComparisonWorker::cancel()
{
    std::lock_guard<std::mutex> lock(m_mutex);
    m_cancelRequested = true;
    if (m_running)
        m_running->cancel();
}

void MethodComparisonWorker::run(const tb::MethodComparisonRequest& request, const QString& cliPath,
                                 const QString& outDir, bool pickFreeName)
{
    tb::MethodComparison comparison(request, cliPath.toStdString());
    SignalCallbacks callbacks(this);
    auto fail = [&](const QString& message) {
        Q_EMIT finished(Failed, message, QString(), callbacks.runIds, tb::MethodReport());
    };

    // Bad input is refused before any child starts.
    QString folder = outDir;
    try {
        comparison.checkInputs();
        if (folder.trimmed().isEmpty())
            throw std::invalid_argument("output folder: none given");
        if (pickFreeName)
            folder = freeFolder(folder);
        tb::checkReportFolder(folder.toStdString(), false);
    } catch (const std::exception& e) {
        fail(q(e.what()));
        return;
    }

    {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_running = &comparison;
        if (m_cancelRequested)
            comparison.cancel();
    }
    tb::MethodReport report;
    QString error;
    try {
        report = comparison.run(callbacks);
    } catch (const std::exception& e) {
        error = q(e.what());
    }
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_running = nullptr;
    }
    if (comparison.cancelled()) {
        Q_EMIT finished(Cancelled, tr("Cancelled: no report was written."), QString(), callbacks.runIds,
                        tb::MethodReport());
        return;
    }
    if (!error.isEmpty()) {
        fail(error);
        return;
    }

    try {
        tb::writeReportFolder(report, folder.toStdString(), false);
    } catch (const std::exception& e) {
        fail(tr("The runs are recorded, but the report could not be written: %1").arg(q(e.what())));
        return;
    }

    QStringList failures;
    for (const tb::MethodColumn& c : report.columns)
        if (c.status != "finished" && c.status != "not run")
            failures << QStringLiteral("%1 %2: %3").arg(q(c.title()), q(c.status), q(c.reason));
    const QString dir = q(report.outputDir);
    if (failures.isEmpty())
        Q_EMIT finished(Completed, tr("Report written to %1").arg(QDir::toNativeSeparators(dir)), dir,
                        callbacks.runIds, report);
    else
        Q_EMIT finished(Partial,
                        tr("Report written to %1, but %2").arg(QDir::toNativeSeparators(dir), failures.join(QStringLiteral("; "))),
                        dir, callbacks.runIds, report);
}
