#include "train/Trainer.h"

#include "train/TrainingSession.h"

#include <chrono>
#include <optional>

namespace tb {

using Clock = std::chrono::steady_clock;

namespace {

double secondsBetween(Clock::time_point a, Clock::time_point b)
{
    return std::chrono::duration<double>(b - a).count();
}

} // namespace

const char* trainStatusName(TrainStatus status)
{
    switch (status) {
    case TrainStatus::Finished: return "finished";
    case TrainStatus::Cancelled: return "cancelled";
    case TrainStatus::Failed: return "failed";
    }
    return "failed";
}

TrainStatus trainStatusFromName(const std::string& name)
{
    if (name == "finished") return TrainStatus::Finished;
    if (name == "cancelled") return TrainStatus::Cancelled;
    return TrainStatus::Failed;
}

Trainer::Trainer(TrainConfig config) : m_config(std::move(config)) {}

void Trainer::pause()
{
    std::lock_guard<std::mutex> lock(m_pauseMutex);
    m_paused = true;
}

void Trainer::resume()
{
    {
        std::lock_guard<std::mutex> lock(m_pauseMutex);
        m_paused = false;
    }
    m_pauseChanged.notify_all();
}

void Trainer::cancel()
{
    {
        std::lock_guard<std::mutex> lock(m_pauseMutex);
        m_cancel = true;
    }
    m_pauseChanged.notify_all();
}

bool Trainer::waitWhilePaused(const std::function<void(bool)>& onPauseChanged)
{
    std::unique_lock<std::mutex> lock(m_pauseMutex);
    if (!m_paused.load() || m_cancel.load())
        return !m_cancel.load();
    // Reported outside the lock: a callback may take its time (the database flush).
    lock.unlock();
    onPauseChanged(true);
    lock.lock();
    m_pauseChanged.wait(lock, [this] { return !m_paused.load() || m_cancel.load(); });
    const bool goOn = !m_cancel.load();
    lock.unlock();
    if (goOn)
        onPauseChanged(false);
    return goOn;
}

bool Trainer::agreeToGoOn(const std::function<void(bool)>& onPauseChanged)
{
    bool reported = false;
    while (true) {
        const auto wanted = m_group->sumValues({m_cancel.load() ? 1.0 : 0.0, m_paused.load() ? 1.0 : 0.0});
        if (wanted[0] > 0) {
            cancel();
            return false;
        }
        if (wanted[1] == 0) {
            if (reported)
                onPauseChanged(false);
            return true;
        }
        if (!reported) {
            onPauseChanged(true);
            reported = true;
        }
        // Wakes early on this worker's own resume or cancel; the group decides at the next round.
        std::unique_lock<std::mutex> lock(m_pauseMutex);
        m_pauseChanged.wait_for(lock, std::chrono::seconds(1));
    }
}

void Trainer::checkCancelled(const char* phase) const
{
    if (m_group) // agreed at the first step instead (TrainingSession::checkCancelled)
        return;
    if (m_cancel.load())
        throw SetupCancelled{phase};
}

TrainResult Trainer::run(TrainerCallbacks& callbacks, bool resume)
{
    try {
        return runOrThrow(callbacks, resume);
    } catch (const std::exception& e) {
        TrainResult failed;
        failed.status = TrainStatus::Failed;
        failed.reason = e.what();
        // The other workers learn why this one stops (unless it stops because one of them did).
        if (m_group && !dynamic_cast<const WorkerGroupError*>(&e))
            m_group->reportFailure(failed.reason);
        callbacks.onLog(LogLevel::Error, failed.reason);
        return failed;
    }
}

TrainResult Trainer::runOrThrow(TrainerCallbacks& cb, bool resume)
{
    // The recipe: set up, restore, then step, evaluating and saving as the config says.
    const auto runStart = Clock::now();
    TrainingSession session(m_config, cb, [this] { return m_cancel.load(); });
    session.setWorkerGroup(m_group);
    const TrainConfig& cfg = session.config();
    TrainResult& result = session.result();
    try {
        session.setup();
        if (resume)
            session.restore();
        session.writeConfig();
        checkCancelled("before the first step");
    } catch (const SetupCancelled& c) {
        // What the session had reached (a resumed run's restored step), so its record keeps it.
        result.status = TrainStatus::Cancelled;
        result.reason = "cancelled " + c.phase;
        cb.onLog(LogLevel::Info, result.reason);
        result.wallSeconds = secondsBetween(runStart, Clock::now());
        return result;
    }
    cb.onStart(session.begin());
    session.sampleMemory(result.step);
    if (result.step == 0)
        session.evaluate(); // the untrained model's validation loss, the baseline every curve starts from

    while (!session.done()) {
        const auto onPause = [&](bool paused) { cb.onPauseChanged(paused, result.step); };
        if (!(m_group ? agreeToGoOn(onPause) : waitWhilePaused(onPause)))
            break;
        const std::optional<StepReport> report = session.step();
        if (!report)
            break; // cancelled between micro-batches
        cb.onStep(*report);
        if (session.consecutiveBadSteps() >= cfg.maxBadSteps) {
            result.status = TrainStatus::Failed;
            result.reason = "the loss was not finite for " + std::to_string(session.consecutiveBadSteps()) + " steps in a row (last at step "
                + std::to_string(result.step) + "); try a lower learning rate or gradient clipping";
            cb.onLog(LogLevel::Error, result.reason);
            result.wallSeconds = secondsBetween(runStart, Clock::now());
            return result;
        }
        if (cfg.evalEvery > 0 && result.step % cfg.evalEvery == 0 && !session.done())
            session.evaluate();
        if (cfg.saveEvery > 0 && result.step % cfg.saveEvery == 0 && !session.done())
            session.saveCheckpoint();
    }

    // A Stop that reached one worker during the last step: all take the same way out.
    if (m_group && m_group->sumValues({m_cancel.load() ? 1.0 : 0.0})[0] > 0)
        cancel();
    if (m_cancel.load()) {
        result.status = TrainStatus::Cancelled;
        result.reason = "cancelled at step " + std::to_string(result.step);
        if (result.step > 0) {
            session.saveCheckpoint();
            session.saveResult();
        }
        cb.onLog(LogLevel::Info, result.reason);
    } else {
        session.evaluate();
        session.saveCheckpoint();
        session.saveResult();
        result.status = TrainStatus::Finished;
    }
    result.wallSeconds = secondsBetween(runStart, Clock::now());
    return result;
}

} // namespace tb
