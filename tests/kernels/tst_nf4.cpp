// NF4 / double-quant / 8-bit blockwise kernels (kernels/cpu) against the independent reference
// in Nf4Reference.h: known answers, nibble order, odd n and partial blocks, every blocksize,
// ties, zero blocks, error handling, round-trip error bounds, and the scalar / AVX2 / AVX-512
// dequantizers bit for bit. Torch-free (runs under ASan).
#include <QtTest/QtTest>

#include <cmath>
#include <random>

#include "Nf4Reference.h"
#include "cpu/Bf16.h"
#include "cpu/Nf4Codebook.h"
#include "cpu/Nf4Dequant.h"
#include "cpu/Nf4Quantizer.h"

using namespace tbk;

namespace {

const Nf4Isa kAllIsas[] = {Nf4Isa::Scalar, Nf4Isa::Avx2, Nf4Isa::Avx512};

std::vector<float> gaussian(size_t n, uint32_t seed, float sigma = 0.02f)
{
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(0.0f, sigma);
    std::vector<float> x(n);
    for (float& v : x)
        v = dist(rng);
    return x;
}

std::vector<float> studentT(size_t n, uint32_t seed, float dof)
{
    std::mt19937 rng(seed);
    std::student_t_distribution<float> dist(dof);
    std::vector<float> x(n);
    for (float& v : x)
        v = 0.02f * dist(rng);
    return x;
}

std::vector<float> laplace(size_t n, uint32_t seed)
{
    std::mt19937 rng(seed);
    std::uniform_real_distribution<double> u(-0.5, 0.5);
    std::vector<float> x(n);
    for (float& v : x) {
        const double r = u(rng);
        v = float(-0.02 * (r < 0 ? -1.0 : 1.0) * std::log(1.0 - 2.0 * std::fabs(r)));
    }
    return x;
}

// sqrt(sum (x - y)^2 / sum x^2)
double relativeRms(const std::vector<float>& x, const std::vector<float>& y)
{
    double num = 0, den = 0;
    for (size_t i = 0; i < x.size(); ++i) {
        num += (double(x[i]) - y[i]) * (double(x[i]) - y[i]);
        den += double(x[i]) * x[i];
    }
    return std::sqrt(num / den);
}

// Quantize with the kernels, dequantize with the scalar reference path.
std::vector<float> nf4RoundTrip(const std::vector<float>& x, int blocksize)
{
    const int64_t n = int64_t(x.size());
    std::vector<uint8_t> packed(static_cast<size_t>(nf4PackedBytes(n)));
    std::vector<float> absmax(static_cast<size_t>(blockCount(n, blocksize))), y(x.size());
    if (quantizeNf4(x.data(), n, blocksize, packed.data(), absmax.data()) != KernelStatus::Ok)
        return {};
    dequantizeNf4Reference(packed.data(), absmax.data(), n, blocksize, y.data());
    return y;
}

} // namespace

