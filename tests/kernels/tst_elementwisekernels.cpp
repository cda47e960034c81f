// Fused elementwise kernels (kernels/cpu/ElementwiseKernels.h) against LibTorch's own op
// sequences, every ISA variant, fp32 and bf16:
//   forward, bit for bit: RMSNorm (y and rstd) over row lengths that take every branch of
//     ATen's cascade sum (below one vector, tails, 1-3 cascade levels), rows as strided views;
//     SwiGLU on numels that are whole multiples of ATen's vector step (see the header: its tail
//     elements use glibc's expf; here they are only checked to 1 ulp), gate/up as views of a
//     fused projection; rotary on [B, T, H, D] views, D from 2 to 128, in place too;
//   backward against autograd of the same op sequence in the same dtype, max |kernel - autograd|
//     over max |autograd|: fp32 2e-5, bf16 2e-2 (RMSNorm dx and dweight, SwiGLU dgate and dup);
//     rotary backward bit for bit (autograd adds the same two rounded products); SwiGLU dgate
//     also against fp64 autograd (kernel <= 1e-6 fp32, 1e-2 bf16; LibTorch bf16 is ~4x further);
//   every variant gives the scalar variant's bits, forward and backward, and the bits do not
//   depend on the task split or the threads.
// LibTorch runs on one thread so its vector/scalar split is the whole tensor's.
#include <QtTest/QtTest>

#include <torch/torch.h>

#include <cstring>
#include <thread>

#include "cpu/ElementwiseKernels.h"

using namespace tbk;

