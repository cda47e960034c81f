// kernels/cpu/GgmlQuant.h against ggml itself: the libggml-base.so node-llama-cpp ships
// (tests/llamacpp, installed by `installer/setup.sh test`) is dlopen'ed, and our bytes must
// equal what ggml_quantize_chunk(type, src, dst, 0, rows, n_per_row, NULL) writes, for every
// type and every variant this CPU runs (GgmlIsa), on random weights of several shapes and on
// adversarial rows; our dequantization must equal ggml's to_float bit for bit, on our output
// and on random block bytes; the fp16/bf16 conversions are swept over a large share of all
// fp32 bit patterns.
#include <QtTest/QtTest>

#include <dlfcn.h>

#include <cstring>
#include <random>

#include "GgmlTestRows.h"
#include "cpu/GgmlQuant.h"

using namespace tbk;

namespace {

const char* const kGgmlBasePath =
    TB_SOURCE_DIR "/tests/llamacpp/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libggml-base.so";

const GgmlType kAllTypes[] = {GgmlType::F32,  GgmlType::F16,  GgmlType::BF16, GgmlType::Q4_0, GgmlType::Q5_0,
                              GgmlType::Q5_1, GgmlType::Q8_0, GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K};

// ggml.h, the release tests/llamacpp installs: enum ggml_type is passed as int.
struct GgmlTypeTraits { // struct ggml_type_traits
    const char* type_name;
    int64_t blck_size;
    int64_t blck_size_interleave;
    size_t type_size;
    bool is_quantized;
    void (*to_float)(const void* x, float* y, int64_t k);
    void (*from_float_ref)(const float* x, void* y, int64_t k);
};
using QuantizeChunkFn = size_t (*)(int type, const float* src, void* dst, int64_t start, int64_t nrows,
                                   int64_t n_per_row, const float* imatrix);
using GetTypeTraitsFn = const GgmlTypeTraits* (*)(int type);

struct GgmlLibrary {
    void* handle = nullptr;
    QuantizeChunkFn quantizeChunk = nullptr;
    GetTypeTraitsFn typeTraits = nullptr;
};

GgmlLibrary g_ggml;

QString typeName(GgmlType type)
{
    return QString::fromLatin1(ggmlTypeInfo(type)->name);
}

std::vector<uint8_t> ggmlQuantize(GgmlType type, const std::vector<float>& x, int64_t rows, int64_t n)
{
    std::vector<uint8_t> out(size_t(rows * ggmlRowBytes(type, n)), 0xA5);
    const size_t written = g_ggml.quantizeChunk(int(type), x.data(), out.data(), 0, rows, n, nullptr);
    if (written != out.size())
        return {};
    return out;
}

std::vector<uint8_t> ourQuantize(GgmlType type, const std::vector<float>& x, int64_t rows, int64_t n,
                                 int threads = 1, GgmlIsa isa = GgmlIsa::Auto)
{
    std::vector<uint8_t> out(size_t(rows * ggmlRowBytes(type, n)), 0x5A);
    if (ggmlQuantizeRows(type, x.data(), out.data(), rows, n, threads, isa) != KernelStatus::Ok)
        return {};
    return out;
}

// The variants of our quantizers this CPU runs (they differ only for the k-quants).
std::vector<GgmlIsa> supportedIsas()
{
    std::vector<GgmlIsa> isas;
    for (GgmlIsa isa : {GgmlIsa::Scalar, GgmlIsa::Avx2, GgmlIsa::Avx512})
        if (ggmlIsaSupported(isa))
            isas.push_back(isa);
    return isas;
}

// ggml's to_float for a type; F32 has none (a copy).
std::vector<float> ggmlDequantize(GgmlType type, const std::vector<uint8_t>& q, int64_t elements)
{
    std::vector<float> y(static_cast<size_t>(elements));
    if (type == GgmlType::F32)
        std::memcpy(y.data(), q.data(), y.size() * 4);
    else
        g_ggml.typeTraits(int(type))->to_float(q.data(), y.data(), elements);
    return y;
}

bool sameBits(const std::vector<float>& a, const std::vector<float>& b)
{
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * 4) == 0;
}

} // namespace

