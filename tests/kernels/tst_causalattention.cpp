// Fused causal attention (kernels/cpu/CausalAttention.h) against an independent reference built
// from LibTorch's plain operators in fp64: softmax(scale q k^T + mask) v, its log-sum-exp, and
// dQ, dK, dV by autograd. Every ISA variant on this CPU, fp32 and bf16, on awkward shapes (T not
// a multiple of the 64-row tile, T = 1, decode with Tq < Tk, GQA ratios 1/4/8, head dims
// 7/20/48/64/80/96/128/256, key padding on the left and right, sliding windows, q/k/v as strided
// views of one fused projection). Also: identical bits for any task split or thread count, the
// query heads of a GQA group taken together give the bits of each head alone, and rows with no
// visible key give o = 0, lse = -inf, dQ = 0 and add nothing to dK, dV.
//
// Tolerances, max |kernel - reference| / max |reference| per output: fp32 1e-5 (forward) and
// 2e-5 (gradients: sums over up to Tq * H / KV terms); bf16 2e-2 (outputs rounded to bf16, and
// the tiled variants round P and dS to bf16 before their products). lse: 1e-5 / 1e-3 absolute.
#include <QtTest/QtTest>

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <thread>

#include "cpu/CausalAttention.h"
#include "cpu/CausalAttentionKernels.h"

using namespace tbk;

namespace {

struct Case {
    int64_t batch = 1, tq = 1, tk = 1, heads = 1, kvHeads = 1, dim = 64, window = 0;
    int leftPad = 0, rightPad = 0; // batch 0 padded on the left, the last batch on the right
    bool fused = false;            // q, k, v are views into one [B, T, H + 2 KV, D] tensor
};

// The inputs in the kernel's dtype, and the mask the reference applies.
struct Inputs {
    Case c;
    at::Tensor q, k, v, dO;   // [B, T, heads, D], kernel dtype (float or bfloat16)
    at::Tensor keyValid;      // uint8 [B, Tk], undefined when no padding
    at::Tensor visible;       // bool [B, 1, Tq, Tk]
    float scale = 0;
};

Inputs makeInputs(const Case& c, at::ScalarType dtype, uint64_t seed)
{
    Inputs in;
    in.c = c;
    at::manual_seed(seed);
    const auto opts = at::TensorOptions().dtype(at::kFloat);
    if (c.fused) {
        // Fused projection output: q heads, then k, then v along the head axis (Tq == Tk).
        at::Tensor qkv = at::randn({c.batch, c.tk, c.heads + 2 * c.kvHeads, c.dim}, opts).to(dtype);
        in.q = qkv.narrow(2, 0, c.heads);
        in.k = qkv.narrow(2, c.heads, c.kvHeads);
        in.v = qkv.narrow(2, c.heads + c.kvHeads, c.kvHeads);
    } else {
        in.q = at::randn({c.batch, c.tq, c.heads, c.dim}, opts).to(dtype);
        in.k = at::randn({c.batch, c.tk, c.kvHeads, c.dim}, opts).to(dtype);
        in.v = at::randn({c.batch, c.tk, c.kvHeads, c.dim}, opts).to(dtype);
    }
    in.dO = at::randn({c.batch, c.tq, c.heads, c.dim}, opts).to(dtype);
    in.scale = float(1.0 / std::sqrt(double(c.dim)));
    if (c.leftPad || c.rightPad) {
        in.keyValid = at::ones({c.batch, c.tk}, at::kByte);
        if (c.leftPad)
            in.keyValid[0].narrow(0, 0, c.leftPad).zero_();
        if (c.rightPad)
            in.keyValid[c.batch - 1].narrow(0, c.tk - c.rightPad, c.rightPad).zero_();
    }
    in.visible = at::zeros({c.batch, 1, c.tq, c.tk}, at::kBool);
    auto vis = in.visible.accessor<bool, 4>();
    const int64_t offset = c.tk - c.tq;
    for (int64_t b = 0; b < c.batch; ++b)
        for (int64_t i = 0; i < c.tq; ++i)
            for (int64_t j = 0; j < c.tk; ++j) {
                const int64_t pos = offset + i;
                const bool causal = j <= pos && (c.window == 0 || j > pos - c.window);
                const bool valid = !in.keyValid.defined() || in.keyValid[b][j].item<uint8_t>() != 0;
                vis[b][0][i][j] = causal && valid;
            }
    return in;
}

struct Outputs {
    at::Tensor o, lse, dq, dk, dv; // o and gradients [B, T, heads, D] (kernel dtype or double), lse [B, H, Tq]
};

// fp64 reference from plain LibTorch operators; rows with no visible key -> 0 (and no gradient).
Outputs reference(const Inputs& in)
{
    const Case& c = in.c;
    at::Tensor q = in.q.to(at::kDouble).detach().requires_grad_(true);
    at::Tensor k = in.k.to(at::kDouble).detach().requires_grad_(true);
    at::Tensor v = in.v.to(at::kDouble).detach().requires_grad_(true);
    const int64_t group = c.heads / c.kvHeads;
    const at::Tensor qh = q.permute({0, 2, 1, 3});
    const at::Tensor kh = k.permute({0, 2, 1, 3}).repeat_interleave(group, 1);
    const at::Tensor vh = v.permute({0, 2, 1, 3}).repeat_interleave(group, 1);
    at::Tensor scores = at::matmul(qh, kh.transpose(-1, -2)) * double(in.scale);
    scores = scores.masked_fill(in.visible.logical_not(), -INFINITY);
    const at::Tensor anyVisible = in.visible.any(-1, true);
    const at::Tensor safe = at::where(anyVisible, scores, at::zeros_like(scores));
    const at::Tensor p = at::softmax(safe, -1) * anyVisible;
    at::Tensor o = at::matmul(p, vh).permute({0, 2, 1, 3});
    Outputs out;
    out.lse = at::logsumexp(scores, -1).detach();
    o.backward(in.dO.to(at::kDouble));
    out.o = o.detach();
    out.dq = q.grad();
    out.dk = k.grad();
    out.dv = v.grad();
    return out;
}

AttentionStrides stridesOf(const at::Tensor& t) { return {t.stride(0), t.stride(1), t.stride(2)}; }

void* dataOf(const at::Tensor& t) { return t.data_ptr(); }

enum class Schedule { Serial, Reversed, OneCall, TwoThreads };

// All tasks of one pass, in the given order / split.
template <typename Fn>
void runTasks(Fn fn, int64_t tasks, Schedule schedule)
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
        const int64_t split = tasks / 3; // uneven on purpose
        std::thread other([&] { fn(split, tasks); });
        fn(0, split);
        other.join();
        break;
    }
    }
}