namespace {

constexpr double kEps = 1e-5;

ElementwiseDtype dtypeOf(const at::Tensor& t) { return t.scalar_type() == at::kBFloat16 ? ElementwiseDtype::Bf16 : ElementwiseDtype::F32; }
at::ScalarType scalarType(bool bf16) { return bf16 ? at::kBFloat16 : at::kFloat; }

QList<ElementwiseIsa> availableIsas()
{
    QList<ElementwiseIsa> isas;
    for (ElementwiseIsa isa : {ElementwiseIsa::Scalar, ElementwiseIsa::Avx512})
        if (elementwiseIsaSupported(isa))
            isas << isa;
    return isas;
}

bool sameBits(const at::Tensor& x, const at::Tensor& y)
{
    const at::Tensor a = x.contiguous(), b = y.contiguous();
    return a.scalar_type() == b.scalar_type() && a.nbytes() == b.nbytes()
        && std::memcmp(a.data_ptr(), b.data_ptr(), a.nbytes()) == 0;
}

int64_t differingElements(const at::Tensor& x, const at::Tensor& y)
{
    const at::Tensor a = x.contiguous(), b = y.contiguous();
    if (a.scalar_type() == at::kBFloat16)
        return a.view(at::kShort).ne(b.view(at::kShort)).sum().item<int64_t>();
    return a.view(at::kInt).ne(b.view(at::kInt)).sum().item<int64_t>();
}

// max |x - ref| / max |ref|.
double relativeError(const at::Tensor& x, const at::Tensor& ref)
{
    const at::Tensor r = ref.to(at::kDouble);
    const double scale = r.abs().max().item<double>();
    const double err = (x.to(at::kDouble) - r).abs().max().item<double>();
    return scale > 0 ? err / scale : err;
}

enum class Schedule { Serial, Reversed, OneCall, TwoThreads };

template <typename Fn>
void runTasks(Fn fn, int64_t tasks, Schedule schedule = Schedule::Serial)
{
    switch (schedule) {
    case Schedule::Serial:
        for (int64_t t = 0; t < tasks; ++t)
            fn(t, t + 1);
        break;
    case Schedule::Reversed:
        for (int64_t t = tasks - 1; t >= 0; --t)
            fn(t, t + 1);
        break;
    case Schedule::OneCall: fn(0, tasks); break;
    case Schedule::TwoThreads: {
        const int64_t split = tasks / 3;
        std::thread other([&] { fn(split, tasks); });
        fn(0, split);
        other.join();
        break;
    }
    }
}

// ---- references (the engine's op sequences) ---------------------------------------------------

at::Tensor rmsNormReference(const at::Tensor& x, const at::Tensor& weight, at::Tensor* rstd = nullptr)
{
    const at::Tensor xf = x.to(at::kFloat);
    const at::Tensor r = at::rsqrt(xf.pow(2).mean(-1, true) + kEps);
    if (rstd)
        *rstd = r;
    return weight * (xf * r).to(x.scalar_type());
}

at::Tensor swiGluReference(const at::Tensor& g, const at::Tensor& u) { return at::silu(g) * u; }

// x [B, T, H, D], cos/sin [T, D].
at::Tensor rotaryReference(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin)
{
    const int64_t half = x.size(-1) / 2;
    const at::Tensor c = cos.view({1, cos.size(0), 1, cos.size(1)}), s = sin.view({1, sin.size(0), 1, sin.size(1)});
    const at::Tensor rotated = at::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
    return x * c + rotated * s;
}

// ---- kernel runners ---------------------------------------------------------------------------

struct RmsOut {
    at::Tensor y, rstd, dx, dw;
};

// x: [rows, dim] with any row stride; the kernel's lanes; dy null = forward only.
RmsOut runRmsNorm(const at::Tensor& x, const at::Tensor& w, const at::Tensor& dy, ElementwiseIsa isa, int lanes,
                  Schedule schedule = Schedule::Serial)
{
    RmsOut out;
    const int64_t rows = x.size(0), dim = x.size(1);
    out.y = at::full({rows, dim + 3}, 7.0, x.options()).narrow(1, 2, dim); // strided output too
    out.rstd = at::full({rows}, 7.0, at::kFloat);
    RmsNormArgs a;
    a.rows = rows, a.dim = dim, a.dtype = dtypeOf(x), a.isa = isa, a.eps = float(kEps), a.sumLanes = lanes;
    a.x = x.data_ptr(), a.xRowStride = x.stride(0);
    a.weight = w.data_ptr();
    a.y = out.y.data_ptr(), a.yRowStride = out.y.stride(0);
    a.rstd = out.rstd.data_ptr<float>();
    if (rmsNormCheck(a, ElementwisePass::Forward) != KernelStatus::Ok)
        return {};
    const int64_t tasks = rmsNormTasks(a);
    runTasks([&](int64_t t0, int64_t t1) { rmsNormForward(a, t0, t1); }, tasks, schedule);
    if (!dy.defined())
        return out;
    out.dx = at::full({rows, dim}, 7.0, x.options());
    at::Tensor partials = at::full({tasks, dim}, 7.0, at::kFloat);
    a.dy = dy.data_ptr(), a.dyRowStride = dy.stride(0);
    a.dx = out.dx.data_ptr(), a.dxRowStride = out.dx.stride(0);
    a.weightGradPartials = partials.data_ptr<float>();
    if (rmsNormCheck(a, ElementwisePass::Backward) != KernelStatus::Ok)
        return {};
    runTasks([&](int64_t t0, int64_t t1) { rmsNormBackward(a, t0, t1); }, tasks, schedule);
    at::Tensor dw = at::full({dim}, 7.0, at::kFloat);
    rmsNormReduceWeightGrad(partials.data_ptr<float>(), tasks, dim, dw.data_ptr<float>(), 0, dim);
    out.dw = dw.to(x.scalar_type());
    return out;
}

struct SwiOut {
    at::Tensor h, dg, du;
};

SwiOut runSwiGlu(const at::Tensor& g, const at::Tensor& u, const at::Tensor& dh, ElementwiseIsa isa,
                 Schedule schedule = Schedule::Serial)
{
    SwiOut out;
    const int64_t rows = g.size(0), cols = g.size(1);
    out.h = at::full({rows, cols}, 7.0, g.options());
    SwiGluArgs a;
    a.rows = rows, a.cols = cols, a.dtype = dtypeOf(g), a.isa = isa;
    a.gate = g.data_ptr(), a.gateRowStride = g.stride(0);
    a.up = u.data_ptr(), a.upRowStride = u.stride(0);
    a.h = out.h.data_ptr(), a.hRowStride = out.h.stride(0);
    if (swiGluCheck(a, ElementwisePass::Forward) != KernelStatus::Ok)
        return {};
    runTasks([&](int64_t t0, int64_t t1) { swiGluForward(a, t0, t1); }, swiGluTasks(a), schedule);
    if (!dh.defined())
        return out;
    // dgate and dup interleaved in one buffer, as views: strided outputs.
    at::Tensor both = at::full({rows, 2 * cols}, 7.0, g.options());
    out.dg = both.narrow(1, 0, cols);
    out.du = both.narrow(1, cols, cols);
    a.dh = dh.data_ptr(), a.dhRowStride = dh.stride(0);
    a.dGate = out.dg.data_ptr(), a.dGateRowStride = out.dg.stride(0);
    a.dUp = out.du.data_ptr(), a.dUpRowStride = out.du.stride(0);
    if (swiGluCheck(a, ElementwisePass::Backward) != KernelStatus::Ok)
        return {};
    runTasks([&](int64_t t0, int64_t t1) { swiGluBackward(a, t0, t1); }, swiGluTasks(a), schedule);
    return out;
}

RotaryStrides stridesOf(const at::Tensor& t) { return {t.stride(0), t.stride(1), t.stride(2)}; }

// in [B, T, H, D] any strides, D contiguous; out written into `out` (may be `in`).
void runRotary(const at::Tensor& in, const at::Tensor& out, const at::Tensor& cos, const at::Tensor& sin,
               ElementwiseIsa isa, bool backward, Schedule schedule = Schedule::Serial)
{
    RotaryArgs a;
    a.batch = in.size(0), a.seq = in.size(1), a.heads = in.size(2), a.headDim = in.size(3);
    a.dtype = dtypeOf(in), a.isa = isa;
    a.in = in.data_ptr(), a.inStride = stridesOf(in);
    a.out = out.data_ptr(), a.outStride = stridesOf(out);
    a.cos = cos.data_ptr(), a.cosRowStride = cos.stride(0);
    a.sin = sin.data_ptr(), a.sinRowStride = sin.stride(0);
    QCOMPARE(rotaryCheck(a), KernelStatus::Ok);
    runTasks([&](int64_t t0, int64_t t1) { backward ? rotaryBackward(a, t0, t1) : rotaryForward(a, t0, t1); },
             rotaryTasks(a), schedule);
}

// cos/sin as RotaryEmbedding::cosSin builds them (duplicated halves), optionally perturbed so
// the two halves differ and a swapped index would show.
std::pair<at::Tensor, at::Tensor> cosSin(int64_t seq, int64_t dim, at::ScalarType dtype, bool distinctHalves)
{
    const at::Tensor invFreq = 1.0 / at::pow(10000.0, at::arange(0, dim, 2, at::kLong).to(at::kFloat) / dim);
    const at::Tensor freqs = at::outer(at::arange(seq, at::kFloat) + 3, invFreq);
    at::Tensor emb = at::cat({freqs, freqs}, -1);
    if (distinctHalves)
        emb = emb + at::randn(emb.sizes()) * 0.3;
    return {emb.cos().to(dtype), emb.sin().to(dtype)};
}

} // namespace

