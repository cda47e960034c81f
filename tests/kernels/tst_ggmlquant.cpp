// kernels/cpu/GgmlQuant.h on its own (byte parity with ggml is tst_ggmlquant_parity): the type
// table, known answers worked by hand, round-trip error bounds and their ordering across types,
// edge-case rows, thread-count independence and argument checks. Torch-free; runs under ASan.
#include <QtTest/QtTest>

#include <cmath>
#include <cstring>

#include "GgmlTestRows.h"
#include "cpu/Bf16.h"
#include "cpu/GgmlBlocks.h"
#include "cpu/GgmlQuant.h"

using namespace tbk;

namespace {

const GgmlType kAllTypes[] = {GgmlType::F32,  GgmlType::F16,  GgmlType::BF16, GgmlType::Q4_0, GgmlType::Q5_0,
                              GgmlType::Q5_1, GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K};

std::vector<uint8_t> quantize(GgmlType type, const std::vector<float>& x, int64_t rows, int64_t n, int threads = 1,
                              GgmlIsa isa = GgmlIsa::Auto)
{
    std::vector<uint8_t> q(size_t(rows * ggmlRowBytes(type, n)), 0xA5);
    if (ggmlQuantizeRows(type, x.data(), q.data(), rows, n, threads, isa) != KernelStatus::Ok)
        return {};
    return q;
}

const GgmlIsa kSimdIsas[] = {GgmlIsa::Avx2, GgmlIsa::Avx512};

std::vector<float> dequantize(GgmlType type, const std::vector<uint8_t>& q, int64_t rows, int64_t n,
                              int threads = 1)
{
    std::vector<float> y(size_t(rows * n), -777.0f);
    if (ggmlDequantizeRows(type, q.data(), y.data(), rows, n, threads) != KernelStatus::Ok)
        return {};
    return y;
}

std::vector<float> roundTrip(GgmlType type, const std::vector<float>& x, int64_t rows, int64_t n)
{
    return dequantize(type, quantize(type, x, rows, n), rows, n);
}

// sqrt(sum (x - y)^2 / sum x^2)
double relativeRms(const std::vector<float>& x, const std::vector<float>& y, size_t begin = 0, size_t end = 0)
{
    if (end == 0)
        end = x.size();
    double num = 0, den = 0;
    for (size_t i = begin; i < end; ++i) {
        num += (double(x[i]) - y[i]) * (double(x[i]) - y[i]);
        den += double(x[i]) * x[i];
    }
    return std::sqrt(num / den);
}

bool allFinite(const std::vector<float>& y)
{
    for (float v : y)
        if (!std::isfinite(v))
            return false;
    return !y.empty();
}

QString typeName(GgmlType type)
{
    return QString::fromLatin1(ggmlTypeInfo(type)->name);
}

} // namespace

