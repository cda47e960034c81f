// model/FusedElementwise (fused RMSNorm, SwiGLU, rotary through kernels/cpu/ElementwiseKernels.h)
// against the plain LibTorch op sequences they replace, on realistic shapes in bf16 and fp32:
//  - forward bit for bit (SwiGLU on numels that are whole multiples of ATen's vector step, with
//    LibTorch on one thread; see ElementwiseKernels.h for its glibc-expf tail elements);
//  - gradients against the op sequence's autograd: largest |difference| / largest |reference|
//    <= 2e-5 (fp32) and 2e-2 (bf16) for dx, dweight (trainable norm weight: full fine-tuning),
//    dgate, dup; rotary's dx bit for bit; a frozen weight gets no gradient;
//  - the same bits on 1 and 2 LibTorch threads, dweight included (fixed reduction order);
//  - fp64 (and other uncovered cases) take the op sequence itself.
#include <QTest>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <cstring>

#include "model/FusedElementwise.h"

using namespace tb;

namespace {

constexpr double kEps = 1e-6;

at::Tensor rmsNormOps(const at::Tensor& x, const at::Tensor& weight, double eps)
{
    const at::Tensor xf = x.to(at::kFloat);
    const at::Tensor normed = xf * at::rsqrt(xf.pow(2).mean(-1, true) + eps);
    return weight * normed.to(x.scalar_type());
}

// x [B, T, H, D], cos/sin [T, D].
at::Tensor rotaryOps(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin)
{
    const int64_t half = x.size(-1) / 2;
    const at::Tensor rotated = at::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
    return x * cos.unsqueeze(1) + rotated * sin.unsqueeze(1);
}

bool sameBits(const at::Tensor& x, const at::Tensor& y)
{
    const at::Tensor a = x.contiguous(), b = y.contiguous();
    return a.scalar_type() == b.scalar_type() && a.sizes() == b.sizes()
        && std::memcmp(a.data_ptr(), b.data_ptr(), a.nbytes()) == 0;
}

double relativeError(const at::Tensor& got, const at::Tensor& want)
{
    const double scale = want.abs().max().item<double>();
    return (got.to(at::kDouble) - want.to(at::kDouble)).abs().max().item<double>() / std::max(scale, 1e-30);
}

bool isFusedNode(const at::Tensor& y, const char* function)
{
    return y.grad_fn() && y.grad_fn()->name().find(function) != std::string::npos;
}

at::Tensor leaf(const at::Tensor& t, bool grad = true) { return t.detach().clone().requires_grad_(grad); }

} // namespace

