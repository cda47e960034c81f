#include "TrainingWorker.h"

#include "CliLocation.h"

#include "core/ChildProcess.h"
#include "formats/FormatError.h"
#include "store/ProcessIdentity.h"
#include "store/RunQueries.h"
#include "store/RunStore.h"
#include "train/TrainEvents.h"

#include <QFile>
#include <QFileInfo>
#include <QTemporaryDir>
#include <QThread>

#include <algorithm>
#include <csignal>
#include <map>
#include <memory>
#include <optional>

namespace {

// The child's events as the worker's signals; runs on the worker thread and only queues.
class SignalForwarder : public tb::TrainEventSink {
public:
    explicit SignalForwarder(TrainingWorker* worker) : m_worker(worker) {}
    void onRun(const tb::RunEvent& e) override
    {
        runId = e.runId;
        Q_EMIT m_worker->runRegistered(e.runId, e.pid, QString::fromStdString(e.outputDir));
    }
    void onStart(const tb::StartReport& r) override
    {
        Q_EMIT m_worker->deviceCapacity(r.deviceTotalBytes, QString::fromStdString(r.deviceName.empty() ? r.device : r.deviceName));
        Q_EMIT m_worker->started(runId, r.totalSteps);
    }
    void onStep(const tb::StepReport& r) override { Q_EMIT m_worker->stepReported(r); }
    void onEval(const tb::EvalReport& r) override { Q_EMIT m_worker->evalReported(r); }
    void onMemory(const tb::MemorySample& m) override { Q_EMIT m_worker->memorySampled(m); }
    void onLog(tb::LogLevel level, const std::string& message) override
    {
        Q_EMIT m_worker->logged(level, QString::fromStdString(message));
    }
    void onCheckpoint(const std::string& dir, int64_t step) override
    {
        Q_EMIT m_worker->logged(tb::LogLevel::Info,
                                QStringLiteral("checkpoint at step %1: %2").arg(step).arg(QString::fromStdString(dir)));
    }
    void onPauseChanged(bool paused, int64_t step) override { Q_EMIT m_worker->pauseChanged(paused, step); }
    void onEnd(const tb::EndEvent& e) override { end = e; }

    int64_t runId = -1;
    std::optional<tb::EndEvent> end;

private:
    TrainingWorker* m_worker;
};

} // namespace

TrainingWorker::TrainingWorker() : m_cliPath(tunebenchCliPath())
{
    registerMetaTypes();
}

TrainingWorker::~TrainingWorker() = default;

void TrainingWorker::registerMetaTypes()
{
    qRegisterMetaType<tb::TrainConfig>();
    qRegisterMetaType<tb::StepReport>();
    qRegisterMetaType<tb::EvalReport>();
    qRegisterMetaType<tb::MemorySample>();
    qRegisterMetaType<tb::LogLevel>();
    qRegisterMetaType<tb::TrainStatus>();
}

void TrainingWorker::setCliPath(const QString& path)
{
    std::lock_guard<std::mutex> lock(m_mutex);
    m_cliPath = path;
}

void TrainingWorker::setDatabasePath(const QString& path)
{
    std::lock_guard<std::mutex> lock(m_mutex);
    m_databasePath = path;
}

void TrainingWorker::signalLocked(int sig)
{
    if (m_child)
        m_child->signal(sig);
    else if (m_followedPid > 0 && tb::ProcessIdentity::isAlive(m_followedPid, m_followedMarker))
        ::kill(static_cast<pid_t>(m_followedPid), sig);
}

void TrainingWorker::sendPendingLocked()
{
    if (m_pausePending)
        signalLocked(SIGUSR1);
    if (m_cancelPending)
        signalLocked(SIGTERM);
    m_pausePending = m_cancelPending = false;
}

void TrainingWorker::prepareRun()
{
    std::lock_guard<std::mutex> lock(m_mutex);
    m_requested = true;
    m_cancelPending = false;
    m_pausePending = false;
    m_detach.store(false);
}

void TrainingWorker::pause()
{
    std::lock_guard<std::mutex> lock(m_mutex);
    if (m_child || m_followedPid > 0)
        signalLocked(SIGUSR1);
    else if (m_requested)
        m_pausePending = true; // sent once the process is there
}

void TrainingWorker::resume()
{
    std::lock_guard<std::mutex> lock(m_mutex);
    if (m_child || m_followedPid > 0)
        signalLocked(SIGUSR2);
    else
        m_pausePending = false;
}

void TrainingWorker::cancel()
{
    std::lock_guard<std::mutex> lock(m_mutex);
    if (m_child || m_followedPid > 0)
        signalLocked(SIGTERM); // a paused run wakes for it too (Trainer::cancel)
    else if (m_requested)
        m_cancelPending = true; // the queued start() or follow() ends the run at once
}

void TrainingWorker::detach()
{
    m_detach.store(true);
}

