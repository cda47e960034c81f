// QuantizedLinear (QLoRA's frozen NF4 / 8-bit base layer) against a plain Linear holding the
// dequantized weight, its autograd memory scheme, LoRA on top, storage bytes against QLoRA's
// 4.127 bits per parameter, and ModelQuantizer on a small model.
#include "GpuRequirement.h"
#include "TestModels.h"

#include "core/TorchCompat.h"
#include "lora/LoraLinear.h"
#include "model/LlamaForCausalLM.h"
#include "quant/ModelQuantizer.h"
#include "quant/QuantizedLinear.h"

#include <ATen/CPUGeneratorImpl.h>

#include <QTest>

#include <cmath>

using namespace tb;

namespace {

QuantSettings nf4(bool dq = true)
{
    QuantSettings s;
    s.doubleQuant = dq;
    return s;
}

QuantSettings int8(bool dq = false)
{
    QuantSettings s;
    s.type = QuantSettings::Type::Int8;
    s.doubleQuant = dq;
    return s;
}

std::shared_ptr<Linear> randomLinear(int64_t in, int64_t out, at::ScalarType dtype, bool bias = false, uint64_t seed = 7)
{
    at::manual_seed(seed);
    auto l = std::make_shared<Linear>(in, out, bias, at::TensorOptions().dtype(dtype));
    at::NoGradGuard g;
    l->weight.normal_(0, 0.02);
    if (bias)
        l->bias.normal_(0, 0.1);
    for (auto& p : l->parameters())
        p.set_requires_grad(false);
    return l;
}

double relRms(const at::Tensor& approx, const at::Tensor& exact)
{
    const at::Tensor a = approx.to(at::kDouble), e = exact.to(at::kDouble);
    return std::sqrt((a - e).pow(2).sum().item<double>() / e.pow(2).sum().item<double>());
}

// Forward and input gradient of `layer` against at::linear on `w` (+ bias), same inputs.
void compareWithDense(Projection& layer, const at::Tensor& w, const at::Tensor& bias, at::ScalarType dtype, double tol)
{
    at::manual_seed(3);
    const at::Tensor x0 = at::randn({2, 5, layer.inFeatures()}).to(dtype);
    const at::Tensor gy = at::randn({2, 5, layer.outFeatures()}).to(dtype);
    at::Tensor x = x0.clone().requires_grad_(true);
    at::Tensor xr = x0.clone().requires_grad_(true);
    const at::Tensor y = layer.forward(x);
    const at::Tensor yr = at::linear(xr, w.to(dtype), bias.defined() ? bias.to(dtype) : bias);
    QCOMPARE(y.scalar_type(), dtype);
    QCOMPARE(y.sizes(), yr.sizes());
    QVERIFY2(at::allclose(y.to(at::kFloat), yr.to(at::kFloat), tol, tol), "forward differs from the dense reference");
    y.backward(gy);
    yr.backward(gy);
    QVERIFY(x.grad().defined());
    QVERIFY2(at::allclose(x.grad().to(at::kFloat), xr.grad().to(at::kFloat), tol, tol), "input gradient differs");
}

// One row of forwardAndGradientMatchDequantizedLinear_data(): a random bf16 layer, quantized.
struct LayerCase {
    at::ScalarType dtype;
    bool bias;
    std::shared_ptr<Linear> linear;
    std::shared_ptr<QuantizedLinear> quantized;
};

LayerCase fetchLayerCase()
{
    QFETCH(int, type);
    QFETCH(bool, dq);
    QFETCH(bool, bf16);
    QFETCH(bool, bias);
    auto linear = randomLinear(192, 320, at::kBFloat16, bias);
    auto q = QuantizedLinear::fromLinear(*linear, type == 0 ? nf4(dq) : int8(dq));
    return {bf16 ? at::kBFloat16 : at::kFloat, bias, linear, q};
}

} // namespace