// Forward and both backward passes through the kernel; outputs in the kernel dtype.
Outputs runKernel(const Inputs& in, AttentionIsa isa, Schedule schedule = Schedule::Serial,
                  const at::Tensor& dOOverride = at::Tensor())
{
    const Case& c = in.c;
    const at::ScalarType dtype = in.q.scalar_type();
    Outputs out;
    // Outputs as strided views too (o inside a wider buffer), to exercise their strides.
    out.o = at::full({c.batch, c.tq, c.heads + 1, c.dim}, 7.0, in.q.options()).narrow(2, 1, c.heads);
    out.lse = at::full({c.batch, c.heads, c.tq}, 7.0, at::kFloat);
    out.dq = at::full({c.batch, c.tq, c.heads, c.dim}, 7.0, in.q.options());
    out.dk = at::full({c.batch, c.tk, c.kvHeads, c.dim}, 7.0, in.q.options());
    out.dv = at::full({c.batch, c.tk, c.kvHeads, c.dim}, 7.0, in.q.options());
    const at::Tensor dO = dOOverride.defined() ? dOOverride : in.dO;

    AttentionArgs a;
    a.shape = {c.batch, c.tq, c.tk, c.heads, c.kvHeads, c.dim, c.window};
    a.dtype = dtype == at::kBFloat16 ? AttentionDtype::Bf16 : AttentionDtype::F32;
    a.isa = isa;
    a.scale = in.scale;
    a.keyValid = in.keyValid.defined() ? in.keyValid.data_ptr<uint8_t>() : nullptr;
    a.q = dataOf(in.q), a.qStride = stridesOf(in.q);
    a.k = dataOf(in.k), a.kStride = stridesOf(in.k);
    a.v = dataOf(in.v), a.vStride = stridesOf(in.v);
    a.o = dataOf(out.o), a.oStride = stridesOf(out.o);
    a.lse = out.lse.data_ptr<float>();
    a.dO = dataOf(dO), a.dOStride = stridesOf(dO);
    a.dQ = dataOf(out.dq), a.dQStride = stridesOf(out.dq);
    a.dK = dataOf(out.dk), a.dKStride = stridesOf(out.dk);
    a.dV = dataOf(out.dv), a.dVStride = stridesOf(out.dv);
    if (causalAttentionCheck(a, AttentionPass::Forward) != KernelStatus::Ok ||
        causalAttentionCheck(a, AttentionPass::BackwardKv) != KernelStatus::Ok ||
        causalAttentionCheck(a, AttentionPass::BackwardQ) != KernelStatus::Ok)
        return {};
    runTasks([&](int64_t t0, int64_t t1) { causalAttentionForward(a, t0, t1); },
             causalAttentionForwardTasks(a.shape), schedule);
    runTasks([&](int64_t t0, int64_t t1) { causalAttentionBackwardKv(a, t0, t1); },
             causalAttentionBackwardKvTasks(a.shape), schedule);
    runTasks([&](int64_t t0, int64_t t1) { causalAttentionBackwardQ(a, t0, t1); },
             causalAttentionBackwardQTasks(a.shape), schedule);
    return out;
}