class TestGgmlQuant : public QObject {
    Q_OBJECT

private Q_SLOTS:
    // ggml.h's enum ggml_type numbers and ggml-common.h's block sizes.
    void typeTable()
    {
        struct Expect {
            uint32_t id;
            const char* name;
            int64_t blockElements, blockBytes;
        };
        const Expect expect[] = {{0, "f32", 1, 4},       {1, "f16", 1, 2},       {2, "q4_0", 32, 18},
                                 {6, "q5_0", 32, 22},     {7, "q5_1", 32, 24},    {8, "q8_0", 32, 34},
                                 {12, "q4_K", 256, 144},  {13, "q5_K", 256, 176}, {14, "q6_K", 256, 210},
                                 {30, "bf16", 1, 2}};
        for (const Expect& e : expect) {
            const GgmlTypeInfo* info = ggmlTypeInfo(e.id);
            QVERIFY(info);
            QCOMPARE(uint32_t(info->type), e.id);
            QCOMPARE(QString::fromLatin1(info->name), QString::fromLatin1(e.name));
            QCOMPARE(info->blockElements, e.blockElements);
            QCOMPARE(info->blockBytes, e.blockBytes);
            QCOMPARE(ggmlTypeInfo(info->type), info);
        }
        for (uint32_t unknown : {3u, 4u, 5u, 9u, 10u, 11u, 15u, 16u, 29u, 31u, 39u, 43u, 1000u, 0xFFFFFFFFu})
            QVERIFY(ggmlTypeInfo(unknown) == nullptr);

        QCOMPARE(ggmlRowBytes(GgmlType::F32, 7), int64_t(28));
        QCOMPARE(ggmlRowBytes(GgmlType::BF16, 7), int64_t(14));
        QCOMPARE(ggmlRowBytes(GgmlType::Q4_0, 4096), int64_t(128 * 18));
        QCOMPARE(ggmlRowBytes(GgmlType::Q8_0, 96), int64_t(3 * 34));
        QCOMPARE(ggmlRowBytes(GgmlType::Q5_0, 896), int64_t(28 * 22));
        QCOMPARE(ggmlRowBytes(GgmlType::Q5_1, 896), int64_t(28 * 24));
        QCOMPARE(ggmlRowBytes(GgmlType::Q4_K, 11008), int64_t(43 * 144));
        QCOMPARE(ggmlRowBytes(GgmlType::Q5_K, 4096), int64_t(16 * 176));
        QCOMPARE(ggmlRowBytes(GgmlType::Q6_K, 4096), int64_t(16 * 210));
        QCOMPARE(ggmlRowBytes(GgmlType::Q4_0, 0), int64_t(0));
        QCOMPARE(ggmlRowBytes(GgmlType::Q4_0, 33), int64_t(-1));
        QCOMPARE(ggmlRowBytes(GgmlType::Q6_K, 4096 + 32), int64_t(-1));
        QCOMPARE(ggmlRowBytes(GgmlType::F16, -2), int64_t(-1));
        QCOMPARE(ggmlRowBytes(static_cast<GgmlType>(3), 32), int64_t(-1));
    }

    // ggml_compute_fp32_to_fp16: round to nearest even, overflow to inf, subnormals kept,
    // NaN -> sign | 0x7E00. ggml_compute_fp32_to_bf16: NaN keeps its top bits, quiet bit set.
    void halfConversions()
    {
        const float nan = std::numeric_limits<float>::quiet_NaN();
        const float inf = std::numeric_limits<float>::infinity();
        QCOMPARE(ggmlFp32ToFp16(1.0f), uint16_t(0x3C00));
        QCOMPARE(ggmlFp32ToFp16(-2.0f), uint16_t(0xC000));
        QCOMPARE(ggmlFp32ToFp16(0.0f), uint16_t(0x0000));
        QCOMPARE(ggmlFp32ToFp16(-0.0f), uint16_t(0x8000));
        QCOMPARE(ggmlFp32ToFp16(65504.0f), uint16_t(0x7BFF));
        QCOMPARE(ggmlFp32ToFp16(65519.0f), uint16_t(0x7BFF)); // below the midpoint to 65536
        QCOMPARE(ggmlFp32ToFp16(65520.0f), uint16_t(0x7C00)); // the midpoint: ties to even = inf
        QCOMPARE(ggmlFp32ToFp16(1e10f), uint16_t(0x7C00));
        QCOMPARE(ggmlFp32ToFp16(-inf), uint16_t(0xFC00));
        QCOMPARE(ggmlFp32ToFp16(std::ldexp(1.0f, -24)), uint16_t(0x0001)); // smallest subnormal
        QCOMPARE(ggmlFp32ToFp16(std::ldexp(1.0f, -25)), uint16_t(0x0000)); // tie: to even (0)
        QCOMPARE(ggmlFp32ToFp16(std::ldexp(3.0f, -25)), uint16_t(0x0002)); // tie 1.5 ulp: to even (2)
        QCOMPARE(ggmlFp32ToFp16(1.0f + std::ldexp(1.0f, -11)), uint16_t(0x3C00)); // tie: even
        QCOMPARE(ggmlFp32ToFp16(1.0f + std::ldexp(3.0f, -11)), uint16_t(0x3C02)); // tie: even
        QCOMPARE(ggmlFp32ToFp16(nan), uint16_t(0x7E00));
        QCOMPARE(ggmlFp32ToFp16(-nan), uint16_t(0xFE00));
        // Every fp16 code except NaNs survives fp16 -> fp32 -> fp16.
        for (uint32_t h = 0; h < 65536; ++h) {
            const float f = ggmlFp16ToFp32(uint16_t(h));
            if ((h & 0x7C00) == 0x7C00 && (h & 0x03FF))
                QVERIFY(std::isnan(f));
            else
                QCOMPARE(ggmlFp32ToFp16(f), uint16_t(h));
        }
        QCOMPARE(ggmlFp16ToFp32(0x0001), std::ldexp(1.0f, -24));
        QCOMPARE(ggmlFp16ToFp32(0x3555), 0.333251953125f);

        QCOMPARE(ggmlFp32ToBf16(ggmltest::floatFromBits(0x3F808000u)), uint16_t(0x3F80)); // tie: even
        QCOMPARE(ggmlFp32ToBf16(ggmltest::floatFromBits(0x3F818000u)), uint16_t(0x3F82)); // tie: even
        QCOMPARE(ggmlFp32ToBf16(ggmltest::floatFromBits(0x7F800001u)), uint16_t(0x7FC0));
        QCOMPARE(ggmlFp32ToBf16(ggmltest::floatFromBits(0xFF812345u)), uint16_t(0xFFC1)); // payload kept
        QCOMPARE(ggmlFp32ToBf16(ggmltest::floatFromBits(0x7F7FFFFFu)), uint16_t(0x7F80)); // FLT_MAX -> inf
        QCOMPARE(ggmlBf16ToFp32(0x3F80), 1.0f);
        // Off NaN, ggml's bf16 rounding is PyTorch's (Bf16.h).
        std::mt19937 rng(3);
        for (int i = 0; i < 100000; ++i) {
            const float f = ggmltest::floatFromBits(uint32_t(rng()));
            if (!std::isnan(f))
                QCOMPARE(ggmlFp32ToBf16(f), floatToBf16(f));
        }
    }