class TestQuantizedLinear : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase() { at::set_num_threads(2); }

    void forwardAndGradientMatchDequantizedLinear_data()
    {
        QTest::addColumn<int>("type"); // 0 nf4, 1 int8
        QTest::addColumn<bool>("dq");
        QTest::addColumn<bool>("bf16");
        QTest::addColumn<bool>("bias");
        QTest::newRow("nf4-dq-bf16") << 0 << true << true << false;
        QTest::newRow("nf4-dq-fp32") << 0 << true << false << false;
        QTest::newRow("nf4-plain-bf16-bias") << 0 << false << true << true;
        QTest::newRow("int8-bf16") << 1 << false << true << false;
        QTest::newRow("int8-dq-fp32-bias") << 1 << true << false << true;
    }
    void forwardAndGradientMatchDequantizedLinear()
    {
        const LayerCase c = fetchLayerCase();
        const at::ScalarType dtype = c.dtype;
        const bool bf16 = dtype == at::kBFloat16, bias = c.bias;
        const auto& linear = c.linear;
        const auto& q = c.quantized;
        QCOMPARE(q->inFeatures(), int64_t(192));
        QCOMPARE(q->outFeatures(), int64_t(320));
        // Same weight in the same dtype through the same matmul: equal up to bf16 rounding of
        // a different summation order at most.
        compareWithDense(*q, q->dequantizedWeight(dtype), bias ? linear->bias : at::Tensor(), dtype, bf16 ? 2e-2 : 1e-5);
    }

    // On a GPU the CUDA kernels decode the same bytes to the same bits as the CPU kernels, and
    // the layer's forward agrees with the dense reference there too.
    void cudaDequantizationMatchesCpu_data() { forwardAndGradientMatchDequantizedLinear_data(); }
    void cudaDequantizationMatchesCpu()
    {
        if (!compat::cudaAvailable())
            TB_SKIP_WITHOUT_GPU("no CUDA device: the CUDA dequantization is compared on a GPU machine only");
        const LayerCase c = fetchLayerCase();
        const at::ScalarType dtype = c.dtype;
        const bool bf16 = dtype == at::kBFloat16, bias = c.bias;
        const auto& linear = c.linear;
        const auto& q = c.quantized;
        const at::Tensor onCpu = q->dequantizedWeight(dtype);
        q->to(at::Device(at::kCUDA, 0));
        const at::Tensor onGpu = q->dequantizedWeight(dtype);
        QVERIFY(onGpu.is_cuda());
        QCOMPARE(onGpu.scalar_type(), dtype);
        QVERIFY2(at::equal(onGpu.cpu(), onCpu), "the CUDA and CPU kernels decode differently");

        const at::Device cuda(at::kCUDA, 0);
        at::manual_seed(3);
        const at::Tensor x = at::randn({2, 5, 192}).to(cuda, dtype);
        const at::Tensor y = q->forward(x);
        const at::Tensor yr = at::linear(x, onGpu, bias ? linear->bias.to(cuda, dtype) : at::Tensor());
        const double tol = bf16 ? 2e-2 : 1e-5;
        QVERIFY2(at::allclose(y.cpu().to(at::kFloat), yr.cpu().to(at::kFloat), tol, tol), "CUDA forward differs");
    }

    void noWeightSizedTensorIsSaved()
    {
        auto linear = randomLinear(256, 512, at::kBFloat16);
        auto q = QuantizedLinear::fromLinear(*linear, nf4());
        const int64_t n = 256 * 512;
        at::Tensor x = at::randn({4, 256}).to(at::kBFloat16).requires_grad_(true);
        const at::Tensor y = q->forward(x);
        const int64_t largest = QuantizedLinear::largestSavedTensorElements(y);
        QVERIFY2(largest >= 0, "the output's graph has no quantized-matmul node");
        // The packed codes (n/2 bytes) are the largest thing kept: no [out, in] weight, no x.
        QCOMPARE(largest, n / 2);
        // With LoRA on top the quantized node still saves only the codes.
        LoraLinear lora(q, 8, 16.0, 0.0, false);
        const at::Tensor y2 = lora.forward(x);
        QCOMPARE(QuantizedLinear::largestSavedTensorElements(y2), n / 2);
        // Under no_grad there is no graph at all.
        at::NoGradGuard g;
        QCOMPARE(QuantizedLinear::largestSavedTensorElements(q->forward(x)), int64_t(-1));
    }

    void loraOnQuantizedBaseTrainsOnlyAdapters()
    {
        auto linear = randomLinear(128, 128, at::kBFloat16);
        auto q = QuantizedLinear::fromLinear(*linear, nf4());
        const at::Tensor codesBefore = q->weight.clone();
        auto lora = std::make_shared<LoraLinear>(q, 4, 8.0, 0.0, false);
        auto gen = at::make_generator<at::CPUGeneratorImpl>(11);
        lora->resetParameters(gen);
        std::vector<at::Tensor> trainable;
        for (const auto& p : lora->named_parameters(true)) {
            QVERIFY2(p.key() == "lora_A.weight" || p.key() == "lora_B.weight", p.key().c_str());
            QVERIFY(p.value().requires_grad());
            trainable.push_back(p.value());
        }
        QCOMPARE(trainable.size(), size_t(2));
        for (const auto& b : q->buffers())
            QVERIFY(!b.requires_grad());

        at::manual_seed(5);
        const at::Tensor x = at::randn({16, 128}).to(at::kBFloat16);
        const at::Tensor target = at::randn({16, 128}).to(at::kBFloat16) * 0.1;
        double first = 0, last = 0;
        for (int step = 0; step < 20; ++step) {
            for (auto& p : trainable)
                p.mutable_grad() = at::Tensor();
            const at::Tensor loss = (lora->forward(x).to(at::kFloat) - target.to(at::kFloat)).pow(2).mean();
            loss.backward();
            (step == 0 ? first : last) = loss.item<double>();
            at::NoGradGuard g;
            for (auto& p : trainable) {
                QVERIFY(p.grad().defined());
                p.sub_(p.grad() * 2.0);
            }
        }
        QVERIFY2(last < first, "LoRA on the quantized base did not learn");
        QVERIFY(at::equal(q->weight, codesBefore));
    }

    void bitsPerParameter()
    {
        // A Llama-7B-sized projection (4096 x 4096): NF4 + double quantization is QLoRA's
        // 4 + 8/64 + 32/(64*256) = 4.127 bits per parameter (plus 1 KiB of code tables).
        auto linear = randomLinear(4096, 4096, at::kBFloat16);
        const int64_t n = 4096LL * 4096LL;
        auto q = QuantizedLinear::fromLinear(*linear, nf4(true));
        const double bits = 8.0 * static_cast<double>(q->storageBytes()) / static_cast<double>(n);
        qInfo("NF4+DQ bits/param: %.5f", bits);
        QVERIFY2(std::abs(bits - 4.127) / 4.127 < 0.02, qPrintable(QString::number(bits)));
        int64_t bufferBytes = 0;
        for (const auto& b : q->buffers())
            bufferBytes += b.numel() * static_cast<int64_t>(b.element_size());
        QCOMPARE(bufferBytes, q->storageBytes());
        QCOMPARE(q->weight.scalar_type(), at::kByte);
        QCOMPARE(q->weight.sizes(), at::IntArrayRef({n / 2, 1}));

        const double plainBits = 8.0 * static_cast<double>(QuantizedLinear::fromLinear(*linear, nf4(false))->storageBytes()) / n;
        qInfo("NF4 bits/param: %.5f", plainBits);
        QVERIFY(std::abs(plainBits - 4.5) < 0.01);
        const double int8Bits = 8.0 * static_cast<double>(QuantizedLinear::fromLinear(*linear, int8(false))->storageBytes()) / n;
        qInfo("Int8 bits/param: %.5f", int8Bits);
        QVERIFY(std::abs(int8Bits - 8.5) < 0.01);
    }

    void dequantizationErrorWithinKernelBounds()
    {
        // docs/kernels.md: Gaussian weights, blocksize 64: NF4 relative RMS < 0.10; 8-bit < 0.012.
        auto linear = randomLinear(512, 512, at::kFloat);
        for (bool dq : {false, true}) {
            auto q = QuantizedLinear::fromLinear(*linear, nf4(dq));
            const double e = relRms(q->dequantizedWeight(at::kFloat), linear->weight);
            qInfo("NF4 %s relative RMS error %.4f", dq ? "+DQ" : "", e);
            QVERIFY(e < 0.10 && e > 0.05);
            const double e8 = relRms(QuantizedLinear::fromLinear(*linear, int8(dq))->dequantizedWeight(at::kFloat), linear->weight);
            qInfo("int8 %s relative RMS error %.4f", dq ? "+DQ" : "", e8);
            QVERIFY(e8 < 0.012);
        }
        // bf16 output is the fp32 output rounded.
        auto q = QuantizedLinear::fromLinear(*linear, nf4());
        QVERIFY(at::equal(q->dequantizedWeight(at::kBFloat16), q->dequantizedWeight(at::kFloat).to(at::kBFloat16)));
    }

    void invalidSettingsThrow()
    {
        auto linear = randomLinear(64, 64, at::kFloat);
        QuantSettings s = nf4();
        s.blockSize = 48;
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, QuantizedLinear::fromLinear(*linear, s));
        s = int8();
        s.blockSize = 32;
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, QuantizedLinear::fromLinear(*linear, s));
        QCOMPARE(*QuantSettings::typeFromName("nf4"), QuantSettings::Type::Nf4);
        QCOMPARE(*QuantSettings::typeFromName("int8"), QuantSettings::Type::Int8);
        QVERIFY(!QuantSettings::typeFromName("fp4"));
        QCOMPARE(nf4().tag(), std::string("nf4-bs64-dq"));
    }

    void quantizeModel()
    {
        tb::ModelConfig c = tbtest::tinyConfig("llama");
        c.hiddenSize = 128;
        c.intermediateSize = 256;
        c.headDim = 32;
        LlamaForCausalLM model(c, at::TensorOptions().dtype(at::kBFloat16));
        model.initializeRandom(3);
        model.eval();
        const at::Tensor ids = at::arange(5, 21, at::kLong).view({1, -1});
        at::Tensor before;
        {
            at::NoGradGuard g;
            before = model.forward(ids).to(at::kFloat);
        }
        const int64_t paramsBefore = static_cast<int64_t>(model.parameters().size());
        const QuantizeReport r = ModelQuantizer::quantizeBase(model, nf4());
        QCOMPARE(r.layersReplaced, 7 * c.numLayers);
        QVERIFY(r.bytesAfter * 3 < r.bytesBefore);
        qInfo("model: %lld -> %lld bytes, %.4f bits/param", (long long)r.bytesBefore, (long long)r.bytesAfter,
              r.bitsPerParameter());
        QCOMPARE(ModelQuantizer::quantizedBytes(model), r.bytesAfter);
        QCOMPARE(static_cast<int64_t>(ModelQuantizer::quantizedLayers(model).size()), int64_t(7 * c.numLayers));
        QCOMPARE(ModelQuantizer::quantizedLayers(model).front().first, std::string("model.layers.0.self_attn.q_proj"));
        // Embeddings, norms and lm_head stay parameters; 7 weights per layer became buffers.
        QCOMPARE(static_cast<int64_t>(model.parameters().size()), paramsBefore - 7 * c.numLayers);
        int64_t bufferBytes = 0;
        for (const auto& b : model.buffers())
            bufferBytes += b.numel() * static_cast<int64_t>(b.element_size());
        QVERIFY(bufferBytes >= r.bytesAfter); // plus any non-quant buffers the model keeps
        // model.to(dtype) must not turn the codes into floats.
        model.to(at::kBFloat16);
        QCOMPARE(ModelQuantizer::quantizedLayers(model).front().second->weight.scalar_type(), at::kByte);
        at::NoGradGuard g;
        const at::Tensor after = model.forward(ids).to(at::kFloat);
        QVERIFY(at::isfinite(after).all().item<bool>());
        const double rel = relRms(after, before);
        qInfo("logits relative RMS change after NF4: %.4f", rel);
        QVERIFY(rel < 0.3);
        // Quantizing again is a no-op.
        QCOMPARE(ModelQuantizer::quantizeBase(model, nf4()).layersReplaced, 0);
    }
};

QTEST_APPLESS_MAIN(TestQuantizedLinear)
#include "tst_quantizedlinear.moc"
