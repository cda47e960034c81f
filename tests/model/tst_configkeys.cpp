// config.json keys that change the computation, end to end: for each, a tiny random checkpoint
// written here (config.json as transformers writes it, safetensors of named random tensors),
// loaded by loadModel, against an independent float64 reference of what transformers computes
// (modeling_llama / modeling_qwen2 / modeling_qwen3 eager path), written with plain at:: ops:
// embedding, RMSNorm, rotate-half RoPE (default, linear and llama3 frequencies as
// modeling_rope_utils computes them), grouped-query attention under a causal and per-layer
// sliding-window mask, SwiGLU, lm_head. The reference reads only the tensors the test wrote
// and the shape, epsilon, RoPE settings and per-layer windows the test states, never
// Tunebench's ModelConfig. Keys checked this way: attention_bias, use_sliding_window /
// sliding_window / max_window_layers / layer_types, rope_scaling (linear, llama3),
// rms_norm_eps, head_dim apart from hidden_size / num_attention_heads, hidden_act "swish".
// Also: what an o_proj bias goes through (LoRA, NF4, merge), KV-cached generation past a
// window, and pad_token_id's untrained embedding row.
#include "demo/DemoModelMaker.h"
#include "formats/SafetensorsWriter.h"
#include "generate/TextGenerator.h"
#include "lora/AdapterExport.h"
#include "lora/LoraInjector.h"
#include "lora/PeftAdapter.h"
#include "model/KvCache.h"
#include "model/ModelLoader.h"
#include "model/TensorIO.h"
#include "quant/ModelQuantizer.h"
#include "quant/QuantizedLinear.h"
#include "tokenizer/Tokenizer.h"

#include <ATen/CPUGeneratorImpl.h>

#include <QTemporaryDir>
#include <QTest>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

using namespace tb;
namespace fs = std::filesystem;