// max |x - ref| / max |ref| (ref all zero: max |x|).
double relativeError(const at::Tensor& x, const at::Tensor& ref)
{
    const at::Tensor r = ref.to(at::kDouble);
    const double scale = r.abs().max().item<double>();
    const double err = (x.to(at::kDouble) - r).abs().max().item<double>();
    return scale > 0 ? err / scale : err;
}

bool sameBits(const at::Tensor& x, const at::Tensor& y)
{
    const at::Tensor a = x.contiguous(), b = y.contiguous();
    return a.nbytes() == b.nbytes() && std::memcmp(a.data_ptr(), b.data_ptr(), a.nbytes()) == 0;
}

QList<AttentionIsa> availableIsas()
{
    QList<AttentionIsa> isas;
    for (AttentionIsa isa : {AttentionIsa::Scalar, AttentionIsa::Avx512, AttentionIsa::Avx512Bf16})
        if (attentionIsaSupported(isa))
            isas << isa;
    return isas;
}

} // namespace

Q_DECLARE_METATYPE(Case)
Q_DECLARE_METATYPE(AttentionIsa)

class TestCausalAttention : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase()
    {
        at::set_num_threads(1);
        qInfo("best variant here: %s", attentionIsaName(attentionBestIsa()));
    }

    void matchesReference_data()
    {
        QTest::addColumn<Case>("shape");
        QTest::addColumn<AttentionIsa>("isa");
        QTest::addColumn<bool>("bf16");
        struct Named {
            const char* name;
            Case c;
        };
        auto make = [](int64_t b, int64_t tq, int64_t tk, int64_t h, int64_t kv, int64_t d) {
            Case c;
            c.batch = b, c.tq = tq, c.tk = tk, c.heads = h, c.kvHeads = kv, c.dim = d;
            return c;
        };
        std::vector<Named> cases;
        cases.push_back({"T1", make(1, 1, 1, 2, 1, 64)});
        cases.push_back({"T77 mha d48", make(1, 77, 77, 2, 2, 48)});
        cases.push_back({"T130 gqa4 d128", make(1, 130, 130, 8, 2, 128)});
        cases.push_back({"T100 gqa8 d64", make(1, 100, 100, 8, 1, 64)});
        cases.push_back({"decode Tq1 Tk150 gqa4", make(1, 1, 150, 4, 1, 64)});
        cases.push_back({"chunk Tq37 Tk170 d80", make(1, 37, 170, 4, 2, 80)});
        Case padded = make(2, 70, 70, 4, 2, 64);
        padded.leftPad = 20, padded.rightPad = 15;
        cases.push_back({"B2 left+right padding", padded});
        Case window = make(1, 150, 150, 4, 4, 64);
        window.window = 40;
        cases.push_back({"window 40 T150", window});
        Case windowDecode = make(2, 3, 140, 4, 1, 96);
        windowDecode.window = 50, windowDecode.leftPad = 100;
        cases.push_back({"window decode d96 padded", windowDecode});
        Case fused = make(2, 65, 65, 4, 2, 48);
        fused.fused = true;
        cases.push_back({"fused qkv views T65", fused});
        cases.push_back({"odd head dim 7", make(1, 67, 67, 2, 1, 7)});
        cases.push_back({"head dim 20", make(1, 40, 90, 2, 2, 20)});
        cases.push_back({"T70 gqa2 d256", make(1, 70, 70, 2, 1, 256)});
        for (AttentionIsa isa : availableIsas())
            for (bool bf16 : {false, true})
                for (const Named& n : cases)
                    QTest::addRow("%s %s %s", attentionIsaName(isa), bf16 ? "bf16" : "fp32", n.name)
                        << n.c << isa << bf16;
    }
    void matchesReference()
    {
        QFETCH(Case, shape);
        QFETCH(AttentionIsa, isa);
        QFETCH(bool, bf16);
        const Inputs in = makeInputs(shape, bf16 ? at::kBFloat16 : at::kFloat, 42);
        const Outputs ref = reference(in);
        const Outputs got = runKernel(in, isa);
        QVERIFY(got.o.defined());
        const double tolFwd = bf16 ? 2e-2 : 1e-5, tolBwd = bf16 ? 2e-2 : 2e-5;
        const struct {
            const char* name;
            const at::Tensor& x;
            const at::Tensor& r;
            double tol;
        } checks[] = {{"o", got.o, ref.o, tolFwd},
                      {"dq", got.dq, ref.dq, tolBwd},
                      {"dk", got.dk, ref.dk, tolBwd},
                      {"dv", got.dv, ref.dv, tolBwd}};
        for (const auto& ch : checks) {
            const double err = relativeError(ch.x, ch.r);
            QVERIFY2(err <= ch.tol, qPrintable(QStringLiteral("%1: relative error %2 > %3")
                                                   .arg(ch.name).arg(err).arg(ch.tol)));
        }
        // lse: -inf exactly where the reference row has no visible key, close elsewhere.
        const at::Tensor finite = at::isfinite(ref.lse);
        QVERIFY(at::equal(at::isfinite(got.lse), finite));
        QVERIFY(at::equal(got.lse.masked_select(finite.logical_not()),
                          ref.lse.to(at::kFloat).masked_select(finite.logical_not())));
        if (finite.any().item<bool>()) {
            const double lseErr = (got.lse.to(at::kDouble) - ref.lse).masked_select(finite).abs().max().item<double>();
            QVERIFY2(lseErr <= (bf16 ? 1e-3 : 1e-5), qPrintable(QString::number(lseErr)));
        }
    }

    // Same bits for any order and split of the tasks, and across threads.
    void deterministicAcrossSplits_data()
    {
        QTest::addColumn<AttentionIsa>("isa");
        QTest::addColumn<bool>("bf16");
        for (AttentionIsa isa : availableIsas())
            for (bool bf16 : {false, true})
                QTest::addRow("%s %s", attentionIsaName(isa), bf16 ? "bf16" : "fp32") << isa << bf16;
    }
    void deterministicAcrossSplits()
    {
        QFETCH(AttentionIsa, isa);
        QFETCH(bool, bf16);
        Case c;
        c.batch = 2, c.tq = 150, c.tk = 150, c.heads = 4, c.kvHeads = 1, c.dim = 64, c.leftPad = 10, c.rightPad = 7;
        const Inputs in = makeInputs(c, bf16 ? at::kBFloat16 : at::kFloat, 7);
        const Outputs first = runKernel(in, isa, Schedule::Serial);
        QVERIFY(first.o.defined());
        for (Schedule s : {Schedule::Reversed, Schedule::OneCall, Schedule::TwoThreads}) {
            const Outputs again = runKernel(in, isa, s);
            QVERIFY(sameBits(first.o, again.o));
            QVERIFY(sameBits(first.lse, again.lse));
            QVERIFY(sameBits(first.dq, again.dq));
            QVERIFY(sameBits(first.dk, again.dk));
            QVERIFY(sameBits(first.dv, again.dv));
        }
    }

    // Forward and BackwardQ stack the query rows of a KV group's heads into one tile
    // (tbk::detail::attentionHeadsPerTask); each head must come out as it does alone (heads = KV = 1,
    // q/k/v as views of that head): o, lse and dQ bit for bit.
    void groupedHeadsMatchEachHeadAlone_data() { deterministicAcrossSplits_data(); }
    void groupedHeadsMatchEachHeadAlone()
    {
        QFETCH(AttentionIsa, isa);
        QFETCH(bool, bf16);
        Case c;
        // Enough batch entries that the heads are grouped on machines up to 8 hardware threads.
        const int64_t hw = std::max<int64_t>(1, std::thread::hardware_concurrency());
        c.batch = std::clamp<int64_t>(hw, 2, 8), c.tq = 130, c.tk = 130, c.heads = 8, c.kvHeads = 2, c.dim = 48;
        c.leftPad = 9, c.rightPad = 20;
        const AttentionShape shape{c.batch, c.tq, c.tk, c.heads, c.kvHeads, c.dim, 0};
        const int64_t perTask = tbk::detail::attentionHeadsPerTask(shape);
        if (perTask == 1)
            QSKIP("no grouping for this shape on this many hardware threads");
        const Inputs in = makeInputs(c, bf16 ? at::kBFloat16 : at::kFloat, 11);
        const Outputs grouped = runKernel(in, isa, Schedule::TwoThreads);
        QVERIFY(grouped.o.defined());
        const int64_t group = c.heads / c.kvHeads;
        for (int64_t h = 0; h < c.heads; ++h) {
            Inputs one = in;
            one.c.heads = 1, one.c.kvHeads = 1;
            one.q = in.q.narrow(2, h, 1), one.dO = in.dO.narrow(2, h, 1);
            one.k = in.k.narrow(2, h / group, 1), one.v = in.v.narrow(2, h / group, 1);
            QCOMPARE(tbk::detail::attentionHeadsPerTask({c.batch, c.tq, c.tk, 1, 1, c.dim, 0}), int64_t(1));
            const Outputs alone = runKernel(one, isa);
            QVERIFY(alone.o.defined());
            QVERIFY2(sameBits(grouped.o.narrow(2, h, 1), alone.o), qPrintable(QString("o, head %1").arg(h)));
            QVERIFY2(sameBits(grouped.lse.narrow(1, h, 1), alone.lse), qPrintable(QString("lse, head %1").arg(h)));
            QVERIFY2(sameBits(grouped.dq.narrow(2, h, 1), alone.dq), qPrintable(QString("dq, head %1").arg(h)));
        }
    }

    // Left padding: the first queries of batch 0 see no key. Their o is 0, lse -inf, dQ 0, and
    // changing their dO leaves dK and dV bit for bit as they were.
    void rowWithoutVisibleKey_data() { deterministicAcrossSplits_data(); }
    void rowWithoutVisibleKey()
    {
        QFETCH(AttentionIsa, isa);
        QFETCH(bool, bf16);
        Case c;
        c.batch = 2, c.tq = 90, c.tk = 90, c.heads = 4, c.kvHeads = 2, c.dim = 64, c.leftPad = 70;
        const Inputs in = makeInputs(c, bf16 ? at::kBFloat16 : at::kFloat, 3);
        const Outputs got = runKernel(in, isa);
        QVERIFY(got.o.defined());
        const at::Tensor emptyO = got.o[0].narrow(0, 0, c.leftPad);
        QVERIFY(at::equal(emptyO.to(at::kFloat), at::zeros_like(emptyO, at::kFloat)));
        QVERIFY(at::all(at::isneginf(got.lse[0].narrow(1, 0, c.leftPad))).item<bool>());
        QVERIFY(at::all(at::isfinite(got.lse[0].narrow(1, c.leftPad, c.tq - c.leftPad))).item<bool>());
        const at::Tensor emptyDq = got.dq[0].narrow(0, 0, c.leftPad);
        QVERIFY(at::equal(emptyDq.to(at::kFloat), at::zeros_like(emptyDq, at::kFloat)));
        at::Tensor dO = in.dO.clone();
        dO[0].narrow(0, 0, c.leftPad).mul_(-3.0).add_(1.0);
        const Outputs changed = runKernel(in, isa, Schedule::Serial, dO);
        QVERIFY(sameBits(got.dk, changed.dk));
        QVERIFY(sameBits(got.dv, changed.dv));
        QVERIFY(sameBits(got.dq, changed.dq));
    }

    void rejectsBadArguments()
    {
        float buf[64] = {};
        AttentionArgs a;
        a.dtype = AttentionDtype::F32;
        a.shape = {1, 2, 2, 4, 3, 8, 0}; // H % KV != 0
        a.q = a.k = a.v = buf, a.o = buf, a.lse = buf;
        QCOMPARE(causalAttentionCheck(a, AttentionPass::Forward), KernelStatus::BadSize);
        a.shape = {1, 3, 2, 4, 2, 8, 0}; // Tq > Tk
        QCOMPARE(causalAttentionCheck(a, AttentionPass::Forward), KernelStatus::BadSize);
        a.shape = {1, 2, 2, 4, 2, 8, 0};
        QCOMPARE(causalAttentionCheck(a, AttentionPass::Forward), KernelStatus::Ok);
        QCOMPARE(causalAttentionCheck(a, AttentionPass::BackwardQ), KernelStatus::NullPointer);
        a.dO = buf, a.dQ = buf;
        QCOMPARE(causalAttentionCheck(a, AttentionPass::BackwardQ), KernelStatus::Ok);
        QCOMPARE(causalAttentionCheck(a, AttentionPass::BackwardKv), KernelStatus::NullPointer);
        a.shape.queryLen = 0;
        QCOMPARE(causalAttentionForwardTasks(a.shape), int64_t(0));
        QCOMPARE(causalAttentionBackwardKvTasks(a.shape), int64_t(0));
    }

    // Tasks pair tile p with tile n-1-p: 130 rows = 3 tiles -> 2 tasks per (batch, block of query
    // heads); a block is 1, 2 or 4 heads of a group of 4, by the shape and this machine.
    void taskCounts()
    {
        const AttentionShape s{2, 130, 200, 8, 2, 64, 0};
        const int64_t perTask = tbk::detail::attentionHeadsPerTask(s);
        QVERIFY(perTask == 1 || perTask == 2 || perTask == 4);
        QCOMPARE(causalAttentionForwardTasks(s), int64_t(2 * (8 / perTask) * 2));
        QCOMPARE(causalAttentionBackwardQTasks(s), int64_t(2 * (8 / perTask) * 2));
        // Never so few tasks that the machine's threads would idle, when one head each gives more.
        const int64_t hw = std::max<int64_t>(1, std::thread::hardware_concurrency());
        QVERIFY(perTask == 1 || causalAttentionForwardTasks(s) >= 4 * hw);
        if (hw >= 2) // a decode step, one query: 8 tasks of one head beat 2 of four
            QCOMPARE(tbk::detail::attentionHeadsPerTask({1, 1, 100, 8, 1, 64, 0}), int64_t(1));
        QCOMPARE(tbk::detail::attentionHeadsPerTask({64, 512, 512, 12, 4, 64, 0}), int64_t(3)); // small, B=64
        QCOMPARE(tbk::detail::attentionHeadsPerTask({64, 512, 512, 12, 12, 64, 0}), int64_t(1)); // no GQA
        QCOMPARE(causalAttentionBackwardKvTasks(s), int64_t(2 * 2 * 2)); // 200 keys = 4 tiles
        QCOMPARE(causalAttentionForwardFlops({1, 4, 4, 1, 1, 2, 0}), 4.0 * 2 * (1 + 2 + 3 + 4));
        QCOMPARE(causalAttentionForwardFlops({1, 4, 4, 1, 1, 2, 2}), 4.0 * 2 * (1 + 2 + 2 + 2));
    }
};

QTEST_GUILESS_MAIN(TestCausalAttention)
#include "tst_causalattention.moc"