Q_DECLARE_METATYPE(ElementwiseIsa)

class TestElementwiseKernels : public QObject {
    Q_OBJECT

    int m_lanes = 0; // LibTorch's cascade-sum width here

    void addIsaDtypeColumns()
    {
        QTest::addColumn<ElementwiseIsa>("isa");
        QTest::addColumn<bool>("bf16");
    }

private Q_SLOTS:
    void initTestCase()
    {
        at::set_num_threads(1);
        at::manual_seed(11);
        qInfo("best variant here: %s", elementwiseIsaName(elementwiseBestIsa()));
        // Which reduction width LibTorch dispatches to: the one whose rstd matches on rows where
        // 8 and 16 lanes give different sums.
        const at::Tensor x = at::randn({16, 127}) * 3;
        const at::Tensor w = at::ones({127});
        at::Tensor rstd;
        rmsNormReference(x, w, &rstd);
        for (int lanes : {8, 16})
            if (sameBits(runRmsNorm(x, w, {}, ElementwiseIsa::Scalar, lanes).rstd, rstd.view({16})))
                m_lanes = lanes;
        QVERIFY2(m_lanes != 0, "LibTorch's sum order is neither the 8- nor the 16-lane cascade");
        qInfo("LibTorch sums with %d fp32 lanes", m_lanes);
    }

