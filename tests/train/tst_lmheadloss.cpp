// The chunked language-model head + cross-entropy (train/ChunkedLmHeadLoss) against the plain
// path it replaces (linear, fp32 logits, cross_entropy with reduction sum): the loss and the
// gradients of the hidden states and of the weight, in fp32 and bf16, with one chunk and with
// many; summedTokenLoss skips ignored positions; and, on a Llama-3-sized vocabulary (128,256),
// the tensor bytes the loss step needs, counted by an allocator in front of LibTorch's.
#include "model/LlamaForCausalLM.h"
#include "train/CausalLmLoss.h"
#include "train/ChunkedLmHeadLoss.h"

#include "../common/TestModels.h"
#include "../memory/CountingAllocator.h"

#include <QTest>

using namespace tb;

namespace {

struct LossAndGrads {
    double loss = 0;
    at::Tensor gradHidden, gradWeight;
};

LossAndGrads plainPath(const at::Tensor& hidden, const at::Tensor& weight, const at::Tensor& targets, double scale)
{
    const at::Tensor h = hidden.detach().requires_grad_(true);
    const at::Tensor w = weight.detach().requires_grad_(true);
    const at::Tensor logits = at::linear(h, w).to(at::kFloat);
    const at::Tensor loss = at::cross_entropy_loss(logits, targets, {}, at::Reduction::Sum, -100);
    (loss * scale).backward();
    return {loss.item<double>(), h.grad(), w.grad()};
}

LossAndGrads chunkedPath(const at::Tensor& hidden, const at::Tensor& weight, const at::Tensor& targets, double scale)
{
    const at::Tensor h = hidden.detach().requires_grad_(true);
    const at::Tensor w = weight.detach().requires_grad_(true);
    const at::Tensor loss = lmHeadCrossEntropySum(h, w, targets);
    (loss * scale).backward();
    return {loss.item<double>(), h.grad(), w.grad()};
}

double relativeError(const at::Tensor& a, const at::Tensor& b)
{
    const double scale = b.to(at::kDouble).abs().max().item<double>();
    return (a.to(at::kDouble) - b.to(at::kDouble)).abs().max().item<double>() / std::max(scale, 1e-30);
}

} // namespace