namespace {

using Tensors = std::map<std::string, at::Tensor>;

// The shapes every checkpoint here shares: hidden 32, 4 query heads over 2 key/value heads.
struct Shape {
    int64_t vocab = 61, hidden = 32, intermediate = 40, layers = 2, heads = 4, kvHeads = 2, headDim = 8;
    double eps = 1e-6, theta = 10000.0;
    std::string act = "silu"; // hidden_act as written
};

// RoPE frequency scaling as modeling_rope_utils applies it to inv_freq.
struct RopeReference {
    std::string type = "default"; // "default", "linear", "llama3"
    double factor = 1.0;
    double lowFreqFactor = 1.0, highFreqFactor = 4.0; // llama3
    double originalMaxPositions = 8192;                // llama3: original_max_position_embeddings
};

// What the reference computes, as the test reads the config it wrote.
struct Reference {
    Shape shape;
    bool tied = false;
    std::vector<int64_t> windows; // per layer: keys j with i - window < j <= i; 0 = whole causal past
    RopeReference rope = {};
    bool gelu = false; // the MLP's activation: SiLU (also "swish"), or GELU for a wrong reference
};

// Random float64 tensors under transformers' names. Norm weights near 1, everything else
// large enough (std 0.3) that attention is far from uniform and every term shows in the logits.
Tensors randomCheckpoint(const Shape& s, bool qkvBias, bool oBias, bool qkNorm, bool tied, uint64_t seed)
{
    auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
    auto normal = [&](std::vector<int64_t> shape) { return at::empty(shape, at::kDouble).normal_(0.0, 0.3, gen); };
    auto nearOne = [&](int64_t n) { return 1.0 + at::empty({n}, at::kDouble).normal_(0.0, 0.1, gen); };
    const int64_t q = s.heads * s.headDim, kv = s.kvHeads * s.headDim;
    Tensors t;
    t["model.embed_tokens.weight"] = normal({s.vocab, s.hidden});
    for (int64_t l = 0; l < s.layers; ++l) {
        const std::string p = "model.layers." + std::to_string(l) + ".";
        t[p + "input_layernorm.weight"] = nearOne(s.hidden);
        t[p + "post_attention_layernorm.weight"] = nearOne(s.hidden);
        t[p + "self_attn.q_proj.weight"] = normal({q, s.hidden});
        t[p + "self_attn.k_proj.weight"] = normal({kv, s.hidden});
        t[p + "self_attn.v_proj.weight"] = normal({kv, s.hidden});
        t[p + "self_attn.o_proj.weight"] = normal({s.hidden, q});
        if (qkvBias) {
            t[p + "self_attn.q_proj.bias"] = normal({q});
            t[p + "self_attn.k_proj.bias"] = normal({kv});
            t[p + "self_attn.v_proj.bias"] = normal({kv});
        }
        if (oBias)
            t[p + "self_attn.o_proj.bias"] = normal({s.hidden});
        if (qkNorm) {
            t[p + "self_attn.q_norm.weight"] = nearOne(s.headDim);
            t[p + "self_attn.k_norm.weight"] = nearOne(s.headDim);
        }
        t[p + "mlp.gate_proj.weight"] = normal({s.intermediate, s.hidden});
        t[p + "mlp.up_proj.weight"] = normal({s.intermediate, s.hidden});
        t[p + "mlp.down_proj.weight"] = normal({s.hidden, s.intermediate});
    }
    t["model.norm.weight"] = nearOne(s.hidden);
    if (!tied)
        t["lm_head.weight"] = normal({s.vocab, s.hidden});
    return t;
}

// A double as JSON text that reads back as the same double, as short as that allows ("1e-06").
std::string number(double v)
{
    char text[32];
    for (int digits = 15; digits <= 17; ++digits) {
        std::snprintf(text, sizeof text, "%.*g", digits, v);
        if (std::strtod(text, nullptr) == v)
            break;
    }
    return text;
}

// config.json with the shape's keys and `extra` (JSON members without braces).
std::string configJson(const std::string& architecture, const std::string& modelType, const Shape& s, const std::string& extra)
{
    return "{\"architectures\": [\"" + architecture + "\"], \"model_type\": \"" + modelType + "\", \"vocab_size\": "
        + std::to_string(s.vocab) + ", \"hidden_size\": " + std::to_string(s.hidden) + ", \"intermediate_size\": "
        + std::to_string(s.intermediate) + ", \"num_hidden_layers\": " + std::to_string(s.layers)
        + ", \"num_attention_heads\": " + std::to_string(s.heads) + ", \"num_key_value_heads\": " + std::to_string(s.kvHeads)
        + ", \"head_dim\": " + std::to_string(s.headDim) + ", \"rms_norm_eps\": " + number(s.eps) + ", \"rope_theta\": "
        + number(s.theta) + ", \"hidden_act\": \"" + s.act + "\", \"max_position_embeddings\": 128, \"torch_dtype\": \"float32\""
        + (extra.empty() ? "" : ", " + extra) + "}";
}

void writeCheckpoint(const std::string& dir, const std::string& config, const Tensors& tensors)
{
    fs::create_directories(dir);
    std::ofstream(dir + "/config.json", std::ios::binary | std::ios::trunc) << config;
    SafetensorsWriter writer;
    for (const auto& [name, t] : tensors)
        addTensor(writer, name, t);
    writer.write(dir + "/model.safetensors");
}

at::Tensor rmsNorm(const at::Tensor& x, const at::Tensor& w, double eps)
{
    return x * at::rsqrt(x.pow(2).mean(-1, true) + eps) * w;
}

at::Tensor linear(const Tensors& w, const std::string& name, const at::Tensor& x)
{
    const auto bias = w.find(name + ".bias");
    return at::linear(x, w.at(name + ".weight"), bias == w.end() ? at::Tensor() : bias->second);
}

at::Tensor rotateHalf(const at::Tensor& v)
{
    const int64_t half = v.size(-1) / 2;
    return at::cat({-v.narrow(-1, half, half), v.narrow(-1, 0, half)}, -1);
}

// Logits [T, vocab] in float64 for ids, as transformers computes them.
at::Tensor referenceLogits(const Reference& r, const Tensors& w, const std::vector<int64_t>& ids)
{
    const Shape& s = r.shape;
    const int64_t T = static_cast<int64_t>(ids.size()), D = s.headDim;
    const auto f64 = at::TensorOptions().dtype(at::kDouble);
    at::Tensor invFreq = at::pow(s.theta, -at::arange(0, D, 2, f64) / double(D)); // [D/2]
    const RopeReference& rope = r.rope;
    if (rope.type == "linear") { // _compute_linear_scaling_rope_parameters
        invFreq = invFreq / rope.factor;
    } else if (rope.type == "llama3") { // _compute_llama3_parameters
        const double lowFreqWavelen = rope.originalMaxPositions / rope.lowFreqFactor;
        const double highFreqWavelen = rope.originalMaxPositions / rope.highFreqFactor;
        const at::Tensor wavelen = 2 * M_PI / invFreq;
        at::Tensor scaled = at::where(wavelen > lowFreqWavelen, invFreq / rope.factor, invFreq);
        const at::Tensor smooth = (rope.originalMaxPositions / wavelen - rope.lowFreqFactor) / (rope.highFreqFactor - rope.lowFreqFactor);
        const at::Tensor smoothed = (1 - smooth) * scaled / rope.factor + smooth * scaled;
        const at::Tensor medium = (wavelen < highFreqWavelen).logical_not().logical_and((wavelen > lowFreqWavelen).logical_not());
        invFreq = at::where(medium, smoothed, scaled);
    }
    const at::Tensor angles = at::outer(at::arange(T, f64), invFreq);                    // [T, D/2]
    const at::Tensor cos = at::cat({angles, angles}, -1).cos(), sin = at::cat({angles, angles}, -1).sin();
    const at::Tensor query = at::arange(T).unsqueeze(1), key = at::arange(T).unsqueeze(0);
    at::Tensor x = w.at("model.embed_tokens.weight").index_select(0, at::tensor(ids, at::kLong)); // [T, H]
    for (int64_t l = 0; l < s.layers; ++l) {
        const std::string p = "model.layers." + std::to_string(l) + ".";
        const at::Tensor h = rmsNorm(x, w.at(p + "input_layernorm.weight"), s.eps);
        at::Tensor q = linear(w, p + "self_attn.q_proj", h).view({T, s.heads, D}).transpose(0, 1);   // [heads, T, D]
        at::Tensor k = linear(w, p + "self_attn.k_proj", h).view({T, s.kvHeads, D}).transpose(0, 1); // [kv, T, D]
        at::Tensor v = linear(w, p + "self_attn.v_proj", h).view({T, s.kvHeads, D}).transpose(0, 1);
        if (w.count(p + "self_attn.q_norm.weight")) { // Qwen3: per head, before RoPE
            q = rmsNorm(q, w.at(p + "self_attn.q_norm.weight"), s.eps);
            k = rmsNorm(k, w.at(p + "self_attn.k_norm.weight"), s.eps);
        }
        q = q * cos + rotateHalf(q) * sin;
        k = k * cos + rotateHalf(k) * sin;
        k = k.repeat_interleave(s.heads / s.kvHeads, 0); // query head i reads key/value head i / group
        v = v.repeat_interleave(s.heads / s.kvHeads, 0);
        at::Tensor allowed = key <= query;
        if (r.windows[size_t(l)] > 0)
            allowed = allowed.logical_and(key > query - r.windows[size_t(l)]);
        const at::Tensor scores = at::matmul(q, k.transpose(1, 2)) / std::sqrt(double(D));
        const at::Tensor probs = at::softmax(scores.masked_fill(allowed.logical_not(), -INFINITY), -1);
        const at::Tensor attended = at::matmul(probs, v).transpose(0, 1).reshape({T, s.heads * D});
        x = x + linear(w, p + "self_attn.o_proj", attended);
        const at::Tensor g = rmsNorm(x, w.at(p + "post_attention_layernorm.weight"), s.eps);
        const at::Tensor gate = linear(w, p + "mlp.gate_proj", g);
        x = x + linear(w, p + "mlp.down_proj", (r.gelu ? at::gelu(gate) : at::silu(gate)) * linear(w, p + "mlp.up_proj", g));
    }
    x = rmsNorm(x, w.at("model.norm.weight"), s.eps);
    return at::matmul(x, w.at(r.tied ? "model.embed_tokens.weight" : "lm_head.weight").t());
}

std::vector<int64_t> someIds(int64_t n, int64_t vocab)
{
    std::vector<int64_t> ids;
    for (int64_t i = 0; i < n; ++i)
        ids.push_back((i * 23 + 5) % vocab);
    return ids;
}

at::Tensor tunebenchLogits(LlamaForCausalLM& model, const std::vector<int64_t>& ids)
{
    at::NoGradGuard g;
    return model.forward(at::tensor(ids, at::kLong).view({1, -1}))[0].to(at::kDouble);
}

LoadedModel loadDouble(const std::string& dir)
{
    LoadOptions options;
    options.dtype = at::kDouble;
    return loadModel(dir, options);
}

// Max |ours - reference|, checked against fp32 precision (RMSNorm statistics, RoPE tables and
// the softmax run in fp32 by design, as in transformers) and against the same reference with
// `wrong` instead (so the key under test visibly matters).
void compareWithReference(const at::Tensor& ours, const Reference& r, const Tensors& w, const std::vector<int64_t>& ids,
                          const std::vector<std::pair<const char*, at::Tensor>>& wrongs)
{
    const at::Tensor ref = referenceLogits(r, w, ids);
    const double scale = ref.abs().max().item<double>();
    const double err = (ours - ref).abs().max().item<double>();
    QVERIFY2(scale > 0.1, "the reference is vacuous");
    QVERIFY2(err < 1e-5 * scale, qPrintable(QString("max |ours - reference| = %1 (logits up to %2)").arg(err).arg(scale)));
    for (const auto& [what, wrong] : wrongs) {
        const double apart = (wrong - ref).abs().max().item<double>();
        QVERIFY2(apart > 1e-2 * scale, qPrintable(QString("%1 is no different (%2)").arg(what).arg(apart)));
    }
}

int64_t elementsOf(const Tensors& t)
{
    int64_t n = 0;
    for (const auto& [name, tensor] : t)
        n += tensor.numel();
    return n;
}

} // namespace

