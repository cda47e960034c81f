// LoRA layers against the definition (Hu et al. 2021; PEFT's lora.Linear), the PEFT adapter
// folder format in both directions, and merging.
#include "TestModels.h"

#include "formats/FormatError.h"
#include "formats/SafetensorsReader.h"
#include "formats/SafetensorsWriter.h"
#include "lora/LoraInjector.h"
#include "lora/PeftAdapter.h"
#include "model/LlamaForCausalLM.h"
#include "model/TensorIO.h"

#include <nlohmann/json.hpp>

#include <QTemporaryDir>
#include <QTest>

#include <filesystem>
#include <fstream>

using namespace tb;
namespace fs = std::filesystem;

namespace {

std::shared_ptr<LlamaForCausalLM> makeModel(at::ScalarType dtype = at::kFloat, uint64_t seed = 4)
{
    auto m = std::make_shared<LlamaForCausalLM>(tbtest::tinyConfig("llama"), at::TensorOptions().dtype(dtype));
    m->initializeRandom(seed, 0.2);
    return m;
}

at::Tensor logits(LlamaForCausalLM& m)
{
    m.eval(); // no LoRA dropout
    at::NoGradGuard g;
    return m.forward(at::arange(3, 15, at::kLong).view({1, -1})).to(at::kDouble);
}

// Gives every B a non-zero value so adapters change the output.
void randomizeAdapters(LlamaForCausalLM& m, uint64_t seed)
{
    at::NoGradGuard g;
    at::manual_seed(seed);
    for (const auto& ref : loraLayers(m))
        ref.layer->lora_B->weight.normal_(0, 0.1);
}

QString errorOf(const std::function<void()>& f)
{
    try {
        f();
    } catch (const std::exception& e) {
        return QString::fromStdString(e.what());
    }
    return {};
}

} // namespace