class TestLmHeadLoss : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void chunkRowsFollowTheVocabulary()
    {
        QCOMPARE(lmHeadChunkRows(128256, 100000), int64_t(65));   // 32 MiB of fp32 logits
        QCOMPARE(lmHeadChunkRows(1000000, 100000), int64_t(32));  // never skinnier than 32 rows
        QCOMPARE(lmHeadChunkRows(512, 10), int64_t(10));           // never more than there are
        QCOMPARE(lmHeadChunkRows(512, 0), int64_t(1));
    }

    void matchesThePlainPath_data()
    {
        QTest::addColumn<bool>("bf16");
        QTest::addColumn<int>("vocab");
        QTest::addColumn<int>("rows");
        QTest::newRow("fp32 one chunk") << false << 300 << 37;
        QTest::newRow("fp32 several chunks") << false << 400000 << 70; // 20 rows a chunk: 4 chunks
        QTest::newRow("bf16 one chunk") << true << 300 << 37;
        QTest::newRow("bf16 several chunks") << true << 400000 << 70;
    }

    void matchesThePlainPath()
    {
        QFETCH(bool, bf16);
        QFETCH(int, vocab);
        QFETCH(int, rows);
        const at::ScalarType dtype = bf16 ? at::kBFloat16 : at::kFloat;
        at::manual_seed(7);
        const int64_t hiddenSize = 24;
        const at::Tensor hidden = at::randn({rows, hiddenSize}).to(dtype);
        const at::Tensor weight = (at::randn({vocab, hiddenSize}) * 0.3).to(dtype);
        const at::Tensor targets = at::randint(vocab, {rows}, at::kLong);
        const double scale = 1.0 / rows;
        const LossAndGrads plain = plainPath(hidden, weight, targets, scale);
        const LossAndGrads chunked = chunkedPath(hidden, weight, targets, scale);
        // The logits are the same numbers; only the fp32 sums run in another order.
        QVERIFY2(std::abs(chunked.loss - plain.loss) <= 1e-5 * std::abs(plain.loss),
                 qPrintable(QString("loss %1 vs %2").arg(chunked.loss, 0, 'g', 10).arg(plain.loss, 0, 'g', 10)));
        // fp32: summation order only. bf16: the same products rounded once to bf16, where a
        // different fp32 value near a rounding boundary flips the last bit (2^-8 relative).
        const double tolerance = bf16 ? 1e-2 : 1e-5;
        const double eh = relativeError(chunked.gradHidden, plain.gradHidden);
        const double ew = relativeError(chunked.gradWeight, plain.gradWeight);
        QVERIFY2(eh <= tolerance, qPrintable(QString("grad hidden: %1").arg(eh)));
        QVERIFY2(ew <= tolerance, qPrintable(QString("grad weight: %1").arg(ew)));
        QCOMPARE(chunked.gradHidden.scalar_type(), dtype);
        QCOMPARE(chunked.gradWeight.scalar_type(), dtype);
    }

    void frozenWeightGetsNoGradient()
    {
        const at::Tensor hidden = at::randn({5, 8}).requires_grad_(true);
        const at::Tensor weight = at::randn({11, 8});
        lmHeadCrossEntropySum(hidden, weight, at::randint(11, {5}, at::kLong)).backward();
        QVERIFY(hidden.grad().defined());
        QVERIFY(!weight.grad().defined());
    }

    void rejectsMismatchedShapes()
    {
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, lmHeadCrossEntropySum(at::randn({5, 8}), at::randn({11, 7}), at::zeros({5}, at::kLong)));
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, lmHeadCrossEntropySum(at::randn({5, 8}), at::randn({11, 8}), at::zeros({4}, at::kLong)));
    }

    void summedTokenLossSkipsIgnoredPositions()
    {
        const ModelConfig c = tbtest::tinyConfig("llama");
        LlamaForCausalLM model(c, at::TensorOptions().dtype(at::kFloat));
        model.initializeRandom(11, 0.2);
        TrainingBatch batch;
        batch.inputIds = at::randint(c.vocabSize, {2, 9}, at::kLong);
        batch.targets = at::randint(c.vocabSize, {2, 9}, at::kLong);
        batch.targets.narrow(1, 0, 4).fill_(-100); // a prompt
        batch.targets[1][8] = -100;                // and a padded tail
        const at::Tensor logits = model.forward(batch.inputIds).to(at::kFloat);
        const double expected = at::cross_entropy_loss(logits.view({-1, c.vocabSize}), batch.targets.view({-1}), {},
                                                       at::Reduction::Sum, -100).item<double>();
        const double got = summedTokenLoss(model, batch).item<double>();
        QVERIFY2(std::abs(got - expected) <= 1e-5 * std::abs(expected), qPrintable(QString("%1 vs %2").arg(got).arg(expected)));
        batch.targets.fill_(-100);
        QCOMPARE(summedTokenLoss(model, batch).item<double>(), 0.0);
    }

    void llama3VocabularyNeedsAFractionOfTheLogitsMemory()
    {
        // 1,024 loss positions, a 128,256-token vocabulary, a small hidden size: the fp32 logits
        // alone are 525 MB; the chunked head keeps one chunk (65 rows, 33 MB) at a time.
        static tbtest::CountingAllocator counting(c10::GetCPUAllocator());
        c10::SetCPUAllocator(&counting, /*priority=*/100);
        const int64_t rows = 1024, vocab = 128256, hiddenSize = 64;
        at::manual_seed(3);
        const at::Tensor hidden = at::randn({rows, hiddenSize}).to(at::kBFloat16);
        const at::Tensor weight = (at::randn({vocab, hiddenSize}) * 0.05).to(at::kBFloat16);
        const at::Tensor targets = at::randint(vocab, {rows}, at::kLong);
        auto peakOf = [&](auto path) {
            const int64_t before = counting.current();
            counting.resetPeak();
            path(hidden, weight.detach(), targets, 1.0 / rows); // frozen weight, as in LoRA
            return counting.peak() - before;
        };
        const auto frozenPlain = [](const at::Tensor& h, const at::Tensor& w, const at::Tensor& t, double s) {
            const at::Tensor x = h.detach().requires_grad_(true);
            (at::cross_entropy_loss(at::linear(x, w).to(at::kFloat), t, {}, at::Reduction::Sum, -100) * s).backward();
        };
        const auto frozenChunked = [](const at::Tensor& h, const at::Tensor& w, const at::Tensor& t, double s) {
            const at::Tensor x = h.detach().requires_grad_(true);
            (lmHeadCrossEntropySum(x, w, t) * s).backward();
        };
        const int64_t plain = peakOf(frozenPlain);
        const int64_t chunked = peakOf(frozenChunked);
        const int64_t logitsFp32 = rows * vocab * 4;
        qInfo("loss step peak: plain %lld MiB, chunked %lld MiB (fp32 logits: %lld MiB)", (long long)(plain >> 20),
              (long long)(chunked >> 20), (long long)(logitsFp32 >> 20));
        QVERIFY(plain > 2 * logitsFp32);          // logits, log-softmax, their gradients
        QVERIFY(chunked < logitsFp32 / 4);         // a few chunks' worth, whatever the row count
    }
};

QTEST_GUILESS_MAIN(TestLmHeadLoss)
#include "tst_lmheadloss.moc"