qint64 TrainingWorker::childPid() const
{
    std::lock_guard<std::mutex> lock(m_mutex);
    return m_child ? m_child->pid() : m_followedPid;
}

void TrainingWorker::start(const tb::TrainConfig& requested, bool resume)
{
    tb::TrainConfig config = requested;
    config.makePathsAbsolute();
    QString databasePath, cliPath;
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_requested = false;
        databasePath = m_databasePath;
        cliPath = m_cliPath;
        if (m_cancelPending) {
            m_cancelPending = false;
            Q_EMIT finished(tb::TrainStatus::Cancelled, tr("cancelled before it started"), QString());
            return;
        }
    }
    auto fail = [this](const QString& why) {
        Q_EMIT logged(tb::LogLevel::Error, why);
        Q_EMIT finished(tb::TrainStatus::Failed, why, QString());
    };
    if (cliPath.isEmpty()) {
        fail(tr("tunebench-cli was not found beside the workbench or on PATH: it runs the training"));
        return;
    }
    // The description the child runs; its run folder keeps a copy (train_config.json).
    QTemporaryDir scratch;
    const QString configPath = scratch.filePath(QStringLiteral("run.json"));
    QFile file(configPath);
    if (!scratch.isValid() || !file.open(QIODevice::WriteOnly)
        || file.write(QByteArray::fromStdString(config.toJson().dump(2))) < 0 || !file.flush()) {
        fail(tr("cannot write the run's config to %1").arg(configPath));
        return;
    }
    file.close();
    std::vector<std::string> args = {"train", "--config", configPath.toStdString(), "--json"};
    if (resume)
        args.insert(args.end(), {"--resume", config.outputDir});
    if (databasePath.isEmpty())
        args.push_back("--no-db");
    else
        args.insert(args.end(), {"--db", databasePath.toStdString()}); // named by config.name, else its folder

    tb::ChildOptions options;
    options.ownSession = true; // not stopped by the terminal's Ctrl-C; may outlive the window
    // Until the CLI has its handlers in place, a Pause or Stop waits instead of killing it.
    options.blockedSignals = {SIGINT, SIGTERM, SIGUSR1, SIGUSR2};
    std::unique_ptr<tb::ChildProcess> child;
    try {
        child = std::make_unique<tb::ChildProcess>(cliPath.toStdString(), args, options);
    } catch (const std::exception& e) {
        fail(QString::fromStdString(e.what()));
        return;
    }
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_child = child.get();
        sendPendingLocked();
    }
    auto forgetChild = [this] {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_child = nullptr;
    };

    SignalForwarder forward(this);
    auto onLine = [&](const std::string& line) {
        try {
            if (const auto event = tb::decodeTrainEvent(line, "tunebench-cli train"))
                tb::deliverTrainEvent(*event, forward);
        } catch (const tb::FormatError& e) {
            Q_EMIT logged(tb::LogLevel::Error, QString::fromStdString(e.what()));
        }
    };
    try {
        while (!m_detach.load() && child->readLines(100, onLine)) {
        }
    } catch (const std::exception& e) {
        // The pipe cannot be read (poll failed): the run goes on unfollowed, recorded in the
        // database; the next start of the window follows it again.
        child->detach();
        forgetChild();
        fail(tr("lost the training process's output (%1); it trains on, recorded in the database").arg(e.what()));
        return;
    }
    if (m_detach.load()) {
        // Kept training in the background: the child's stdout is closed with this object, and
        // the child, which ignores SIGPIPE, drops its stream and goes on.
        child->detach();
        forgetChild();
        return;
    }
    const tb::ChildExit exit = child->wait();
    forgetChild();
    if (forward.end) {
        const tb::TrainResult& r = forward.end->result;
        if (forward.end->runId >= 0)
            Q_EMIT logged(tb::LogLevel::Info, tr("recorded as run %1 in %2").arg(forward.end->runId).arg(databasePath));
        Q_EMIT finished(r.status, QString::fromStdString(r.reason), QString::fromStdString(r.adapterDir));
        return;
    }
    // No end event: refused before it began (its usage error: every problem, one a line), or
    // the process died.
    QString reason = exit.exitCode == 2 && exit.signal == 0 ? QString::fromStdString(child->standardError()).trimmed()
                                                            : QString::fromStdString(child->lastErrorLine());
    if (exit.signal != 0 || reason.isEmpty())
        reason = tr("the training process %1").arg(QString::fromStdString(exit.describe()));
    if (forward.runId >= 0 && !databasePath.isEmpty()) {
        try {
            // Opening the store marks the run of the dead process interrupted (resumable from
            // its last checkpoint); then the reason is made specific.
            tb::RunStore store(databasePath.toStdString());
            store.explainInterruption(forward.runId, reason.toStdString());
        } catch (const std::exception& e) {
            Q_EMIT logged(tb::LogLevel::Error, tr("recording why the run ended failed: %1").arg(e.what()));
        }
    }
    fail(reason);
}