    // Worked by hand: x[j] = j - 16. The value of largest magnitude is -16 (j = 0), so
    // d = -16 / -8 = 2 and q = trunc(x/2 + 8.5) = floor((j + 1) / 2), clamped to 15; element j
    // in the low nibble, j + 16 in the high one.
    void q4_0ByHand()
    {
        std::vector<float> x(32);
        for (int j = 0; j < 32; ++j)
            x[size_t(j)] = float(j - 16);
        const std::vector<uint8_t> q = quantize(GgmlType::Q4_0, x, 1, 32);
        QCOMPARE(q.size(), size_t(18));
        GgmlBlockQ4_0 block;
        std::memcpy(&block, q.data(), sizeof(block));
        QCOMPARE(block.d, uint16_t(0x4000)); // fp16 2.0
        for (int j = 0; j < 16; ++j) {
            const int lo = (j + 1) / 2, hi = std::min(15, (j + 17) / 2);
            QCOMPARE(int(block.qs[j]), lo | (hi << 4));
        }
        const std::vector<float> y = dequantize(GgmlType::Q4_0, q, 1, 32);
        for (int j = 0; j < 32; ++j)
            QCOMPARE(y[size_t(j)], float(2 * (std::min(15, (j + 1) / 2) - 8)));
    }

    // Worked by hand: amax 127 makes d = 1 exactly, so q = roundf(x) (half away from zero).
    void q8_0ByHand()
    {
        std::vector<float> x(32, 0.0f);
        x[0] = -127.0f;
        x[1] = 2.5f;
        x[2] = -2.5f;
        x[3] = 0.49f;
        x[4] = 126.6f;
        const std::vector<uint8_t> q = quantize(GgmlType::Q8_0, x, 1, 32);
        GgmlBlockQ8_0 block;
        std::memcpy(&block, q.data(), sizeof(block));
        QCOMPARE(block.d, uint16_t(0x3C00));
        const int want[5] = {-127, 3, -3, 0, 127};
        for (int j = 0; j < 5; ++j)
            QCOMPARE(int(block.qs[j]), want[j]);
        for (int j = 5; j < 32; ++j)
            QCOMPARE(int(block.qs[j]), 0);
    }

