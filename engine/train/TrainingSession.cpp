#include "train/TrainingSession.h"

#include "train/OverlappedGradientSum.h"

#include "core/DeviceMemory.h"
#include "formats/FormatError.h"
#include "core/ThreadSettings.h"
#include "core/TorchCompat.h"
#include "lora/LoraInjector.h"
#include "lora/PeftAdapter.h"
#include "model/TensorIO.h"
#include "quant/ModelQuantizer.h"
#include "quant/QuantizedBaseCache.h"
#include "tokenizer/Tokenizer.h"
#include "tokenizer/TokenizerConfig.h"
#include "train/CausalLmLoss.h"
#include "train/TrainingCheckpoint.h"

#include <cmath>
#include <functional>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>

namespace tb {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

double secondsBetween(Clock::time_point a, Clock::time_point b)
{
    return std::chrono::duration<double>(b - a).count();
}

// The settings a resumed run must share with the run that wrote the checkpoint; the rest
// (threads, how often to evaluate or save, the step budget, the name, the number of workers)
// may change between sessions. The batch is compared as the global batch (restore()), so a run
// resumes at another world size with batch x accumulation x workers unchanged.
nlohmann::json identityOf(const nlohmann::json& config)
{
    nlohmann::json id;
    for (const char* key : {"model", "data", "validation_data", "method", "lora", "dataset", "learning_rate", "schedule",
                            "warmup_steps", "initial_adapter", "quant", "max_grad_norm", "weight_decay", "adam_beta1",
                            "adam_beta2", "adam_eps", "seed", "base_dtype"})
        if (config.contains(key))
            id[key] = config[key];
    return id;
}

std::string describeStats(const char* split, const DatasetStats& s)
{
    std::ostringstream out;
    out << split << ": " << s.records << " records, " << s.tokens << " tokens (" << s.lossTokens << " in the loss), "
        << s.truncated << " truncated, " << s.skipped << " skipped";
    return out.str();
}

// A memory sample as numbers for gathering to rank 0, and back.
std::vector<double> sampleValues(const MemorySample& s)
{
    return {static_cast<double>(s.step), s.elapsedSeconds, static_cast<double>(s.baseWeightBytes),
            static_cast<double>(s.adapterBytes), static_cast<double>(s.gradientBytes), static_cast<double>(s.optimizerBytes),
            static_cast<double>(s.residentBytes), static_cast<double>(s.peakResidentBytes),
            static_cast<double>(s.cudaAllocatedBytes), static_cast<double>(s.cudaReservedBytes),
            static_cast<double>(s.cudaPeakAllocatedBytes)};
}

MemorySample sampleFromValues(const std::vector<double>& v, int worker)
{
    MemorySample s;
    s.worker = worker;
    s.step = static_cast<int64_t>(v[0]);
    s.elapsedSeconds = v[1];
    int64_t* fields[] = {&s.baseWeightBytes, &s.adapterBytes, &s.gradientBytes, &s.optimizerBytes, &s.residentBytes,
                         &s.peakResidentBytes, &s.cudaAllocatedBytes, &s.cudaReservedBytes, &s.cudaPeakAllocatedBytes};
    for (size_t i = 0; i < std::size(fields); ++i)
        *fields[i] = static_cast<int64_t>(v[i + 2]);
    return s;
}

// Setup (loading, quantizing) takes as long as it takes on each worker; the collective timeout
// does not bound it, the heartbeats do.
constexpr std::chrono::seconds kSetupBarrier{4 * 3600};
// Rank 0 writing a checkpoint (a full fine-tune's weights and moments).
constexpr std::chrono::seconds kCheckpointBarrier{3600};

} // namespace

TrainingSession::TrainingSession(TrainConfig config, TrainerCallbacks& callbacks, std::function<bool()> cancelled)
    : m_config(std::move(config)), m_cb(callbacks), m_cancelled(std::move(cancelled))
{
}

void TrainingSession::checkCancelled(const char* phase) const
{
    // A worker of a group does not stop alone in the middle of setup (the others would wait for
    // it at the setup barrier): a Stop during setup takes effect at the first step, agreed by all.
    if (m_group)
        return;
    if (m_cancelled && m_cancelled())
        throw SetupCancelled{phase};
}

