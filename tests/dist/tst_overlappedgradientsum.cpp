// OverlappedGradientSum with a real C10dWorkerGroup (Gloo over loopback, ranks as threads):
// gradients handed over by the last micro-batch's backward pass and summed while it runs give
// the sums of accumulating every micro-batch and summing afterwards (sumTensors; to rounding),
// the same bytes on every worker; buckets
// start from inside backward; a parameter the batch never reached, and a worker with no
// backward at all, send their .grad or zeros; a second step reuses the buckets.
#include "dist/C10dWorkerGroup.h"
#include "train/OverlappedGradientSum.h"

#include <QTest>

#include <functional>
#include <thread>

using namespace tb;

namespace {

WorkerPlacement placement(int rank, int size, int port)
{
    WorkerPlacement p;
    p.rank = rank;
    p.worldSize = size;
    p.localRank = rank;
    p.localWorldSize = size;
    p.masterAddress = "127.0.0.1";
    p.masterPort = port;
    p.launcher = "test";
    return p;
}

// A chain of small layers (the last ones finish first in backward) and one parameter no loss
// reaches, registered last so that it comes first in the buckets' order. Weights are the same
// on every worker (as after setup), inputs differ per worker and micro-batch; no global random
// generator (the ranks are threads of one process).
struct Model {
    std::vector<std::pair<std::string, at::Tensor>> parameters;
    int seed;
    int batches = 0;
    explicit Model(int workerSeed) : seed(workerSeed)
    {
        for (int i = 0; i < 6; ++i)
            parameters.emplace_back("w" + std::to_string(i),
                                    (at::sin(at::arange(256, at::kFloat).view({16, 16}) * (0.37 + 0.11 * i)) * 0.4).requires_grad_());
        parameters.emplace_back("unused", at::cos(at::arange(5, at::kFloat)).requires_grad_());
    }
    // Backward of one micro-batch's loss.
    void backward(int64_t rows)
    {
        at::Tensor x = at::cos(at::arange(rows * 16, at::kFloat).view({rows, 16}) * (0.01 * seed + 0.3 * ++batches));
        for (int i = 0; i < 6; ++i)
            x = at::tanh(x.matmul(parameters[static_cast<size_t>(i)].second));
        x.pow(2).sum().backward();
    }
    void zeroGrad()
    {
        for (auto& [name, p] : parameters)
            p.mutable_grad() = at::Tensor();
    }
    std::vector<at::Tensor> grads()
    {
        std::vector<at::Tensor> out;
        for (auto& [name, p] : parameters) {
            if (!p.grad().defined())
                p.mutable_grad() = at::zeros_like(p);
            out.push_back(p.grad());
        }
        return out;
    }
};

void onRanks(int size, const std::function<void(int)>& body, std::vector<std::string>& errors)
{
    errors.assign(static_cast<size_t>(size), "");
    std::vector<std::thread> threads;
    for (int r = 0; r < size; ++r)
        threads.emplace_back([&, r] {
            try {
                body(r);
            } catch (const std::exception& e) {
                errors[static_cast<size_t>(r)] = e.what();
            }
        });
    for (auto& t : threads)
        t.join();
}

} // namespace

class TestOverlappedGradientSum : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void sameBytesAsSummingAfterBackward()
    {
        const int size = 3, port = freeLoopbackPort();
        // [rank][step] -> gradients
        std::vector<std::vector<std::vector<at::Tensor>>> overlapped(size), reference(size);
        std::vector<size_t> buckets(size);
        std::vector<std::vector<size_t>> early(size);
        std::vector<std::string> errors;
        onRanks(size, [&](int r) {
            WorkerGroupOptions options;
            options.timeout = std::chrono::seconds(30);
            C10dWorkerGroup group(placement(r, size, port), options);
            auto clone = [](const std::vector<at::Tensor>& g) {
                std::vector<at::Tensor> out;
                for (const auto& t : g)
                    out.push_back(t.clone());
                return out;
            };
            // The reference: accumulate the micro-batches, then sum everything at once. Step 1
            // has two micro-batches; in step 2 rank 2 has no loss tokens (no backward at all).
            Model a(100 + r);
            for (int step = 0; step < 3; ++step) {
                a.zeroGrad();
                if (step == 0)
                    a.backward(4);
                if (step != 1 || r != 2)
                    a.backward(3);
                std::vector<at::Tensor> g = a.grads();
                group.sumTensors(g);
                reference[static_cast<size_t>(r)].push_back(clone(g));
            }
            // The same micro-batches, the last one's backward starting the sums; buckets of two
            // 16x16 fp32 matrices, so several can start while backward still runs.
            Model b(100 + r);
            OverlappedGradientSum sum(group, b.parameters, 2 * 16 * 16 * 4);
            for (int step = 0; step < 3; ++step) {
                b.zeroGrad();
                if (step == 0)
                    b.backward(4);
                if (step != 1 || r != 2) {
                    sum.arm();
                    b.backward(3);
                }
                sum.finish();
                early[static_cast<size_t>(r)].push_back(sum.startedDuringBackward());
                overlapped[static_cast<size_t>(r)].push_back(clone(b.grads()));
            }
            buckets[static_cast<size_t>(r)] = sum.bucketCount();
            group.barrier("done", std::chrono::seconds(30));
        }, errors);
        for (const auto& e : errors)
            QVERIFY2(e.empty(), e.c_str());
        for (int r = 0; r < size; ++r) {
            const auto& mine = overlapped[static_cast<size_t>(r)];
            for (size_t step = 0; step < mine.size(); ++step)
                for (size_t i = 0; i < mine[step].size(); ++i) {
                    // Gloo's ring sums three workers' values in an order that depends on where an
                    // element falls in its buffer, so other buckets round differently.
                    const double d = (mine[step][i] - reference[static_cast<size_t>(r)][step][i]).abs().max().item<double>();
                    QVERIFY2(d <= 1e-6 * std::max(1.0, reference[static_cast<size_t>(r)][step][i].abs().max().item<double>()),
                             qPrintable(QString("step %1 parameter %2: %3").arg(step).arg(i).arg(d)));
                    QVERIFY(at::equal(mine[step][i], overlapped[0][step][i])); // the same bytes on every worker
                }
            QVERIFY(at::equal(mine[0].back(), at::zeros({5}))); // no loss reaches it
            QCOMPARE(buckets[static_cast<size_t>(r)], size_t(4)); // 3 x two matrices, the unused vector alone
        }
        // Step 1: the unused parameter, first in order, holds every bucket until finish(). From
        // step 2 on it is last, and the matrices' buckets start from inside backward.
        QCOMPARE(early[0][0], size_t(0));
        QCOMPARE(early[0][2], size_t(3));
        QCOMPARE(early[1][2], size_t(3));
    }
};

QTEST_GUILESS_MAIN(TestOverlappedGradientSum)
#include "tst_overlappedgradientsum.moc"