    // Worked by hand: x[j] = j - 16, but x[31] = +16. The first value of largest magnitude is
    // -16 (j = 0), so d = -16 / -16 = 1 and q = trunc(x + 16.5) = j, except x[31]: 32, clamped
    // to 31. Low nibbles as Q4_0; the fifth bit of element j in bit j of qh: elements 16..31.
    void q5_0ByHand()
    {
        std::vector<float> x(32);
        for (int j = 0; j < 32; ++j)
            x[size_t(j)] = float(j - 16);
        x[31] = 16.0f;
        const std::vector<uint8_t> q = quantize(GgmlType::Q5_0, x, 1, 32);
        QCOMPARE(q.size(), size_t(22));
        GgmlBlockQ5_0 block;
        std::memcpy(&block, q.data(), sizeof(block));
        QCOMPARE(block.d, uint16_t(0x3C00)); // fp16 1.0
        const uint8_t wantQh[4] = {0x00, 0x00, 0xFF, 0xFF};
        for (int b = 0; b < 4; ++b)
            QCOMPARE(int(block.qh[b]), int(wantQh[b]));
        for (int j = 0; j < 16; ++j)
            QCOMPARE(int(block.qs[j]), j | (j << 4)); // j and j + 16 share their low 4 bits
        const std::vector<float> y = dequantize(GgmlType::Q5_0, q, 1, 32);
        for (int j = 0; j < 32; ++j)
            QCOMPARE(y[size_t(j)], float(j - 16)); // x[31] = 16 comes back as 15
    }

    // Worked by hand: x[j] = j/2 - 3, min -3, max 12.5, so d = 15.5 / 31 = 0.5, id = 2, and
    // q = trunc((x + 3) * 2 + 0.5) = j; x[5] moved up a quarter to -0.25 is a tie, 5.5, rounded
    // up to 6. m is the minimum itself (fp16 -3.0).
    void q5_1ByHand()
    {
        std::vector<float> x(32);
        for (int j = 0; j < 32; ++j)
            x[size_t(j)] = 0.5f * float(j) - 3.0f;
        x[5] = -0.25f;
        const std::vector<uint8_t> q = quantize(GgmlType::Q5_1, x, 1, 32);
        QCOMPARE(q.size(), size_t(24));
        GgmlBlockQ5_1 block;
        std::memcpy(&block, q.data(), sizeof(block));
        QCOMPARE(block.d, uint16_t(0x3800)); // fp16 0.5
        QCOMPARE(block.m, uint16_t(0xC200)); // fp16 -3.0
        const uint8_t wantQh[4] = {0x00, 0x00, 0xFF, 0xFF};
        for (int b = 0; b < 4; ++b)
            QCOMPARE(int(block.qh[b]), int(wantQh[b]));
        for (int j = 0; j < 16; ++j)
            QCOMPARE(int(block.qs[j]), (j == 5 ? 6 : j) | (j << 4));
        const std::vector<float> y = dequantize(GgmlType::Q5_1, q, 1, 32);
        for (int j = 0; j < 32; ++j)
            QCOMPARE(y[size_t(j)], 0.5f * float(j == 5 ? 6 : j) - 3.0f);
    }

    // Rows of zeros: every quantized byte 0, except Q4_0's and Q5_0's codes (0 * id + 8.5 -> 8,
    // 0 * id + 16.5 -> 16: nibbles 8 and 0, every fifth bit set) and their scales, which ggml
    // computes as 0 / -8 (or -16) = -0.0 (fp16 0x8000); an exact zero back.
    void zeroRows_data()
    {
        QTest::addColumn<int>("type");
        for (GgmlType type : kAllTypes)
            QTest::newRow(qPrintable(typeName(type))) << int(type);
    }
    void zeroRows()
    {
        QFETCH(int, type);
        const GgmlType t = GgmlType(type);
        const std::vector<float> x(3 * 512, 0.0f);
        const std::vector<uint8_t> q = quantize(t, x, 3, 512);
        QVERIFY(!q.empty());
        for (size_t i = 0; i < q.size(); ++i) {
            int want = 0;
            if (t == GgmlType::Q4_0)
                want = i % 18 >= 2 ? 0x88 : i % 18 == 1 ? 0x80 : 0;
            if (t == GgmlType::Q5_0) // d (2 bytes), qh (4), qs (16)
                want = i % 22 == 1 ? 0x80 : i % 22 >= 2 && i % 22 < 6 ? 0xFF : 0;
            QCOMPARE(int(q[i]), want);
        }
        for (float v : dequantize(t, q, 3, 512))
            QCOMPARE(v, 0.0f);
    }

