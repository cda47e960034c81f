// Known answers for the GGUF layout of each architecture (engine/export/GgufModelLayout,
// GgufFileType), as llama.cpp's converter and quantizer define them: the metadata keys and
// their types (key/value length where head_dim is explicit), general.file_type per type, tensor
// names, the rotary row permutation, Llama 3.1's rope factors, and the per-tensor types of
// Q4_K_M. tst_ggufexport checks the same files through llama.cpp itself; these pin the details
// so a change shows where it is.
#include "TestModels.h"

#include "export/GgufFileType.h"
#include "export/GgufModelLayout.h"
#include "formats/FormatError.h"

#include <QtTest>

#include <cmath>
#include <iterator>
#include <map>
#include <optional>

using namespace tb;

namespace {

std::map<std::string, std::string> keysOf(const std::vector<GgufKeyValue>& kvs)
{
    std::map<std::string, std::string> m;
    for (const auto& kv : kvs)
        m[kv.key] = std::string(ggufTypeName(kv.value.type)) + " " + kv.value.display();
    return m;
}

} // namespace

class TestGgufModelLayout : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void architectures()
    {
        QCOMPARE(ggufArchitectureFor(tbtest::tinyConfig("llama"), "c"), std::string("llama"));
        QCOMPARE(ggufArchitectureFor(tbtest::tinyConfig("mistral-window"), "c"), std::string("llama"));
        QCOMPARE(ggufArchitectureFor(tbtest::tinyConfig("qwen2"), "c"), std::string("qwen2"));
        QCOMPARE(ggufArchitectureFor(tbtest::tinyConfig("qwen3"), "c"), std::string("qwen3"));
        QVERIFY(ggufPermutesRotaryRows("llama"));
        QVERIFY(!ggufPermutesRotaryRows("qwen2") && !ggufPermutesRotaryRows("qwen3"));
        // llama.cpp's llama loads blk.N.attn_output.bias; its qwen3 has no such tensor.
        QCOMPARE(ggufArchitectureFor(tbtest::tinyConfig("llama-bias"), "c"), std::string("llama"));
        QCOMPARE(ggufTensorName("model.layers.2.self_attn.o_proj.bias"), std::string("blk.2.attn_output.bias"));
        try {
            ggufArchitectureFor(tbtest::tinyConfig("qwen3-bias"), "/m/config.json");
            QFAIL("a Qwen3 with attention_bias was accepted");
        } catch (const FormatError& e) {
            QVERIFY2(QString(e.what()).contains("/m/config.json") && QString(e.what()).contains("\"attention_bias\""), e.what());
        }
    }

    void llamaKeys()
    {
        ModelConfig c = tbtest::tinyConfig("llama");
        c.ropeScaling.type = RopeScalingType::Linear;
        c.ropeScaling.factor = 2.0;
        const auto k = keysOf(ggufModelHyperparameters(c, "llama"));
        const std::map<std::string, std::string> expected = {
            {"general.architecture", "string \"llama\""},
            {"llama.block_count", "u32 2"},
            {"llama.context_length", "u32 128"},
            {"llama.embedding_length", "u32 32"},
            {"llama.feed_forward_length", "u32 48"},
            {"llama.attention.head_count", "u32 4"},
            {"llama.attention.head_count_kv", "u32 2"},
            {"llama.rope.freq_base", "f32 10000"},
            {"llama.rope.scaling.type", "string \"linear\""},
            {"llama.rope.scaling.factor", "f32 2"},
            {"llama.attention.layer_norm_rms_epsilon", "f32 9.99999975e-06"},
            {"llama.vocab_size", "u32 97"},
            {"llama.rope.dimension_count", "u32 8"},
        };
        QCOMPARE(k, expected);
    }

    // Qwen3 names head_dim apart from hidden / heads: key and value length are written; qwen
    // architectures get no vocab_size or rope dimension keys (the converter writes none).
    void qwen3Keys()
    {
        const auto k = keysOf(ggufModelHyperparameters(tbtest::tinyConfig("qwen3"), "qwen3"));
        QCOMPARE(k.at("qwen3.attention.key_length"), std::string("u32 16"));
        QCOMPARE(k.at("qwen3.attention.value_length"), std::string("u32 16"));
        QVERIFY(!k.count("qwen3.vocab_size") && !k.count("qwen3.rope.dimension_count"));
        const auto q2 = keysOf(ggufModelHyperparameters(tbtest::tinyConfig("qwen2"), "qwen2"));
        QVERIFY(!q2.count("qwen2.attention.key_length"));
    }

    // A Llama whose config.json names head_dim apart from hidden / heads (32 / 4 = 8, head_dim 16):
    // key and value length are written, and the rope dimension is head_dim's.
    void llamaWithExplicitHeadDim()
    {
        ModelConfig c = tbtest::tinyConfig("llama");
        c.headDim = 16;
        const auto k = keysOf(ggufModelHyperparameters(c, "llama"));
        QCOMPARE(k.at("llama.attention.key_length"), std::string("u32 16"));
        QCOMPARE(k.at("llama.attention.value_length"), std::string("u32 16"));
        QCOMPARE(k.at("llama.rope.dimension_count"), std::string("u32 16"));
        QCOMPARE(k.at("llama.embedding_length"), std::string("u32 32"));
        QCOMPARE(k.at("llama.attention.head_count"), std::string("u32 4"));
        // head_dim = hidden / heads: llama.cpp derives it; the converter writes no length keys.
        const auto plain = keysOf(ggufModelHyperparameters(tbtest::tinyConfig("llama"), "llama"));
        QVERIFY(!plain.count("llama.attention.key_length") && !plain.count("llama.attention.value_length"));
    }

    // general.file_type is llama.cpp's enum llama_ftype (include/llama.h): ALL_F32 0, MOSTLY_F16 1,
    // MOSTLY_Q4_0 2, MOSTLY_Q8_0 7, MOSTLY_Q4_K_M 15, MOSTLY_Q5_K_M 17, MOSTLY_Q6_K 18, MOSTLY_BF16 32.
    void fileTypeNumbers()
    {
        const std::pair<GgufFileType, uint32_t> expected[] = {
            {GgufFileType::F32, 0},     {GgufFileType::F16, 1},     {GgufFileType::BF16, 32},   {GgufFileType::Q8_0, 7},
            {GgufFileType::Q4_0, 2},    {GgufFileType::Q4_K_M, 15}, {GgufFileType::Q5_K_M, 17}, {GgufFileType::Q6_K, 18},
        };
        QCOMPARE(allGgufFileTypes().size(), std::size(expected));
        for (const auto& [type, number] : expected) {
            QCOMPARE(llamaFileTypeNumber(type), number);
            QCOMPARE(ggufFileTypeFromName(ggufFileTypeName(type)), std::optional<GgufFileType>(type));
        }
        // F32 / F16 / BF16 files hold their matrices in that ggml type, 1-D tensors in F32.
        GgufTensorRole matrix;
        matrix.ggufName = "blk.0.attn_q.weight";
        matrix.rowElements = 32;
        matrix.layer = 0;
        matrix.layerCount = 2;
        QCOMPARE(ggufTensorType(GgufFileType::F32, matrix), tbk::GgmlType::F32);
        QCOMPARE(ggufTensorType(GgufFileType::F16, matrix), tbk::GgmlType::F16);
        QCOMPARE(ggufTensorType(GgufFileType::BF16, matrix), tbk::GgmlType::BF16);
        GgufTensorRole norm = matrix;
        norm.ggufName = "blk.0.attn_norm.weight";
        norm.dimensions = 1;
        QCOMPARE(ggufTensorType(GgufFileType::BF16, norm), tbk::GgmlType::F32);
    }

    void tensorNames()
    {
        const std::pair<const char*, const char*> names[] = {
            {"model.embed_tokens.weight", "token_embd.weight"},
            {"lm_head.weight", "output.weight"},
            {"model.norm.weight", "output_norm.weight"},
            {"model.layers.0.input_layernorm.weight", "blk.0.attn_norm.weight"},
            {"model.layers.11.self_attn.q_proj.weight", "blk.11.attn_q.weight"},
            {"model.layers.3.self_attn.k_proj.bias", "blk.3.attn_k.bias"},
            {"model.layers.3.self_attn.v_proj.weight", "blk.3.attn_v.weight"},
            {"model.layers.3.self_attn.o_proj.weight", "blk.3.attn_output.weight"},
            {"model.layers.3.self_attn.q_norm.weight", "blk.3.attn_q_norm.weight"},
            {"model.layers.3.self_attn.k_norm.weight", "blk.3.attn_k_norm.weight"},
            {"model.layers.3.post_attention_layernorm.weight", "blk.3.ffn_norm.weight"},
            {"model.layers.3.mlp.gate_proj.weight", "blk.3.ffn_gate.weight"},
            {"model.layers.3.mlp.up_proj.weight", "blk.3.ffn_up.weight"},
            {"model.layers.3.mlp.down_proj.weight", "blk.3.ffn_down.weight"},
            {"model.layers.3.self_attn.rotary_emb.inv_freq", ""},
            {"model.layers.x.mlp.up_proj.weight", ""},
        };
        for (const auto& [hf, gguf] : names)
            QCOMPARE(ggufTensorName(hf), std::string(gguf));
        QCOMPARE(ggufProjectionName(2, "down_proj"), std::string("blk.2.ffn_down"));
    }

    // convert_hf_to_gguf.py's LlamaModel.permute: reshape(n_head, 2, d/2, cols).swapaxes(1, 2).
    void rotaryPermutation()
    {
        const int64_t heads = 2, headDim = 4, cols = 1;
        std::vector<float> src(8), dst(8);
        for (int i = 0; i < 8; ++i)
            src[i] = float(i);
        permuteRotaryRows(src.data(), dst.data(), heads, headDim, cols);
        QCOMPARE(dst, (std::vector<float>{0, 2, 1, 3, 4, 6, 5, 7}));
    }

    // The converter's formula on Llama 3.1's settings (factor 8, low 1, high 4, original 8192,
    // theta 500000, head_dim 128): the first factors are 1, the last 8, and the band between
    // blends smoothly.
    void llama3RopeFactorsFollowTheConverter()
    {
        ModelConfig c = tbtest::tinyConfig("llama3-scaled");
        c.headDim = 128;
        c.ropeTheta = 500000;
        c.ropeScaling.originalMaxPositionEmbeddings = 8192;
        const std::vector<float> f = llama3RopeFactors(c);
        QCOMPARE(f.size(), size_t(64));
        QCOMPARE(f.front(), 1.0f);
        QCOMPARE(f.back(), 8.0f);
        int blended = 0;
        for (size_t i = 1; i < f.size(); ++i) {
            QVERIFY(f[i] >= f[i - 1]);
            blended += f[i] > 1.0f && f[i] < 8.0f;
        }
        QVERIFY(blended > 0);
    }

    // Q4_K_M on a 22-layer model (TinyLlama's depth): Q6_K for attn_v / ffn_down of layers 0,
    // 1, 4, 7, 10, 13, 16, 19, 20, 21, Q4_K elsewhere, the output Q6_K; fallbacks by row length.
    void q4kmTypes()
    {
        auto type = [](const std::string& name, int64_t row, int64_t layer, bool tied = false, int64_t dims = 2) {
            GgufTensorRole r;
            r.ggufName = name;
            r.rowElements = row;
            r.dimensions = dims;
            r.layer = layer;
            r.layerCount = 22;
            r.tiedEmbeddings = tied;
            return ggufTensorType(GgufFileType::Q4_K_M, r);
        };
        std::vector<int> moreBits;
        for (int i = 0; i < 22; ++i)
            if (type("blk." + std::to_string(i) + ".attn_v.weight", 2048, i) == tbk::GgmlType::Q6_K)
                moreBits.push_back(i);
        QCOMPARE(moreBits, (std::vector<int>{0, 1, 4, 7, 10, 13, 16, 19, 20, 21}));
        QCOMPARE(type("blk.4.ffn_down.weight", 5632, 4), tbk::GgmlType::Q6_K);
        QCOMPARE(type("blk.5.ffn_down.weight", 5632, 5), tbk::GgmlType::Q4_K);
        QCOMPARE(type("blk.5.attn_q.weight", 2048, 5), tbk::GgmlType::Q4_K);
        QCOMPARE(type("output.weight", 2048, -1), tbk::GgmlType::Q6_K);
        QCOMPARE(type("token_embd.weight", 2048, -1), tbk::GgmlType::Q4_K);
        QCOMPARE(type("token_embd.weight", 2048, -1, true), tbk::GgmlType::Q6_K);
        QCOMPARE(type("blk.5.attn_q.weight", 896, 5), tbk::GgmlType::Q5_0); // Qwen 2.5 0.5B
        QCOMPARE(type("blk.4.ffn_down.weight", 896, 4), tbk::GgmlType::Q8_0);
        QCOMPARE(type("blk.5.ffn_down.weight", 688, 5), tbk::GgmlType::F16); // not a multiple of 32
        QCOMPARE(type("blk.5.attn_norm.weight", 2048, 5, false, 1), tbk::GgmlType::F32);
    }
};

QTEST_GUILESS_MAIN(TestGgufModelLayout)
#include "tst_ggufmodellayout.moc"
