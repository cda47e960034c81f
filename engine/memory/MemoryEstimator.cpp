#include "memory/MemoryEstimator.h"

#include "quant/QuantizedBaseCache.h"
#include "train/ChunkedLmHeadLoss.h"

#include <algorithm>
#include <filesystem>
#include <stdexcept>
#include <thread>

namespace tb {

namespace {

constexpr int64_t kMiB = int64_t(1) << 20;

int64_t ceilDiv(int64_t a, int64_t b)
{
    return (a + b - 1) / b;
}

// One projection of a decoder layer: its name and [in, out].
struct ProjectionShape {
    const char* name;
    int64_t in, out;
};

std::vector<ProjectionShape> projectionsOf(const ModelConfig& c)
{
    const int64_t q = c.numHeads * c.headDim, kv = c.numKeyValueHeads * c.headDim;
    return {{"q_proj", c.hiddenSize, q},
            {"k_proj", c.hiddenSize, kv},
            {"v_proj", c.hiddenSize, kv},
            {"o_proj", q, c.hiddenSize},
            {"gate_proj", c.hiddenSize, c.intermediateSize},
            {"up_proj", c.hiddenSize, c.intermediateSize},
            {"down_proj", c.intermediateSize, c.hiddenSize}};
}

// QuantizedLinear::storageBytes of one [out, in] weight (bias excluded: it stays in the
// base's dtype and is counted with the unquantized parameters).
int64_t quantizedMatrixBytes(int64_t out, int64_t in, const QuantSettings& q)
{
    const int64_t n = out * in;
    const int64_t blocks = ceilDiv(n, q.blockSize);
    const bool nf4 = q.type == QuantSettings::Type::Nf4;
    int64_t bytes = nf4 ? ceilDiv(n, 2) : n;     // codes
    bytes += (nf4 ? 16 : 256) * 4;               // quant_map (fp32)
    if (q.doubleQuant)
        bytes += blocks + ceilDiv(blocks, 256) * 4 + 256 * 4 + 4; // uint8 absmax, nested absmax, nested map, offset
    else
        bytes += blocks * 4; // fp32 absmax
    return bytes;
}

int64_t dtypeBytes(const std::string& torchDtype)
{
    if (torchDtype == "float32" || torchDtype == "float")
        return 4;
    if (torchDtype == "float64")
        return 8;
    return 2; // bfloat16, float16
}

bool isCuda(const std::string& device)
{
    return device.rfind("cuda", 0) == 0;
}

// Everything the formulas need, derived once from the request.
struct Model {
    int64_t H, I, L, heads, kvHeads, D, V, q, kv;
    bool tied, qkNorm;
    int64_t slidingWindow = 0;   // ModelConfig::slidingWindow
    int64_t slidingLayers = 0;   // layers that attend through it
    int64_t params = 0;          // all parameters
    int64_t projectionParams = 0; // q/k/v/o/gate/up/down weights (what QLoRA quantizes)
    int64_t layerParams = 0;     // one decoder layer
    int64_t largestTensor = 0;   // elements of the largest single weight
    std::vector<ProjectionShape> projections;
};

Model modelOf(const ModelConfig& c)
{
    Model m{c.hiddenSize, c.intermediateSize, c.numLayers, c.numHeads, c.numKeyValueHeads, c.headDim, c.vocabSize,
            c.numHeads * c.headDim, c.numKeyValueHeads * c.headDim, c.tieWordEmbeddings, c.qkNorm};
    m.params = c.parameterCount();
    m.projections = projectionsOf(c);
    for (const ProjectionShape& p : m.projections) {
        m.projectionParams += p.in * p.out;
        m.largestTensor = std::max(m.largestTensor, p.in * p.out);
    }
    m.layerParams = m.projectionParams + 2 * m.H + (c.qkvBias ? m.q + 2 * m.kv : 0) + (c.outputBias ? m.H : 0)
        + (c.qkNorm ? 2 * m.D : 0);
    m.slidingWindow = c.slidingWindow;
    for (int64_t i = 0; i < c.numLayers; ++i)
        m.slidingLayers += c.attentionWindow(i) > 0 ? 1 : 0;
    m.projectionParams *= m.L;
    m.largestTensor = std::max(m.largestTensor, m.V * m.H);
    return m;
}

struct Trainable {
    int64_t params = 0;       // trainable parameters
    int64_t largestTensor = 0;
    int64_t loraRankTotal = 0; // per layer: sum over wrapped projections of r (in + out)
    int64_t loraInputs = 0;    // per layer: sum over wrapped projections of their input width
    int wrapped = 0;           // wrapped projections per layer
};

Trainable trainableOf(const Model& m, const MemoryEstimateRequest& r)
{
    Trainable t;
    if (r.method == TrainMethod::Full) {
        t.params = m.params;
        t.largestTensor = m.largestTensor;
        return t;
    }
    for (const std::string& target : r.lora.targets) {
        const auto it = std::find_if(m.projections.begin(), m.projections.end(),
                                     [&](const ProjectionShape& p) { return target == p.name; });
        if (it == m.projections.end())
            throw std::invalid_argument("lora.targets: unknown projection \"" + target
                                        + "\" (expected q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj or down_proj)");
        t.loraRankTotal += r.lora.rank * (it->in + it->out);
        t.loraInputs += it->in;
        t.largestTensor = std::max(t.largestTensor, r.lora.rank * std::max(it->in, it->out));
        ++t.wrapped;
    }
    t.params = t.loraRankTotal * m.L;
    return t;
}

// Which attention the model runs (LlamaAttention::forward), as far as memory goes.
enum class AttentionPath {
    CpuFused, // kernels/cpu/CausalAttention through model/FusedAttention: no T x T tensor at all
    CudaSdpa, // LibTorch >= 2.1's memory-efficient SDPA: keeps the additive mask in `a`
};

// Tensor bytes of one training step's activations. `a` is the activations' element size (2
// for a bf16 base, 4 in full fine-tuning); every term below is a tensor the forward pass of
// engine/model keeps for backward (docs/memory.md walks through them).
ActivationDetail activationsOf(const Model& m, const Trainable& t, const MemoryEstimateRequest& r, int64_t a, AttentionPath path)
{
    ActivationDetail d;
    const int64_t B = r.batchSize, T = r.seqLen, BT = B * T;
    const bool cudaSdpa = path == AttentionPath::CudaSdpa;
    d.tokens = BT;
    const bool lora = r.method != TrainMethod::Full;
    // RMSNorm (model/RmsNorm), per element: on the CPU the fused kernel (model/FusedElementwise)
    // keeps its input (a) and an fp32 rstd per row; its output (a) is kept by the projections
    // that read it. The op sequence (CUDA) keeps the fp32 input (a copy, or the input itself
    // in fp32), the fp32 square, its output (a) and, when its weight trains, the fp32
    // normalised values (measured with the counting allocator: LibTorch keeps the square for
    // mean's backward).
    const int64_t rmsPerElement = cudaSdpa ? 8 + a + (lora ? 0 : 4) : 2 * a;
    const int64_t rmsPerRow = cudaSdpa ? 0 : 4;
    const int64_t rmsNorm = rmsPerElement * m.H + rmsPerRow;
    // SwiGLU: the fused kernel keeps gate and up, the op sequence also silu(gate); their
    // product is down_proj's input, kept there.
    const int64_t mlpPerToken = (cudaSdpa ? 4 : 3) * a * m.I;
    // Per token and layer.
    int64_t perToken = 2 * rmsNorm;
    if (cudaSdpa) {
        perToken += 3 * a * m.q;                             // q before RoPE, its rotated half, q after RoPE
        perToken += 2 * a * m.kv;                            // k before RoPE and its rotated half
        perToken += 2 * a * (m.heads != m.kvHeads ? m.q : m.kv); // k after RoPE and v (repeated for grouped-query attention)
        perToken += a * m.q;                                 // the kernel's output, before the heads are merged
        perToken += a * m.q;                                 // attention output, heads merged (o_proj's input)
    } else {
        // The CPU kernel keeps its inputs as they are ([B, T, heads, D], k and v not repeated)
        // and its output, which is o_proj's input too (a view); RoPE keeps no input.
        perToken += 2 * a * m.q + 2 * a * m.kv;              // q and k after RoPE, v, the output
    }
    perToken += mlpPerToken;                                 // gate, (silu(gate),) up, their product
    if (m.qkNorm)
        perToken += rmsPerElement * (m.q + m.kv) + rmsPerRow * (m.heads + m.kvHeads); // per-head RMSNorm of q and k (Qwen3)
    if (lora) {
        perToken += a * r.lora.rank * t.wrapped;             // x A^T of each adapter
        if (r.lora.dropout > 0)
            perToken += 2 * a * t.loraInputs;                // dropout mask and dropped input
    }
    // Per sequence and layer: the fp32 log-sum-exp per query and head, which both kernels keep;
    // SDPA also the mask cast to the activations' dtype (one per layer). No T x T scores.
    const int64_t attentionSaved = 4 * B * m.heads * T + (cudaSdpa ? a * T * T : 0);
    // Per layer, independent of tokens: the adapters' weights cast to the activations' dtype.
    const int64_t castAdapters = lora && a != 4 ? a * t.loraRankTotal : 0;
    d.savedPerLayer = perToken * BT + attentionSaved + castAdapters;

    // Additive masks (fp32), one per span the layers attend at this length: the causal one,
    // and the sliding one when layers slide and T outruns the window (LlamaForCausalLM). Only
    // SDPA's path builds them; the CPU kernel reads the key padding and the window as they are.
    const bool windowInReach = m.slidingLayers > 0 && T > m.slidingWindow;
    const int64_t maskCount = windowInReach && m.slidingLayers < m.L ? 2 : 1;
    const int64_t mask = cudaSdpa ? maskCount * 4 * T * T : 0;
    const int64_t rope = 2 * a * T * m.D;                        // cos and sin tables
    // The loss head (train/ChunkedLmHeadLoss) keeps the loss rows of the final hidden states
    // (every position, as an upper bound: packed data has a target almost everywhere), their
    // fp32 log-sum-exp and two int64 indices; the logits exist one chunk of rows at a time.
    const int64_t headRows = a * m.H + 4 + 2 * 8;
    // The final norm's output is not kept (the loss rows selected from it are).
    d.headSaved = (rmsNorm - a * m.H + headRows) * BT + mask + rope; // final norm, the head's rows
    const int64_t chunk = lmHeadChunkRows(m.V, BT);

    // Moments of the backward pass at which the most is alive:
    //  - the loss head: one chunk's fp32 logits (turned into their gradient in place) next to
    //    the same chunk in the activations' dtype (the matmul's output, then the gradient's
    //    cast; one tensor in fp32), the gradient of the loss rows and of the whole hidden-state
    //    tensor they were selected from;
    //  - the last layer's attention, when the head, the MLP and the second norm of that layer
    //    are already released and the layer's output gradient (a H per token) is alive: the
    //    CPU kernel's backward holds dO, dQ, dK and dV (contiguous, k and v not repeated); SDPA's
    //    backward is taken as holding nothing beyond its saved tensors.
    const int64_t headBackward = (a == 4 ? 4 : a + 4) * m.V * chunk + 2 * a * m.H * BT;
    const int64_t kernelBackward = cudaSdpa ? 0 : (2 * a * m.q + 2 * a * m.kv) * BT;
    const int64_t releasedBeforeAttention = (headRows + rmsNorm) * BT + (mlpPerToken + rmsNorm) * BT;
    const int64_t attentionBackward = kernelBackward - releasedBeforeAttention + a * m.H * BT;
    // Forward: one chunk's fp32 logits and logsumexp's fp32 temporary (the bf16 matmul output
    // dies as the fp32 copy is made: 6 bytes a logit, fewer than these 8).
    const int64_t headForward = 8 * m.V * chunk;

    if (!r.gradientCheckpointing) {
        // With a frozen embedding (LoRA, QLoRA) the first layer's input needs no gradient: its
        // input norm keeps nothing.
        d.savedTotal = m.L * d.savedPerLayer + d.headSaved - (lora ? rmsNorm * BT : 0);
        d.forwardPeak = d.savedTotal + headForward;
        d.backwardPeak = d.savedTotal + std::max(headBackward, attentionBackward);
    } else {
        // Only each layer's input is kept; backward recomputes one layer at a time with its
        // full set of saved tensors.
        d.savedTotal = m.L * a * m.H * BT + d.headSaved;
        // Forward without gradients: one layer's q/k/v and MLP tensors (no T x T scores on
        // either path).
        const int64_t noGradLayer = (3 * a * m.q + 4 * a * m.I) * BT;
        d.forwardPeak = std::max(d.savedTotal + headForward, m.L * a * m.H * BT + mask + rope + noGradLayer);
        const int64_t recompute = d.savedTotal + d.savedPerLayer + attentionBackward;
        d.backwardPeak = std::max(d.savedTotal + headBackward, recompute);
    }
    d.peak = std::max(d.forwardPeak, d.backwardPeak);
    return d;
}

std::string mib(int64_t bytes)
{
    return std::to_string((bytes + kMiB / 2) / kMiB) + " MiB";
}

} // namespace

MemoryModelConstants MemoryModelConstants::cpuDefaults()
{
    MemoryModelConstants c;
    // Measured on the development machine (Debian 12, LibTorch 1.13 CPU): see docs/memory.md.
    c.frameworkBytes = 163 * kMiB;
    c.perThreadBytes = kMiB / 4;
    c.firstStepBytes = 12 * kMiB;
    c.heapRetention = 1.05;
    c.heapRetentionFp32 = 0.90;
    return c;
}

MemoryModelConstants MemoryModelConstants::cudaDefaults()
{
    MemoryModelConstants c;
    c.cudaContextBytes = 500 * kMiB;
    c.cudaAllocatorSlack = 0.10;
    return c;
}

MemoryEstimateRequest MemoryEstimateRequest::fromTrainConfig(const TrainConfig& config, const ModelConfig& model)
{
    MemoryEstimateRequest r;
    r.model = model;
    r.method = config.method;
    r.lora = config.lora;
    r.quant = config.quant;
    r.batchSize = config.batchSize;
    r.seqLen = config.data.maxSeqLen;
    r.gradientCheckpointing = config.gradientCheckpointing;
    r.device = config.device;
    r.threads = config.threads;
    r.baseDtype = config.baseDtype;
    return r;
}

int64_t quantizedProjectionBytes(const ModelConfig& model, const QuantSettings& quant)
{
    int64_t bytes = 0;
    for (const ProjectionShape& p : projectionsOf(model))
        bytes += quantizedMatrixBytes(p.out, p.in, quant);
    return bytes * model.numLayers;
}

MemoryEstimateRequest requestForModelFolder(const std::string& modelDir)
{
    namespace fs = std::filesystem;
    MemoryEstimateRequest r;
    r.model = ModelConfig::fromFile((fs::path(modelDir) / "config.json").string());
    int64_t bytes = 0;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(modelDir, ec))
        if (entry.path().extension() == ".safetensors" && entry.is_regular_file())
            bytes += static_cast<int64_t>(entry.file_size());
    r.checkpointFileBytes = bytes > 0 ? bytes : -1;
    return r;
}