    // ---- RMSNorm ------------------------------------------------------------------------------

    void rmsNormForwardMatchesTorch_data()
    {
        addIsaDtypeColumns();
        for (ElementwiseIsa isa : availableIsas())
            for (bool bf16 : {false, true})
                QTest::addRow("%s %s", elementwiseIsaName(isa), bf16 ? "bf16" : "fp32") << isa << bf16;
    }
    void rmsNormForwardMatchesTorch()
    {
        QFETCH(ElementwiseIsa, isa);
        QFETCH(bool, bf16);
        // 1..7: ATen's scalar path; 8-31: one vector + tails; 512+: a cascade level; 8192+: two.
        for (int64_t dim : {1, 3, 7, 8, 15, 16, 17, 31, 33, 64, 100, 127, 255, 768, 1000, 1025, 2048, 4096,
                            5120, 8192, 11008, 16385}) {
            const int64_t rows = dim >= 4096 ? 3 : 9;
            // Rows as a view with a wider stride (the kernel reads them in place); values with a
            // large dynamic range so the sum's rounding order matters.
            const at::Tensor wide = (at::randn({rows, dim + 5}) * at::exp(at::randn({rows, dim + 5}))).to(scalarType(bf16));
            const at::Tensor x = wide.narrow(1, 5, dim);
            const at::Tensor w = (1 + 0.1 * at::randn({dim})).to(scalarType(bf16));
            at::Tensor rstd;
            const at::Tensor ref = rmsNormReference(x, w, &rstd);
            const RmsOut got = runRmsNorm(x, w, {}, isa, m_lanes);
            QVERIFY(got.y.defined());
            QVERIFY2(sameBits(got.rstd, rstd.view({rows})), qPrintable(QStringLiteral("rstd, dim %1").arg(dim)));
            QVERIFY2(sameBits(got.y, ref), qPrintable(QStringLiteral("y, dim %1: %2 elements differ")
                                                          .arg(dim).arg(differingElements(got.y, ref))));
        }
    }

    void rmsNormBackwardMatchesAutograd_data() { rmsNormForwardMatchesTorch_data(); }
    void rmsNormBackwardMatchesAutograd()
    {
        QFETCH(ElementwiseIsa, isa);
        QFETCH(bool, bf16);
        const double tol = bf16 ? 2e-2 : 2e-5;
        for (auto [rows, dim] : {std::pair<int64_t, int64_t>{37, 768}, {64, 2048}, {5, 100}, {3, 7}}) {
            const at::ScalarType st = scalarType(bf16);
            const at::Tensor x = at::randn({rows, dim}).to(st);
            const at::Tensor w = (1 + 0.1 * at::randn({dim})).to(st);
            const at::Tensor dy = at::randn({rows, dim}).to(st);
            const at::Tensor xr = x.detach().requires_grad_(true), wr = w.detach().requires_grad_(true);
            rmsNormReference(xr, wr).backward(dy);
            const RmsOut got = runRmsNorm(x, w, dy, isa, m_lanes);
            QVERIFY(got.dx.defined());
            const double ex = relativeError(got.dx, xr.grad()), ew = relativeError(got.dw, wr.grad());
            qInfo("rows %ld dim %ld: dx %.2e dweight %.2e", long(rows), long(dim), ex, ew);
            QVERIFY2(ex <= tol, qPrintable(QString::number(ex)));
            QVERIFY2(ew <= tol, qPrintable(QString::number(ew)));
        }
    }

