// QuantizedBaseCache: the bitsandbytes key layout of the cache file, reuse, and every reason
// to rebuild (source changed, settings changed, corrupt file), on small model folders.
#include "TestModels.h"

#include "cpu/Nf4Codebook.h"
#include "formats/SafetensorsReader.h"
#include "model/ModelLoader.h"
#include "model/TensorIO.h"
#include "quant/QuantizedBaseCache.h"
#include "quant/QuantizedLinear.h"

#include <nlohmann/json.hpp>

#include <QTemporaryDir>
#include <QTest>

#include <cstring>
#include <filesystem>
#include <fstream>

using namespace tb;
namespace fs = std::filesystem;

namespace {

tb::ModelConfig quantConfig(const std::string& flavour = "llama")
{
    tb::ModelConfig c = tbtest::tinyConfig(flavour);
    c.hiddenSize = 128;
    c.intermediateSize = 256;
    c.headDim = 32;
    return c;
}

void makeFolder(const std::string& dir, uint64_t seed, const std::string& flavour = "llama")
{
    LlamaForCausalLM m(quantConfig(flavour), at::TensorOptions().dtype(at::kBFloat16));
    m.initializeRandom(seed);
    if (flavour == "qwen2") { // non-zero biases, so a lost bias shows
        at::NoGradGuard g;
        for (auto& p : m.named_parameters(true))
            if (p.key().size() > 5 && p.key().compare(p.key().size() - 5, 5, ".bias") == 0)
                p.value().normal_(0, 0.1);
    }
    saveModelFolder(m, dir, at::kBFloat16);
}

QuantSettings nf4(bool dq = true)
{
    QuantSettings s;
    s.doubleQuant = dq;
    return s;
}

struct Run {
    QuantCacheResult result;
    at::Tensor logits;
    std::vector<std::string> warnings, infos;
};

Run loadAndRun(const std::string& dir, const QuantSettings& s, const std::string& cacheDir = {})
{
    Run run;
    LoadedModel loaded = loadModel(dir);
    QuantCacheOptions o;
    o.cacheDir = cacheDir;
    o.onWarning = [&](const std::string& m) { run.warnings.push_back(m); };
    o.onInfo = [&](const std::string& m) { run.infos.push_back(m); };
    run.result = QuantizedBaseCache::loadOrQuantize(*loaded.model, dir, s, o);
    at::NoGradGuard g;
    run.logits = loaded.model->forward(at::arange(3, 19, at::kLong).view({1, -1})).to(at::kFloat);
    return run;
}

std::string prefixOf(int layer, const std::string& name)
{
    const bool attn = name[1] == '_';
    return "model.layers." + std::to_string(layer) + (attn ? ".self_attn." : ".mlp.") + name;
}

std::pair<int64_t, int64_t> shapeOf(const tb::ModelConfig& c, const std::string& name)
{
    const int64_t h = c.hiddenSize, q = c.numHeads * c.headDim, kv = c.numKeyValueHeads * c.headDim, i = c.intermediateSize;
    if (name == "q_proj") return {q, h};
    if (name == "k_proj" || name == "v_proj") return {kv, h};
    if (name == "o_proj") return {h, q};
    if (name == "down_proj") return {h, i};
    return {i, h}; // gate_proj, up_proj
}

} // namespace

