// Runs one training run at a time on a worker thread for the workbench and turns the
// Trainer's callbacks into queued Qt signals.
//
// Thread contract:
// - The object lives on its own QThread (moveToThread). start() is a slot invoked through a
//   queued connection (or QMetaObject::invokeMethod with Qt::QueuedConnection) and runs on
//   that thread: it blocks there until the run ends, so that thread's event loop is busy for
//   the whole run. Never call start() directly from the GUI thread.
// - Every signal is emitted from the worker thread, in the order the Trainer reports, and
//   reaches GUI-thread receivers queued; each carries small copyable values.
// - pause(), resume(), cancel() and setDatabasePath() are called directly from the GUI thread
//   (not through a queued connection: the worker's event loop is blocked by the run). They are
//   thread-safe: the trainer pointer is guarded by m_mutex and the Trainer's own controls are
//   atomic. cancel() before the queued start() runs makes that start end at once, cancelled.
#pragma once

#include "TrainingTypes.h"

#include <QObject>
#include <QString>

#include <mutex>

namespace tb {
class Trainer;
}

class TrainingWorker : public QObject {
    Q_OBJECT
public:
    TrainingWorker();
    ~TrainingWorker() override;

    // Registers the value types above with Qt's meta-type system (idempotent).
    static void registerMetaTypes();

    // GUI thread, before start(): the experiment database the next run is recorded in, like
    // `tunebench-cli train --db`. Empty: the run is not recorded (like --no-db).
    void setDatabasePath(const QString& path);

    // GUI thread (any thread): forwarded to the running Trainer.
    void pause();
    void resume();
    void cancel();

public Q_SLOTS:
    // Worker thread. Relative paths in the config are made absolute, as the CLI does.
    void start(const tb::TrainConfig& config, bool resume);

Q_SIGNALS:
    // All emitted on the worker thread.
    void started(qint64 runId, qint64 totalSteps); // runId -1 when not recorded
    // The run's device and its total memory (-1: unknown), queried on the worker thread (a
    // CUDA query may create the device's context, which must not happen on the GUI thread).
    void deviceCapacity(qint64 totalBytes, const QString& deviceName);
    void stepReported(const tb::StepReport& report);
    void evalReported(const tb::EvalReport& report);
    void memorySampled(const tb::MemorySample& sample);
    void logged(int level, const QString& message); // level: tb::LogLevel as int
    // status: tb::TrainStatus as int (0 finished, 1 cancelled, 2 failed).
    void finished(int status, const QString& reason, const QString& adapterDir);

private:
    std::mutex m_mutex;
    tb::Trainer* m_trainer = nullptr; // guarded by m_mutex; set only while start() runs
    bool m_cancelPending = false;     // guarded by m_mutex
    QString m_databasePath;           // guarded by m_mutex
};