class TestConfigKeys : public QObject {
    Q_OBJECT
private:
    QTemporaryDir m_tmp;

    std::string dirFor(const char* name) const { return m_tmp.filePath(name).toStdString(); }

private Q_SLOTS:
    void llamaAttentionBiasIncludesOProj()
    {
        // LlamaAttention: q/k/v/o_proj all nn.Linear(..., bias=config.attention_bias).
        const Shape s;
        const Tensors w = randomCheckpoint(s, true, true, false, false, 1);
        const std::string dir = dirFor("llama-bias");
        writeCheckpoint(dir, configJson("LlamaForCausalLM", "llama", s, "\"attention_bias\": true"), w);
        LoadedModel loaded = loadDouble(dir);
        QVERIFY(loaded.warnings.empty());
        QCOMPARE(loaded.config.parameterCount(), elementsOf(w)); // inspect's count includes o_proj.bias
        const auto ids = someIds(9, s.vocab);
        Tensors withoutO = w;
        for (int64_t l = 0; l < s.layers; ++l)
            withoutO.erase("model.layers." + std::to_string(l) + ".self_attn.o_proj.bias");
        const Reference r{s, false, {0, 0}};
        compareWithReference(tunebenchLogits(*loaded.model, ids), r, w, ids,
                             {{"dropping o_proj.bias", referenceLogits(r, withoutO, ids)}});
    }