class TestQuantCache : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() { at::set_num_threads(2); }

    void bitsandbytesKeyLayout()
    {
        QTemporaryDir tmp;
        const std::string dir = tmp.path().toStdString();
        makeFolder(dir, 1);
        const Run run = loadAndRun(dir, nf4());
        QVERIFY(!run.result.fromCache);
        QCOMPARE(run.result.path, dir + "/.tunebench-cache/nf4-bs64-dq.safetensors");
        QVERIFY(run.warnings.empty());

        const tb::ModelConfig c = quantConfig();
        SafetensorsReader file(run.result.path);
        QCOMPARE(file.metadata().at("format"), std::string("pt"));
        QCOMPARE(file.metadata().at("tunebench.quant.settings"), std::string("nf4-bs64-dq"));
        QCOMPARE(file.metadata().at("tunebench.quant.source"), QuantizedBaseCache::sourceIdentity(dir));
        size_t expectedKeys = 0;
        auto check = [&](const std::string& name, DType dtype, std::vector<int64_t> shape) {
            const SafetensorInfo* info = file.find(name);
            QVERIFY2(info, name.c_str());
            QVERIFY2(info->dtype == dtype, name.c_str());
            QVERIFY2(info->shape == shape, name.c_str());
            ++expectedKeys;
        };
        for (int l = 0; l < c.numLayers; ++l) {
            for (const std::string& name : LlamaDecoderLayer::projectionNames()) {
                const std::string p = prefixOf(l, name);
                const auto [out, in] = shapeOf(c, name);
                const int64_t n = out * in, nb = (n + 63) / 64;
                check(p + ".weight", DType::U8, {n / 2, 1});
                check(p + ".weight.absmax", DType::U8, {nb});
                check(p + ".weight.quant_map", DType::F32, {16});
                check(p + ".weight.nested_absmax", DType::F32, {(nb + 255) / 256});
                check(p + ".weight.nested_quant_map", DType::F32, {256});
                const SafetensorInfo* qs = file.find(p + ".weight.quant_state.bitsandbytes__nf4");
                QVERIFY(qs);
                QVERIFY(qs->dtype == DType::U8 && qs->shape.size() == 1);
                ++expectedKeys;
                const std::string json(reinterpret_cast<const char*>(file.data(*qs)), qs->byteSize());
                // json.dumps of QuantState.as_dict(packed=True)'s non-tensor items, in order.
                const std::string head = "{\"quant_type\": \"nf4\", \"blocksize\": 64, \"dtype\": \"bfloat16\", \"shape\": ["
                                         + std::to_string(out) + ", " + std::to_string(in)
                                         + "], \"nested_blocksize\": 256, \"nested_dtype\": \"float32\", \"nested_offset\": ";
                QVERIFY2(json.rfind(head, 0) == 0, json.c_str());
                const auto parsed = nlohmann::json::parse(json);
                QCOMPARE(parsed.size(), size_t(7));
                QVERIFY(parsed["nested_offset"].get<double>() > 0);
                const at::Tensor map = readTensor(file, *file.find(p + ".weight.quant_map"));
                QVERIFY(std::memcmp(map.data_ptr<float>(), tbk::kNf4Code, sizeof tbk::kNf4Code) == 0);
                const at::Tensor nmap = readTensor(file, *file.find(p + ".weight.nested_quant_map"));
                QVERIFY(std::memcmp(nmap.data_ptr<float>(), tbk::dynamicMapSigned(), 256 * sizeof(float)) == 0);
            }
            check("model.layers." + std::to_string(l) + ".input_layernorm.weight", DType::BF16, {c.hiddenSize});
            check("model.layers." + std::to_string(l) + ".post_attention_layernorm.weight", DType::BF16, {c.hiddenSize});
        }
        check("model.embed_tokens.weight", DType::BF16, {c.vocabSize, c.hiddenSize});
        check("model.norm.weight", DType::BF16, {c.hiddenSize});
        check("lm_head.weight", DType::BF16, {c.vocabSize, c.hiddenSize});
        QCOMPARE(file.tensors().size(), expectedKeys);
    }

    void quantStateNumbersAsPython()
    {
        QuantSettings s = nf4();
        auto tail = [&](float offset) {
            const std::string j = QuantizedBaseCache::quantStateJson(s, at::kBFloat16, 2, 64, offset);
            return j.substr(j.rfind(": ") + 2);
        };
        // repr(float(torch.tensor(x, dtype=torch.float32))) in Python.
        QCOMPARE(tail(0.5f), std::string("0.5}"));
        QCOMPARE(tail(1.0f), std::string("1.0}"));
        QCOMPARE(tail(1e-5f), std::string("9.999999747378752e-06}"));
        QCOMPARE(tail(0.1f), std::string("0.10000000149011612}"));
        s.doubleQuant = false;
        QCOMPARE(QuantizedBaseCache::quantStateJson(s, at::kFloat, 3, 64, 0),
                 std::string("{\"quant_type\": \"nf4\", \"blocksize\": 64, \"dtype\": \"float32\", \"shape\": [3, 64]}"));
    }

    void reusedOnSecondLoad()
    {
        QTemporaryDir tmp;
        const std::string dir = tmp.path().toStdString();
        makeFolder(dir, 2);
        const Run first = loadAndRun(dir, nf4());
        QVERIFY(!first.result.fromCache);
        const Run second = loadAndRun(dir, nf4());
        QVERIFY(second.result.fromCache);
        QCOMPARE(second.result.path, first.result.path);
        QVERIFY(second.warnings.empty());
        QVERIFY(at::equal(first.logits, second.logits));
        QCOMPARE(second.result.report.bytesAfter, first.result.report.bytesAfter);
        QCOMPARE(second.result.report.layersReplaced, 14);
    }

    void rebuiltWhenSourceChanges()
    {
        QTemporaryDir tmp;
        const std::string dir = tmp.path().toStdString();
        makeFolder(dir, 3);
        const Run first = loadAndRun(dir, nf4());
        // touch: same bytes, new modification time.
        const fs::path st = fs::path(dir) / "model.safetensors";
        fs::last_write_time(st, fs::last_write_time(st) + std::chrono::seconds(5));
        const Run touched = loadAndRun(dir, nf4());
        QVERIFY(!touched.result.fromCache);
        QVERIFY(touched.warnings.empty());
        QVERIFY(!touched.infos.empty() && touched.infos.front().find("stale") != std::string::npos);
        QVERIFY(at::equal(touched.logits, first.logits));
        QVERIFY(loadAndRun(dir, nf4()).result.fromCache);
        // Other weights: the rebuilt cache must give the new model's outputs, not the old ones.
        makeFolder(dir, 4);
        const Run changed = loadAndRun(dir, nf4());
        QVERIFY(!changed.result.fromCache);
        QVERIFY(!at::equal(changed.logits, first.logits));
        const Run again = loadAndRun(dir, nf4());
        QVERIFY(again.result.fromCache);
        QVERIFY(at::equal(again.logits, changed.logits));
    }

    void rebuiltWhenSettingsChange()
    {
        QTemporaryDir tmp;
        const std::string dir = tmp.path().toStdString();
        makeFolder(dir, 5);
        const Run dq = loadAndRun(dir, nf4(true));
        const Run plain = loadAndRun(dir, nf4(false));
        QVERIFY(!plain.result.fromCache);
        QCOMPARE(plain.result.path, dir + "/.tunebench-cache/nf4-bs64.safetensors");
        // A file with other settings under this settings' name is not trusted either.
        fs::copy_file(dq.result.path, plain.result.path, fs::copy_options::overwrite_existing);
        const Run swapped = loadAndRun(dir, nf4(false));
        QVERIFY(!swapped.result.fromCache);
        QVERIFY(at::equal(swapped.logits, plain.logits));
        QVERIFY(loadAndRun(dir, nf4(false)).result.fromCache);
        QVERIFY(loadAndRun(dir, nf4(true)).result.fromCache);
    }

    void corruptCacheIsRebuiltWithWarning_data()
    {
        QTest::addColumn<int>("damage");
        QTest::newRow("truncated") << 0;
        QTest::newRow("garbage-header") << 1;
        QTest::newRow("missing-tensor") << 2;
    }
    void corruptCacheIsRebuiltWithWarning()
    {
        QFETCH(int, damage);
        QTemporaryDir tmp;
        const std::string dir = tmp.path().toStdString();
        makeFolder(dir, 6);
        const Run first = loadAndRun(dir, nf4());
        const std::string path = first.result.path;
        if (damage == 0) {
            fs::resize_file(path, fs::file_size(path) / 2);
        } else if (damage == 1) {
            std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
            f.seekp(10);
            f.write("#garbage#garbage#", 17);
        } else {
            // A well-formed file with the right metadata but a layer left out.
            SafetensorsReader r(path);
            SafetensorsWriter w;
            for (const auto& info : r.tensors())
                if (info.name.rfind("model.layers.1.mlp.down_proj", 0) != 0)
                    w.add(info.name, info.dtype, info.shape, r.data(info), info.byteSize());
            w.setMetadata(r.metadata());
            w.write(path + ".new");
            fs::rename(path + ".new", path);
        }
        const Run rebuilt = loadAndRun(dir, nf4());
        QVERIFY(!rebuilt.result.fromCache);
        QCOMPARE(rebuilt.warnings.size(), size_t(1));
        QVERIFY2(rebuilt.warnings.front().find("unusable") != std::string::npos, rebuilt.warnings.front().c_str());
        QVERIFY(at::equal(rebuilt.logits, first.logits));
        const Run after = loadAndRun(dir, nf4());
        QVERIFY(after.result.fromCache);
        QVERIFY(after.warnings.empty());
    }

    void cacheFolderElsewhere()
    {
        QTemporaryDir tmp, cache;
        const std::string dir = tmp.path().toStdString();
        makeFolder(dir, 7);
        const Run first = loadAndRun(dir, nf4(), cache.path().toStdString());
        QCOMPARE(first.result.path, cache.path().toStdString() + "/nf4-bs64-dq.safetensors");
        QVERIFY(!fs::exists(fs::path(dir) / ".tunebench-cache"));
        QVERIFY(loadAndRun(dir, nf4(), cache.path().toStdString()).result.fromCache);
        // An unwritable cache folder: quantized in memory, one warning, no path.
        const std::string blocked = dir + "/config.json/cache";
        const Run noCache = loadAndRun(dir, nf4(), blocked);
        QVERIFY(!noCache.result.fromCache);
        QVERIFY(noCache.result.path.empty());
        QCOMPARE(noCache.warnings.size(), size_t(1));
        QVERIFY(at::equal(noCache.logits, first.logits));
    }

    void int8AndBiasRoundTrip()
    {
        QTemporaryDir tmp;
        const std::string dir = tmp.path().toStdString();
        makeFolder(dir, 8, "qwen2");
        QuantSettings s;
        s.type = QuantSettings::Type::Int8;
        s.doubleQuant = false;
        const Run first = loadAndRun(dir, s);
        QCOMPARE(first.result.path, dir + "/.tunebench-cache/int8-bs64.safetensors");
        {
            SafetensorsReader file(first.result.path);
            const SafetensorInfo* w = file.find("model.layers.0.self_attn.q_proj.weight");
            QVERIFY(w && w->dtype == DType::U8 && w->shape == std::vector<int64_t>({128, 128}));
            QVERIFY(file.find("model.layers.0.self_attn.q_proj.weight.quant_state.tunebench__int8"));
            const SafetensorInfo* b = file.find("model.layers.0.self_attn.q_proj.bias");
            QVERIFY(b && b->dtype == DType::BF16);
            QVERIFY(!file.find("lm_head.weight")); // qwen2 flavour ties embeddings
        }
        const Run second = loadAndRun(dir, s);
        QVERIFY(second.result.fromCache);
        QVERIFY(at::equal(first.logits, second.logits));
        // NF4 with biases too.
        const Run n1 = loadAndRun(dir, nf4());
        const Run n2 = loadAndRun(dir, nf4());
        QVERIFY(n2.result.fromCache);
        QVERIFY(at::equal(n1.logits, n2.logits));
    }
};

QTEST_APPLESS_MAIN(TestQuantCache)
#include "tst_quantcache.moc"