    // Random normal weights (sigma 0.02, as in a transformer): relative RMS error within a
    // bound per type, and the types in the order their bits promise.
    void roundTripError()
    {
        const int64_t rows = 32, n = 4096;
        const std::vector<float> x = ggmltest::gaussian(size_t(rows * n), 42);
        QMap<GgmlType, double> err;
        for (GgmlType t : kAllTypes) {
            const std::vector<float> y = roundTrip(t, x, rows, n);
            QVERIFY(allFinite(y));
            err[t] = relativeRms(x, y);
            qInfo("%-5s relative RMS error %.6f", ggmlTypeInfo(t)->name, err[t]);
        }
        QCOMPARE(err[GgmlType::F32], 0.0);
        QVERIFY(err[GgmlType::F16] < 3e-4);  // 11-bit significand: ~2^-11 / sqrt(3)
        QVERIFY(err[GgmlType::BF16] < 2.5e-3); // 8-bit significand
        QVERIFY(err[GgmlType::Q8_0] < 0.006);
        QVERIFY(err[GgmlType::Q6_K] < 0.02);
        QVERIFY(err[GgmlType::Q5_K] < 0.04);
        QVERIFY(err[GgmlType::Q4_K] < 0.08);
        QVERIFY(err[GgmlType::Q5_1] < 0.05);
        QVERIFY(err[GgmlType::Q5_0] < 0.055);
        QVERIFY(err[GgmlType::Q4_0] < 0.11);
        QVERIFY(err[GgmlType::F16] < err[GgmlType::BF16]);
        QVERIFY(err[GgmlType::BF16] < err[GgmlType::Q8_0]);
        QVERIFY(err[GgmlType::Q8_0] < err[GgmlType::Q6_K]);
        QVERIFY(err[GgmlType::Q6_K] < err[GgmlType::Q5_K]);
        QVERIFY(err[GgmlType::Q5_K] < err[GgmlType::Q4_K]);
        // The 32-blocks: Q8_0, then Q5_1 (6 bits, scale and min), Q5_0 (5.5 bits), Q4_0 (4.5).
        QVERIFY(err[GgmlType::Q8_0] < err[GgmlType::Q5_1]);
        QVERIFY(err[GgmlType::Q5_1] < err[GgmlType::Q5_0]);
        QVERIFY(err[GgmlType::Q5_0] < err[GgmlType::Q4_K]); // a bit more beats the better fit
        QVERIFY(err[GgmlType::Q4_0] > 1.7 * err[GgmlType::Q5_0]); // ~2x per bit
        // Same bits per weight, the k-quant's fitted scale and min does somewhat better.
        QVERIFY(err[GgmlType::Q5_K] < err[GgmlType::Q5_0]);
        QVERIFY(err[GgmlType::Q4_K] < err[GgmlType::Q4_0]);
        QVERIFY(err[GgmlType::Q4_0] < 1.6 * err[GgmlType::Q4_K]);
    }

    // A constant row comes back within the precision of the type's fp16 scales (2^-11
    // relative; each sub-block scale is the maximum, 63/63 or -128/-128, so no 6- or 8-bit
    // rounding adds to it) or of bf16 (2^-9). Constants are chosen so that the block scales
    // stay normal fp16 numbers: Q6_K's d is c / 4096 and Q4_K's c / 945, and below 2^-14 fp16
    // turns subnormal and coarse (0.001 comes back from Q4_K as 0.0010139).
    void constantRows_data() { zeroRows_data(); }
    void constantRows()
    {
        QFETCH(int, type);
        const GgmlType t = GgmlType(type);
        const float bound = t == GgmlType::BF16 ? 4e-3f : 1e-3f;
        for (float c : {0.37f, -3.25f, 20.0f, 1000.0f}) {
            const std::vector<float> x(512, c);
            const std::vector<float> y = roundTrip(t, x, 1, 512);
            QVERIFY(allFinite(y));
            for (float v : y)
                QVERIFY2(std::fabs(v - c) <= bound * std::fabs(c),
                         qPrintable(QStringLiteral("%1: %2 -> %3").arg(typeName(t)).arg(c).arg(v)));
        }
    }