    void qwen3AttentionBiasWithQkNorm()
    {
        // Qwen3Attention: biases from attention_bias on all four, q_norm/k_norm per head.
        Shape s;
        s.headDim = 16; // Qwen3's head_dim is its own, not hidden / heads
        const Tensors w = randomCheckpoint(s, true, true, true, false, 2);
        const std::string dir = dirFor("qwen3-bias");
        writeCheckpoint(dir, configJson("Qwen3ForCausalLM", "qwen3", s, "\"attention_bias\": true, \"use_sliding_window\": false"), w);
        LoadedModel loaded = loadDouble(dir);
        QVERIFY(loaded.warnings.empty());
        QCOMPARE(loaded.config.parameterCount(), elementsOf(w));
        const auto ids = someIds(9, s.vocab);
        const Reference r{s, false, {0, 0}};
        compareWithReference(tunebenchLogits(*loaded.model, ids), r, w, ids, {});
    }

    void qwen2SlidesFromMaxWindowLayers()
    {
        // Qwen2Config: layer i slides when use_sliding_window and i >= max_window_layers.
        const Shape s;
        const Tensors w = randomCheckpoint(s, true, false, false, true, 3);
        const std::string dir = dirFor("qwen2-window");
        writeCheckpoint(dir, configJson("Qwen2ForCausalLM", "qwen2", s,
                                        "\"tie_word_embeddings\": true, \"use_sliding_window\": true, \"sliding_window\": 3, "
                                        "\"max_window_layers\": 1"),
                        w);
        LoadedModel loaded = loadDouble(dir);
        QVERIFY(loaded.warnings.empty());
        const auto ids = someIds(10, s.vocab);
        const Reference r{s, true, {0, 3}};
        compareWithReference(tunebenchLogits(*loaded.model, ids), r, w, ids,
                             {{"no window", referenceLogits(Reference{s, true, {0, 0}}, w, ids)},
                              {"a window on every layer", referenceLogits(Reference{s, true, {3, 3}}, w, ids)}});
    }

