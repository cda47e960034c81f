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
#include "quant/QuantizedLinear.h"
#include "train/AdamW.h"
#include "train/BatchStream.h"
#include "train/CausalLmLoss.h"

#include <torch/csrc/autograd/function.h>

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

// Output and gradients (x, A, B) of one forward/backward of a LoRA layer on x, in double.
struct PassResult {
    at::Tensor y, gx, gA, gB;
};

PassResult runPass(LoraLinear& lora, const at::Tensor& x, const at::Tensor& gy, bool xGrad)
{
    for (auto* f : {lora.lora_A.get(), lora.lora_B.get()})
        f->weight.mutable_grad() = at::Tensor();
    const at::Tensor xin = x.detach().requires_grad_(xGrad);
    const at::Tensor y = lora.forward(xin);
    y.backward(gy);
    return {y.detach().to(at::kDouble), xGrad ? xin.grad().to(at::kDouble) : at::Tensor(),
            lora.lora_A->weight.grad().to(at::kDouble), lora.lora_B->weight.grad().to(at::kDouble)};
}

double relativeError(const at::Tensor& got, const at::Tensor& want)
{
    return (got - want).abs().max().item<double>() / std::max(1e-30, want.abs().max().item<double>());
}

// A LoRA layer over a dense base of the given dtype, A and B random (B non-zero).
std::shared_ptr<LoraLinear> randomLoraLayer(at::ScalarType dtype, bool bias, int64_t in = 96, int64_t out = 80,
                                            int64_t rank = 8)
{
    auto base = std::make_shared<Linear>(in, out, bias, at::TensorOptions().dtype(dtype));
    at::NoGradGuard g;
    auto generator = at::make_generator<at::CPUGeneratorImpl>(21);
    base->weight.copy_(at::randn({out, in}, generator, at::kFloat) * 0.1);
    if (bias)
        base->bias.copy_(at::randn({out}, generator, at::kFloat) * 0.1);
    base->weight.set_requires_grad(false);
    if (bias)
        base->bias.set_requires_grad(false);
    auto lora = std::make_shared<LoraLinear>(base, rank, 2.0 * static_cast<double>(rank), 0.0, false);
    lora->resetParameters(generator);
    lora->lora_B->weight.normal_(0, 0.1, generator);
    return lora;
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

    // The fused node (LoraLinear.h) against the plain composition of LibTorch operators: the
    // same products summed in another order, so in fp32 they agree to rounding (<= 1e-5 of the
    // largest value), with and without a base bias, 2-D and 3-D inputs, and an input that
    // needs no gradient (the first projection after the frozen embedding).
    void fusedPathMatchesThePlainOne_data()
    {
        QTest::addColumn<bool>("bias");
        QTest::addColumn<bool>("threeD");
        QTest::addColumn<bool>("xGrad");
        QTest::newRow("plain 3-D") << false << true << true;
        QTest::newRow("bias 3-D") << true << true << true;
        QTest::newRow("bias 2-D") << true << false << true;
        QTest::newRow("input without gradient") << false << true << false;
    }

    void fusedPathMatchesThePlainOne()
    {
        QFETCH(bool, bias);
        QFETCH(bool, threeD);
        QFETCH(bool, xGrad);
        auto lora = randomLoraLayer(at::kFloat, bias);
        auto generator = at::make_generator<at::CPUGeneratorImpl>(3);
        const std::vector<int64_t> shape = threeD ? std::vector<int64_t>{2, 37, 96} : std::vector<int64_t>{53, 96};
        const at::Tensor x = at::randn(shape, generator, at::kFloat);
        std::vector<int64_t> outShape = shape;
        outShape.back() = 80;
        const at::Tensor gy = at::randn(outShape, generator, at::kFloat);
        lora->setFused(true);
        const std::string fusedNode = lora->forward(x.detach().requires_grad_(xGrad)).grad_fn()->name();
        QVERIFY2(fusedNode.find("LoraProjectionFunction") != std::string::npos, fusedNode.c_str()); // one node
        const PassResult fused = runPass(*lora, x, gy, xGrad);
        lora->setFused(false);
        const PassResult plain = runPass(*lora, x, gy, xGrad);
        QCOMPARE(fused.y.sizes(), plain.y.sizes());
        QVERIFY2(relativeError(fused.y, plain.y) < 1e-5, qPrintable(QString::number(relativeError(fused.y, plain.y))));
        QVERIFY(relativeError(fused.gA, plain.gA) < 1e-5);
        QVERIFY(relativeError(fused.gB, plain.gB) < 1e-5);
        QCOMPARE(fused.gx.defined(), xGrad);
        if (xGrad)
            QVERIFY(relativeError(fused.gx, plain.gx) < 1e-5);
        QCOMPARE(lora->lora_A->weight.grad().scalar_type(), at::kFloat);
        QVERIFY(!lora->base().parameters().front().grad().defined()); // the base stays frozen
    }

    // In bf16 both paths round differently; each is compared with an fp64 evaluation of the
    // same layer. The fused path may not be less accurate than the plain one (its sum of base
    // and update is rounded once, the plain path's three times).
    void fusedPathIsAsAccurateInBf16()
    {
        auto lora = randomLoraLayer(at::kBFloat16, true, 256, 192, 16);
        auto reference = randomLoraLayer(at::kDouble, true, 256, 192, 16);
        {
            at::NoGradGuard g;
            reference->base().parameters()[0].copy_(lora->base().parameters()[0]);
            reference->base().parameters()[1].copy_(lora->base().parameters()[1]);
            reference->lora_A->weight.copy_(lora->lora_A->weight);
            reference->lora_B->weight.copy_(lora->lora_B->weight);
        }
        auto generator = at::make_generator<at::CPUGeneratorImpl>(4);
        const at::Tensor x = at::randn({3, 64, 256}, generator, at::kFloat).to(at::kBFloat16);
        const at::Tensor gy = at::randn({3, 64, 192}, generator, at::kFloat).to(at::kBFloat16);
        const PassResult want = runPass(*reference, x.to(at::kDouble), gy.to(at::kDouble), true);
        lora->setFused(true);
        const PassResult fused = runPass(*lora, x, gy, true);
        lora->setFused(false);
        const PassResult plain = runPass(*lora, x, gy, true);
        const std::pair<const char*, std::array<at::Tensor, 3>> parts[] = {
            {"y", {fused.y, plain.y, want.y}},
            {"grad x", {fused.gx, plain.gx, want.gx}},
            {"grad A", {fused.gA, plain.gA, want.gA}},
            {"grad B", {fused.gB, plain.gB, want.gB}},
        };
        for (const auto& [name, t] : parts) {
            const double f = relativeError(t[0], t[2]), p = relativeError(t[1], t[2]);
            qInfo("%s: fused %.2e, plain %.2e (relative to fp64)", name, f, p);
            QVERIFY2(f < 2e-2, name);                // bf16's 8 bits, summed over 256 terms
            QVERIFY2(f <= 1.25 * p + 1e-3, name);    // no less accurate than the plain path
        }
    }

    // A quantized base (QLoRA) keeps its own node; the update is summed into its output by the
    // GEMM. Same values as the plain path in fp32.
    void quantizedBaseSumsTheUpdateIntoItsOutput()
    {
        auto dense = randomLoraLayer(at::kFloat, false);
        QuantSettings nf4;
        auto quantized = QuantizedLinear::fromLinear(dynamic_cast<Linear&>(dense->base()), nf4);
        LoraLinear lora(quantized, 8, 16.0, 0.0, false);
        {
            at::NoGradGuard g;
            lora.lora_A->weight.copy_(dense->lora_A->weight);
            lora.lora_B->weight.copy_(dense->lora_B->weight);
        }
        auto generator = at::make_generator<at::CPUGeneratorImpl>(5);
        const at::Tensor x = at::randn({2, 19, 96}, generator, at::kFloat);
        const at::Tensor gy = at::randn({2, 19, 80}, generator, at::kFloat);
        lora.setFused(true);
        const PassResult fused = runPass(lora, x, gy, true);
        lora.setFused(false);
        const PassResult plain = runPass(lora, x, gy, true);
        QVERIFY(relativeError(fused.y, plain.y) < 1e-5);
        QVERIFY(relativeError(fused.gx, plain.gx) < 1e-5);
        QVERIFY(relativeError(fused.gA, plain.gA) < 1e-5);
        QVERIFY(relativeError(fused.gB, plain.gB) < 1e-5);
    }

    // LoRA dropout needs the dropped input in both products' backward: the plain path runs it,
    // and with the same random state gives the same values whichever path is chosen.
    void dropoutRunsThePlainPath()
    {
        auto base = randomLoraLayer(at::kFloat, false);
        LoraLinear lora(base->baseShared(), 8, 16.0, 0.1, false);
        {
            at::NoGradGuard g;
            lora.lora_A->weight.copy_(base->lora_A->weight);
            lora.lora_B->weight.copy_(base->lora_B->weight);
        }
        lora.train();
        const at::Tensor x = at::randn({2, 7, 96}, at::make_generator<at::CPUGeneratorImpl>(6), at::kFloat);
        at::manual_seed(9);
        lora.setFused(true);
        const at::Tensor a = lora.forward(x).detach();
        at::manual_seed(9);
        lora.setFused(false);
        QVERIFY(at::equal(lora.forward(x).detach(), a));
        lora.eval(); // no dropout: the fused node, the plain path's values
        lora.setFused(true);
        const at::Tensor b = lora.forward(x).detach();
        lora.setFused(false);
        QVERIFY(relativeError(b, lora.forward(x).detach()) < 1e-5);
    }

    // The same 40-step bf16 LoRA run on the tiny model with either path: both learn and the
    // loss curves stay within bf16 noise of each other.
    void trainingCurvesAgree()
    {
        std::vector<TokenizedExample> examples(8);
        for (size_t i = 0; i < examples.size(); ++i)
            for (int64_t j = 0; j < 16; ++j) {
                examples[i].ids.push_back(static_cast<int32_t>(3 + (7 * static_cast<int64_t>(i) + (1 + i % 3) * j) % 90));
                examples[i].lossMask.push_back(j > 0 ? 1 : 0);
            }
        auto curve = [&](bool fusedPath) {
            auto m = makeModel(at::kBFloat16, 7);
            LoraSettings s;
            s.rank = 4;
            s.alpha = 8;
            applyLora(*m, s, 11);
            setLoraFused(*m, fusedPath);
            m->train();
            std::vector<std::pair<std::string, at::Tensor>> params;
            for (const auto& item : m->named_parameters(true))
                if (item.value().requires_grad())
                    params.emplace_back(item.key(), item.value());
            AdamW optimizer(params, {});
            std::vector<double> losses;
            for (int step = 0; step < 40; ++step) {
                std::vector<const TokenizedExample*> batch;
                for (size_t j = 0; j < 4; ++j)
                    batch.push_back(&examples[(static_cast<size_t>(step) * 4 + j) % examples.size()]);
                const TrainingBatch b = BatchStream::collate(batch, 0, at::kCPU);
                const at::Tensor loss = summedTokenLoss(*m, b) / static_cast<double>(b.lossTokens);
                loss.backward();
                optimizer.step(1e-2);
                optimizer.zeroGrad();
                losses.push_back(loss.item<double>());
            }
            return losses;
        };
        const std::vector<double> fused = curve(true), plain = curve(false);
        double worst = 0;
        for (size_t i = 0; i < fused.size(); ++i)
            worst = std::max(worst, std::abs(fused[i] - plain[i]));
        qInfo("loss %.3f -> %.3f (fused), %.3f -> %.3f (plain); largest difference %.2e", fused.front(), fused.back(),
              plain.front(), plain.back(), worst);
        QVERIFY(fused.back() < 0.5 * fused.front());
        QVERIFY(plain.back() < 0.5 * plain.front());
        QVERIFY(worst <= 0.1);
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