    // One huge outlier: it comes back within its block's resolution, the blocks without it
    // keep their usual error, and nothing overflows.
    void outlier_data() { zeroRows_data(); }
    void outlier()
    {
        QFETCH(int, type);
        const GgmlType t = GgmlType(type);
        const int64_t n = 4096;
        std::vector<float> x = ggmltest::gaussian(size_t(n), 9);
        const std::vector<float> clean = roundTrip(t, x, 1, n);
        x[1000] = 1.0e4f;
        const std::vector<float> y = roundTrip(t, x, 1, n);
        QVERIFY(allFinite(y));
        QVERIFY(std::fabs(y[1000] - 1.0e4f) <= 4e-3f * 1.0e4f); // bf16's 2^-9 the coarsest
        // The outlier's block: 256 elements for the k-quants, 32 for Q4_0/Q8_0.
        const int64_t block = std::max<int64_t>(32, ggmlTypeInfo(t)->blockElements);
        const size_t b0 = size_t(1000 / block * block), b1 = b0 + size_t(block);
        for (size_t i = 0; i < size_t(n); ++i)
            if (i < b0 || i >= b1)
                QCOMPARE(y[i], clean[i]); // other blocks are untouched by it
    }

    // Tiny, subnormal and fp16-underflowing values: finite results no larger than the input,
    // zeros from every type with fp16 scales or values (they underflow), bf16 rounded as
    // PyTorch rounds.
    void tinyValues_data() { zeroRows_data(); }
    void tinyValues()
    {
        QFETCH(int, type);
        const GgmlType t = GgmlType(type);
        for (const ggmltest::NamedRow& row : ggmltest::adversarialRows()) {
            if (row.name != "tiny 1e-30" && row.name != "subnormal" && row.name != "subnormal and zero" &&
                row.name != "smallest normal" && row.name != "near group eps 1e-15")
                continue;
            const std::vector<float> y = roundTrip(t, row.x, 1, ggmltest::kRowElements);
            QVERIFY2(allFinite(y), row.name.c_str());
            float amax = 0;
            for (float v : row.x)
                amax = std::max(amax, std::fabs(v));
            if (t == GgmlType::BF16) { // fp32's exponent range: rounded, not flushed
                for (size_t i = 0; i < y.size(); ++i)
                    QCOMPARE(y[i], bf16ToFloat(floatToBf16(row.x[i])));
                continue;
            }
            for (float v : y)
                QVERIFY2(std::fabs(v) <= amax, row.name.c_str());
            if (t == GgmlType::F32)
                continue;
            for (float v : y)
                QCOMPARE(v, 0.0f);
        }
    }

    // Finite input whose scales fit fp16 (|x| up to 6e4; beyond ~8e6 Q8_0's scale
    // amax/127 overflows fp16 to inf in ggml too) gives finite output, for magnitudes spread
    // from 1e-40 to 6e4 in one row, and for every adversarial row that stays in that range.
    void finiteInFiniteOut_data() { zeroRows_data(); }
    void finiteInFiniteOut()
    {
        QFETCH(int, type);
        const GgmlType t = GgmlType(type);
        const std::vector<float> x = ggmltest::logUniform(64 * 1024, 17, 1e-40, 6e4);
        QVERIFY(allFinite(roundTrip(t, x, 64, 1024)));
        for (const ggmltest::NamedRow& row : ggmltest::adversarialRows()) {
            float amax = 0;
            for (float v : row.x)
                amax = std::max(amax, std::fabs(v));
            if (amax <= 6e4f)
                QVERIFY2(allFinite(roundTrip(t, row.x, 1, ggmltest::kRowElements)), row.name.c_str());
        }
    }

    // The bytes do not depend on the thread count, for whole rows and for a single long row
    // split inside it.
    void threadsGiveSameBytes_data() { zeroRows_data(); }
    void threadsGiveSameBytes()
    {
        QFETCH(int, type);
        const GgmlType t = GgmlType(type);
        for (auto shape : {std::pair<int64_t, int64_t>{37, 512}, {1, 8192}, {2, 256}}) {
            const std::vector<float> x = ggmltest::gaussian(size_t(shape.first * shape.second), 23);
            const std::vector<uint8_t> one = quantize(t, x, shape.first, shape.second, 1);
            const std::vector<float> back = dequantize(t, one, shape.first, shape.second, 1);
            for (int threads : {0, 2, 3, 8, 100}) {
                QCOMPARE(quantize(t, x, shape.first, shape.second, threads), one);
                const std::vector<float> y = dequantize(t, one, shape.first, shape.second, threads);
                QVERIFY(std::memcmp(y.data(), back.data(), y.size() * 4) == 0);
            }
        }
    }