void TrainingSession::setup()
{
    const TrainConfig& cfg = m_config;
    cfg.validate();
    resetPeakResident(); // this run's peak RSS, even in a process that trained before
    const int threads = configureThreads(cfg.threads);
    if (cfg.threads <= 0) // the default count follows the cores others leave free, step by step
        m_threadGovernor = std::make_unique<ThreadCountGovernor>(threads);
    at::manual_seed(cfg.seed);
    fs::create_directories(cfg.outputDir);
    m_configJson = cfg.toJson();

    // Model, tokenizer, data.
    LoadOptions load;
    // QLoRA on a GPU: loaded and quantized on the host, then moved, so the device never holds
    // the bf16 base; that is what lets QLoRA train a model whose bf16 weights do not fit.
    m_quantizeOnHost = cfg.method == TrainMethod::Qlora && parseDevice(cfg.device).is_cuda();
    load.device = m_quantizeOnHost ? "cpu" : cfg.device;
    load.dtype = cfg.method == TrainMethod::Full || cfg.baseDtype == "fp32" || cfg.baseDtype == "float32" ? at::kFloat
                                                                                                      : at::kBFloat16;
    m_cb.onLog(LogLevel::Info, "Loading " + cfg.modelDir + " (" + scalarTypeName(load.dtype) + ", " + cfg.device + ", "
                                   + std::to_string(threads) + " threads)");
    checkCancelled("before loading the model");
    m_loaded = loadModel(cfg.modelDir, load);
    checkCancelled("while loading the model");
    for (const auto& w : m_loaded.warnings)
        m_cb.onLog(LogLevel::Warning, w);
    m_device = parseDevice(cfg.device);
    const Tokenizer tokenizer = Tokenizer::fromFile((fs::path(cfg.modelDir) / "tokenizer.json").string());
    const TokenizerConfig tokenizerConfig = TokenizerConfig::fromFile((fs::path(cfg.modelDir) / "tokenizer_config.json").string());
    m_data = prepareDataset(cfg.dataPath, cfg.validationPath, tokenizer, tokenizerConfig, cfg.datasetOptions());
    checkTokenIdsBelow(m_data, m_loaded.model->config().vocabSize, cfg.dataPath, cfg.validationPath, tokenizer);
    m_cb.onLog(LogLevel::Info, std::string("Dataset format ") + datasetFormatName(m_data.format) + "; "
                                   + describeStats("train", m_data.trainStats) + "; " + describeStats("validation", m_data.validationStats));
    for (const auto& w : m_data.trainStats.warnings)
        m_cb.onLog(LogLevel::Warning, w);
    if (m_data.train.empty())
        throw std::runtime_error(cfg.dataPath + ": no training examples");
    if (m_data.validation.empty())
        m_cb.onLog(LogLevel::Warning, "no validation examples: validation loss will not be reported");
    checkCancelled("while preparing the data");

    if (cfg.method == TrainMethod::Qlora)
        quantizeBase();
    checkCancelled("while quantizing the base");
    chooseWhatTrains();

    AdamW::Options adamOptions;
    adamOptions.beta1 = cfg.adamBeta1;
    adamOptions.beta2 = cfg.adamBeta2;
    adamOptions.eps = cfg.adamEps;
    adamOptions.weightDecay = cfg.weightDecay;
    m_optimizer = std::make_unique<AdamW>(m_trainable, adamOptions);
    for (const auto& [name, p] : m_trainable)
        m_result.trainableParameters += p.numel();
    m_stream = std::make_unique<BatchStream>(m_data.train, cfg.batchSize, cfg.seed);
    const int64_t examplesPerStep = globalBatch();
    m_result.totalSteps = cfg.maxSteps > 0
        ? cfg.maxSteps
        : std::max<int64_t>(1, static_cast<int64_t>(std::ceil(cfg.epochs * static_cast<double>(m_data.train.size()) / examplesPerStep)));
    m_sessionStart = Clock::now();
    if (m_group) {
        m_cb.onLog(LogLevel::Info, "Worker " + std::to_string(rank()) + " of " + std::to_string(worldSize()) + " ready; global batch "
                                       + std::to_string(globalBatch()) + " (" + std::to_string(cfg.batchSize) + " x "
                                       + std::to_string(cfg.gradAccum) + " accumulation x " + std::to_string(worldSize()) + " workers)");
        m_group->barrier("the end of setup", kSetupBarrier);
        decorrelateDropout();
        m_gradientSum = std::make_unique<OverlappedGradientSum>(*m_group, m_trainable);
    }
}