    // ---- SwiGLU -------------------------------------------------------------------------------

    void swiGluForwardMatchesTorch_data() { rmsNormForwardMatchesTorch_data(); }
    void swiGluForwardMatchesTorch()
    {
        QFETCH(ElementwiseIsa, isa);
        QFETCH(bool, bf16);
        const at::ScalarType st = scalarType(bf16);
        // Gate from -110 to 110 (SLEEF's 0 / inf ends) and realistic normals; gate and up as
        // the two halves of a fused projection.
        for (auto [rows, cols] : {std::pair<int64_t, int64_t>{64, 1408}, {7, 64}, {3, 11008}, {13, 77}}) {
            at::Tensor fused = at::randn({rows, 2 * cols}) * 3;
            fused[0].narrow(0, 0, 64).copy_(at::linspace(-110, 110, 64)); // cols >= 64
            fused = fused.to(st);
            const at::Tensor g = fused.narrow(1, 0, cols), u = fused.narrow(1, cols, cols);
            const at::Tensor ref = swiGluReference(g.contiguous(), u.contiguous());
            const SwiOut got = runSwiGlu(g, u, {}, isa);
            QVERIFY(got.h.defined());
            // ATen's vector loop covers all but the last numel % 64 elements (64: a multiple
            // of twice its widest vector); those use glibc's expf.
            const int64_t n = rows * cols, vec = n / 64 * 64;
            const at::Tensor gotFlat = got.h.reshape(-1), refFlat = ref.reshape(-1);
            QVERIFY2(sameBits(gotFlat.narrow(0, 0, vec), refFlat.narrow(0, 0, vec)),
                     qPrintable(QStringLiteral("%1 x %2: %3 elements differ").arg(rows).arg(cols)
                                    .arg(differingElements(gotFlat.narrow(0, 0, vec), refFlat.narrow(0, 0, vec)))));
            if (vec < n)
                QVERIFY(relativeError(gotFlat.narrow(0, vec, n - vec), refFlat.narrow(0, vec, n - vec)) <= (bf16 ? 8e-3 : 1e-6));
        }
    }

    void swiGluBackwardMatchesAutograd_data() { rmsNormForwardMatchesTorch_data(); }
    void swiGluBackwardMatchesAutograd()
    {
        QFETCH(ElementwiseIsa, isa);
        QFETCH(bool, bf16);
        const double tol = bf16 ? 2e-2 : 2e-5;
        const at::ScalarType st = scalarType(bf16);
        for (auto [rows, cols] : {std::pair<int64_t, int64_t>{64, 1408}, {13, 77}}) {
            const at::Tensor g = (at::randn({rows, cols}) * 3).to(st), u = at::randn({rows, cols}).to(st);
            const at::Tensor dh = at::randn({rows, cols}).to(st);
            const at::Tensor gr = g.detach().requires_grad_(true), ur = u.detach().requires_grad_(true);
            swiGluReference(gr, ur).backward(dh);
            const SwiOut got = runSwiGlu(g, u, dh, isa);
            QVERIFY(got.dg.defined());
            const double eg = relativeError(got.dg, gr.grad()), eu = relativeError(got.du, ur.grad());
            // Both against fp64 autograd of silu(g) * u on the same inputs: in bf16 the kernel
            // (fp32, one rounding) is the closer one; LibTorch rounds each op of silu's backward.
            const at::Tensor g64 = g.to(at::kDouble).requires_grad_(true);
            (at::silu(g64) * u.to(at::kDouble)).backward(dh.to(at::kDouble));
            const double kernel64 = relativeError(got.dg, g64.grad()), torch64 = relativeError(gr.grad(), g64.grad());
            qInfo("%ld x %ld: dgate %.2e dup %.2e; dgate vs fp64: kernel %.2e, autograd %.2e", long(rows), long(cols),
                  eg, eu, kernel64, torch64);
            QVERIFY2(eg <= tol, qPrintable(QString::number(eg)));
            QVERIFY2(eu <= tol, qPrintable(QString::number(eu)));
            QVERIFY2(kernel64 <= (bf16 ? 1e-2 : 1e-6), qPrintable(QString::number(kernel64)));
        }
    }