    // The SIMD scale searches (one sub-block per lane) against the scalar one, for every variant
    // this CPU runs: the same bytes on each adversarial and non-finite row alone (one group, 1 of
    // 8 or 16 lanes used), on all of them as one tensor (full groups and a partial last one, one
    // sub-block per lane from different rows), and on random tensors of several shapes and
    // distributions. (tst_ggmlquant_parity compares every variant with ggml itself.)
    void simdVariantsMatchScalar_data()
    {
        QTest::addColumn<int>("type");
        QTest::addColumn<int>("isa");
        for (GgmlIsa isa : kSimdIsas)
            for (GgmlType type : {GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K})
                QTest::newRow(qPrintable(typeName(type) + QLatin1Char(' ') + QString::fromLatin1(ggmlIsaName(isa))))
                    << int(type) << int(isa);
    }
    void simdVariantsMatchScalar()
    {
        QFETCH(int, type);
        QFETCH(int, isa);
        const GgmlType t = GgmlType(type);
        const GgmlIsa variant = GgmlIsa(isa);
        if (!ggmlIsaSupported(variant))
            QSKIP("this variant is not compiled in or not offered by this CPU");
        const int64_t n = ggmltest::kRowElements;
        std::vector<float> all;
        for (const auto& rows : {ggmltest::adversarialRows(), ggmltest::nonFiniteRows()})
            for (const ggmltest::NamedRow& row : rows) {
                const int64_t diff =
                    ggmltest::firstDifference(quantize(t, row.x, 1, n, 1, variant), quantize(t, row.x, 1, n, 1, GgmlIsa::Scalar));
                QVERIFY2(diff == -1, qPrintable(QStringLiteral("row \"%1\": first differing byte %2")
                                                    .arg(QString::fromStdString(row.name))
                                                    .arg(diff)));
                all.insert(all.end(), row.x.begin(), row.x.end());
            }
        const int64_t rows = int64_t(all.size()) / n;
        QCOMPARE(ggmltest::firstDifference(quantize(t, all, rows, n, 1, variant), quantize(t, all, rows, n, 1, GgmlIsa::Scalar)),
                 int64_t(-1));
        // Random weights: 1, 3, 5 and 37 x 2 super-blocks; normal, heavy-tailed, wide range,
        // runs of 16 of mixed shapes (with NaN and inf in some).
        for (auto shape : {std::pair<int64_t, int64_t>{1, 256}, {1, 768}, {5, 256}, {37, 512}})
            for (int dist = 0; dist < 5; ++dist) {
                const size_t count = size_t(shape.first * shape.second);
                const uint32_t seed = uint32_t(31 * shape.first + dist);
                const std::vector<float> x = dist == 0   ? ggmltest::gaussian(count, seed)
                                             : dist == 1 ? ggmltest::studentT(count, seed, 1.5f)
                                             : dist == 2 ? ggmltest::logUniform(count, seed, 1e-30, 1e4)
                                                         : ggmltest::mixedRuns(count, seed, dist == 4);
                QCOMPARE(ggmltest::firstDifference(quantize(t, x, shape.first, shape.second, 1, variant),
                                         quantize(t, x, shape.first, shape.second, 1, GgmlIsa::Scalar)),
                         int64_t(-1));
            }
    }