void TrainingSession::decorrelateDropout()
{
    // Every worker seeded the same stream (the same LoRA initialisation); their dropout masks
    // must differ like one process's over the global batch. Rank 0 keeps the run's stream.
    if (m_group && rank() > 0)
        at::manual_seed(m_config.seed * 1000003ULL + static_cast<uint64_t>(rank()) * 7919ULL + static_cast<uint64_t>(m_result.step));
}

void TrainingSession::quantizeBase()
{
    // QLoRA: the frozen base in 4-bit NF4 (or 8-bit), quantized once and cached.
    const TrainConfig& cfg = m_config;
    QuantCacheOptions cache;
    cache.cacheDir = cfg.quantCacheDir;
    cache.onInfo = [&](const std::string& m) { m_cb.onLog(LogLevel::Info, m); };
    cache.onWarning = [&](const std::string& m) { m_cb.onLog(LogLevel::Warning, m); };
    cache.cancelled = m_group ? std::function<bool()>() : m_cancelled; // see checkCancelled
    LlamaForCausalLM& model = *m_loaded.model;
    QuantCacheResult q;
    try {
        q = QuantizedBaseCache::loadOrQuantize(model, cfg.modelDir, cfg.quant, cache);
    } catch (const QuantizeCancelled&) {
        throw SetupCancelled{"while quantizing the base"};
    }
    std::ostringstream info;
    info << "Base quantized (" << cfg.quant.tag() << (q.fromCache ? ", from " : ", cached in ") << q.path << "): "
         << q.report.quantizedParameters << " weights in " << q.report.bytesAfter << " bytes, " << std::fixed
         << std::setprecision(3) << q.report.bitsPerParameter() << " bits each";
    m_cb.onLog(LogLevel::Info, info.str());
    if (m_quantizeOnHost) {
        model.to(m_device); // QuantizedLinear::to moves its codes without converting them
        m_cb.onLog(LogLevel::Info, "Quantized model moved to " + cfg.device);
    }
}

void TrainingSession::chooseWhatTrains()
{
    const TrainConfig& cfg = m_config;
    LlamaForCausalLM& model = *m_loaded.model;
    m_lora = cfg.lora;
    m_adapters = cfg.method == TrainMethod::Lora || cfg.method == TrainMethod::Qlora;
    if (m_adapters && !cfg.initialAdapter.empty()) {
        m_lora = loadPeftAdapter(model, cfg.initialAdapter).settings;
        for (auto& p : model.parameters())
            p.set_requires_grad(false);
        for (const auto& ref : loraLayers(model)) {
            ref.layer->lora_A->weight.set_requires_grad(true);
            ref.layer->lora_B->weight.set_requires_grad(true);
        }
        m_cb.onLog(LogLevel::Info, "Continuing adapter " + cfg.initialAdapter + " (r=" + std::to_string(m_lora.rank) + ", alpha "
                                       + std::to_string(m_lora.alpha) + ")");
    } else if (m_adapters) {
        const auto layers = applyLora(model, m_lora, cfg.seed);
        m_cb.onLog(LogLevel::Info, "LoRA r=" + std::to_string(m_lora.rank) + " on " + std::to_string(layers.size()) + " projections");
    } else {
        for (auto& p : model.parameters())
            p.set_requires_grad(true);
    }
    model.setGradientCheckpointing(cfg.gradientCheckpointing);
    model.train();
    for (const auto& item : model.named_parameters(true))
        if (item.value().requires_grad())
            m_trainable.emplace_back(item.key(), item.value());
}

