#include "train/RunRecorder.h"

#include "store/MetricBuffer.h"
#include "store/RunStore.h"

namespace tb {

RunRecorder::RunRecorder(RunStore& store, int64_t runId, TrainMethod method, TrainerCallbacks* next)
    : m_store(store), m_runId(runId), m_method(method), m_next(next), m_buffer(std::make_unique<MetricBuffer>(store.database(), runId))
{
}

RunRecorder::~RunRecorder() = default;

void RunRecorder::onStep(const StepReport& r)
{
    m_lastTokens = r.tokensSeen;
    m_lastElapsed = r.elapsedSeconds;
    m_buffer->appendMetric(r.step, r.tokensSeen, r.elapsedSeconds, "loss", r.loss);
    m_buffer->appendMetric(r.step, r.tokensSeen, r.elapsedSeconds, "lr", r.learningRate);
    m_buffer->appendMetric(r.step, r.tokensSeen, r.elapsedSeconds, "grad_norm", r.gradNorm);
    m_buffer->appendMetric(r.step, r.tokensSeen, r.elapsedSeconds, "tokens_per_second", r.tokensPerSecond);
    m_buffer->appendMetric(r.step, r.tokensSeen, r.elapsedSeconds, "epoch", r.epoch);
    if (r.skipped)
        m_buffer->appendMetric(r.step, r.tokensSeen, r.elapsedSeconds, "skipped", 1.0);
    // A data-parallel run's workers, each under its own name ("tokens_per_second.worker1").
    for (size_t w = 0; w < r.workerTokensPerSecond.size(); ++w)
        m_buffer->appendMetric(r.step, r.tokensSeen, r.elapsedSeconds, "tokens_per_second.worker" + std::to_string(w),
                               r.workerTokensPerSecond[w]);
    if (m_next)
        m_next->onStep(r);
}

void RunRecorder::onEval(const EvalReport& r)
{
    m_buffer->appendMetric(r.step, m_lastTokens, m_lastElapsed, "val_loss", r.loss);
    m_buffer->appendMetric(r.step, m_lastTokens, m_lastElapsed, "val_perplexity", r.perplexity);
    if (m_next)
        m_next->onEval(r);
}

void RunRecorder::onMemory(const MemorySample& m)
{
    const std::pair<const char*, int64_t> categories[] = {
        {"base_weights", m.baseWeightBytes}, {"adapters", m.adapterBytes},    {"gradients", m.gradientBytes},
        {"optimizer", m.optimizerBytes},     {"rss", m.residentBytes},         {"peak_rss", m.peakResidentBytes},
        {"cuda_allocated", m.cudaAllocatedBytes}, {"cuda_reserved", m.cudaReservedBytes},
        {"cuda_peak_allocated", m.cudaPeakAllocatedBytes}};
    for (const auto& [name, bytes] : categories)
        if (bytes >= 0)
            m_buffer->appendMemory(m.step, m.elapsedSeconds, name, bytes, m.worker);
    if (m_next)
        m_next->onMemory(m);
}

void RunRecorder::onStart(const StartReport& r)
{
    // Epochs become steps only here: the Runs tab and a window following the run need them.
    m_store.setTotalSteps(m_runId, r.totalSteps);
    if (m_next)
        m_next->onStart(r);
}

void RunRecorder::onPauseChanged(bool paused, int64_t step)
{
    if (paused)
        m_buffer->flush(); // the database shows everything up to the pause while it lasts
    if (m_next)
        m_next->onPauseChanged(paused, step);
}

void RunRecorder::onLog(LogLevel level, const std::string& message)
{
    if (m_next)
        m_next->onLog(level, message);
}

void RunRecorder::onCheckpoint(const std::string& dir, int64_t step)
{
    // The metrics up to the checkpoint are committed together with it.
    m_buffer->flush();
    m_store.recordCheckpoint(m_runId, step, dir);
    if (m_next)
        m_next->onCheckpoint(dir, step);
}

void RunRecorder::finish(const TrainResult& result)
{
    m_buffer->flush();
    if (!result.adapterDir.empty())
        m_store.addArtifact(m_runId, m_method == TrainMethod::Full ? ArtifactKind::Merged : ArtifactKind::Adapter,
                            result.adapterDir, result.step);
    RunEnd end;
    end.status = result.status == TrainStatus::Finished ? RunStatus::Finished
        : result.status == TrainStatus::Cancelled      ? RunStatus::Cancelled
                                                       : RunStatus::Failed;
    end.reason = result.reason;
    end.lastStep = result.step;
    end.lastCheckpoint = result.lastCheckpoint;
    if (result.trainableParameters > 0) // 0: ended before it knew (cancelled or failed during setup)
        end.trainableParameters = result.trainableParameters;
    end.wallSeconds = result.wallSeconds;
    m_store.finishRun(m_runId, end);
}

} // namespace tb
