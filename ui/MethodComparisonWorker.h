// Runs one LoRA vs QLoRA vs full comparison (tb::MethodComparison: each method trained by a
// child `tunebench-cli train`, recorded in the experiment database) and writes its report
// folder (tb::writeReportFolder), for the "Compare methods" dialog.
//
// Thread contract: the object lives on a worker QThread. run() is a queued slot that blocks
// that thread for the whole comparison; the engine's callbacks become signals emitted on it,
// which reach the GUI queued. clearCancel() and cancel() are called directly from the GUI
// thread (the worker's event loop is busy running) and are thread-safe: the running
// comparison is under a mutex and tb::MethodComparison::cancel() is atomic.
#pragma once

#include "report/MethodComparisonRequest.h"
#include "report/MethodReport.h"

#include <QList>
#include <QMetaType>
#include <QObject>
#include <QString>

#include <mutex>

namespace tb {
class MethodComparison;
}

Q_DECLARE_METATYPE(tb::MethodComparisonRequest)
Q_DECLARE_METATYPE(tb::MethodReport)

class MethodComparisonWorker : public QObject {
    Q_OBJECT
public:
    // How a run() ended (finished()'s `outcome`).
    enum Outcome {
        Completed = 0, // the report is written; every method ran or was left out for the budget
        Partial = 1,   // the report is written, but some method's run failed (the report says why)
        Cancelled = 2, // cancel() stopped it; no report is written
        Failed = 3     // no report: bad input (nothing was started), no method could be trained, ...
    };

    static void registerMetaTypes();

    // Before queueing run(): forgets a cancel() meant for an earlier comparison.
    void clearCancel();
    // The running child is asked to stop (SIGTERM: it saves a checkpoint, its run ends
    // "cancelled"), no further method starts. Also stops a run() queued but not yet begun.
    void cancel();

public Q_SLOTS:
    // outDir: the report folder (a new or empty folder). pickFreeName: outDir is a suggested
    // name, and "-2", "-3", ... is appended when it is already a non-empty folder.
    void run(const tb::MethodComparisonRequest& request, const QString& cliPath, const QString& outDir,
             bool pickFreeName);

Q_SIGNALS:
    void methodStarted(const QString& method, int index, int count);
    void stepReported(const QString& method, qint64 step, qint64 totalSteps, double loss);
    void evalReported(const QString& method, qint64 step, double valLoss);
    void logged(const QString& message);
    // status: the run's database status ("finished", "failed", "cancelled") or "not run";
    // runId -1 when no run was recorded.
    void methodFinished(const QString& method, const QString& status, const QString& reason, qint64 runId);
    // reportDir: the written folder ("" when none); runIds: every run the comparison recorded,
    // in method order; report: the figures (empty columns when none were computed).
    void finished(int outcome, const QString& message, const QString& reportDir, const QList<qint64>& runIds,
                  const tb::MethodReport& report);

private:
    std::mutex m_mutex;
    tb::MethodComparison* m_running = nullptr; // under m_mutex
    bool m_cancelRequested = false;            // under m_mutex
};