void TrainingSession::restore()
{
    const std::string dir = latestCheckpoint(m_config.outputDir);
    if (dir.empty())
        throw std::runtime_error(m_config.outputDir + ": no checkpoint to resume from");
    CheckpointContents c = loadTrainingCheckpoint(dir);
    if (identityOf(c.config) != identityOf(m_configJson))
        throw FormatError(dir + "/train_config.json", "the checkpoint was written by a run with other settings; resume with the same "
                                                      "model, data, method and hyper-parameters");
    // Checkpoints before data-parallel runs were written by one worker.
    const int64_t savedBatch = c.trainerState.value(
        "global_batch", c.config.value("batch_size", int64_t(0)) * c.config.value("grad_accum", int64_t(1)));
    if (savedBatch != globalBatch())
        throw FormatError(dir + "/trainer_state.json",
                          "the checkpoint was written with a global batch of " + std::to_string(savedBatch)
                              + " examples per step; this run's is " + std::to_string(globalBatch()) + " ("
                              + std::to_string(m_config.batchSize) + " batch x " + std::to_string(m_config.gradAccum)
                              + " accumulation x " + std::to_string(worldSize())
                              + " workers): choose batch size, accumulation and workers that multiply to "
                              + std::to_string(savedBatch));
    at::NoGradGuard noGrad;
    for (auto& [name, p] : m_trainable) {
        auto it = c.trainable.find(name);
        if (it == c.trainable.end() || it->second.sizes() != p.sizes())
            throw FormatError(dir + "/trainable.safetensors", "tensor \"" + name + "\" is missing or has the wrong shape");
        p.copy_(it->second);
    }
    m_optimizer->loadState(c.optimizerState, c.trainerState.value("optimizer_steps", int64_t(0)));
    compat::setRngState(at::kCPU, c.rngState);
    if (m_device.is_cuda() && c.cudaRngState.defined())
        compat::setRngState(m_device, c.cudaRngState);
    m_result.step = c.step;
    m_examplesSeen = c.trainerState.value("examples_seen", c.step * savedBatch);
    m_result.tokensSeen = c.trainerState.value("tokens_seen", int64_t(0));
    m_result.lastLoss = c.trainerState.value("last_loss", 0.0);
    m_result.bestValidationLoss = c.trainerState.value("best_validation_loss", -1.0);
    m_result.lastValidationLoss = c.trainerState.value("last_validation_loss", -1.0);
    m_badSteps = c.trainerState.value("bad_steps", int64_t(0));
    decorrelateDropout(); // the checkpoint holds rank 0's random state
    m_cb.onLog(LogLevel::Info, "Resumed from " + dir + " at step " + std::to_string(c.step));
}

void TrainingSession::writeConfig() const
{
    if (rank() != 0)
        return;
    std::ofstream out(fs::path(m_config.outputDir) / "train_config.json", std::ios::trunc);
    out << m_configJson.dump(2) << "\n";
}

StartReport TrainingSession::begin()
{
    m_sessionStart = Clock::now();
    StartReport start;
    start.totalSteps = m_result.totalSteps;
    start.startStep = m_result.step;
    start.trainableParameters = m_result.trainableParameters;
    start.device = m_config.device;
    try {
        const DeviceMemoryInfo info = deviceMemory(m_config.device);
        start.deviceName = info.name;
        start.deviceTotalBytes = info.totalBytes;
    } catch (const std::exception&) {
        start.deviceName = m_config.device; // known to LibTorch (the model is on it), not to the query
    }
    return start;
}