class TestNf4 : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void codeTables()
    {
        for (int c = 0; c < 16; ++c)
            QCOMPARE(kNf4Code[c], float(nf4ref::kNf4[c]));
        float map[256];
        buildDynamicMapSigned(map);
        for (int i = 0; i < 256; ++i)
            QVERIFY2(nf4ref::bitsOf(map[i]) == nf4ref::kDynamicMapBits[i], qPrintable(QString::number(i)));
        QCOMPARE(dynamicMapSigned()[127], 0.0f);
        QCOMPARE(dynamicMapSigned()[255], 1.0f);
        QCOMPARE(dynamicMapSigned()[0], nf4ref::dynamicMap(0)); // -0.99296875 in fp32
        QVERIFY(std::fabs(dynamicMapSigned()[0] + 0.99296875f) < 1e-7f);
        for (int i = 1; i < 256; ++i)
            QVERIFY(map[i - 1] < map[i]);
    }

    // Worked by hand: absmax 2, x/absmax = {1, -1, 0.5, 0, -0.25} -> codes {15, 0, 12, 7, 4}
    // (0.5 lies below the 12|13 midpoint 0.50166; -0.25 below the 4|5 midpoint -0.23461), and
    // the padding nibble of odd n is code 7 (0.0). Element 2j goes to the high nibble.
    void nibbleOrderByHand()
    {
        const float x[5] = {2.0f, -2.0f, 1.0f, 0.0f, -0.5f};
        uint8_t packed[3] = {0xAA, 0xAA, 0xAA};
        float absmax = 0;
        QCOMPARE(quantizeNf4(x, 5, 64, packed, &absmax), KernelStatus::Ok);
        QCOMPARE(absmax, 2.0f);
        QCOMPARE(int(packed[0]), 0xF0);
        QCOMPARE(int(packed[1]), 0xC7);
        QCOMPARE(int(packed[2]), 0x47);
        const float expect[5] = {2.0f, -2.0f, 0.44070982933044434f * 2.0f, 0.0f, -0.28444138169288635f * 2.0f};
        for (Nf4Isa isa : kAllIsas) {
            if (!nf4IsaSupported(isa))
                continue;
            float out[5];
            uint16_t outBf16[5];
            QCOMPARE(dequantizeNf4F32(packed, Nf4Absmax::plain(&absmax), 5, 64, out, isa), KernelStatus::Ok);
            QCOMPARE(dequantizeNf4Bf16(packed, Nf4Absmax::plain(&absmax), 5, 64, outBf16, isa), KernelStatus::Ok);
            for (int i = 0; i < 5; ++i) {
                QCOMPARE(out[i], expect[i]);
                QCOMPARE(outBf16[i], nf4ref::bf16(expect[i]));
            }
        }
    }

    void knownAnswer_data()
    {
        QTest::addColumn<int>("blocksize");
        for (int bs : {32, 64, 128})
            QTest::newRow(qPrintable(QString::number(bs))) << bs;
    }
    void knownAnswer()
    {
        QFETCH(int, blocksize);
        const std::vector<float> x = nf4ref::knownAnswerInput();
        const int64_t n = int64_t(x.size());
        const nf4ref::Nf4Quantized ref = nf4ref::quantizeNf4(x, size_t(blocksize));
        std::vector<uint8_t> packed(static_cast<size_t>(nf4PackedBytes(n)));
        std::vector<float> absmax(static_cast<size_t>(blockCount(n, blocksize)));
        QCOMPARE(quantizeNf4(x.data(), n, blocksize, packed.data(), absmax.data()), KernelStatus::Ok);
        QCOMPARE(packed, ref.packed);
        QCOMPARE(absmax, ref.absmax);
        if (blocksize == 64) // the partial last block: 21 elements, its byte 10 holds the padding
            QCOMPARE(int(packed.back() & 0x0F), 7);
        for (Nf4Isa isa : kAllIsas) {
            if (!nf4IsaSupported(isa))
                continue;
            std::vector<float> out(x.size());
            std::vector<uint16_t> outBf16(x.size());
            QCOMPARE(dequantizeNf4F32(packed.data(), Nf4Absmax::plain(absmax.data()), n, blocksize, out.data(), isa),
                     KernelStatus::Ok);
            QCOMPARE(dequantizeNf4Bf16(packed.data(), Nf4Absmax::plain(absmax.data()), n, blocksize, outBf16.data(),
                                       isa),
                     KernelStatus::Ok);
            for (size_t i = 0; i < x.size(); ++i) {
                const float want = nf4ref::dequantNf4(ref, size_t(blocksize), i);
                QCOMPARE(nf4ref::bitsOf(out[i]), nf4ref::bitsOf(want));
                QCOMPARE(outBf16[i], nf4ref::bf16(want));
            }
        }
    }

    // bitsandbytes' decision: code c+1 when x > fp32(threshold c), the thresholds being the
    // midpoints of adjacent codes as dQuantizeNF4 writes them; a value on a threshold takes the
    // lower code. The floats either side of each threshold must land on the right side.
    void tiesGoToLowerCode()
    {
        int offExact = 0;
        for (int c = 0; c < 15; ++c) {
            const double mid = (nf4ref::kNf4[c] + nf4ref::kNf4[c + 1]) / 2.0;
            const float threshold = nf4ref::kNf4Threshold[c];
            QVERIFY(std::fabs(double(threshold) - mid) <= std::fabs(mid) * 1.2e-7); // within an fp32 ulp
            offExact += threshold != float(mid);
            for (float x : {std::nextafter(threshold, -2.0f), threshold, std::nextafter(threshold, 2.0f)}) {
                const int want = x > threshold ? c + 1 : c;
                QCOMPARE(int(nf4Nearest(x)), want);
                QCOMPARE(nf4ref::nearestNf4(x), want);
                // Through the quantizer: absmax 1 makes the normalization exact.
                const float in[2] = {1.0f, x};
                uint8_t packed = 0;
                float absmax = 0;
                QCOMPARE(quantizeNf4(in, 2, 32, &packed, &absmax), KernelStatus::Ok);
                QCOMPARE(int(packed), 0xF0 | want);
            }
        }
        qInfo("%d of 15 fp32 NF4 thresholds differ from fp32(exact midpoint)", offExact);
        QCOMPARE(int(nf4Nearest(0.0f)), 7);
        QCOMPARE(int(nf4Nearest(std::nanf(""))), 0);
    }

    // An all-zero block: absmax 0, 0 * (1/0) is NaN, every code 0 (-1.0) as in bitsandbytes;
    // dequantized -1.0 * 0 = -0.0.
    void zeroBlock()
    {
        std::vector<float> x(96, 0.0f);
        x[70] = 0.5f; // second block (32..63) stays zero, third is not
        uint8_t packed[48];
        float absmax[3];
        QCOMPARE(quantizeNf4(x.data(), 96, 32, packed, absmax), KernelStatus::Ok);
        QCOMPARE(absmax[0], 0.0f);
        QCOMPARE(absmax[2], 0.5f);
        for (int i = 0; i < 48; ++i) // x[70] / 0.5 = 1.0 is code 15, in the high nibble of byte 35
            QCOMPARE(int(packed[i]), i < 32 ? 0x00 : i == 35 ? 0xF7 : 0x77);
        uint16_t out[96];
        QCOMPARE(dequantizeNf4Bf16(packed, Nf4Absmax::plain(absmax), 96, 32, out), KernelStatus::Ok);
        QCOMPARE(int(out[0]), 0x8000);
        QCOMPARE(bf16ToFloat(out[70]), 0.5f);
    }

    void bf16Input()
    {
        const std::vector<float> x = gaussian(1001, 7);
        std::vector<uint16_t> xb(x.size());
        std::vector<float> xr(x.size());
        for (size_t i = 0; i < x.size(); ++i) {
            xb[i] = nf4ref::bf16(x[i]);
            xr[i] = bf16ToFloat(xb[i]);
        }
        const nf4ref::Nf4Quantized ref = nf4ref::quantizeNf4(xr, 64);
        std::vector<uint8_t> packed(501);
        std::vector<float> absmax(16);
        QCOMPARE(quantizeNf4Bf16(xb.data(), 1001, 64, packed.data(), absmax.data()), KernelStatus::Ok);
        QCOMPARE(packed, ref.packed);
        QCOMPARE(absmax, ref.absmax);
    }

    void everyBlocksize()
    {
        const std::vector<float> x = gaussian(20001, 11);
        for (int bs = 32; bs <= 4096; bs *= 2) {
            const nf4ref::Nf4Quantized ref = nf4ref::quantizeNf4(x, size_t(bs));
            std::vector<uint8_t> packed(10001);
            std::vector<float> absmax(static_cast<size_t>(blockCount(20001, bs)));
            QCOMPARE(quantizeNf4(x.data(), 20001, bs, packed.data(), absmax.data()), KernelStatus::Ok);
            QVERIFY2(packed == ref.packed, qPrintable(QString("blocksize %1").arg(bs)));
            QVERIFY2(absmax == ref.absmax, qPrintable(QString("blocksize %1").arg(bs)));
        }
    }

    void badArguments()
    {
        const float x[64] = {};
        uint8_t packed[32];
        float absmax[2];
        for (int bs : {0, 16, 31, 48, 96, 8192, -64})
            QCOMPARE(quantizeNf4(x, 64, bs, packed, absmax), KernelStatus::BadBlocksize);
        QCOMPARE(quantizeNf4(x, -1, 64, packed, absmax), KernelStatus::BadSize);
        QCOMPARE(quantizeNf4(nullptr, 64, 64, packed, absmax), KernelStatus::NullPointer);
        QCOMPARE(quantizeNf4(nullptr, 0, 64, nullptr, nullptr), KernelStatus::Ok);
        uint8_t q[64];
        QCOMPARE(quantizeBlockwise8(x, 64, 32, q, absmax), KernelStatus::BadBlocksize); // 8-bit: 64..4096
        QCOMPARE(quantizeBlockwise8(x, 64, 64, q, absmax), KernelStatus::Ok);
        float nested[1], offset;
        QCOMPARE(doubleQuantizeAbsmax(absmax, 2, q, nested, &offset, nullptr, 100), KernelStatus::BadBlocksize);
        uint16_t out[64];
        std::fill(std::begin(out), std::end(out), uint16_t(0x1234));
        QCOMPARE(dequantizeNf4Bf16(packed, Nf4Absmax::plain(absmax), 64, 48, out), KernelStatus::BadBlocksize);
        QCOMPARE(dequantizeNf4Bf16(packed, Nf4Absmax::plain(absmax), -5, 64, out), KernelStatus::BadSize);
        QCOMPARE(dequantizeNf4Bf16(nullptr, Nf4Absmax::plain(absmax), 64, 64, out), KernelStatus::NullPointer);
        QCOMPARE(dequantizeNf4Bf16(packed, Nf4Absmax::nested(nullptr, nested, 0), 64, 64, out),
                 KernelStatus::NullPointer);
        QCOMPARE(int(out[0]), 0x1234);
        if (!nf4IsaSupported(Nf4Isa::Avx512))
            QCOMPARE(dequantizeNf4Bf16(packed, Nf4Absmax::plain(absmax), 64, 64, out, Nf4Isa::Avx512),
                     KernelStatus::IsaUnavailable);
        QCOMPARE(QString(kernelStatusName(KernelStatus::BadBlocksize)), QString("bad blocksize"));
    }

    // Double quantization of the absmax of 64 * 256 * 5 + 77 Gaussian weights (blocksize 64):
    // codes, scales and offset equal the reference; decoded absmax within 1% of the original
    // (measured max 0.81%: the dynamic map's steps are 0.014 of the 256-block scale near its top);
    // bits per parameter 8/64 + 32/(64*256) = 0.127 on whole nested blocks.
    void doubleQuant()
    {
        const int64_t n = 64 * 256 * 5 + 77;
        const std::vector<float> x = gaussian(size_t(n), 3);
        const int64_t nblocks = blockCount(n, 64);
        std::vector<uint8_t> packed(static_cast<size_t>(nf4PackedBytes(n)));
        std::vector<float> absmax(static_cast<size_t>(nblocks));
        QCOMPARE(quantizeNf4(x.data(), n, 64, packed.data(), absmax.data()), KernelStatus::Ok);

        std::vector<uint8_t> qabsmax(static_cast<size_t>(nblocks));
        std::vector<float> nested(static_cast<size_t>(blockCount(nblocks, 256)));
        float offset = 0;
        QCOMPARE(doubleQuantizeAbsmax(absmax.data(), nblocks, qabsmax.data(), nested.data(), &offset),
                 KernelStatus::Ok);
        const nf4ref::DoubleQuant ref = nf4ref::doubleQuantize(absmax);
        QCOMPARE(offset, ref.offset);
        QCOMPARE(qabsmax, ref.qabsmax);
        QCOMPARE(nested, ref.nestedAbsmax);

        std::vector<float> decoded(static_cast<size_t>(nblocks));
        QCOMPARE(doubleDequantizeAbsmax(qabsmax.data(), nested.data(), offset, nblocks, decoded.data()),
                 KernelStatus::Ok);
        double worst = 0;
        for (int64_t b = 0; b < nblocks; ++b) {
            QCOMPARE(nf4ref::bitsOf(decoded[size_t(b)]), nf4ref::bitsOf(nf4ref::doubleDequantize(ref, size_t(b))));
            worst = std::max(worst, std::fabs(double(decoded[size_t(b)]) - absmax[size_t(b)]) / absmax[size_t(b)]);
        }
        qInfo("double-quant absmax: max relative error %.5f", worst);
        QVERIFY(worst < 0.01);

        // Nested dequantization equals plain dequantization with the decoded absmax, every ISA.
        std::vector<uint16_t> plainOut(static_cast<size_t>(n)), nestedOut(static_cast<size_t>(n));
        QCOMPARE(dequantizeNf4Bf16(packed.data(), Nf4Absmax::plain(decoded.data()), n, 64, plainOut.data(),
                                   Nf4Isa::Scalar),
                 KernelStatus::Ok);
        for (Nf4Isa isa : kAllIsas) {
            if (!nf4IsaSupported(isa))
                continue;
            for (int threads : {1, 3}) {
                QCOMPARE(dequantizeNf4Bf16(packed.data(), Nf4Absmax::nested(qabsmax.data(), nested.data(), offset),
                                           n, 64, nestedOut.data(), isa, threads),
                         KernelStatus::Ok);
                QVERIFY2(nestedOut == plainOut, nf4IsaName(isa));
            }
        }

        const int64_t whole = 64 * 256 * 5; // bits/param on whole nested blocks
        const double bits = (double(whole / 64) * 8 + double(whole / 64 / 256) * 32) / double(whole);
        QCOMPARE(bits, 8.0 / 64 + 32.0 / (64 * 256));
        QVERIFY(std::fabs(bits - 0.127) < 0.0005);
    }

    // Round-trip relative RMS error, sqrt(sum (x - x^)^2 / sum x^2), blocksize 64, 2^18 weights.
    // Measured (fixed seeds, sigma / scale 0.02): Gaussian 0.0919, Student-t(3) 0.1238,
    // Laplace 0.1039. Bounds asserted: 0.10, 0.14, 0.115.
    void roundTripError_data()
    {
        QTest::addColumn<QString>("dist");
        QTest::addColumn<double>("bound");
        QTest::newRow("gaussian") << QString("gaussian") << 0.10;
        QTest::newRow("student-t3") << QString("student") << 0.14;
        QTest::newRow("laplace") << QString("laplace") << 0.115;
    }
    void roundTripError()
    {
        QFETCH(QString, dist);
        QFETCH(double, bound);
        const size_t n = size_t(1) << 18;
        const std::vector<float> x =
            dist == "gaussian" ? gaussian(n, 21) : dist == "student" ? studentT(n, 22, 3.0f) : laplace(n, 23);
        const std::vector<float> y = nf4RoundTrip(x, 64);
        QCOMPARE(y.size(), x.size());
        const double err = relativeRms(x, y);
        qInfo("NF4 blocksize 64, %s: relative RMS error %.4f", qPrintable(dist), err);
        QVERIFY2(err < bound, qPrintable(QString::number(err)));
        // Larger blocks are worse on heavy tails: more elements share one outlier's absmax.
        QVERIFY(relativeRms(x, nf4RoundTrip(x, 4096)) > err);
    }

    // 8-bit blockwise mode (quantize_blockwise, blocksize 64): codes equal the reference;
    // relative RMS error measured 0.0095 (Gaussian), bound 0.012; every element within half a
    // dynamic-map step of its block's scale (<= 0.5 * 0.0141 * absmax at the top of the map).
    void blockwise8()
    {
        const std::vector<float> x = gaussian(64 * 100 + 13, 5);
        const int64_t n = int64_t(x.size());
        std::vector<uint8_t> q(x.size());
        std::vector<float> absmax(static_cast<size_t>(blockCount(n, 64))), y(x.size());
        QCOMPARE(quantizeBlockwise8(x.data(), n, 64, q.data(), absmax.data()), KernelStatus::Ok);
        const nf4ref::Blockwise8 ref = nf4ref::quantize8(x, 64);
        QCOMPARE(q, ref.q);
        QCOMPARE(absmax, ref.absmax);
        QCOMPARE(dequantizeBlockwise8(q.data(), absmax.data(), n, 64, y.data()), KernelStatus::Ok);
        for (size_t i = 0; i < x.size(); ++i) {
            QCOMPARE(y[i], nf4ref::dynamicMap(ref.q[i]) * ref.absmax[i / 64]);
            QVERIFY(std::fabs(x[i] - y[i]) <= 0.5f * 0.0141f * absmax[i / 64]);
        }
        const double err = relativeRms(x, y);
        qInfo("8-bit blockwise 64, gaussian: relative RMS error %.4f", err);
        QVERIFY(err < 0.012);
    }

    // Scalar, AVX2 and AVX-512 dequantizers agree bit for bit with each other and with the
    // reference, on partial blocks, odd n, every blocksize, 1-3 threads, and odd scales
    // (inf and NaN absmax, denormal products).
    void isaVariantsAgree_data()
    {
        QTest::addColumn<int>("isa");
        QTest::newRow("scalar") << int(Nf4Isa::Scalar);
        QTest::newRow("avx2") << int(Nf4Isa::Avx2);
        QTest::newRow("avx512") << int(Nf4Isa::Avx512);
    }
    void isaVariantsAgree()
    {
        QFETCH(int, isa);
        const Nf4Isa variant = Nf4Isa(isa);
        if (!nf4IsaSupported(variant))
            QSKIP("this CPU lacks the instruction set");
        std::mt19937 rng(99);
        for (int bs = 32; bs <= 4096; bs *= 2) {
            for (int64_t n : {int64_t(1), int64_t(31), int64_t(bs - 1), int64_t(bs), int64_t(bs + 33),
                              int64_t(5 * bs + 17), int64_t(7 * bs)}) {
                std::vector<uint8_t> packed(static_cast<size_t>(nf4PackedBytes(n)));
                for (uint8_t& b : packed)
                    b = uint8_t(rng());
                std::vector<float> absmax(static_cast<size_t>(blockCount(n, bs)));
                std::uniform_real_distribution<float> scale(0.0f, 0.1f);
                for (float& a : absmax)
                    a = scale(rng);
                absmax[0] = 1e-39f; // denormal products
                if (absmax.size() > 2) {
                    absmax[1] = INFINITY; // code 7 * inf = NaN
                    absmax[2] = std::nanf("");
                }
                std::vector<uint16_t> bf(static_cast<size_t>(n));
                std::vector<float> f32(static_cast<size_t>(n));
                for (int threads : {1, 2, 3}) {
                    QCOMPARE(dequantizeNf4Bf16(packed.data(), Nf4Absmax::plain(absmax.data()), n, bs, bf.data(),
                                               variant, threads),
                             KernelStatus::Ok);
                    QCOMPARE(dequantizeNf4F32(packed.data(), Nf4Absmax::plain(absmax.data()), n, bs, f32.data(),
                                              variant, threads),
                             KernelStatus::Ok);
                    for (int64_t i = 0; i < n; ++i) {
                        const int nibble = i % 2 == 0 ? packed[size_t(i / 2)] >> 4 : packed[size_t(i / 2)] & 0x0F;
                        const float want = float(nf4ref::kNf4[nibble]) * absmax[size_t(i / bs)];
                        if (bf[size_t(i)] != nf4ref::bf16(want) ||
                            (nf4ref::bitsOf(f32[size_t(i)]) != nf4ref::bitsOf(want) &&
                             !(std::isnan(want) && std::isnan(f32[size_t(i)]))))
                            QFAIL(qPrintable(QString("%1 bs %2 n %3 threads %4 i %5: %6 want %7")
                                                 .arg(nf4IsaName(variant))
                                                 .arg(bs)
                                                 .arg(n)
                                                 .arg(threads)
                                                 .arg(i)
                                                 .arg(bf[size_t(i)], 4, 16)
                                                 .arg(nf4ref::bf16(want), 4, 16)));
                    }
                }
            }
        }
    }
};

QTEST_APPLESS_MAIN(TestNf4)
#include "tst_nf4.moc"
