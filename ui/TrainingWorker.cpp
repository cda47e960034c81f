#include "TrainingWorker.h"

#include "core/DeviceMemory.h"

#include "store/RunStore.h"
#include "train/RunRecorder.h"
#include "train/RunRegistration.h"
#include "train/Trainer.h"

#include <filesystem>
#include <memory>
#include <optional>

namespace {

// Turns each report into a signal of the worker; runs on the training thread and only queues.
class SignalAdapter : public tb::TrainerCallbacks {
public:
    explicit SignalAdapter(TrainingWorker* worker) : m_worker(worker) {}
    void onStep(const tb::StepReport& r) override { Q_EMIT m_worker->stepReported(r); }
    void onEval(const tb::EvalReport& r) override { Q_EMIT m_worker->evalReported(r); }
    void onMemory(const tb::MemorySample& m) override { Q_EMIT m_worker->memorySampled(m); }
    void onLog(tb::LogLevel level, const std::string& message) override
    {
        Q_EMIT m_worker->logged(static_cast<int>(level), QString::fromStdString(message));
    }
    void onCheckpoint(const std::string& dir, int64_t step) override
    {
        Q_EMIT m_worker->logged(static_cast<int>(tb::LogLevel::Info),
                                QStringLiteral("checkpoint at step %1: %2").arg(step).arg(QString::fromStdString(dir)));
    }

private:
    TrainingWorker* m_worker;
};

} // namespace

TrainingWorker::TrainingWorker()
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
}

void TrainingWorker::setDatabasePath(const QString& path)
{
    std::lock_guard<std::mutex> lock(m_mutex);
    m_databasePath = path;
}

void TrainingWorker::pause()
{
    std::lock_guard<std::mutex> lock(m_mutex);
    if (m_trainer)
        m_trainer->pause();
}

void TrainingWorker::resume()
{
    std::lock_guard<std::mutex> lock(m_mutex);
    if (m_trainer)
        m_trainer->resume();
}

void TrainingWorker::cancel()
{
    std::lock_guard<std::mutex> lock(m_mutex);
    if (m_trainer)
        m_trainer->cancel();
    else
        m_cancelPending = true;
}

void TrainingWorker::start(const tb::TrainConfig& requested, bool resume)
{
    tb::TrainConfig config = requested;
    config.makePathsAbsolute();

    QString databasePath;
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        databasePath = m_databasePath;
        if (m_cancelPending) {
            m_cancelPending = false;
            Q_EMIT finished(static_cast<int>(tb::TrainStatus::Cancelled), tr("cancelled before it started"), QString());
            return;
        }
    }

    SignalAdapter adapter(this);
    std::unique_ptr<tb::RunStore> store;
    std::unique_ptr<tb::RunRecorder> recorder;
    int64_t runId = -1;
    try {
        config.validate();
        if (!databasePath.isEmpty()) {
            store = std::make_unique<tb::RunStore>(databasePath.toStdString());
            runId = tb::registerTrainingRun(*store, config, resume, std::filesystem::path(config.outputDir).filename().string());
            recorder = std::make_unique<tb::RunRecorder>(*store, runId, config.method, &adapter);
        }
    } catch (const std::exception& e) {
        Q_EMIT logged(static_cast<int>(tb::LogLevel::Error), QString::fromStdString(e.what()));
        Q_EMIT finished(static_cast<int>(tb::TrainStatus::Failed), QString::fromStdString(e.what()), QString());
        return;
    }
    Q_EMIT started(runId, config.maxSteps);
    try {
        const tb::DeviceMemoryInfo device = tb::deviceMemory(config.device);
        Q_EMIT deviceCapacity(device.totalBytes, QString::fromStdString(device.name));
    } catch (const std::exception&) {
        Q_EMIT deviceCapacity(-1, QString::fromStdString(config.device)); // the Trainer reports the error
    }

    tb::Trainer trainer(config);
    bool cancelEarly = false;
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_trainer = &trainer;
        cancelEarly = m_cancelPending;
        m_cancelPending = false;
    }
    if (cancelEarly)
        trainer.cancel();
    const tb::TrainResult result =
        trainer.run(recorder ? static_cast<tb::TrainerCallbacks&>(*recorder) : adapter, resume);
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_trainer = nullptr;
        m_cancelPending = false;
    }
    QString reason = QString::fromStdString(result.reason);
    if (recorder) {
        try {
            recorder->finish(result);
            Q_EMIT logged(static_cast<int>(tb::LogLevel::Info),
                          tr("recorded as run %1 in %2").arg(runId).arg(QString::fromStdString(store->path())));
        } catch (const std::exception& e) {
            Q_EMIT logged(static_cast<int>(tb::LogLevel::Error), tr("recording the run's end failed: %1").arg(e.what()));
        }
    }
    Q_EMIT finished(static_cast<int>(result.status), reason, QString::fromStdString(result.adapterDir));
}