class TestLora : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void forwardIsTheDefinition()
    {
        auto base = std::make_shared<Linear>(6, 5, true, at::TensorOptions().dtype(at::kDouble));
        {
            at::NoGradGuard g;
            base->weight.normal_();
            base->bias.normal_();
        }
        LoraLinear lora(base, 3, 12.0, 0.0, false);
        at::manual_seed(1);
        at::Generator gen = at::globalContext().defaultGenerator(at::DeviceType::CPU);
        lora.resetParameters(gen);
        {
            at::NoGradGuard g;
            lora.lora_B->weight.normal_(0, 1);
        }
        const at::Tensor x = at::randn({2, 4, 6}, at::kDouble);
        at::NoGradGuard g;
        const at::Tensor w = base->weight, b = base->bias;
        const at::Tensor a = lora.lora_A->weight.to(at::kDouble), bb = lora.lora_B->weight.to(at::kDouble);
        // Written element by element from y = W x + b + (alpha / r) * B (A x).
        at::Tensor expected = at::zeros({2, 4, 5}, at::kDouble);
        auto X = x.accessor<double, 3>();
        auto W = w.accessor<double, 2>();
        auto A = a.accessor<double, 2>();
        auto B = bb.accessor<double, 2>();
        auto E = expected.accessor<double, 3>();
        for (int i = 0; i < 2; ++i)
            for (int t = 0; t < 4; ++t)
                for (int o = 0; o < 5; ++o) {
                    double y = b[o].item<double>();
                    for (int k = 0; k < 6; ++k)
                        y += W[o][k] * X[i][t][k];
                    for (int r = 0; r < 3; ++r) {
                        double ax = 0;
                        for (int k = 0; k < 6; ++k)
                            ax += A[r][k] * X[i][t][k];
                        y += 12.0 / 3.0 * B[o][r] * ax;
                    }
                    E[i][t][o] = y;
                }
        QVERIFY((lora.forward(x) - expected).abs().max().item<double>() < 1e-5); // the LoRA path runs in fp32
        QCOMPARE(lora.scaling(), 4.0);
        QCOMPARE(LoraLinear(base, 4, 8.0, 0.0, true).scaling(), 4.0); // rsLoRA: alpha / sqrt(r)
    }

    void initialisationFollowsPeft()
    {
        auto base = std::make_shared<Linear>(256, 64, false, at::TensorOptions().dtype(at::kFloat));
        LoraLinear lora(base, 16, 16.0, 0.0, false);
        at::manual_seed(3);
        at::Generator gen = at::globalContext().defaultGenerator(at::DeviceType::CPU);
        lora.resetParameters(gen);
        const at::Tensor a = lora.lora_A->weight;
        const double bound = 1.0 / std::sqrt(256.0); // kaiming_uniform(a=sqrt(5)) on fan_in 256
        QVERIFY(a.abs().max().item<double>() <= bound);
        QVERIFY(std::abs(a.std().item<double>() - bound / std::sqrt(3.0)) < 0.1 * bound);
        QVERIFY(lora.lora_B->weight.abs().max().item<double>() == 0.0);
    }

    void applyLoraStartsAtTheBaseAndFreezesIt()
    {
        auto m = makeModel();
        const at::Tensor before = logits(*m);
        LoraSettings s;
        s.rank = 4;
        s.alpha = 8;
        const auto layers = applyLora(*m, s, 1);
        QCOMPARE(int(layers.size()), 2 * 7);
        QCOMPARE(QString::fromStdString(layers[0].name), QString("model.layers.0.self_attn.q_proj"));
        QCOMPARE(QString::fromStdString(layers.back().name), QString("model.layers.1.mlp.down_proj"));
        QVERIFY((logits(*m) - before).abs().max().item<double>() == 0.0); // B = 0
        int64_t trainable = 0;
        std::set<std::string> names;
        for (const auto& item : m->named_parameters(true)) {
            names.insert(item.key());
            if (item.value().requires_grad()) {
                trainable += item.value().numel();
                QVERIFY2(item.key().find(".lora_") != std::string::npos, item.key().c_str());
            }
        }
        // r * (in + out) per projection: q 32->32, k/v 32->16, o 32->32, gate/up 32->48, down 48->32.
        const int64_t perLayer = 4 * ((32 + 32) + 2 * (32 + 16) + (32 + 32) + 2 * (32 + 48) + (48 + 32));
        QCOMPARE(trainable, 2 * perLayer);
        QCOMPARE(loraParameterCount(*m), 2 * perLayer);
        QVERIFY(names.count("model.layers.1.self_attn.q_proj.weight"));       // base keeps its name
        QVERIFY(names.count("model.layers.1.self_attn.q_proj.lora_A.weight")); // PEFT's key minus the prefix
        QVERIFY(names.count("model.layers.1.self_attn.q_proj.lora_B.weight"));
        QVERIFY(!errorOf([&] { applyLora(*m, s, 1); }).isEmpty()); // twice is refused
    }

    void gradientsReachOnlyAdapters()
    {
        auto m = makeModel(at::kBFloat16);
        LoraSettings s;
        s.targets = {"q_proj", "v_proj"};
        applyLora(*m, s, 2);
        randomizeAdapters(*m, 5);
        m->train();
        m->forward(at::arange(0, 8, at::kLong).view({1, -1})).to(at::kFloat).pow(2).mean().backward();
        for (const auto& item : m->named_parameters(true)) {
            const bool isLora = item.key().find(".lora_") != std::string::npos;
            QCOMPARE(item.value().grad().defined(), isLora);
            if (isLora) {
                QCOMPARE(item.value().grad().scalar_type(), at::kFloat);
                QVERIFY(item.value().grad().abs().sum().item<double>() > 0);
            }
        }
    }

    void unknownTargetIsRefused()
    {
        auto m = makeModel();
        LoraSettings s;
        s.targets = {"q_proj", "qkv_proj"};
        QVERIFY(errorOf([&] { applyLora(*m, s, 1); }).contains("qkv_proj"));
    }

    void peftFolderRoundTrip()
    {
        QTemporaryDir tmp;
        auto m = makeModel();
        LoraSettings s;
        s.rank = 4;
        s.alpha = 16;
        s.dropout = 0.05;
        s.targets = {"v_proj", "q_proj", "down_proj"};
        applyLora(*m, s, 1);
        randomizeAdapters(*m, 9);
        const at::Tensor expected = logits(*m);
        const std::string dir = tmp.filePath("adapter").toStdString();
        savePeftAdapter(*m, s, "/models/demo", dir);

        nlohmann::json config = nlohmann::json::parse(std::ifstream(dir + "/adapter_config.json"));
        QCOMPARE(QString::fromStdString(config["peft_type"].get<std::string>()), QString("LORA"));
        QCOMPARE(QString::fromStdString(config["task_type"].get<std::string>()), QString("CAUSAL_LM"));
        QCOMPARE(config["r"].get<int>(), 4);
        QCOMPARE(config["lora_alpha"].get<double>(), 16.0);
        QVERIFY(config["target_modules"] == nlohmann::json({"down_proj", "q_proj", "v_proj"}));
        QCOMPARE(QString::fromStdString(config["base_model_name_or_path"].get<std::string>()), QString("/models/demo"));
        QCOMPARE(QString::fromStdString(config["bias"].get<std::string>()), QString("none"));
        QCOMPARE(config["use_rslora"].get<bool>(), false);

        SafetensorsReader reader(dir + "/adapter_model.safetensors");
        QCOMPARE(int(reader.tensors().size()), 2 * 2 * 3);
        const auto* a = reader.find("base_model.model.model.layers.1.self_attn.v_proj.lora_A.weight");
        const auto* b = reader.find("base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight");
        QVERIFY(a && b);
        QCOMPARE(a->shape, (std::vector<int64_t>{4, 32}));  // [r, in]
        QCOMPARE(b->shape, (std::vector<int64_t>{16, 4}));  // [out, r]
        QVERIFY(a->dtype == DType::F32);

        auto fresh = makeModel();
        const PeftAdapterInfo info = loadPeftAdapter(*fresh, dir);
        QCOMPARE(info.settings.rank, int64_t(4));
        QCOMPARE(info.baseModel, std::string("/models/demo"));
        QVERIFY((logits(*fresh) - expected).abs().max().item<double>() == 0.0);
    }

    void loadsWhatPeftWrites()
    {
        // PEFT 0.19's adapter_config.json as written by PEFT, plus weights under PEFT's keys
        // (".default" adapter-name form for one of them, as older PEFT files have).
        QTemporaryDir tmp;
        const std::string dir = tmp.path().toStdString();
        fs::copy_file(std::string(TB_TEST_DATA_DIR) + "/peft/adapter_config.peft-0.19.json", dir + "/adapter_config.json");
        SafetensorsWriter w;
        at::manual_seed(2);
        std::map<std::string, at::Tensor> saved;
        for (int l = 0; l < 2; ++l)
            for (auto [module, in, out] : {std::tuple<std::string, int, int>{"self_attn.q_proj", 32, 32}, {"self_attn.v_proj", 32, 16}, {"mlp.down_proj", 48, 32}}) {
                const std::string key = "base_model.model.model.layers." + std::to_string(l) + "." + module;
                saved[key + ".lora_A"] = at::randn({4, in}, at::kFloat) * 0.1;
                saved[key + ".lora_B"] = at::randn({out, 4}, at::kFloat) * 0.1;
                addTensor(w, key + (l == 0 ? ".lora_A.default.weight" : ".lora_A.weight"), saved[key + ".lora_A"]);
                addTensor(w, key + ".lora_B.weight", saved[key + ".lora_B"]);
            }
        w.write(dir + "/adapter_model.safetensors");
        auto m = makeModel();
        const PeftAdapterInfo info = loadPeftAdapter(*m, dir);
        QCOMPARE(info.settings.alpha, 32.0);
        QCOMPARE(int(loraLayers(*m).size()), 6);
        for (const auto& ref : loraLayers(*m)) {
            QVERIFY(at::equal(ref.layer->lora_A->weight, saved["base_model.model." + ref.name + ".lora_A"]));
            QCOMPARE(ref.layer->scaling(), 8.0);
        }
    }

    void adapterErrorsAreNamed()
    {
        QTemporaryDir tmp;
        auto m = makeModel();
        LoraSettings s;
        s.rank = 2;
        s.targets = {"q_proj"};
        applyLora(*m, s, 1);
        const std::string dir = tmp.filePath("a").toStdString();
        savePeftAdapter(*m, s, "", dir);

        // A base with another hidden size: shapes differ.
        ModelConfig other = tbtest::tinyConfig("llama");
        other.hiddenSize = 64;
        other.headDim = 16;
        LlamaForCausalLM wrongBase(other, at::TensorOptions().dtype(at::kFloat));
        const QString shape = errorOf([&] { loadPeftAdapter(wrongBase, dir); });
        QVERIFY2(shape.contains("adapter_model.safetensors") && shape.contains("q_proj.lora_A.weight") && shape.contains("[2, 32]"), qPrintable(shape));

        // A base with fewer layers: weights left over.
        ModelConfig shallow = tbtest::tinyConfig("llama");
        shallow.numLayers = 1;
        LlamaForCausalLM oneLayer(shallow, at::TensorOptions().dtype(at::kFloat));
        const QString extra = errorOf([&] { loadPeftAdapter(oneLayer, dir); });
        QVERIFY2(extra.contains("model.layers.1.self_attn.q_proj"), qPrintable(extra));

        auto edit = [&](const std::function<void(nlohmann::json&)>& change) {
            nlohmann::json j = nlohmann::json::parse(std::ifstream(dir + "/adapter_config.json"));
            change(j);
            std::ofstream(dir + "/adapter_config.json") << j.dump();
            auto fresh = makeModel();
            return errorOf([&] { loadPeftAdapter(*fresh, dir); });
        };
        QVERIFY(edit([](auto& j) { j["target_modules"] = {"q_proj", "k_proj"}; }).contains("k_proj"));
        QVERIFY(edit([](auto& j) { j["target_modules"] = {"q_proj"}; j["use_dora"] = true; }).contains("use_dora"));
        QVERIFY(edit([](auto& j) { j["use_dora"] = false; j["peft_type"] = "IA3"; }).contains("peft_type"));
        QVERIFY(edit([](auto& j) { j["peft_type"] = "LORA"; j["target_modules"] = ".*proj"; }).contains("regular expression"));
        QVERIFY(edit([](auto& j) { j["target_modules"] = {"q_proj"}; j["r"] = 0; }).contains("\"r\""));
        // Ill-typed values are named with the file and key, not as nlohmann's type_error.
        const std::string file = dir + "/adapter_config.json";
        auto names = [&](const QString& e, const char* key) {
            return e.startsWith(QString::fromStdString(file)) && e.contains(QString("\"%1\"").arg(key));
        };
        QVERIFY(names(edit([](auto& j) { j["r"] = 2; j["use_rslora"] = 0; }), "use_rslora"));
        QVERIFY(names(edit([](auto& j) { j["use_rslora"] = false; j["bias"] = 3; }), "bias"));
        QVERIFY(names(edit([](auto& j) { j["bias"] = nullptr; j["peft_type"] = nullptr; }), "peft_type"));
        QVERIFY(edit([](auto& j) { j["peft_type"] = "LORA"; j["fan_in_fan_out"] = nullptr; }).isEmpty()); // null: default
        fs::remove(dir + "/adapter_model.safetensors");
        std::ofstream(dir + "/adapter_model.bin") << "pickle";
        QVERIFY(edit([](auto& j) { j["r"] = 2; }).contains("pickle"));
        // A number past double's range is nlohmann's out_of_range, not a parse_error.
        std::ofstream(file, std::ios::trunc) << R"({"peft_type": "LORA", "r": 1e400})";
        const QString overflow = errorOf([&] { loadPeftAdapter(*makeModel(), dir); });
        QVERIFY2(overflow.startsWith(QString::fromStdString(file)) && overflow.contains("not valid JSON"), qPrintable(overflow));
    }

    void mergeGivesTheSameModel()
    {
        auto m = makeModel();
        LoraSettings s;
        s.rank = 4;
        s.alpha = 8;
        applyLora(*m, s, 3);
        randomizeAdapters(*m, 4);
        const at::Tensor withAdapters = logits(*m);
        mergeLora(*m);
        QVERIFY(loraLayers(*m).empty());
        for (const auto& item : m->named_parameters(true))
            QVERIFY2(item.key().find("lora_") == std::string::npos, item.key().c_str());
        const double err = (logits(*m) - withAdapters).abs().max().item<double>();
        QVERIFY2(err < 1e-4, qPrintable(QString::number(err)));
        QVERIFY((withAdapters - logits(*makeModel())).abs().max().item<double>() > 1e-2); // adapters mattered
    }

    void disabledAdaptersGiveTheBase()
    {
        auto m = makeModel();
        const at::Tensor base = logits(*m);
        LoraSettings s;
        s.rank = 4;
        s.alpha = 8;
        const size_t wrapped = applyLora(*m, s, 3).size();
        QCOMPARE(wrapped, m->model->layers.size() * 7);
        randomizeAdapters(*m, 5);
        const at::Tensor withAdapters = logits(*m);
        QVERIFY((withAdapters - base).abs().max().item<double>() > 1e-2); // the adapters matter

        QCOMPARE(setLoraEnabled(*m, false), wrapped);
        for (const auto& ref : loraLayers(*m))
            QVERIFY(!ref.layer->enabled());
        QCOMPARE((logits(*m) - base).abs().max().item<double>(), 0.0); // exactly base(x)
        QCOMPARE(setLoraEnabled(*m, true), wrapped);
        QCOMPARE((logits(*m) - withAdapters).abs().max().item<double>(), 0.0);

        // Removing them restores the base modules, and a new adapter can be put in.
        QCOMPARE(removeLora(*m), wrapped);
        QVERIFY(loraLayers(*m).empty());
        QCOMPARE((logits(*m) - base).abs().max().item<double>(), 0.0);
        for (const auto& item : m->named_parameters(true))
            QVERIFY2(item.key().find("lora_") == std::string::npos, item.key().c_str());
        applyLora(*m, s, 3);
        QCOMPARE(loraLayers(*m).size(), wrapped);
    }
};

QTEST_GUILESS_MAIN(TestLora)
#include "tst_lora.moc"
