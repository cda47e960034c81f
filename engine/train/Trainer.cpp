#include "train/Trainer.h"

#include "core/DeviceMemory.h"
#include "core/FormatError.h"
#include "core/ThreadSettings.h"
#include "core/TorchCompat.h"
#include "lora/LoraInjector.h"
#include "lora/PeftAdapter.h"
#include "model/ModelLoader.h"
#include "model/TensorIO.h"
#include "quant/ModelQuantizer.h"
#include "quant/QuantizedBaseCache.h"
#include "tokenizer/Tokenizer.h"
#include "tokenizer/TokenizerConfig.h"
#include "train/AdamW.h"
#include "train/BatchStream.h"
#include "train/CausalLmLoss.h"
#include "train/TrainingCheckpoint.h"

#include <chrono>
#include <cmath>
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
// (threads, how often to evaluate or save, the step budget) may change between sessions.
nlohmann::json identityOf(const nlohmann::json& config)
{
    nlohmann::json id;
    for (const char* key : {"model", "data", "validation_data", "method", "lora", "dataset", "learning_rate", "schedule",
                            "warmup_steps", "batch_size", "grad_accum", "initial_adapter", "quant", "max_grad_norm", "weight_decay", "adam_beta1",
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

namespace {

// Thrown between setup phases when cancel() came: the run ends `cancelled`, not `failed`.
struct CancelledDuringSetup {
    std::string phase;
};

} // namespace

void Trainer::checkCancelled(const char* phase) const
{
    if (m_cancel.load())
        throw CancelledDuringSetup{phase};
}

TrainResult Trainer::run(TrainerCallbacks& callbacks, bool resume)
{
    try {
        return runOrThrow(callbacks, resume);
    } catch (const CancelledDuringSetup& c) {
        TrainResult cancelled;
        cancelled.status = TrainStatus::Cancelled;
        cancelled.reason = "cancelled " + c.phase;
        callbacks.onLog(LogLevel::Info, cancelled.reason);
        return cancelled;
    } catch (const std::exception& e) {
        TrainResult failed;
        failed.status = TrainStatus::Failed;
        failed.reason = e.what();
        callbacks.onLog(LogLevel::Error, failed.reason);
        return failed;
    }
}

TrainResult Trainer::runOrThrow(TrainerCallbacks& cb, bool resume)
{
    const TrainConfig& cfg = m_config;
    cfg.validate();
    const auto runStart = Clock::now();
    resetPeakResident(); // this run's peak RSS, even in a process that trained before
    const int threads = configureThreads(cfg.threads);
    at::manual_seed(cfg.seed);
    fs::create_directories(cfg.outputDir);

    // Model, tokenizer, data.
    LoadOptions load;
    // QLoRA on a GPU: loaded and quantized on the host, then moved, so the device never holds
    // the bf16 base; that is what lets QLoRA train a model whose bf16 weights do not fit.
    const bool quantizeOnHost = cfg.method == TrainMethod::Qlora && parseDevice(cfg.device).is_cuda();
    load.device = quantizeOnHost ? "cpu" : cfg.device;
    load.dtype = cfg.method == TrainMethod::Full || cfg.baseDtype == "fp32" || cfg.baseDtype == "float32" ? at::kFloat
                                                                                                      : at::kBFloat16;
    cb.onLog(LogLevel::Info, "Loading " + cfg.modelDir + " (" + scalarTypeName(load.dtype) + ", " + cfg.device + ", "
                                 + std::to_string(threads) + " threads)");
    checkCancelled("before loading the model");
    LoadedModel loaded = loadModel(cfg.modelDir, load);
    checkCancelled("while loading the model");
    for (const auto& w : loaded.warnings)
        cb.onLog(LogLevel::Warning, w);
    LlamaForCausalLM& model = *loaded.model;
    const at::Device device = parseDevice(cfg.device);
    const Tokenizer tokenizer = Tokenizer::fromFile((fs::path(cfg.modelDir) / "tokenizer.json").string());
    const TokenizerConfig tokenizerConfig = TokenizerConfig::fromFile((fs::path(cfg.modelDir) / "tokenizer_config.json").string());
    checkCancelled("while loading the model");
    const PreparedDataset data = prepareDataset(cfg.dataPath, cfg.validationPath, tokenizer, tokenizerConfig, cfg.datasetOptions());
    checkTokenIdsBelow(data, model.config().vocabSize, cfg.dataPath, cfg.validationPath, tokenizer);
    cb.onLog(LogLevel::Info, std::string("Dataset format ") + datasetFormatName(data.format) + "; "
                                 + describeStats("train", data.trainStats) + "; " + describeStats("validation", data.validationStats));
    for (const auto& w : data.trainStats.warnings)
        cb.onLog(LogLevel::Warning, w);
    if (data.train.empty())
        throw std::runtime_error(cfg.dataPath + ": no training examples");
    if (data.validation.empty())
        cb.onLog(LogLevel::Warning, "no validation examples: validation loss will not be reported");

    if (cfg.method == TrainMethod::Qlora) {
        // QLoRA: the frozen base in 4-bit NF4 (or 8-bit), quantized once and cached.
        checkCancelled("while preparing the data");
        QuantCacheOptions cache;
        cache.cacheDir = cfg.quantCacheDir;
        cache.cancelled = [this] { return m_cancel.load(); };
        cache.onInfo = [&](const std::string& m) { cb.onLog(LogLevel::Info, m); };
        cache.onWarning = [&](const std::string& m) { cb.onLog(LogLevel::Warning, m); };
        QuantCacheResult q;
        try {
            q = QuantizedBaseCache::loadOrQuantize(model, cfg.modelDir, cfg.quant, cache);
        } catch (const QuantizeCancelled&) {
            throw CancelledDuringSetup{"while quantizing the base"};
        }
        std::ostringstream info;
        info << "Base quantized (" << cfg.quant.tag() << (q.fromCache ? ", from " : ", cached in ") << q.path << "): "
             << q.report.quantizedParameters << " weights in " << q.report.bytesAfter << " bytes, " << std::fixed
             << std::setprecision(3) << q.report.bitsPerParameter() << " bits each";
        cb.onLog(LogLevel::Info, info.str());
        if (quantizeOnHost) {
            model.to(device); // QuantizedLinear::to moves its codes without converting them
            cb.onLog(LogLevel::Info, "Quantized model moved to " + cfg.device);
        }
    }

    checkCancelled("while quantizing the base");
    // What trains.
    LoraSettings lora = cfg.lora;
    const bool adapters = cfg.method == TrainMethod::Lora || cfg.method == TrainMethod::Qlora;
    if (adapters && !cfg.initialAdapter.empty()) {
        lora = loadPeftAdapter(model, cfg.initialAdapter).settings;
        for (auto& p : model.parameters())
            p.set_requires_grad(false);
        for (const auto& ref : loraLayers(model)) {
            ref.layer->lora_A->weight.set_requires_grad(true);
            ref.layer->lora_B->weight.set_requires_grad(true);
        }
        cb.onLog(LogLevel::Info, "Continuing adapter " + cfg.initialAdapter + " (r=" + std::to_string(lora.rank) + ", alpha "
                                     + std::to_string(lora.alpha) + ")");
    } else if (adapters) {
        const auto layers = applyLora(model, lora, cfg.seed);
        cb.onLog(LogLevel::Info, "LoRA r=" + std::to_string(lora.rank) + " on " + std::to_string(layers.size()) + " projections");
    } else {
        for (auto& p : model.parameters())
            p.set_requires_grad(true);
    }
    model.setGradientCheckpointing(cfg.gradientCheckpointing);
    model.train();
    std::vector<std::pair<std::string, at::Tensor>> trainable;
    for (const auto& item : model.named_parameters(true))
        if (item.value().requires_grad())
            trainable.emplace_back(item.key(), item.value());
    AdamW::Options adamOptions;
    adamOptions.beta1 = cfg.adamBeta1;
    adamOptions.beta2 = cfg.adamBeta2;
    adamOptions.eps = cfg.adamEps;
    adamOptions.weightDecay = cfg.weightDecay;
    AdamW optimizer(trainable, adamOptions);

    TrainResult result;
    for (const auto& [name, p] : trainable)
        result.trainableParameters += p.numel();
    const BatchStream stream(data.train, cfg.batchSize, cfg.seed);
    const int64_t examplesPerStep = cfg.batchSize * cfg.gradAccum;
    result.totalSteps = cfg.maxSteps > 0
        ? cfg.maxSteps
        : std::max<int64_t>(1, static_cast<int64_t>(std::ceil(cfg.epochs * static_cast<double>(data.train.size()) / examplesPerStep)));
    const nlohmann::json configJson = cfg.toJson();
    int64_t badSteps = 0;

    if (resume) {
        const std::string dir = latestCheckpoint(cfg.outputDir);
        if (dir.empty())
            throw std::runtime_error(cfg.outputDir + ": no checkpoint to resume from");
        CheckpointContents c = loadTrainingCheckpoint(dir);
        if (identityOf(c.config) != identityOf(configJson))
            throw FormatError(dir + "/train_config.json", "the checkpoint was written by a run with other settings; resume with the same "
                                                          "model, data, method and hyper-parameters");
        at::NoGradGuard noGrad;
        for (auto& [name, p] : trainable) {
            auto it = c.trainable.find(name);
            if (it == c.trainable.end() || it->second.sizes() != p.sizes())
                throw FormatError(dir + "/trainable.safetensors", "tensor \"" + name + "\" is missing or has the wrong shape");
            p.copy_(it->second);
        }
        optimizer.loadState(c.optimizerState, c.trainerState.value("optimizer_steps", int64_t(0)));
        compat::setRngState(at::kCPU, c.rngState);
        if (device.is_cuda() && c.cudaRngState.defined())
            compat::setRngState(device, c.cudaRngState);
        result.step = c.step;
        result.tokensSeen = c.trainerState.value("tokens_seen", int64_t(0));
        result.lastLoss = c.trainerState.value("last_loss", 0.0);
        result.bestValidationLoss = c.trainerState.value("best_validation_loss", -1.0);
        result.lastValidationLoss = c.trainerState.value("last_validation_loss", -1.0);
        badSteps = c.trainerState.value("bad_steps", int64_t(0));
        cb.onLog(LogLevel::Info, "Resumed from " + dir + " at step " + std::to_string(c.step));
    }
    {
        std::ofstream out(fs::path(cfg.outputDir) / "train_config.json", std::ios::trunc);
        out << configJson.dump(2) << "\n";
    }

    const auto sessionStart = Clock::now();
    auto memorySample = [&](int64_t step) {
        MemorySample s;
        s.step = step;
        s.elapsedSeconds = secondsBetween(sessionStart, Clock::now());
        for (const auto& p : model.parameters()) {
            const int64_t bytes = p.numel() * static_cast<int64_t>(p.element_size());
            (p.requires_grad() ? s.adapterBytes : s.baseWeightBytes) += bytes;
            if (p.grad().defined())
                s.gradientBytes += p.grad().numel() * static_cast<int64_t>(p.grad().element_size());
        }
        s.baseWeightBytes += ModelQuantizer::quantizedBytes(model); // QLoRA: codes, scales, maps
        s.optimizerBytes = optimizer.stateBytes();
        const ProcessMemory pm = processMemory();
        s.residentBytes = pm.residentBytes;
        s.peakResidentBytes = pm.peakResidentBytes;
        const compat::CudaMemoryStats cuda = compat::cudaMemoryStats(device);
        s.cudaAllocatedBytes = cuda.allocated;
        s.cudaReservedBytes = cuda.reserved;
        s.cudaPeakAllocatedBytes = cuda.peakAllocated;
        cb.onMemory(s);
    };
    auto evaluate = [&](int64_t step) {
        if (data.validation.empty())
            return;
        EvalReport report = evaluateLoss(model, data.validation, cfg.batchSize, device);
        if (report.tokens == 0)
            return;
        report.step = step;
        result.lastValidationLoss = report.loss;
        if (result.bestValidationLoss < 0 || report.loss < result.bestValidationLoss)
            result.bestValidationLoss = report.loss;
        cb.onEval(report);
    };
    auto checkpoint = [&]() {
        CheckpointContents c;
        c.step = result.step;
        for (const auto& [name, p] : trainable)
            c.trainable[name] = p.detach().to(at::kCPU);
        c.optimizerState = optimizer.stateTensors();
        c.rngState = compat::rngState(at::kCPU);
        if (device.is_cuda())
            c.cudaRngState = compat::rngState(device);
        c.trainerState = {{"step", result.step},
                          {"optimizer_steps", optimizer.stepCount()},
                          {"tokens_seen", result.tokensSeen},
                          {"last_loss", result.lastLoss},
                          {"best_validation_loss", result.bestValidationLoss},
                          {"last_validation_loss", result.lastValidationLoss},
                          {"bad_steps", badSteps},
                          {"total_steps", result.totalSteps}};
        c.config = configJson;
        result.lastCheckpoint = saveTrainingCheckpoint(cfg.outputDir, c);
        cb.onCheckpoint(result.lastCheckpoint, result.step);
    };
    auto saveResult = [&]() {
        if (adapters) {
            result.adapterDir = (fs::path(cfg.outputDir) / "adapter").string();
            savePeftAdapter(model, lora, cfg.modelDir, result.adapterDir);
        } else {
            result.adapterDir = (fs::path(cfg.outputDir) / "model").string();
            saveModelFolder(model, result.adapterDir, at::kFloat);
            for (const char* f : {"tokenizer.json", "tokenizer_config.json", "generation_config.json"})
                if (fs::exists(fs::path(cfg.modelDir) / f))
                    fs::copy_file(fs::path(cfg.modelDir) / f, fs::path(result.adapterDir) / f, fs::copy_options::overwrite_existing);
        }
    };

    StartReport start;
    start.totalSteps = result.totalSteps;
    start.startStep = result.step;
    start.trainableParameters = result.trainableParameters;
    start.device = cfg.device;
    try {
        const DeviceMemoryInfo info = deviceMemory(cfg.device);
        start.deviceName = info.name;
        start.deviceTotalBytes = info.totalBytes;
    } catch (const std::exception&) {
        start.deviceName = cfg.device; // known to LibTorch (the model is on it), not to the query
    }
    checkCancelled("before the first step");
    cb.onStart(start);
    memorySample(result.step);
    if (result.step == 0)
        evaluate(0); // the untrained model's validation loss, the baseline every curve starts from
    while (result.step < result.totalSteps) {
        if (!waitWhilePaused([&](bool paused) { cb.onPauseChanged(paused, result.step); }))
            break;
        const auto stepStart = Clock::now();
        const double lr = learningRateAt(result.step, result.totalSteps, cfg.warmupSteps, cfg.learningRate, lrScheduleName(cfg.schedule));
        std::vector<TrainingBatch> micro;
        int64_t stepLossTokens = 0, stepTokens = 0;
        for (int64_t k = 0; k < cfg.gradAccum; ++k) {
            micro.push_back(BatchStream::collate(stream.microBatch(result.step * cfg.gradAccum + k), 0, device));
            stepLossTokens += micro.back().lossTokens;
            stepTokens += micro.back().tokens;
        }
        double lossTotal = 0;
        bool cancelled = false;
        for (const TrainingBatch& batch : micro) {
            if (m_cancel.load()) {
                cancelled = true;
                break;
            }
            if (batch.lossTokens == 0 || stepLossTokens == 0)
                continue;
            const at::Tensor lossSum = summedTokenLoss(model, batch);
            // Token-weighted mean over the whole optimizer step, however the tokens fall
            // into micro-batches.
            (lossSum / static_cast<double>(stepLossTokens)).backward();
            lossTotal += lossSum.item<double>();
        }
        if (cancelled) {
            optimizer.zeroGrad();
            break;
        }
        const double loss = stepLossTokens > 0 ? lossTotal / static_cast<double>(stepLossTokens) : 0.0;
        // Summed on the device, read once: one .item() per tensor would wait for the GPU
        // hundreds of times a step. Per-tensor float sums added in double, as before.
        at::Tensor gradNormSq;
        for (const auto& [name, p] : trainable)
            if (p.grad().defined()) {
                const at::Tensor s = p.grad().to(at::kFloat).pow(2).sum().to(at::kDouble);
                gradNormSq = gradNormSq.defined() ? gradNormSq + s : s;
            }
        const double gradNorm = gradNormSq.defined() ? std::sqrt(gradNormSq.item<double>()) : 0.0;

        StepReport report;
        report.skipped = !std::isfinite(loss) || !std::isfinite(gradNorm);
        if (report.skipped) {
            ++badSteps;
            cb.onLog(LogLevel::Warning, "step " + std::to_string(result.step + 1) + ": loss is not finite; the update was not applied");
        } else {
            badSteps = 0;
            if (cfg.maxGradNorm > 0 && gradNorm > cfg.maxGradNorm) {
                at::NoGradGuard noGrad;
                const double scale = cfg.maxGradNorm / (gradNorm + 1e-6);
                for (auto& [name, p] : trainable)
                    if (p.grad().defined())
                        p.mutable_grad().mul_(scale);
            }
            optimizer.step(lr);
        }
        memorySample(result.step + 1); // while gradients are alive: their bytes are part of the peak
        optimizer.zeroGrad();
        ++result.step;
        result.tokensSeen += stepTokens;
        if (!report.skipped)
            result.lastLoss = loss;

        const auto now = Clock::now();
        report.step = result.step;
        report.totalSteps = result.totalSteps;
        report.epoch = stream.epochAt(result.step * cfg.gradAccum);
        report.tokensSeen = result.tokensSeen;
        report.loss = loss;
        report.learningRate = lr;
        report.gradNorm = gradNorm;
        report.tokensPerSecond = static_cast<double>(stepTokens) / std::max(1e-9, secondsBetween(stepStart, now));
        report.elapsedSeconds = secondsBetween(sessionStart, now);
        cb.onStep(report);

        if (badSteps >= cfg.maxBadSteps) {
            result.status = TrainStatus::Failed;
            result.reason = "the loss was not finite for " + std::to_string(badSteps) + " steps in a row (last at step "
                + std::to_string(result.step) + "); try a lower learning rate or gradient clipping";
            cb.onLog(LogLevel::Error, result.reason);
            result.wallSeconds = secondsBetween(runStart, Clock::now());
            return result;
        }
        if (cfg.evalEvery > 0 && result.step % cfg.evalEvery == 0 && result.step < result.totalSteps)
            evaluate(result.step);
        if (cfg.saveEvery > 0 && result.step % cfg.saveEvery == 0 && result.step < result.totalSteps)
            checkpoint();
    }

    if (m_cancel.load()) {
        result.status = TrainStatus::Cancelled;
        result.reason = "cancelled at step " + std::to_string(result.step);
        if (result.step > 0) {
            checkpoint();
            saveResult();
        }
        cb.onLog(LogLevel::Info, result.reason);
    } else {
        evaluate(result.step);
        checkpoint();
        saveResult();
        result.status = TrainStatus::Finished;
    }
    result.wallSeconds = secondsBetween(runStart, Clock::now());
    return result;
}

} // namespace tb