bool quantizedCacheExists(const std::string& modelDir, const QuantSettings& quant, const std::string& cacheDir)
{
    std::error_code ec;
    return std::filesystem::is_regular_file(QuantizedBaseCache::cachePath(modelDir, quant, cacheDir), ec);
}

MemoryEstimate estimateMemory(const MemoryEstimateRequest& request)
{
    return estimateMemory(request, isCuda(request.device) ? MemoryModelConstants::cudaDefaults()
                                                          : MemoryModelConstants::cpuDefaults());
}

MemoryEstimate estimateMemory(const MemoryEstimateRequest& r, const MemoryModelConstants& k)
{
    if (r.batchSize < 1)
        throw std::invalid_argument("batch_size must be at least 1 (got " + std::to_string(r.batchSize) + ")");
    if (r.seqLen < 2)
        throw std::invalid_argument("sequence length must be at least 2 tokens (got " + std::to_string(r.seqLen) + ")");
    if (r.model.maxPositionEmbeddings > 0 && r.seqLen > r.model.maxPositionEmbeddings)
        throw std::invalid_argument("seq_len " + std::to_string(r.seqLen) + " is longer than the model's context ("
                                    + std::to_string(r.model.maxPositionEmbeddings) + ", max_position_embeddings)");
    if (r.model.numLayers <= 0 || r.model.hiddenSize <= 0 || r.model.vocabSize <= 0)
        throw std::invalid_argument("config.json: the model has no layers, hidden size or vocabulary");
    if (r.method != TrainMethod::Full && r.lora.rank < 1)
        throw std::invalid_argument("lora.rank must be at least 1");
    if (r.method == TrainMethod::Qlora) {
        const std::string problem = r.quant.validate();
        if (!problem.empty())
            throw std::invalid_argument(problem);
    }
    if (r.baseDtype != "bf16" && r.baseDtype != "bfloat16" && r.baseDtype != "fp32" && r.baseDtype != "float32")
        throw std::invalid_argument("base_dtype \"" + r.baseDtype + "\": expected bf16 or fp32");

    const bool cuda = isCuda(r.device);
    const Model m = modelOf(r.model);
    const Trainable t = trainableOf(m, r);
    const bool full = r.method == TrainMethod::Full;
    const bool qlora = r.method == TrainMethod::Qlora;
    // Element sizes: the base as loaded (full fine-tuning loads fp32 master weights), the
    // activations (the base's dtype), the checkpoint file.
    const int64_t w = full || r.baseDtype == "fp32" || r.baseDtype == "float32" ? 4 : 2;
    const int64_t a = w;
    const int64_t fileBytes = r.checkpointFileBytes > 0 ? r.checkpointFileBytes : m.params * dtypeBytes(r.model.torchDtype);
    const int64_t unquantized = m.params - m.projectionParams; // embeddings, norms, lm_head, biases
    const int64_t quantized = qlora ? quantizedProjectionBytes(r.model, r.quant) : 0;
    // LibTorch >= 2 runs attention as one fused kernel on CUDA (core/TorchCompat); >= 2.1
    // needed for the memory-efficient kernel with a mask, assumed here. On the CPU the model
    // runs its own kernel (bf16 and fp32, the only dtypes trained).
    const AttentionPath attention = cuda ? AttentionPath::CudaSdpa : AttentionPath::CpuFused;

    MemoryEstimate e;
    e.device = r.device;
    e.totalParameters = m.params;
    e.trainableParameters = t.params;
    e.activation = activationsOf(m, t, r, a, attention);
    const ActivationDetail& act = e.activation;

    const int threads = r.threads > 0 ? r.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    MemoryBreakdown fixed;
    fixed.overhead = cuda ? k.cudaContextBytes : k.frameworkBytes + k.perThreadBytes * threads;

    // Resident weights during training.
    MemoryBreakdown steady = fixed;
    if (full) {
        steady.adapters = 4 * m.params;
    } else {
        steady.baseWeights = qlora ? quantized + w * unquantized : w * m.params;
        steady.adapters = 4 * t.params;
    }
    steady.optimizer = 8 * t.params;
    const int64_t gradients = 4 * t.params;

    // Freed memory the allocator keeps (glibc's heap on the CPU, the caching allocator on
    // CUDA) and later phases reuse: carried from phase to phase, since neither gives memory
    // back to the system while training runs.
    int64_t carried = 0;

    // 1. Load: the model is built in its training dtype and filled tensor by tensor from the
    //    memory-mapped checkpoint, whose pages count as resident until the map closes; one
    //    tensor at a time is read into a temporary in the file's dtype.
    //    QLoRA on CUDA loads and quantizes on the host (Trainer) and moves the quantized model:
    //    the device never holds the bf16 base, and its quantize phase happens on the host.
    PhaseEstimate load{"load", "memory-mapped checkpoint file and one tensor read from it", fixed};
    (full ? load.bytes.adapters : load.bytes.baseWeights) = qlora && cuda ? quantized + w * unquantized : w * m.params;
    if (cuda) {
        // The file is read on the host; the device receives the finished model.
        load.note = qlora ? "the quantized model, moved from the host where it was loaded and quantized" : "";
    } else {
        const int64_t readTemp = m.largestTensor * dtypeBytes(r.model.torchDtype);
        load.bytes.transient = fileBytes + readTemp;
        carried = readTemp;
    }
    e.phases.push_back(load);

    // 2. Quantize (QLoRA): the model is complete in bf16 before any projection is quantized.
    //    Read from the cache: every projection's quantized state is read (from a mapped file)
    //    next to the bf16 weights, which are freed only then. Quantized afresh: each
    //    projection's state (and, for 8-bit, an fp32 copy of its weight) lands in the space the
    //    previous projections freed; the cache file is written from a copy of the quantized
    //    state and the unquantized weights.
    if (qlora && !cuda) {
        const int64_t live = quantized + w * unquantized;
        const int64_t bf16Model = w * m.params;
        int64_t largestProjection = 0;
        for (const ProjectionShape& p : m.projections)
            largestProjection = std::max(largestProjection, p.in * p.out);
        // 8-bit quantization reads each weight through an fp32 copy.
        const int64_t quantizeTemp = (r.quant.type == QuantSettings::Type::Int8 ? 4 : 0) * largestProjection;
        // Heap high-water mark and the mapped file on each path.
        const int64_t readHeap = bf16Model + quantized;
        const int64_t readMapped = cuda ? 0 : quantized;
        const int64_t writeHeap = bf16Model + std::max<int64_t>(0, 2 * quantized + w * unquantized - w * m.projectionParams) + quantizeTemp;
        const bool fromCache = r.quantizedCacheExists.value_or(false);
        const bool unknown = !r.quantizedCacheExists.has_value();
        int64_t heap = 0, mapped = 0;
        if (fromCache || (unknown && readHeap + readMapped >= writeHeap)) {
            heap = readHeap;
            mapped = readMapped;
        } else {
            heap = writeHeap;
        }
        PhaseEstimate quantize{"quantize", fromCache ? "bf16 projections held while the quantized cache is read"
                                                     : "bf16 model and the quantized cache's copies while it is written", fixed};
        if (unknown)
            quantize.note = "bf16 model while the projections are quantized or read from the quantized cache";
        quantize.bytes.baseWeights = live;
        quantize.bytes.transient = heap - live + mapped;
        e.phases.push_back(quantize);
        carried = std::max(carried, heap - live);
    }

    // 3. Training step: the activations' peak (forward and backward's peaks separately with
    //    checkpointing, whose recomputation allocates differently from the first forward) and
    //    the gradients. On the CPU the heap holds heapRetention times the activation bytes.
    PhaseEstimate step{"train step", "", steady};
    step.bytes.gradients = gradients;
    int64_t activationBytes = act.peak;
    if (full && cuda) {
        // The caching allocator reuses activation blocks for the gradients that replace them
        // layer by layer: the step peaks when backward starts (activations and the head's
        // gradients) or when it ends (every gradient; the embedding's dense gradient last).
        const int64_t headGrads = 4 * ((m.tied ? 0 : m.V * m.H) + m.H);
        const int64_t atStart = act.peak + headGrads + 4 * m.layerParams;
        const int64_t atEnd = gradients + (m.tied ? 4 * m.V * m.H : 0);
        activationBytes = std::max<int64_t>(0, std::max(atStart, atEnd) - gradients);
    }
    // AdamW's temporaries (one parameter's fp32 denominator at a time) come after the
    // activations are released; they matter only when the activations are tiny.
    activationBytes = std::max(activationBytes, 4 * t.largestTensor);
    step.bytes.activations = activationBytes;
    if (cuda) {
        const int64_t need = activationBytes + gradients
            + static_cast<int64_t>(k.cudaAllocatorSlack * static_cast<double>(activationBytes));
        step.bytes.allocatorSlack = std::max(need, carried) - activationBytes - gradients;
        carried = std::max(need, carried);
    } else {
        const int64_t retained = r.gradientCheckpointing ? act.forwardPeak + act.backwardPeak : activationBytes;
        const double retention = a == 4 ? k.heapRetentionFp32 : k.heapRetention;
        const int64_t need = static_cast<int64_t>(retention * static_cast<double>(retained)) + gradients;
        step.bytes.allocatorSlack = std::max(need, carried) - activationBytes - gradients;
        step.bytes.overhead += k.firstStepBytes;
        carried = std::max(need, carried);
    }
    step.note = cuda ? "" : "heap kept by glibc beyond the step's live tensors";
    e.phases.push_back(step);

    // 4. Evaluation: a forward pass without gradients (one layer's transients and one chunk
    //    of logits), in memory the training step left free.
    PhaseEstimate eval{"evaluation", "", steady};
    {
        const int64_t B = r.batchSize, T = r.seqLen;
        const int64_t layer = (3 * a * m.q + 4 * a * m.I + 2 * m.H * (4 + a)) * B * T; // no T x T on either path
        eval.bytes.activations = layer + 8 * m.V * lmHeadChunkRows(m.V, B * T) + a * m.H * B * T; // the head: see the step
        eval.bytes.allocatorSlack = std::max<int64_t>(0, carried - eval.bytes.activations);
        carried = std::max(carried, eval.bytes.activations);
        if (!cuda)
            eval.bytes.overhead += k.firstStepBytes;
    }
    e.phases.push_back(eval);

    // 5. Save: the trainable weights (fp32) and both optimizer moments are copied into
    //    SafetensorsWriter buffers that are alive together (on the host); full fine-tuning
    //    then writes the model folder, another fp32 copy, after those are freed.
    if (r.savesCheckpoint) {
        PhaseEstimate save{"save", "copies of the trainable weights and optimizer state being written", steady};
        if (cuda) {
            save.note = "";
            save.bytes.allocatorSlack = carried;
        } else {
            save.bytes.transient = std::max(12 * t.params, full ? 4 * m.params : 0);
            save.bytes.allocatorSlack = std::max<int64_t>(0, carried - save.bytes.transient);
            save.bytes.overhead += k.firstStepBytes;
        }
        e.phases.push_back(save);
    }

    e.peakPhase = 0;
    for (size_t i = 1; i < e.phases.size(); ++i)
        if (e.phases[i].bytes.total() > e.phases[e.peakPhase].bytes.total())
            e.peakPhase = i;

    e.assumptions.push_back("every sequence is " + std::to_string(r.seqLen)
                            + " tokens long (packed data; unpacked batches are padded to their longest example)");
    if (cuda) {
        e.assumptions.push_back("CUDA: fused attention (LibTorch >= 2.1), a " + mib(k.cudaContextBytes)
                                + " context and " + std::to_string(static_cast<int>(k.cudaAllocatorSlack * 100))
                                + "% allocator slack; not validated against a GPU run");
    } else {
        e.assumptions.push_back("CPU resident memory with " + std::to_string(threads) + " threads; LibTorch and data take "
                                + mib(fixed.overhead));
    }
    if (qlora && cuda)
        e.assumptions.push_back("QLoRA on CUDA loads and quantizes on the host and moves only the quantized model to the device");
    else if (qlora)
        e.assumptions.push_back("QLoRA loads the bf16 model completely before quantizing it");
    return e;
}

} // namespace tb