    void qwen2LayerTypesOverrideMaxWindowLayers()
    {
        // transformers 4.53+: explicit layer_types decide; max_window_layers only builds the default.
        const Shape s;
        const Tensors w = randomCheckpoint(s, true, false, false, true, 4);
        const std::string dir = dirFor("qwen2-layer-types");
        writeCheckpoint(dir, configJson("Qwen2ForCausalLM", "qwen2", s,
                                        "\"tie_word_embeddings\": true, \"use_sliding_window\": true, \"sliding_window\": 3, "
                                        "\"max_window_layers\": 1, \"layer_types\": [\"sliding_attention\", \"full_attention\"]"),
                        w);
        LoadedModel loaded = loadDouble(dir);
        const auto ids = someIds(10, s.vocab);
        compareWithReference(tunebenchLogits(*loaded.model, ids), Reference{s, true, {3, 0}}, w, ids,
                             {{"max_window_layers' pattern", referenceLogits(Reference{s, true, {0, 3}}, w, ids)}});
    }

    void qwen2WithoutUseSlidingWindowAttendsEverything()
    {
        const Shape s;
        const Tensors w = randomCheckpoint(s, true, false, false, true, 5);
        const std::string dir = dirFor("qwen2-no-window");
        writeCheckpoint(dir, configJson("Qwen2ForCausalLM", "qwen2", s,
                                        "\"tie_word_embeddings\": true, \"use_sliding_window\": false, \"sliding_window\": 3, "
                                        "\"max_window_layers\": 0"),
                        w);
        LoadedModel loaded = loadDouble(dir);
        const auto ids = someIds(10, s.vocab);
        compareWithReference(tunebenchLogits(*loaded.model, ids), Reference{s, true, {0, 0}}, w, ids, {});
    }

    void mistralSlidesEveryLayer()
    {
        // MistralModel: one sliding-window mask for every layer; use_sliding_window is not a
        // MistralConfig key (ignored, warned).
        const Shape s;
        const Tensors w = randomCheckpoint(s, false, false, false, false, 6);
        const std::string dir = dirFor("mistral-window");
        writeCheckpoint(dir, configJson("MistralForCausalLM", "mistral", s, "\"sliding_window\": 4, \"use_sliding_window\": false"), w);
        LoadedModel loaded = loadDouble(dir);
        QCOMPARE(int(loaded.warnings.size()), 1);
        QVERIFY2(QString::fromStdString(loaded.warnings[0]).contains("\"use_sliding_window\"")
                     && QString::fromStdString(loaded.warnings[0]).contains("MistralConfig"),
                 loaded.warnings[0].c_str());
        const auto ids = someIds(10, s.vocab);
        compareWithReference(tunebenchLogits(*loaded.model, ids), Reference{s, false, {4, 4}}, w, ids,
                             {{"no window", referenceLogits(Reference{s, false, {0, 0}}, w, ids)}});
    }

