// Runs the workbench's training runs as child processes and follows them: each run is
// `tunebench-cli train --config RUN.json --json [--db DB] [--resume DIR]`, its own process with
// its own memory (the window's is never counted), recorded in the database by the child as the
// CLI records any run. A crash or an out-of-memory kill of the child ends that run, never the
// window: the run is marked interrupted with the reason, and stays resumable from its last
// checkpoint. The child's event stream (train/TrainEvents) becomes queued Qt signals.
//
// Thread contract:
// - The object lives on its own QThread (moveToThread). start() is a slot invoked through a
//   queued connection and runs on that thread: it follows the child until it ends (or until
//   detach()), so that thread's event loop is busy for the whole run. Never call start()
//   directly from the GUI thread.
// - Every signal is emitted from the worker thread, in the order the child reports, and
//   reaches GUI-thread receivers queued; each carries small copyable values.
// - setCliPath(), setDatabasePath(), pause(), resume(), cancel() and detach() are called
//   directly from the GUI thread; they only take a mutex and send a signal to the child
//   (SIGUSR1 pause, SIGUSR2 resume, SIGTERM stop: the child finishes its step and checkpoints).
//   cancel() before the queued start() runs makes that start end at once, cancelled.
#pragma once

#include "TrainingTypes.h"

#include <QObject>
#include <QString>

#include <atomic>
#include <mutex>
#include <string>

namespace tb {
class ChildProcess;
}

class TrainingWorker : public QObject {
    Q_OBJECT
public:
    TrainingWorker();
    ~TrainingWorker() override;

    // Registers the value types above with Qt's meta-type system (idempotent).
    static void registerMetaTypes();

    // GUI thread, before start(): the tunebench-cli that trains (default: tunebenchCliPath()).
    void setCliPath(const QString& path);
    // GUI thread, before start(): the experiment database the next run is recorded in, like
    // `tunebench-cli train --db`. Empty: the run is not recorded (like --no-db).
    void setDatabasePath(const QString& path);

    // GUI thread, before queueing start() or follow(): a run is on its way. Pause and Stop
    // pressed before its process is there are kept and sent once it is; an earlier detach() is
    // forgotten.
    void prepareRun();
    // GUI thread (any thread): sent to the run's process (SIGUSR1, SIGUSR2, SIGTERM), or kept
    // for it while prepareRun()'s run is on its way; nothing when no run is.
    void pause();
    void resume();
    void cancel();
    // GUI thread: stop following the run and leave its process running (the window closes and
    // the run goes on in the background; the database and run folder get everything). start()
    // returns without emitting finished().
    void detach();
    // The process id of the run being followed, 0 when none.
    qint64 childPid() const;

public Q_SLOTS:
    // Worker thread. Relative paths in the config are made absolute, as the CLI does.
    void start(const tb::TrainConfig& config, bool resume);
    // Worker thread: follows run `runId` of the database, trained by process `pid` (with
    // `startMarker`, tb::ProcessIdentity) that this window did not start or no longer reads: a
    // run kept training after the window closed, found again at the next start. Its curves come
    // from the database (everything so far, then what each commit adds, polled every 300 ms)
    // through the same signals as a started run; pause / resume / cancel signal that process.
    void follow(qint64 runId, qint64 pid, const QString& startMarker);

Q_SIGNALS:
    // All emitted on the worker thread.
    // The child has registered the run (runId -1 when not recorded) in its own process.
    void runRegistered(qint64 runId, qint64 pid, const QString& outputDir);
    void started(qint64 runId, qint64 totalSteps); // set up; the first step comes next
    // The run's device and its total memory (-1: unknown), as the child reports them.
    void deviceCapacity(qint64 totalBytes, const QString& deviceName);
    void stepReported(const tb::StepReport& report);
    void evalReported(const tb::EvalReport& report);
    void memorySampled(const tb::MemorySample& sample);
    void logged(tb::LogLevel level, const QString& message);
    void pauseChanged(bool paused, qint64 step);
    void finished(tb::TrainStatus status, const QString& reason, const QString& adapterDir);

private:
    mutable std::mutex m_mutex;
    // With m_mutex held: sends `sig` to the run's process, the child start() follows or the
    // process follow() follows (only while it is still that process).
    void signalLocked(int sig);
    // With m_mutex held, once the run's process is known: sends a Pause or Stop pressed before.
    void sendPendingLocked();

    tb::ChildProcess* m_child = nullptr; // guarded by m_mutex; set only while start() follows one
    qint64 m_followedPid = 0;            // guarded by m_mutex; set only while follow() runs
    std::string m_followedMarker;        // guarded by m_mutex
    bool m_requested = false;            // guarded by m_mutex: prepareRun() and no start()/follow() yet
    bool m_cancelPending = false;        // guarded by m_mutex
    bool m_pausePending = false;         // guarded by m_mutex
    QString m_databasePath;              // guarded by m_mutex
    QString m_cliPath;                   // guarded by m_mutex
    std::atomic<bool> m_detach{false};
};