void TrainingSession::sampleMemory(int64_t step)
{
    LlamaForCausalLM& model = *m_loaded.model;
    MemorySample s;
    s.step = step;
    s.elapsedSeconds = secondsBetween(m_sessionStart, Clock::now());
    for (const auto& p : model.parameters()) {
        const int64_t bytes = p.numel() * static_cast<int64_t>(p.element_size());
        (p.requires_grad() ? s.adapterBytes : s.baseWeightBytes) += bytes;
        if (p.grad().defined())
            s.gradientBytes += p.grad().numel() * static_cast<int64_t>(p.grad().element_size());
    }
    s.baseWeightBytes += ModelQuantizer::quantizedBytes(model); // QLoRA: codes, scales, maps
    s.optimizerBytes = m_optimizer->stateBytes();
    const ProcessMemory pm = processMemory();
    s.residentBytes = pm.residentBytes;
    s.peakResidentBytes = pm.peakResidentBytes;
    const compat::CudaMemoryStats cuda = compat::cudaMemoryStats(m_device);
    s.cudaAllocatedBytes = cuda.allocated;
    s.cudaReservedBytes = cuda.reserved;
    s.cudaPeakAllocatedBytes = cuda.peakAllocated;
    if (!m_group) {
        m_cb.onMemory(s);
        return;
    }
    // Every worker's sample reaches rank 0, which reports them all.
    const auto all = m_group->gatherValues(sampleValues(s));
    if (rank() == 0)
        for (size_t r = 0; r < all.size(); ++r)
            m_cb.onMemory(sampleFromValues(all[r], static_cast<int>(r)));
}

void TrainingSession::evaluate()
{
    if (m_data.validation.empty())
        return;
    EvalReport report = evaluateLoss(*m_loaded.model, m_data.validation, m_config.batchSize, m_device, rank(), worldSize());
    if (m_group) {
        // Each worker evaluated its share of the batches: sum the loss and the tokens.
        const auto sums = m_group->sumValues({report.loss * static_cast<double>(report.tokens), static_cast<double>(report.tokens)});
        report.tokens = static_cast<int64_t>(sums[1]);
        report.loss = report.tokens > 0 ? sums[0] / sums[1] : 0.0;
        report.perplexity = std::exp(report.loss);
    }
    if (report.tokens == 0)
        return;
    report.step = m_result.step;
    m_result.lastValidationLoss = report.loss;
    if (m_result.bestValidationLoss < 0 || report.loss < m_result.bestValidationLoss)
        m_result.bestValidationLoss = report.loss;
    m_cb.onEval(report);
}