    void ropeScalingLinear()
    {
        // _compute_linear_scaling_rope_parameters: inv_freq / factor (the older "type" spelling).
        const Shape s;
        const Tensors w = randomCheckpoint(s, false, false, false, false, 10);
        const std::string dir = dirFor("llama-rope-linear");
        writeCheckpoint(dir, configJson("LlamaForCausalLM", "llama", s, R"("rope_scaling": {"type": "linear", "factor": 4.0})"), w);
        LoadedModel loaded = loadDouble(dir);
        QVERIFY(loaded.warnings.empty());
        const auto ids = someIds(12, s.vocab);
        Reference r{s, false, {0, 0}};
        r.rope = {"linear", 4.0};
        compareWithReference(tunebenchLogits(*loaded.model, ids), r, w, ids,
                             {{"no scaling", referenceLogits(Reference{s, false, {0, 0}}, w, ids)}});
    }

    void ropeScalingLlama3()
    {
        // _compute_llama3_parameters. original_max_position_embeddings 16 with head_dim 8 and
        // theta 10000 (wavelengths 6.3, 63, 628, 6283) puts one frequency in the blended band
        // (between 16 / high_freq_factor and 16 / low_freq_factor) and three below it.
        const Shape s;
        const Tensors w = randomCheckpoint(s, false, false, false, false, 11);
        const std::string dir = dirFor("llama-rope-llama3");
        writeCheckpoint(dir, configJson("LlamaForCausalLM", "llama", s,
                                        R"("rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, )"
                                        R"("high_freq_factor": 4.0, "original_max_position_embeddings": 16})"),
                        w);
        LoadedModel loaded = loadDouble(dir);
        QVERIFY(loaded.warnings.empty());
        const auto ids = someIds(12, s.vocab);
        Reference r{s, false, {0, 0}};
        r.rope = {"llama3", 8.0, 1.0, 4.0, 16};
        Reference linear8 = r;
        linear8.rope = {"linear", 8.0};
        compareWithReference(tunebenchLogits(*loaded.model, ids), r, w, ids,
                             {{"no scaling", referenceLogits(Reference{s, false, {0, 0}}, w, ids)},
                              {"linear scaling by 8", referenceLogits(linear8, w, ids)}});
    }

    void rmsNormEpsilon()
    {
        // Every RMSNorm: x * rsqrt(mean(x^2) + rms_norm_eps) * weight. 0.05 is of the order of
        // mean(x^2) here, so the value shows in the logits.
        Shape s;
        s.eps = 0.05;
        const Tensors w = randomCheckpoint(s, false, false, false, false, 12);
        const std::string dir = dirFor("llama-eps");
        writeCheckpoint(dir, configJson("LlamaForCausalLM", "llama", s, ""), w);
        LoadedModel loaded = loadDouble(dir);
        QCOMPARE(loaded.config.rmsNormEps, 0.05);
        const auto ids = someIds(9, s.vocab);
        Shape defaultEps = s;
        defaultEps.eps = 1e-6;
        compareWithReference(tunebenchLogits(*loaded.model, ids), Reference{s, false, {0, 0}}, w, ids,
                             {{"rms_norm_eps 1e-6", referenceLogits(Reference{defaultEps, false, {0, 0}}, w, ids)}});
    }

    void llamaHeadDimApartFromHiddenOverHeads()
    {
        // LlamaAttention: head_dim = getattr(config, "head_dim", hidden_size // num_attention_heads);
        // 16 here, not 32 / 4: q_proj is [4 * 16, 32], o_proj [32, 64], RoPE over 16.
        Shape s;
        s.headDim = 16;
        const Tensors w = randomCheckpoint(s, false, false, false, false, 13);
        const std::string dir = dirFor("llama-head-dim");
        writeCheckpoint(dir, configJson("LlamaForCausalLM", "llama", s, ""), w);
        LoadedModel loaded = loadDouble(dir);
        QVERIFY(loaded.warnings.empty());
        QCOMPARE(loaded.config.headDim, int64_t(16));
        QCOMPARE(loaded.config.parameterCount(), elementsOf(w));
        const auto ids = someIds(9, s.vocab);
        compareWithReference(tunebenchLogits(*loaded.model, ids), Reference{s, false, {0, 0}}, w, ids, {});
    }

    void hiddenActSwishIsSilu()
    {
        // ACT2FN["swish"] is the same nn.SiLU as "silu".
        Shape s;
        s.act = "swish";
        const Tensors w = randomCheckpoint(s, false, false, false, false, 14);
        const std::string dir = dirFor("llama-swish");
        writeCheckpoint(dir, configJson("LlamaForCausalLM", "llama", s, ""), w);
        LoadedModel loaded = loadDouble(dir);
        QVERIFY(loaded.warnings.empty());
        const auto ids = someIds(9, s.vocab);
        Reference gelu{s, false, {0, 0}};
        gelu.gelu = true;
        compareWithReference(tunebenchLogits(*loaded.model, ids), Reference{s, false, {0, 0}}, w, ids,
                             {{"GELU instead", referenceLogits(gelu, w, ids)}});
    }

    void kvCachedGenerationMatchesFullForwardPastTheWindow()
    {
        // The demo folder's tokenizer with a windowed Qwen2 of its vocabulary in place of its model.
        const std::string dir = dirFor("qwen2-window-generation");
        makeDemoModel(dir, "tiny", 1);
        Shape s;
        s.vocab = demoModelConfig("tiny").vocabSize;
        writeCheckpoint(dir, configJson("Qwen2ForCausalLM", "qwen2", s,
                                        "\"tie_word_embeddings\": true, \"use_sliding_window\": true, \"sliding_window\": 3, "
                                        "\"max_window_layers\": 1"),
                        randomCheckpoint(s, true, false, false, true, 7));
        LoadOptions fp32;
        fp32.dtype = at::kFloat;
        LoadedModel loaded = loadModel(dir, fp32);
        LlamaForCausalLM& m = *loaded.model;
        const std::vector<int64_t> prompt = someIds(4, s.vocab);

        // Prefill of 2, then one token at a time: every position against the full forward.
        {
            at::NoGradGuard g;
            const auto ids = someIds(11, s.vocab);
            const at::Tensor full = m.forward(at::tensor(ids, at::kLong).view({1, -1}))[0];
            KvCache cache(s.layers);
            std::vector<at::Tensor> pieces{m.forward(at::tensor(std::vector<int64_t>(ids.begin(), ids.begin() + 2), at::kLong).view({1, -1}), &cache)[0]};
            for (size_t i = 2; i < ids.size(); ++i)
                pieces.push_back(m.forward(at::full({1, 1}, ids[i], at::kLong), &cache)[0]);
            const double err = (at::cat(pieces, 0) - full).abs().max().item<double>();
            QVERIFY2(err < 1e-4, qPrintable(QString("max |cached - full| = %1").arg(err)));
        }

        // TextGenerator's greedy tokens against a cache-free argmax loop, 12 tokens past a window of 3.
        const Tokenizer tokenizer = Tokenizer::fromFile(dir + "/tokenizer.json");
        TextGenerator generator(m, tokenizer);
        GenerationOptions options;
        options.maxNewTokens = 12;
        const GenerationResult result = generator.generate(prompt, options);
        QCOMPARE(int(result.tokenIds.size()), 12);
        std::vector<int64_t> ids = prompt;
        at::NoGradGuard g;
        for (int i = 0; i < 12; ++i)
            ids.push_back(m.forward(at::tensor(ids, at::kLong).view({1, -1}))[0][-1].argmax().item<int64_t>());
        QCOMPARE(result.tokenIds, std::vector<int64_t>(ids.begin() + 4, ids.end()));
    }

    void oProjBiasThroughLoraQuantizationAndMerge()
    {
        const Shape s;
        const Tensors w = randomCheckpoint(s, true, true, false, false, 8);
        const std::string dir = dirFor("llama-bias-lora");
        writeCheckpoint(dir, configJson("LlamaForCausalLM", "llama", s, "\"attention_bias\": true"), w);
        LoadOptions fp32;
        fp32.dtype = at::kFloat;
        const auto ids = someIds(9, s.vocab);
        const std::string oBias = "model.layers.1.self_attn.o_proj.bias";

        // LoRA keeps the bias under its checkpoint name, and with B = 0 computes the base.
        LoadedModel base = loadModel(dir, fp32);
        const at::Tensor baseLogits = tunebenchLogits(*base.model, ids);
        LoadedModel adapted = loadModel(dir, fp32);
        LoraSettings lora;
        lora.rank = 4;
        lora.alpha = 8;
        applyLora(*adapted.model, lora, 3);
        QVERIFY(at::equal(adapted.model->named_parameters(true)[oBias], w.at(oBias).to(at::kFloat)));
        QVERIFY((tunebenchLogits(*adapted.model, ids) - baseLogits).abs().max().item<double>() < 1e-6);

        // Merged and written as a model folder (what merge / the Export dialog write): the bias
        // is saved and the merged model computes what base + adapter computed.
        {
            at::NoGradGuard g;
            at::manual_seed(5);
            for (const auto& ref : loraLayers(*adapted.model))
                ref.layer->lora_B->weight.normal_(0, 0.1);
        }
        const at::Tensor adaptedLogits = tunebenchLogits(*adapted.model, ids);
        const std::string adapterDir = dirFor("llama-bias-adapter");
        savePeftAdapter(*adapted.model, lora, dir, adapterDir);
        const std::string mergedDir = dirFor("llama-bias-merged");
        exportMergedModel(dir, adapterDir, mergedDir, at::kFloat);
        LoadedModel merged = loadModel(mergedDir, fp32);
        QVERIFY(at::equal(merged.model->named_parameters(true)[oBias], w.at(oBias).to(at::kFloat)));
        const double mergeErr = (tunebenchLogits(*merged.model, ids) - adaptedLogits).abs().max().item<double>();
        QVERIFY2(mergeErr < 1e-4, qPrintable(QString("merged vs adapted: %1").arg(mergeErr)));

        // NF4 keeps the bias next to the codes: the layer is x W_nf4^T + b.
        QuantSettings nf4;
        ModelQuantizer::quantizeBase(*base.model, nf4);
        const auto q = std::dynamic_pointer_cast<QuantizedLinear>(base.model->model->layers[1]->self_attn->o_proj);
        QVERIFY(q && q->bias.defined());
        QVERIFY(at::equal(q->bias, w.at(oBias).to(at::kFloat)));
        const at::Tensor x = at::randn({3, s.heads * s.headDim});
        at::NoGradGuard g;
        const at::Tensor expected = at::linear(x, q->dequantizedWeight(at::kFloat), q->bias);
        QVERIFY((q->forward(x) - expected).abs().max().item<double>() < 1e-5);
    }

    void padTokenRowGetsNoGradient()
    {
        // nn.Embedding(vocab, hidden, padding_idx=pad_token_id): full fine-tuning leaves that row.
        for (const char* pad : {"7", "-1"}) {
            const Shape s;
            const std::string dir = dirFor(pad[0] == '-' ? "llama-pad-negative" : "llama-pad");
            writeCheckpoint(dir, configJson("LlamaForCausalLM", "llama", s, std::string("\"pad_token_id\": ") + pad),
                            randomCheckpoint(s, false, false, false, false, 9));
            LoadOptions fp32;
            fp32.dtype = at::kFloat;
            LoadedModel loaded = loadModel(dir, fp32);
            const int64_t row = pad[0] == '-' ? s.vocab - 1 : 7;
            QCOMPARE(loaded.config.embeddingPaddingIndex(), row);
            at::Tensor weight = loaded.model->model->embed_tokens->weight;
            weight.set_requires_grad(true);
            const std::vector<int64_t> ids = {3, row, 5, row, 9};
            loaded.model->forward(at::tensor(ids, at::kLong).view({1, -1})).pow(2).sum().backward();
            QCOMPARE(weight.grad()[row].abs().max().item<double>(), 0.0);
            QVERIFY(weight.grad()[3].abs().max().item<double>() > 0.0);
        }
    }
};

QTEST_GUILESS_MAIN(TestConfigKeys)
#include "tst_configkeys.moc"
