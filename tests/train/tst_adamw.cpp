// AdamW and the learning-rate schedules against the formulas, step by step.
#include "train/AdamW.h"

#include <QTest>

#include <cmath>

using namespace tb;

class TestAdamW : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void matchesTheFormula()
    {
        at::Tensor p = at::tensor({1.0, -2.0, 0.5}, at::kFloat).requires_grad_(true);
        AdamW::Options o;
        o.weightDecay = 0.1;
        AdamW opt({{"p", p}}, o);
        double ref[3] = {1.0, -2.0, 0.5}, m[3] = {0, 0, 0}, v[3] = {0, 0, 0};
        const double grads[3][3] = {{0.1, -0.3, 2.0}, {0.2, 0.1, -1.0}, {-0.5, 0.0, 0.3}};
        for (int t = 1; t <= 3; ++t) {
            p.mutable_grad() = at::tensor({grads[t - 1][0], grads[t - 1][1], grads[t - 1][2]}, at::kFloat);
            opt.step(0.01);
            for (int i = 0; i < 3; ++i) {
                const double g = grads[t - 1][i];
                ref[i] -= 0.01 * 0.1 * ref[i];
                m[i] = 0.9 * m[i] + 0.1 * g;
                v[i] = 0.999 * v[i] + 0.001 * g * g;
                const double mh = m[i] / (1 - std::pow(0.9, t)), vh = v[i] / (1 - std::pow(0.999, t));
                ref[i] -= 0.01 * mh / (std::sqrt(vh) + 1e-8);
            }
            for (int i = 0; i < 3; ++i)
                QVERIFY(std::abs(p[i].item<double>() - ref[i]) < 1e-6);
        }
        QCOMPARE(opt.stepCount(), int64_t(3));
        QCOMPARE(opt.stateBytes(), int64_t(2 * 3 * 4));
        // State round trip.
        at::Tensor q = at::zeros({3}, at::kFloat).requires_grad_(true);
        AdamW restored({{"p", q}}, o);
        restored.loadState(opt.stateTensors(), opt.stepCount());
        QVERIFY(at::equal(restored.stateTensors()["exp_avg.p"], opt.stateTensors()["exp_avg.p"]));
    }

    void schedules()
    {
        QCOMPARE(learningRateAt(0, 100, 10, 1.0, "cosine"), 0.1); // warmup: (step + 1) / warmup
        QCOMPARE(learningRateAt(9, 100, 10, 1.0, "linear"), 1.0);
        QCOMPARE(learningRateAt(50, 100, 0, 2.0, "constant"), 2.0);
        QVERIFY(std::abs(learningRateAt(55, 100, 10, 1.0, "cosine") - 0.5) < 1e-12); // half way through the decay
        QVERIFY(std::abs(learningRateAt(55, 100, 10, 1.0, "linear") - 0.5) < 1e-12);
        QVERIFY(learningRateAt(99, 100, 10, 1.0, "cosine") < 0.001);
    }
};

QTEST_GUILESS_MAIN(TestAdamW)
#include "tst_adamw.moc"