std::optional<StepReport> TrainingSession::step()
{
    const TrainConfig& cfg = m_config;
    if (m_threadGovernor)
        m_threadGovernor->update();
    const auto stepStart = Clock::now();
    const double lr = learningRateAt(m_result.step, m_result.totalSteps, cfg.warmupSteps, cfg.learningRate, lrScheduleName(cfg.schedule));
    std::vector<TrainingBatch> micro;
    int64_t stepLossTokens = 0, stepTokens = 0;
    const int64_t perGlobalMicroBatch = cfg.batchSize * worldSize();
    for (int64_t k = 0; k < cfg.gradAccum; ++k) {
        const int64_t position = m_examplesSeen + k * perGlobalMicroBatch + rank() * cfg.batchSize;
        micro.push_back(BatchStream::collate(m_stream->examplesAt(position, cfg.batchSize), 0, m_device));
        stepLossTokens += micro.back().lossTokens;
        stepTokens += micro.back().tokens;
    }
    const int64_t localTokens = stepTokens; // this worker's share, before the exchange below
    if (m_group) { // the whole global batch's counts: every worker divides by the same number
        const auto collectiveStart = Clock::now();
        const auto counts = m_group->sumValues({static_cast<double>(stepLossTokens), static_cast<double>(stepTokens)});
        stepLossTokens = static_cast<int64_t>(counts[0]);
        stepTokens = static_cast<int64_t>(counts[1]);
        m_stepCollectiveSeconds = secondsBetween(collectiveStart, Clock::now());
        m_collectiveSeconds += m_stepCollectiveSeconds;
    }
    // The last micro-batch that runs backward starts the gradient sums from inside it.
    size_t lastBackward = micro.size();
    for (size_t k = 0; k < micro.size(); ++k)
        if (micro[k].lossTokens > 0 && stepLossTokens > 0)
            lastBackward = k;
    double lossTotal = 0;
    for (size_t k = 0; k < micro.size(); ++k) {
        const TrainingBatch& batch = micro[k];
        // A data-parallel run stops only between steps, all workers at the same one (Trainer).
        if (!m_group && m_cancelled && m_cancelled()) {
            m_optimizer->zeroGrad();
            return std::nullopt;
        }
        if (batch.lossTokens == 0 || stepLossTokens == 0)
            continue;
        const at::Tensor lossSum = summedTokenLoss(*m_loaded.model, batch);
        if (m_gradientSum && k == lastBackward)
            m_gradientSum->arm();
        // Token-weighted mean over the whole optimizer step, however the tokens fall into
        // micro-batches.
        (lossSum / static_cast<double>(stepLossTokens)).backward();
        lossTotal += lossSum.item<double>();
    }
    std::vector<double> workerRates;
    if (m_group) {
        // Summed, not averaged: each worker's loss was already divided by the global count.
        // The frozen base has no gradients; a worker whose share had no loss tokens sends zeros.
        // Most buckets were started by the last backward pass; this waits for them.
        const auto collectiveStart = Clock::now();
        m_gradientSum->finish();
        // Each worker's loss sum, tokens and compute time (the step so far, less its waits):
        // the loss is their sum in rank order (the same double on every worker), the rest the
        // workers' own speeds.
        const double computeSeconds = secondsBetween(stepStart, collectiveStart) - m_stepCollectiveSeconds;
        const auto all = m_group->gatherValues({lossTotal, static_cast<double>(localTokens), computeSeconds});
        lossTotal = 0;
        for (const auto& w : all) {
            lossTotal += w[0];
            workerRates.push_back(w[1] / std::max(1e-9, w[2]));
        }
        m_collectiveSeconds += secondsBetween(collectiveStart, Clock::now());
    }
    const double loss = stepLossTokens > 0 ? lossTotal / static_cast<double>(stepLossTokens) : 0.0;
    // Summed on the device, read once: one .item() per tensor would wait for the GPU hundreds
    // of times a step. Per-tensor float sums added in double, as before.
    at::Tensor gradNormSq;
    for (const auto& [name, p] : m_trainable)
        if (p.grad().defined()) {
            const at::Tensor s = p.grad().to(at::kFloat).pow(2).sum().to(at::kDouble);
            gradNormSq = gradNormSq.defined() ? gradNormSq + s : s;
        }
    const double gradNorm = gradNormSq.defined() ? std::sqrt(gradNormSq.item<double>()) : 0.0;

    StepReport report;
    report.skipped = !std::isfinite(loss) || !std::isfinite(gradNorm);
    if (report.skipped) {
        ++m_badSteps;
        m_cb.onLog(LogLevel::Warning, "step " + std::to_string(m_result.step + 1) + ": loss is not finite; the update was not applied");
    } else {
        m_badSteps = 0;
        if (cfg.maxGradNorm > 0 && gradNorm > cfg.maxGradNorm) {
            at::NoGradGuard noGrad;
            const double scale = cfg.maxGradNorm / (gradNorm + 1e-6);
            for (auto& [name, p] : m_trainable)
                if (p.grad().defined())
                    p.mutable_grad().mul_(scale);
        }
        m_optimizer->step(lr);
    }
    sampleMemory(m_result.step + 1); // while gradients are alive: their bytes are part of the peak
    m_optimizer->zeroGrad();
    ++m_result.step;
    m_examplesSeen += globalBatch();
    m_result.tokensSeen += stepTokens;
    if (!report.skipped)
        m_result.lastLoss = loss;

    const auto now = Clock::now();
    m_stepSeconds += secondsBetween(stepStart, now);
    ++m_sessionSteps;
    report.step = m_result.step;
    report.totalSteps = m_result.totalSteps;
    report.epoch = m_stream->epochAtExample(m_examplesSeen);
    report.tokensSeen = m_result.tokensSeen;
    report.loss = loss;
    report.learningRate = lr;
    report.gradNorm = gradNorm;
    report.tokensPerSecond = static_cast<double>(stepTokens) / std::max(1e-9, secondsBetween(stepStart, now));
    report.workerTokensPerSecond = std::move(workerRates);
    report.elapsedSeconds = secondsBetween(m_sessionStart, now);
    return report;
}

