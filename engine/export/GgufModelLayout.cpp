#include "export/GgufModelLayout.h"

#include "formats/FormatError.h"

#include <cmath>
#include <cstring>
#include <map>

namespace tb {

std::string ggufArchitectureFor(const ModelConfig& config, const std::string& configPath)
{
    if (config.modelType == "llama" || config.modelType == "mistral")
        return "llama";
    // llama.cpp's qwen3 (src/models/qwen3.cpp) loads optional q/k/v biases but no
    // attn_output.bias; its llama loads one (src/models/llama.cpp). Dropping o_proj's bias
    // would change what the model computes.
    if (config.modelType == "qwen3" && config.outputBias)
        throw FormatError(configPath, "key \"attention_bias\": true gives o_proj a bias, which llama.cpp's qwen3 architecture "
                                      "does not load; a GGUF export would compute a different model");
    if (config.modelType == "qwen2" || config.modelType == "qwen3")
        return config.modelType;
    throw FormatError(configPath, "key \"architectures\": " + config.architecture + " has no GGUF export (llama, mistral, qwen2, qwen3 do)");
}

bool ggufPermutesRotaryRows(const std::string& ggufArchitecture)
{
    return ggufArchitecture == "llama";
}

std::vector<GgufKeyValue> ggufModelHyperparameters(const ModelConfig& c, const std::string& arch)
{
    auto u32 = [](int64_t v) { return GgufValue::u32(static_cast<uint32_t>(v)); };
    std::vector<GgufKeyValue> m;
    m.push_back({"general.architecture", GgufValue::string(arch)});
    m.push_back({arch + ".block_count", u32(c.numLayers)});
    m.push_back({arch + ".context_length", u32(c.maxPositionEmbeddings)});
    m.push_back({arch + ".embedding_length", u32(c.hiddenSize)});
    m.push_back({arch + ".feed_forward_length", u32(c.intermediateSize)});
    m.push_back({arch + ".attention.head_count", u32(c.numHeads)});
    m.push_back({arch + ".attention.head_count_kv", u32(c.numKeyValueHeads)});
    if (c.ropeScaling.type == RopeScalingType::Linear) {
        m.push_back({arch + ".rope.scaling.type", GgufValue::string("linear")});
        m.push_back({arch + ".rope.scaling.factor", GgufValue::f32(static_cast<float>(c.ropeScaling.factor))});
    }
    m.push_back({arch + ".rope.freq_base", GgufValue::f32(static_cast<float>(c.ropeTheta))});
    m.push_back({arch + ".attention.layer_norm_rms_epsilon", GgufValue::f32(static_cast<float>(c.rmsNormEps))});
    // The converter writes key/value length whenever config.json names head_dim; llama.cpp
    // otherwise derives embedding_length / head_count, which is wrong for Qwen3-style models.
    if (c.headDim * c.numHeads != c.hiddenSize || c.modelType == "qwen3") {
        m.push_back({arch + ".attention.key_length", u32(c.headDim)});
        m.push_back({arch + ".attention.value_length", u32(c.headDim)});
    }
    if (arch == "llama") {
        m.push_back({arch + ".vocab_size", u32(c.vocabSize)});
        m.push_back({arch + ".rope.dimension_count", u32(c.headDim)});
    }
    return m;
}

std::string ggufTensorName(const std::string& name)
{
    static const std::map<std::string, std::string> topLevel = {{"model.embed_tokens.weight", "token_embd.weight"},
                                                                {"model.norm.weight", "output_norm.weight"},
                                                                {"lm_head.weight", "output.weight"}};
    if (auto it = topLevel.find(name); it != topLevel.end())
        return it->second;
    const std::string prefix = "model.layers.";
    if (name.compare(0, prefix.size(), prefix) != 0)
        return {};
    const size_t dot = name.find('.', prefix.size());
    if (dot == std::string::npos)
        return {};
    const std::string layer = name.substr(prefix.size(), dot - prefix.size());
    if (layer.empty() || layer.find_first_not_of("0123456789") != std::string::npos)
        return {};
    std::string rest = name.substr(dot + 1);
    std::string suffix;
    for (const char* s : {".weight", ".bias"}) {
        const size_t n = std::strlen(s);
        if (rest.size() > n && rest.compare(rest.size() - n, n, s) == 0) {
            suffix = s;
            rest.resize(rest.size() - n);
        }
    }
    if (suffix.empty())
        return {};
    static const std::map<std::string, std::string> inLayer = {
        {"input_layernorm", "attn_norm"},       {"post_attention_layernorm", "ffn_norm"},
        {"self_attn.q_proj", "attn_q"},         {"self_attn.k_proj", "attn_k"},
        {"self_attn.v_proj", "attn_v"},         {"self_attn.o_proj", "attn_output"},
        {"self_attn.q_norm", "attn_q_norm"},    {"self_attn.k_norm", "attn_k_norm"},
        {"mlp.gate_proj", "ffn_gate"},          {"mlp.up_proj", "ffn_up"},
        {"mlp.down_proj", "ffn_down"}};
    auto it = inLayer.find(rest);
    if (it == inLayer.end())
        return {};
    return "blk." + layer + "." + it->second + suffix;
}

std::string ggufProjectionName(int64_t layer, const std::string& projection)
{
    static const std::map<std::string, std::string> names = {{"q_proj", "attn_q"},       {"k_proj", "attn_k"},
                                                             {"v_proj", "attn_v"},       {"o_proj", "attn_output"},
                                                             {"gate_proj", "ffn_gate"}, {"up_proj", "ffn_up"},
                                                             {"down_proj", "ffn_down"}};
    auto it = names.find(projection);
    return it == names.end() ? std::string() : "blk." + std::to_string(layer) + "." + it->second;
}

void permuteRotaryRows(const float* src, float* dst, int64_t heads, int64_t headDim, int64_t cols)
{
    const int64_t half = headDim / 2;
    for (int64_t h = 0; h < heads; ++h)
        for (int64_t i = 0; i < half; ++i)
            for (int64_t j = 0; j < 2; ++j)
                std::memcpy(dst + (h * headDim + i * 2 + j) * cols, src + (h * headDim + j * half + i) * cols,
                            sizeof(float) * static_cast<size_t>(cols));
}

std::vector<float> llama3RopeFactors(const ModelConfig& c)
{
    const double pi = 3.14159265358979323846;
    const auto& s = c.ropeScaling;
    const double lowWavelen = double(s.originalMaxPositionEmbeddings) / s.lowFreqFactor;
    const double highWavelen = double(s.originalMaxPositionEmbeddings) / s.highFreqFactor;
    std::vector<float> factors;
    for (int64_t i = 0; i < c.headDim; i += 2) {
        // The converter computes the frequencies in fp32 (torch.arange(..., dtype=float32)).
        const float freq = 1.0f / std::pow(static_cast<float>(c.ropeTheta), static_cast<float>(i) / static_cast<float>(c.headDim));
        const double wavelen = 2 * pi / freq;
        if (wavelen < highWavelen) {
            factors.push_back(1.0f);
        } else if (wavelen > lowWavelen) {
            factors.push_back(static_cast<float>(s.factor));
        } else {
            const double smooth = (double(s.originalMaxPositionEmbeddings) / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
            factors.push_back(static_cast<float>(1.0 / ((1 - smooth) / s.factor + smooth)));
        }
    }
    return factors;
}

} // namespace tb