class TestFusedElementwise : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase()
    {
        at::set_num_threads(1);
        at::manual_seed(3);
        QVERIFY(fusedRmsNormSumLanes() == 8 || fusedRmsNormSumLanes() == 16);
        qInfo("LibTorch's cascade sum: %d lanes", fusedRmsNormSumLanes());
    }

    void rmsNorm_data()
    {
        QTest::addColumn<bool>("bf16");
        QTest::addColumn<bool>("trainWeight");
        QTest::newRow("bf16 LoRA (frozen weight)") << true << false;
        QTest::newRow("bf16 trainable weight") << true << true;
        QTest::newRow("fp32 full fine-tuning") << false << true;
        QTest::newRow("fp32 frozen weight") << false << false;
    }
    void rmsNorm()
    {
        QFETCH(bool, bf16);
        QFETCH(bool, trainWeight);
        const at::ScalarType st = bf16 ? at::kBFloat16 : at::kFloat;
        const double tol = bf16 ? 2e-2 : 2e-5;
        for (auto shape : {std::vector<int64_t>{2, 37, 768}, std::vector<int64_t>{1, 64, 2048}}) {
            const int64_t dim = shape.back();
            const at::Tensor x0 = at::randn(shape).to(st), w0 = (1 + 0.1 * at::randn({dim})).to(st);
            const at::Tensor dy = at::randn(shape).to(st);
            at::Tensor x = leaf(x0), w = leaf(w0, trainWeight), xr = leaf(x0), wr = leaf(w0, trainWeight);
            const at::Tensor y = fusedRmsNorm(x, w, kEps), yr = rmsNormOps(xr, wr, kEps);
            QVERIFY(isFusedNode(y, "RmsNormFunction"));
            QVERIFY(sameBits(y, yr));
            y.backward(dy);
            yr.backward(dy);
            const double ex = relativeError(x.grad(), xr.grad());
            qInfo("%s: dx %.2e", qPrintable(QString::number(dim)), ex);
            QVERIFY2(ex <= tol, qPrintable(QString::number(ex)));
            QCOMPARE(w.grad().defined(), trainWeight);
            if (trainWeight) {
                QCOMPARE(w.grad().scalar_type(), st);
                const double ew = relativeError(w.grad(), wr.grad());
                qInfo("%s: dweight %.2e", qPrintable(QString::number(dim)), ew);
                QVERIFY2(ew <= tol, qPrintable(QString::number(ew)));
            }
        }
    }

    void swiGlu_data()
    {
        QTest::addColumn<bool>("bf16");
        QTest::newRow("bf16") << true;
        QTest::newRow("fp32") << false;
    }
    void swiGlu()
    {
        QFETCH(bool, bf16);
        const at::ScalarType st = bf16 ? at::kBFloat16 : at::kFloat;
        const double tol = bf16 ? 2e-2 : 2e-5;
        // gate and up as the halves of one fused [B, T, 2I] projection output (views).
        const int64_t inter = 2816;
        const at::Tensor fused0 = (at::randn({2, 48, 2 * inter}) * 2).to(st);
        const at::Tensor dh = at::randn({2, 48, inter}).to(st);
        const at::Tensor fused = leaf(fused0), fusedRef = leaf(fused0);
        const at::Tensor h = fusedSwiGlu(fused.narrow(-1, 0, inter), fused.narrow(-1, inter, inter));
        const at::Tensor hr = at::silu(fusedRef.narrow(-1, 0, inter).contiguous()) * fusedRef.narrow(-1, inter, inter).contiguous();
        QVERIFY(isFusedNode(h, "SwiGluFunction"));
        QVERIFY(sameBits(h, hr));
        h.backward(dh);
        hr.backward(dh);
        const double eg = relativeError(fused.grad().narrow(-1, 0, inter), fusedRef.grad().narrow(-1, 0, inter));
        const double eu = relativeError(fused.grad().narrow(-1, inter, inter), fusedRef.grad().narrow(-1, inter, inter));
        qInfo("dgate %.2e dup %.2e", eg, eu);
        QVERIFY2(eg <= tol, qPrintable(QString::number(eg)));
        QVERIFY2(eu <= tol, qPrintable(QString::number(eu)));
    }

    void rotary_data() { swiGlu_data(); }
    void rotary()
    {
        QFETCH(bool, bf16);
        const at::ScalarType st = bf16 ? at::kBFloat16 : at::kFloat;
        const int64_t b = 2, t = 53, h = 8, d = 64;
        // cos/sin as RotaryEmbedding::cosSin builds them, positions 5..57.
        const at::Tensor invFreq = 1.0 / at::pow(10000.0, at::arange(0, d, 2, at::kLong).to(at::kFloat) / d);
        const at::Tensor freqs = at::outer(at::arange(5, 5 + t, at::kFloat), invFreq);
        const at::Tensor emb = at::cat({freqs, freqs}, -1);
        const at::Tensor cos = emb.cos().to(st), sin = emb.sin().to(st);
        // x as the engine has it after the projection: [B, H, T, D] transposed to [B, T, H, D].
        const at::Tensor x0 = at::randn({b, h, t, d}).to(st);
        const at::Tensor dy = at::randn({b, t, h, d}).to(st);
        const at::Tensor x = leaf(x0), xr = leaf(x0);
        const at::Tensor y = fusedRotary(x.transpose(1, 2), cos, sin);
        const at::Tensor yr = rotaryOps(xr.transpose(1, 2), cos, sin);
        QVERIFY(isFusedNode(y, "RotaryFunction"));
        QVERIFY(sameBits(y, yr));
        y.backward(dy);
        yr.backward(dy);
        QVERIFY2(sameBits(x.grad(), xr.grad()), qPrintable(QString::number(relativeError(x.grad(), xr.grad()))));
    }

    // Same bits on 2 threads as on 1, forward and every gradient.
    void threadCountDoesNotChangeBits()
    {
        const at::Tensor x0 = at::randn({4, 100, 1024}).to(at::kBFloat16);
        const at::Tensor w0 = (1 + 0.1 * at::randn({1024})).to(at::kBFloat16);
        const at::Tensor g0 = at::randn({4, 100, 1024}).to(at::kBFloat16), u0 = at::randn({4, 100, 1024}).to(at::kBFloat16);
        const at::Tensor dy = at::randn({4, 100, 1024}).to(at::kBFloat16);
        auto run = [&] {
            at::Tensor x = leaf(x0), w = leaf(w0), g = leaf(g0), u = leaf(u0);
            const at::Tensor y = fusedRmsNorm(x, w, kEps), hh = fusedSwiGlu(g, u);
            (y * dy).sum().backward();
            (hh * dy).sum().backward();
            return std::vector<at::Tensor>{y.detach(), hh.detach(), x.grad(), w.grad(), g.grad(), u.grad()};
        };
        const auto one = run();
        at::set_num_threads(2);
        const auto two = run();
        at::set_num_threads(1);
        for (size_t i = 0; i < one.size(); ++i)
            QVERIFY2(sameBits(one[i], two[i]), qPrintable(QString::number(i)));
    }

    // fp64 (and other uncovered inputs) take the plain op sequence: same values, LibTorch's nodes.
    void uncoveredInputsFallBack()
    {
        const at::Tensor x = leaf(at::randn({3, 5, 64}, at::kDouble)), w = leaf(at::randn({64}, at::kDouble));
        const at::Tensor y = fusedRmsNorm(x, w, kEps);
        QVERIFY(!isFusedNode(y, "RmsNormFunction"));
        QVERIFY(sameBits(y, rmsNormOps(x, w, kEps)));
        y.sum().backward();
        QVERIFY(x.grad().defined() && w.grad().defined());

        const at::Tensor g = at::randn({4, 64}, at::kDouble), u = at::randn({4, 64}, at::kDouble);
        const at::Tensor hd = fusedSwiGlu(leaf(g), leaf(u));
        QVERIFY(!isFusedNode(hd, "SwiGluFunction"));
        QVERIFY(sameBits(hd, at::silu(g) * u));

        const at::Tensor q = at::randn({1, 6, 2, 16}, at::kDouble), c = at::randn({6, 16}, at::kDouble);
        const at::Tensor r = fusedRotary(leaf(q), c, c);
        QVERIFY(!isFusedNode(r, "RotaryFunction"));
        QVERIFY(sameBits(r, rotaryOps(q, c, c)));

        // Mixed dtypes (fp32 weight, bf16 x) and a permuted x (rows not a uniform grid).
        const at::Tensor xb = at::randn({2, 8, 32}).to(at::kBFloat16), wf = at::randn({32});
        QVERIFY(!isFusedNode(fusedRmsNorm(leaf(xb), leaf(wf), kEps), "RmsNormFunction"));
        const at::Tensor xp = at::randn({8, 2, 32}).transpose(0, 1);
        const at::Tensor yp = fusedRmsNorm(leaf(xp), leaf(at::randn({32})), kEps);
        QVERIFY(!isFusedNode(yp, "RmsNormFunction"));
    }
};

QTEST_GUILESS_MAIN(TestFusedElementwise)
#include "tst_fusedelementwise.moc"