void TrainingSession::checkWorkersAgree()
{
    // FNV-1a over the trained tensors' bytes, in parameter order, as two exact 32-bit halves.
    uint64_t hash = 1469598103934665603ULL;
    for (const auto& [name, p] : m_trainable) {
        const at::Tensor t = p.detach().to(at::kCPU).contiguous();
        const auto* bytes = static_cast<const unsigned char*>(t.data_ptr());
        for (size_t i = 0, n = static_cast<size_t>(t.numel()) * t.element_size(); i < n; ++i)
            hash = (hash ^ bytes[i]) * 1099511628211ULL;
    }
    const auto all = m_group->gatherValues({static_cast<double>(hash >> 32), static_cast<double>(hash & 0xffffffffULL)});
    for (size_t r = 1; r < all.size(); ++r)
        if (all[r] != all[0])
            throw std::runtime_error("after step " + std::to_string(m_result.step) + " worker rank " + std::to_string(r)
                                     + "'s trained weights differ from rank 0's: the workers diverged");
    std::ostringstream msg;
    msg << "Step " << m_result.step << ": trained weights identical on all " << all.size() << " workers (FNV-1a " << std::hex
        << std::setw(16) << std::setfill('0') << hash << std::dec << ")";
    // What the exchange costs (the wait for slower workers included): the figure to weigh
    // against the step when deciding how many workers pay.
    if (m_sessionSteps > 0)
        msg << "; collectives " << std::fixed << std::setprecision(1) << 1000.0 * m_collectiveSeconds / static_cast<double>(m_sessionSteps)
            << " ms of a " << 1000.0 * m_stepSeconds / static_cast<double>(m_sessionSteps) << " ms step on rank 0";
    m_cb.onLog(LogLevel::Info, msg.str());
}

void TrainingSession::saveCheckpoint()
{
    if (m_group)
        checkWorkersAgree();
    if (rank() != 0) { // rank 0 writes; the others wait for it, the weights being the same
        m_group->barrier("checkpoint at step " + std::to_string(m_result.step), kCheckpointBarrier);
        return;
    }
    CheckpointContents c;
    c.step = m_result.step;
    for (const auto& [name, p] : m_trainable)
        c.trainable[name] = p.detach().to(at::kCPU);
    c.optimizerState = m_optimizer->stateTensors();
    c.rngState = compat::rngState(at::kCPU);
    if (m_device.is_cuda())
        c.cudaRngState = compat::rngState(m_device);
    c.trainerState = {{"step", m_result.step},
                      {"optimizer_steps", m_optimizer->stepCount()},
                      {"tokens_seen", m_result.tokensSeen},
                      {"last_loss", m_result.lastLoss},
                      {"best_validation_loss", m_result.bestValidationLoss},
                      {"last_validation_loss", m_result.lastValidationLoss},
                      {"bad_steps", m_badSteps},
                      {"total_steps", m_result.totalSteps},
                      {"examples_seen", m_examplesSeen},
                      {"global_batch", globalBatch()},
                      {"world_size", worldSize()}};
    c.config = m_configJson;
    m_result.lastCheckpoint = saveTrainingCheckpoint(m_config.outputDir, c);
    m_cb.onCheckpoint(m_result.lastCheckpoint, m_result.step);
    if (m_group)
        m_group->barrier("checkpoint at step " + std::to_string(m_result.step), kCheckpointBarrier);
}

void TrainingSession::saveResult()
{
    if (rank() != 0)
        return;
    const TrainConfig& cfg = m_config;
    LlamaForCausalLM& model = *m_loaded.model;
    if (m_adapters) {
        m_result.adapterDir = (fs::path(cfg.outputDir) / "adapter").string();
        savePeftAdapter(model, m_lora, cfg.modelDir, m_result.adapterDir);
    } else {
        m_result.adapterDir = (fs::path(cfg.outputDir) / "model").string();
        saveModelFolder(model, m_result.adapterDir, at::kFloat);
        for (const char* f : {"tokenizer.json", "tokenizer_config.json", "generation_config.json"})
            if (fs::exists(fs::path(cfg.modelDir) / f))
                fs::copy_file(fs::path(cfg.modelDir) / f, fs::path(m_result.adapterDir) / f, fs::copy_options::overwrite_existing);
    }
}

} // namespace tb