    // ---- Rotary -------------------------------------------------------------------------------

    void rotaryMatchesTorch_data() { rmsNormForwardMatchesTorch_data(); }
    void rotaryMatchesTorch()
    {
        QFETCH(ElementwiseIsa, isa);
        QFETCH(bool, bf16);
        const at::ScalarType st = scalarType(bf16);
        struct Shape {
            int64_t b, t, h, d;
            bool view, distinct;
        };
        for (const Shape& s : {Shape{2, 37, 4, 64, false, false}, Shape{1, 20, 3, 128, true, true},
                               Shape{2, 9, 2, 2, false, true}, Shape{1, 11, 5, 80, true, false},
                               Shape{1, 5, 2, 46, true, true}}) {
            // view: x is q of a fused [B, T, H + 2, D] qkv projection.
            const at::Tensor base = at::randn({s.b, s.t, s.h + (s.view ? 2 : 0), s.d}).to(st);
            const at::Tensor x = base.narrow(2, 0, s.h);
            auto [cos, sin] = cosSin(s.t, s.d, st, s.distinct);
            const at::Tensor dy = at::randn({s.b, s.t, s.h, s.d}).to(st);
            const at::Tensor xr = x.detach().requires_grad_(true);
            const at::Tensor ref = rotaryReference(xr, cos, sin);
            ref.backward(dy);

            const at::Tensor y = at::full({s.b, s.t, s.h, s.d}, 7.0, x.options());
            runRotary(x, y, cos, sin, isa, false);
            QVERIFY2(sameBits(y, ref.detach()), qPrintable(QStringLiteral("forward D %1: %2 differ")
                                                               .arg(s.d).arg(differingElements(y, ref.detach()))));
            const at::Tensor dx = at::full({s.b, s.t, s.h, s.d}, 7.0, x.options());
            runRotary(dy, dx, cos, sin, isa, true);
            QVERIFY2(sameBits(dx, xr.grad()), qPrintable(QStringLiteral("backward D %1: %2 differ, rel %3")
                                                             .arg(s.d).arg(differingElements(dx, xr.grad()))
                                                             .arg(relativeError(dx, xr.grad()))));
            // In place, on the strided view itself.
            const at::Tensor inPlace = x.clone();
            runRotary(inPlace, inPlace, cos, sin, isa, false);
            QVERIFY(sameBits(inPlace, ref.detach()));
        }
    }

    // ---- all kernels: variants and splits -----------------------------------------------------