    // The variant names, and what Auto resolves to.
    void isaChoice()
    {
        QCOMPARE(QString::fromLatin1(ggmlIsaName(GgmlIsa::Auto)), QStringLiteral("auto"));
        QCOMPARE(QString::fromLatin1(ggmlIsaName(GgmlIsa::Scalar)), QStringLiteral("scalar"));
        QCOMPARE(QString::fromLatin1(ggmlIsaName(GgmlIsa::Avx2)), QStringLiteral("avx2"));
        QCOMPARE(QString::fromLatin1(ggmlIsaName(GgmlIsa::Avx512)), QStringLiteral("avx512"));
        QVERIFY(ggmlIsaSupported(GgmlIsa::Auto) && ggmlIsaSupported(GgmlIsa::Scalar));
        const GgmlIsa best = ggmlBestIsa();
        QVERIFY(best != GgmlIsa::Auto && ggmlIsaSupported(best));
        if (ggmlIsaSupported(GgmlIsa::Avx512))
            QCOMPARE(best, GgmlIsa::Avx512);
        qInfo("k-quant scale search: %s", ggmlIsaName(best));
        // A variant this CPU lacks is refused, with nothing written.
        for (GgmlIsa isa : kSimdIsas) {
            if (ggmlIsaSupported(isa))
                continue;
            const std::vector<float> x(256, 1.0f);
            std::vector<uint8_t> q(144, 0xA5);
            QCOMPARE(ggmlQuantizeRows(GgmlType::Q4_K, x.data(), q.data(), 1, 256, 1, isa), KernelStatus::IsaUnavailable);
            QCOMPARE(q, std::vector<uint8_t>(144, 0xA5));
        }
    }

    // Bad arguments are refused before anything is written.
    void refusesBadArguments()
    {
        const std::vector<float> x(1024, 1.0f);
        std::vector<uint8_t> q(4096, 0xA5);
        std::vector<float> y(1024, -1.0f);
        auto untouched = [&] {
            for (uint8_t b : q)
                if (b != 0xA5)
                    return false;
            for (float v : y)
                if (v != -1.0f)
                    return false;
            return true;
        };
        QCOMPARE(ggmlQuantizeRows(GgmlType::Q4_0, x.data(), q.data(), 2, 100, 1), KernelStatus::BadSize);
        QCOMPARE(ggmlQuantizeRows(GgmlType::Q8_0, x.data(), q.data(), 1, 31, 1), KernelStatus::BadSize);
        QCOMPARE(ggmlQuantizeRows(GgmlType::Q4_K, x.data(), q.data(), 1, 96, 1), KernelStatus::BadSize);
        QCOMPARE(ggmlQuantizeRows(GgmlType::Q6_K, x.data(), q.data(), 2, 288, 4), KernelStatus::BadSize);
        QCOMPARE(ggmlQuantizeRows(GgmlType::Q5_K, x.data(), q.data(), -1, 256, 1), KernelStatus::BadSize);
        QCOMPARE(ggmlQuantizeRows(GgmlType::F16, x.data(), q.data(), 1, -2, 1), KernelStatus::BadSize);
        QCOMPARE(ggmlQuantizeRows(static_cast<GgmlType>(3), x.data(), q.data(), 1, 32, 1),
                 KernelStatus::BadBlocksize);
        QCOMPARE(ggmlQuantizeRows(GgmlType::Q8_0, nullptr, q.data(), 1, 32, 1), KernelStatus::NullPointer);
        QCOMPARE(ggmlQuantizeRows(GgmlType::Q8_0, x.data(), nullptr, 1, 32, 1), KernelStatus::NullPointer);
        QCOMPARE(ggmlDequantizeRows(GgmlType::Q4_K, q.data(), y.data(), 1, 255, 1), KernelStatus::BadSize);
        QCOMPARE(ggmlDequantizeRows(static_cast<GgmlType>(99), q.data(), y.data(), 1, 32, 1),
                 KernelStatus::BadBlocksize);
        QCOMPARE(ggmlDequantizeRows(GgmlType::Q4_0, nullptr, y.data(), 1, 32, 1), KernelStatus::NullPointer);
        QVERIFY(untouched());
        // Nothing to do is fine, with or without buffers; F16/BF16/F32 take any length.
        QCOMPARE(ggmlQuantizeRows(GgmlType::Q4_K, nullptr, nullptr, 0, 256, 1), KernelStatus::Ok);
        QCOMPARE(ggmlQuantizeRows(GgmlType::Q4_K, nullptr, nullptr, 3, 0, 1), KernelStatus::Ok);
        QCOMPARE(ggmlQuantizeRows(GgmlType::F16, x.data(), q.data(), 3, 7, 2), KernelStatus::Ok);
        QCOMPARE(q[42], uint8_t(0xA5)); // 3 * 7 * 2 bytes written, no more
        QCOMPARE(q[41], uint8_t(0x3C));
    }
};

QTEST_APPLESS_MAIN(TestGgmlQuant)
#include "tst_ggmlquant.moc"