void TrainingWorker::follow(qint64 runId, qint64 pid, const QString& startMarker)
{
    QString databasePath;
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_requested = false;
        databasePath = m_databasePath;
        m_followedPid = pid;
        m_followedMarker = startMarker.toStdString();
        sendPendingLocked();
    }
    auto stopFollowing = [this] {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_followedPid = 0;
        m_followedMarker.clear();
    };
    try {
        tb::RunStore store(databasePath.toStdString());
        tb::RunQueries queries(store.database());
        tb::RunDetails run = queries.getRun(runId);
        Q_EMIT runRegistered(runId, pid, QString::fromStdString(run.runDir));
        Q_EMIT deviceCapacity(-1, QString::fromStdString(run.device));
        Q_EMIT started(runId, run.summary.totalSteps.value_or(0));
        Q_EMIT logged(tb::LogLevel::Info, tr("following run %1, trained by process %2 (its curves come from the database)").arg(runId).arg(pid));
        int64_t stepsSeen = -1, evalsSeen = -1, memorySeen = -1;
        for (;;) {
            // What the trainer committed since the last look (MetricBuffer commits every few
            // records or a fraction of a second), in step order.
            auto byStep = [&](const char* name, int64_t after) {
                std::map<int64_t, double> values;
                for (const tb::MetricPoint& p : queries.metricSeries(runId, name, after))
                    values[p.step] = p.value;
                return values;
            };
            const auto loss = byStep("loss", stepsSeen);
            const auto lr = byStep("lr", stepsSeen), speed = byStep("tokens_per_second", stepsSeen), epoch = byStep("epoch", stepsSeen);
            // Keyed by (step, worker): a data-parallel run records each worker's samples.
            std::map<std::pair<int64_t, int>, tb::MemorySample> memory;
            for (const char* category : {"base_weights", "adapters", "gradients", "optimizer", "rss", "peak_rss"}) {
                for (const tb::MemoryPoint& p : queries.memorySeries(runId, category, memorySeen)) {
                    tb::MemorySample& m = memory[{p.step, p.worker}];
                    m.worker = p.worker;
                    m.step = p.step;
                    m.elapsedSeconds = p.seconds.value_or(0);
                    const std::string c = category;
                    (c == "base_weights" ? m.baseWeightBytes : c == "adapters" ? m.adapterBytes : c == "gradients" ? m.gradientBytes
                     : c == "optimizer" ? m.optimizerBytes : c == "rss" ? m.residentBytes : m.peakResidentBytes) = p.bytes;
                }
            }
            for (const auto& [key, m] : memory) {
                Q_EMIT memorySampled(m);
                memorySeen = std::max(memorySeen, key.first);
            }
            for (const auto& [step, value] : loss) {
                tb::StepReport r;
                r.step = step;
                r.totalSteps = run.summary.totalSteps.value_or(0);
                r.loss = value;
                r.learningRate = lr.count(step) ? lr.at(step) : 0;
                r.tokensPerSecond = speed.count(step) ? speed.at(step) : 0;
                r.epoch = epoch.count(step) ? epoch.at(step) : 0;
                Q_EMIT stepReported(r);
                stepsSeen = std::max(stepsSeen, step);
            }
            const auto validation = byStep("val_loss", evalsSeen);
            const auto perplexity = byStep("val_perplexity", evalsSeen);
            for (const auto& [step, value] : validation) {
                Q_EMIT evalReported(tb::EvalReport{step, value, perplexity.count(step) ? perplexity.at(step) : 0, 0});
                evalsSeen = std::max(evalsSeen, step);
            }
            if (run.summary.status != tb::RunStatus::Running)
                break;
            for (int slice = 0; slice < 6 && !m_detach.load(); ++slice)
                QThread::msleep(50);
            if (m_detach.load()) {
                stopFollowing();
                return;
            }
            store.recoverInterruptedRuns(); // the process died: its run becomes interrupted
            run = queries.getRun(runId);
        }
        stopFollowing();
        QString adapterDir;
        for (const tb::ArtifactInfo& a : run.artifacts)
            if (a.kind == tb::ArtifactKind::Adapter || a.kind == tb::ArtifactKind::Merged)
                adapterDir = QString::fromStdString(a.path);
        const tb::TrainStatus status = run.summary.status == tb::RunStatus::Finished  ? tb::TrainStatus::Finished
                                       : run.summary.status == tb::RunStatus::Cancelled ? tb::TrainStatus::Cancelled
                                                                                         : tb::TrainStatus::Failed;
        Q_EMIT finished(status, QString::fromStdString(run.summary.reason), adapterDir);
    } catch (const std::exception& e) {
        stopFollowing();
        Q_EMIT logged(tb::LogLevel::Error, QString::fromStdString(e.what()));
        Q_EMIT finished(tb::TrainStatus::Failed, QString::fromStdString(e.what()), QString());
    }
}