    void variantsAndSplitsGiveSameBits_data()
    {
        QTest::addColumn<bool>("bf16");
        QTest::newRow("fp32") << false;
        QTest::newRow("bf16") << true;
    }
    void variantsAndSplitsGiveSameBits()
    {
        QFETCH(bool, bf16);
        const at::ScalarType st = scalarType(bf16);
        const at::Tensor x = at::randn({300, 1000}).to(st), w = (1 + 0.1 * at::randn({1000})).to(st);
        const at::Tensor dy = at::randn({300, 1000}).to(st);
        const at::Tensor g = (at::randn({200, 333}) * 4).to(st), u = at::randn({200, 333}).to(st);
        const at::Tensor dh = at::randn({200, 333}).to(st);
        const at::Tensor q = at::randn({2, 70, 6, 96}).to(st);
        auto [cos, sin] = cosSin(70, 96, st, true);
        const auto rotary = [&](ElementwiseIsa isa, Schedule s, bool backward) {
            at::Tensor out = at::empty_like(q);
            runRotary(q, out, cos, sin, isa, backward, s);
            return out;
        };
        // Both cascade widths, so the 16-lane one (unused by this LibTorch) is checked too.
        const RmsOut rms8 = runRmsNorm(x, w, dy, ElementwiseIsa::Scalar, 8);
        const RmsOut rms16 = runRmsNorm(x, w, dy, ElementwiseIsa::Scalar, 16);
        const SwiOut swi = runSwiGlu(g, u, dh, ElementwiseIsa::Scalar);
        const at::Tensor rotF = rotary(ElementwiseIsa::Scalar, Schedule::Serial, false);
        const at::Tensor rotB = rotary(ElementwiseIsa::Scalar, Schedule::Serial, true);
        for (ElementwiseIsa isa : availableIsas())
            for (Schedule s : {Schedule::Serial, Schedule::Reversed, Schedule::OneCall, Schedule::TwoThreads}) {
                const QByteArray where = QByteArray(elementwiseIsaName(isa)) + " schedule " + QByteArray::number(int(s));
                for (const RmsOut* ref : {&rms8, &rms16}) {
                    const RmsOut r = runRmsNorm(x, w, dy, isa, ref == &rms8 ? 8 : 16, s);
                    QVERIFY2(sameBits(r.y, ref->y) && sameBits(r.rstd, ref->rstd), where.constData());
                    QVERIFY2(sameBits(r.dx, ref->dx) && sameBits(r.dw, ref->dw), where.constData());
                }
                const SwiOut sw = runSwiGlu(g, u, dh, isa, s);
                QVERIFY2(sameBits(sw.h, swi.h) && sameBits(sw.dg, swi.dg) && sameBits(sw.du, swi.du), where.constData());
                QVERIFY2(sameBits(rotary(isa, s, false), rotF) && sameBits(rotary(isa, s, true), rotB), where.constData());
            }
        // The widths differ somewhere on these rows (else the 16-lane check above proves little).
        QVERIFY(!sameBits(rms8.rstd, rms16.rstd));
    }

    void checksArguments()
    {
        RmsNormArgs r;
        r.rows = 2, r.dim = 4;
        QCOMPARE(rmsNormCheck(r, ElementwisePass::Forward), KernelStatus::NullPointer);
        r.sumLanes = 4;
        QCOMPARE(rmsNormCheck(r, ElementwisePass::Forward), KernelStatus::BadSize);
        RmsNormArgs empty;
        QCOMPARE(rmsNormCheck(empty, ElementwisePass::Backward), KernelStatus::Ok);
        QCOMPARE(rmsNormTasks(empty), int64_t(0));
        SwiGluArgs s;
        s.rows = 1, s.cols = 1;
        QCOMPARE(swiGluCheck(s, ElementwisePass::Backward), KernelStatus::NullPointer);
        s.rows = -1;
        QCOMPARE(swiGluCheck(s, ElementwisePass::Forward), KernelStatus::BadSize);
        RotaryArgs rot;
        rot.seq = 1, rot.headDim = 7;
        QCOMPARE(rotaryCheck(rot), KernelStatus::BadSize);
        rot.headDim = 8;
        QCOMPARE(rotaryCheck(rot), KernelStatus::NullPointer);
        // Tasks depend on the shape only: ~32K elements each, at least one row.
        QCOMPARE(elementwiseTaskRows(768), int64_t(43));
        QCOMPARE(elementwiseTaskRows(100000), int64_t(1));
        QCOMPARE(elementwiseTasks(100, 768), int64_t(3));
    }
};

QTEST_GUILESS_MAIN(TestElementwiseKernels)
#include "tst_elementwisekernels.moc"