class TestGgmlQuantParity : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase()
    {
        if (!QFileInfo::exists(QString::fromUtf8(kGgmlBasePath)))
            QFAIL(qPrintable(QStringLiteral("ggml's library is missing (%1); run `installer/setup.sh test`, which "
                                            "installs it (npm ci in tests/llamacpp)")
                                 .arg(QString::fromUtf8(kGgmlBasePath))));
        g_ggml.handle = dlopen(kGgmlBasePath, RTLD_NOW | RTLD_LOCAL);
        QVERIFY2(g_ggml.handle, dlerror());
        g_ggml.quantizeChunk = reinterpret_cast<QuantizeChunkFn>(dlsym(g_ggml.handle, "ggml_quantize_chunk"));
        g_ggml.typeTraits = reinterpret_cast<GetTypeTraitsFn>(dlsym(g_ggml.handle, "ggml_get_type_traits"));
        QVERIFY2(g_ggml.quantizeChunk && g_ggml.typeTraits, "ggml_quantize_chunk / ggml_get_type_traits not exported");
    }

    void cleanupTestCase()
    {
        if (g_ggml.handle)
            dlclose(g_ggml.handle);
    }

    // Our type table against ggml's type_traits (also checks the struct layout declared above).
    void typeTableMatchesGgml()
    {
        for (GgmlType type : kAllTypes) {
            const GgmlTypeTraits* t = g_ggml.typeTraits(int(type));
            const GgmlTypeInfo* info = ggmlTypeInfo(type);
            QVERIFY(t && info);
            QCOMPARE(QString::fromLatin1(t->type_name), QString::fromLatin1(info->name));
            QCOMPARE(t->blck_size, info->blockElements);
            QCOMPARE(int64_t(t->type_size), info->blockBytes);
            QCOMPARE(t->is_quantized, info->blockElements > 1);
            QVERIFY(type == GgmlType::F32 || t->to_float);
        }
    }

    void randomWeights_data()
    {
        QTest::addColumn<int>("type");
        QTest::addColumn<int>("rows");
        QTest::addColumn<int>("rowElements");
        QTest::addColumn<int>("distribution"); // 0 gaussian 0.02, 1 gaussian 3.0, 2 heavy tails, 3 wide range
        const int shapes[][2] = {{4, 256}, {3, 4096}, {2, 11008}, {64, 512}};
        for (GgmlType type : kAllTypes)
            for (const auto& s : shapes)
                for (int dist = 0; dist < 4; ++dist) {
                    const QString name = QStringLiteral("%1 %2x%3 d%4").arg(typeName(type)).arg(s[0]).arg(s[1]).arg(dist);
                    QTest::newRow(qPrintable(name)) << int(type) << s[0] << s[1] << dist;
                }
        // Rows that are not whole k-quant super-blocks: 96, and 896 (Qwen2.5-0.5B's hidden size,
        // which llama.cpp quantizes as Q5_0/Q5_1 in place of Q4_K/Q5_K).
        for (GgmlType type : {GgmlType::F32, GgmlType::F16, GgmlType::BF16, GgmlType::Q4_0, GgmlType::Q5_0,
                              GgmlType::Q5_1, GgmlType::Q8_0}) {
            QTest::newRow(qPrintable(QStringLiteral("%1 5x96").arg(typeName(type)))) << int(type) << 5 << 96 << 0;
            for (int dist = 0; dist < 4; ++dist)
                QTest::newRow(qPrintable(QStringLiteral("%1 7x896 d%2").arg(typeName(type)).arg(dist)))
                    << int(type) << 7 << 896 << dist;
        }
    }
    void randomWeights()
    {
        QFETCH(int, type);
        QFETCH(int, rows);
        QFETCH(int, rowElements);
        QFETCH(int, distribution);
        const GgmlType t = GgmlType(type);
        const size_t n = size_t(rows) * size_t(rowElements);
        const uint32_t seed = uint32_t(1000 * type + rows + distribution);
        const std::vector<float> x = distribution == 0   ? ggmltest::gaussian(n, seed)
                                     : distribution == 1 ? ggmltest::gaussian(n, seed, 3.0f)
                                     : distribution == 2 ? ggmltest::studentT(n, seed)
                                                         : ggmltest::logUniform(n, seed, 1e-20, 1e4);
        const std::vector<uint8_t> want = ggmlQuantize(t, x, rows, rowElements);
        QVERIFY(!want.empty());
        const std::vector<uint8_t> got = ourQuantize(t, x, rows, rowElements);
        QCOMPARE(ggmltest::firstDifference(got, want), int64_t(-1));
        QCOMPARE(ggmltest::firstDifference(ourQuantize(t, x, rows, rowElements, 3), want), int64_t(-1));
        for (GgmlIsa isa : supportedIsas())
            QVERIFY2(ggmltest::firstDifference(ourQuantize(t, x, rows, rowElements, 1, isa), want) == -1, ggmlIsaName(isa));
        QVERIFY(sameBits(ourDequantize(t, got, rows, rowElements), ggmlDequantize(t, got, int64_t(n))));
    }

    // Each adversarial row alone (one super-block), and all of them as one tensor.
    void adversarialRows_data()
    {
        QTest::addColumn<int>("type");
        for (GgmlType type : kAllTypes)
            QTest::newRow(qPrintable(typeName(type))) << int(type);
    }
    void adversarialRows()
    {
        QFETCH(int, type);
        const GgmlType t = GgmlType(type);
        std::vector<float> all;
        for (const ggmltest::NamedRow& row : ggmltest::adversarialRows()) {
            const std::vector<uint8_t> want = ggmlQuantize(t, row.x, 1, ggmltest::kRowElements);
            const std::vector<uint8_t> got = ourQuantize(t, row.x, 1, ggmltest::kRowElements);
            QVERIFY2(ggmltest::firstDifference(got, want) == -1,
                     qPrintable(QStringLiteral("row \"%1\": first differing byte %2")
                                    .arg(QString::fromStdString(row.name))
                                    .arg(ggmltest::firstDifference(got, want))));
            for (GgmlIsa isa : supportedIsas()) {
                const int64_t diff = ggmltest::firstDifference(ourQuantize(t, row.x, 1, ggmltest::kRowElements, 1, isa), want);
                QVERIFY2(diff == -1, qPrintable(QStringLiteral("%1, row \"%2\": first differing byte %3")
                                                    .arg(QString::fromLatin1(ggmlIsaName(isa)))
                                                    .arg(QString::fromStdString(row.name))
                                                    .arg(diff)));
            }
            QVERIFY2(sameBits(ourDequantize(t, got, 1, ggmltest::kRowElements),
                              ggmlDequantize(t, got, ggmltest::kRowElements)),
                     qPrintable(QString::fromStdString(row.name)));
            all.insert(all.end(), row.x.begin(), row.x.end());
        }
        const int64_t rows = int64_t(all.size()) / ggmltest::kRowElements;
        const std::vector<uint8_t> want = ggmlQuantize(t, all, rows, ggmltest::kRowElements);
        QCOMPARE(ggmltest::firstDifference(ourQuantize(t, all, rows, ggmltest::kRowElements, 4), want), int64_t(-1));
        for (GgmlIsa isa : supportedIsas())
            QVERIFY2(ggmltest::firstDifference(ourQuantize(t, all, rows, ggmltest::kRowElements, 1, isa), want) == -1,
                     ggmlIsaName(isa));
    }

    // Runs of 16 of mixed shapes (GgmlTestRows.h mixedRuns: scales from 1e-30 to 1e30,
    // constants, zeros, ties, subnormals; NaN and inf in some runs of the second tensor), so
    // the lanes of the SIMD scale searches take different branches side by side.
    void mixedRuns_data() { adversarialRows_data(); }
    void mixedRuns()
    {
        QFETCH(int, type);
        const GgmlType t = GgmlType(type);
        for (bool nonFinite : {false, true}) {
            const int64_t rows = 24, n = 1024;
            const std::vector<float> x = ggmltest::mixedRuns(size_t(rows * n), uint32_t(type + 500), nonFinite);
            const std::vector<uint8_t> want = ggmlQuantize(t, x, rows, n);
            QVERIFY(!want.empty());
            for (GgmlIsa isa : supportedIsas())
                QVERIFY2(ggmltest::firstDifference(ourQuantize(t, x, rows, n, 1, isa), want) == -1,
                         qPrintable(QStringLiteral("%1%2").arg(QString::fromLatin1(ggmlIsaName(isa)),
                                                               nonFinite ? QStringLiteral(", NaN/inf") : QString())));
        }
    }

    // NaN and inf inputs: not something an exporter should feed in, but the bytes still follow
    // ggml's arithmetic (the x86-64 build of it) rather than anything of our own.
    void nonFiniteRows_data() { adversarialRows_data(); }
    void nonFiniteRows()
    {
        QFETCH(int, type);
        const GgmlType t = GgmlType(type);
        for (const ggmltest::NamedRow& row : ggmltest::nonFiniteRows()) {
            const std::vector<uint8_t> want = ggmlQuantize(t, row.x, 1, ggmltest::kRowElements);
            for (GgmlIsa isa : supportedIsas()) {
                const int64_t diff = ggmltest::firstDifference(ourQuantize(t, row.x, 1, ggmltest::kRowElements, 1, isa), want);
                QVERIFY2(diff == -1, qPrintable(QStringLiteral("%1, row \"%2\": first differing byte %3")
                                                    .arg(QString::fromLatin1(ggmlIsaName(isa)))
                                                    .arg(QString::fromStdString(row.name))
                                                    .arg(diff)));
            }
        }
    }

    // Random bytes as blocks: every scale, code and bit pattern the dequantizers can meet,
    // fp16 NaN/inf scales included.
    void dequantizeRandomBytes_data() { adversarialRows_data(); }
    void dequantizeRandomBytes()
    {
        QFETCH(int, type);
        const GgmlType t = GgmlType(type);
        const int64_t rows = 16, n = 4096;
        std::vector<uint8_t> q(size_t(rows * ggmlRowBytes(t, n)));
        std::mt19937 rng(uint32_t(type) + 99);
        for (uint8_t& b : q)
            b = uint8_t(rng());
        QVERIFY(sameBits(ourDequantize(t, q, rows, n), ggmlDequantize(t, q, rows * n)));
        QVERIFY(sameBits(ourDequantize(t, q, rows, n, 3), ggmlDequantize(t, q, rows * n)));
    }

    // fp32 -> fp16 and bf16 through ggml_quantize_chunk over every 4099th fp32 bit pattern
    // (about a million, all exponents, NaN and inf included) plus 16384 consecutive patterns
    // of both signs from 1.0, 65504 (overflow), 2^-14 (fp16 subnormals) and 2^-25 (the
    // smallest tie); fp16 -> fp32 and bf16 -> fp32 over all 65536 codes through to_float.
    void halfConversionsMatchGgml()
    {
        std::vector<float> x;
        for (uint64_t w = 0; w < (uint64_t(1) << 32); w += 4099)
            x.push_back(ggmltest::floatFromBits(uint32_t(w)));
        for (uint32_t base : {0x3F800000u, 0x477FE000u, 0x38800000u, 0x33000000u})
            for (uint32_t d = 0; d < 0x4000; ++d) {
                x.push_back(ggmltest::floatFromBits(base + d));
                x.push_back(ggmltest::floatFromBits((base + d) | 0x80000000u));
            }
        const int64_t n = int64_t(x.size());
        for (GgmlType t : {GgmlType::F16, GgmlType::BF16})
            QCOMPARE(ggmltest::firstDifference(ourQuantize(t, x, 1, n), ggmlQuantize(t, x, 1, n)), int64_t(-1));

        std::vector<uint8_t> codes(65536 * 2);
        for (uint32_t h = 0; h < 65536; ++h) {
            codes[2 * h] = uint8_t(h);
            codes[2 * h + 1] = uint8_t(h >> 8);
        }
        for (GgmlType t : {GgmlType::F16, GgmlType::BF16})
            QVERIFY(sameBits(ourDequantize(t, codes, 1, 65536), ggmlDequantize(t, codes, 65536)));
    }

private:
    static std::vector<float> ourDequantize(GgmlType type, const std::vector<uint8_t>& q, int64_t rows,
                                            int64_t n, int threads = 1)
    {
        std::vector<float> y(size_t(rows * n));
        if (ggmlDequantizeRows(type, q.data(), y.data(), rows, n, threads) != KernelStatus::Ok)
            return {};
        return y;
    }
};

QTEST_APPLESS_MAIN(TestGgmlQuantParity)
#include "tst_ggmlquant_parity.moc"
