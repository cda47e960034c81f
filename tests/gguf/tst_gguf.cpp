// GgufWriter / GgufReader on real files: every value type and arrays round-trip, the layout is
// the one the format fixes (checked byte by byte on a small file), alignment and padding, the
// writer's refusals (an existing destination, a failing producer, a cancel) leave nothing
// behind, and broken files (truncated anywhere, wrong magic or version, lying counts, unknown
// types, misaligned or out-of-file tensors) are refused with the file and byte offset named.
// Torch-free: also runs under AddressSanitizer.
#include "formats/FormatError.h"
#include "gguf/GgufReader.h"
#include "gguf/GgufWriter.h"

#include "cpu/GgmlQuant.h"

#include <QTemporaryDir>
#include <QtTest>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

using namespace tb;

namespace {

std::string readBytes(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

void writeBytes(const std::string& path, const std::string& bytes)
{
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A writer with one of each value type, an array of strings, and two f32 tensors.
GgufWriter sampleWriter()
{
    GgufWriter w;
    w.set("general.architecture", GgufValue::string("llama"));
    w.set("t.u8", GgufValue::of(GgufType::Uint8, 200));
    w.set("t.i8", GgufValue::of(GgufType::Int8, uint64_t(int64_t(-5))));
    w.set("t.u16", GgufValue::of(GgufType::Uint16, 65535));
    w.set("t.i16", GgufValue::of(GgufType::Int16, uint64_t(int64_t(-300))));
    w.set("t.u32", GgufValue::u32(4000000000u));
    w.set("t.i32", GgufValue::i32(-7));
    w.set("t.f32", GgufValue::f32(0.25f));
    w.set("t.bool", GgufValue::boolean(true));
    w.set("t.u64", GgufValue::u64(uint64_t{1} << 40));
    w.set("t.i64", GgufValue::of(GgufType::Int64, uint64_t(-(int64_t{1} << 40))));
    w.set("t.f64", GgufValue::real64(GgufType::Float64, 1e-300));
    w.set("t.strings", GgufValue::strings({"a", "", "ünïcode ✓"}));
    w.set("t.ints", GgufValue::ints({1, -2, 3}));
    w.set("t.nested", GgufValue::array(GgufType::Array, {GgufValue::ints({4, 5}), GgufValue::ints({})}));
    for (const char* name : {"a.weight", "b.weight"}) {
        const std::string n = name;
        w.addTensor({n, {3, 2}, 0, 24, [n](uint8_t* dst) {
                         for (int i = 0; i < 6; ++i) {
                             const float f = float(i) + (n[0] == 'b' ? 10.0f : 0.0f);
                             std::memcpy(dst + 4 * i, &f, 4);
                         }
                     }});
    }
    return w;
}

} // namespace

class TestGguf : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void roundTripsEveryValueType()
    {
        QTemporaryDir dir;
        const std::string path = dir.filePath("m.gguf").toStdString();
        const GgufWriter w = sampleWriter();
        w.write(path);
        QCOMPARE(uint64_t(std::filesystem::file_size(path)), w.fileSize());

        const GgufReader r(path);
        QCOMPARE(r.version(), 3u);
        QCOMPARE(r.alignment(), 32u);
        QCOMPARE(r.metadata().size(), w.metadata().size());
        for (size_t i = 0; i < w.metadata().size(); ++i) {
            QCOMPARE(r.metadata()[i].key, w.metadata()[i].key); // insertion order kept
            QCOMPARE(r.metadata()[i].value.display(), w.metadata()[i].value.display());
            QCOMPARE(int(r.metadata()[i].value.type), int(w.metadata()[i].value.type));
        }
        QCOMPARE(r.integer("t.i8"), int64_t(-5));
        QCOMPARE(r.integer("t.i16"), int64_t(-300));
        QCOMPARE(r.integer("t.u32"), int64_t(4000000000u));
        QCOMPARE(r.integer("t.i64"), -(int64_t{1} << 40));
        QCOMPARE(r.real("t.f64"), 1e-300);
        QCOMPARE(r.find("t.strings")->items[2].text, std::string("ünïcode ✓"));
        QCOMPARE(r.find("t.nested")->items[0].items[1].asInt(), int64_t(5));

        QCOMPARE(r.tensors().size(), size_t(2));
        const GgufTensorInfo* b = r.tensor("b.weight");
        QVERIFY(b);
        QCOMPARE(b->dims, (std::vector<int64_t>{3, 2}));
        QCOMPARE(b->offset % 32, uint64_t(0));
        const std::vector<float> values = r.tensorFloats(*b);
        QCOMPARE(values.size(), size_t(6));
        QCOMPARE(values[5], 15.0f);
    }

    // The layout the format fixes, checked on the bytes: magic, version, counts, one key, one
    // tensor info, padding to 32, then the data.
    void writesTheDocumentedLayout()
    {
        QTemporaryDir dir;
        const std::string path = dir.filePath("tiny.gguf").toStdString();
        GgufWriter w;
        w.set("k", GgufValue::u32(7));
        w.addTensor({"t", {2}, 0, 8, [](uint8_t* dst) {
                         const float v[2] = {1.0f, -2.0f};
                         std::memcpy(dst, v, 8);
                     }});
        w.write(path);
        const std::string b = readBytes(path);
        std::string expected("GGUF", 4);
        auto le = [&](uint64_t v, int n) {
            for (int i = 0; i < n; ++i)
                expected.push_back(char((v >> (8 * i)) & 0xFF));
        };
        le(3, 4);
        le(1, 8);
        le(1, 8);
        le(1, 8);
        expected += "k";
        le(4, 4);
        le(7, 4);
        le(1, 8);
        expected += "t";
        le(1, 4);
        le(2, 8);
        le(0, 4);
        le(0, 8);
        QCOMPARE(expected.size(), size_t(74));
        expected.resize(96, '\0'); // the header padded to the alignment (32)
        const float v[2] = {1.0f, -2.0f};
        expected.append(reinterpret_cast<const char*>(v), 8);
        expected.resize(128, '\0'); // and the tensor's data too
        QCOMPARE(b.size(), expected.size());
        QVERIFY(b == expected);
    }

    void honoursACustomAlignment()
    {
        QTemporaryDir dir;
        const std::string path = dir.filePath("a.gguf").toStdString();
        GgufWriter w = sampleWriter();
        w.set("general.alignment", GgufValue::u32(64));
        w.write(path);
        const GgufReader r(path);
        QCOMPARE(r.alignment(), 64u);
        for (const auto& t : r.tensors())
            QCOMPARE(t.offset % 64, uint64_t(0));
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, w.set("general.alignment", GgufValue::u32(48)));
    }

    void neverReplacesAFileAndLeavesNothingOnFailure()
    {
        QTemporaryDir dir;
        const std::string path = dir.filePath("m.gguf").toStdString();
        writeBytes(path, "precious");
        try {
            sampleWriter().write(path);
            QFAIL("an existing destination was accepted");
        } catch (const std::runtime_error& e) {
            QVERIFY2(std::string(e.what()).find("exists") != std::string::npos, e.what());
        }
        QCOMPARE(readBytes(path), std::string("precious"));

        // A producer that throws half-way, and a cancel: no file, no temporary left.
        const std::string other = dir.filePath("n.gguf").toStdString();
        GgufWriter w = sampleWriter();
        w.addTensor({"boom", {32}, 0, 128, [](uint8_t*) { throw std::runtime_error("producer failed"); }});
        QVERIFY_THROWS_EXCEPTION(std::runtime_error, w.write(other));
        QVERIFY(!std::filesystem::exists(other));
        QVERIFY_THROWS_EXCEPTION(GgufWriterCancelled, sampleWriter().write(other, {}, [] { return true; }));
        QVERIFY(!std::filesystem::exists(other));
        QCOMPARE(int(std::distance(std::filesystem::directory_iterator(dir.path().toStdString()), {})), 1);
    }

    // Cutting a valid file anywhere must give a FormatError naming the file, never a crash or
    // a read past the end.
    void refusesEveryTruncation()
    {
        QTemporaryDir dir;
        const std::string good = dir.filePath("good.gguf").toStdString();
        sampleWriter().write(good);
        const std::string bytes = readBytes(good);
        const std::string cut = dir.filePath("cut.gguf").toStdString();
        for (size_t n = 0; n < bytes.size(); n += (n < 600 ? 1 : 7)) {
            writeBytes(cut, bytes.substr(0, n));
            try {
                const GgufReader r(cut);
                // A cut inside the final padding still holds every tensor.
                QVERIFY2(n >= bytes.size() - 8, qPrintable(QString("cut at %1 was accepted").arg(n)));
            } catch (const FormatError& e) {
                QCOMPARE(e.file(), cut);
            }
        }
    }

    void refusesBrokenHeaders_data()
    {
        QTest::addColumn<int>("offset");
        QTest::addColumn<QByteArray>("patch");
        QTest::addColumn<QString>("expected");
        auto le32 = [](uint32_t v) { return QByteArray(reinterpret_cast<const char*>(&v), 4); };
        auto le64 = [](uint64_t v) { return QByteArray(reinterpret_cast<const char*>(&v), 8); };
        QTest::newRow("magic") << 0 << QByteArray("GGML") << "not a GGUF file";
        QTest::newRow("version") << 4 << le32(4) << "version 4";
        QTest::newRow("tensor count") << 8 << le64(uint64_t{1} << 60) << "tensor count";
        QTest::newRow("kv count") << 16 << le64(uint64_t{1} << 60) << "metadata count";
        QTest::newRow("key length") << 24 << le64(uint64_t{1} << 62) << "past the end";
        // general.architecture's value type, after its 20-byte key.
        QTest::newRow("value type") << 24 + 8 + 20 << le32(77) << "unknown value type 77";
    }

    void refusesBrokenHeaders()
    {
        QFETCH(int, offset);
        QFETCH(QByteArray, patch);
        QFETCH(QString, expected);
        QTemporaryDir dir;
        const std::string path = dir.filePath("b.gguf").toStdString();
        sampleWriter().write(path);
        std::string bytes = readBytes(path);
        bytes.replace(size_t(offset), size_t(patch.size()), patch.toStdString());
        writeBytes(path, bytes);
        try {
            GgufReader r(path);
            QFAIL("a broken header was accepted");
        } catch (const FormatError& e) {
            QVERIFY2(QString(e.what()).contains(expected), e.what());
            QCOMPARE(e.file(), path);
        }
    }

    // Found by fuzz_gguf: a header whose padding to a large alignment runs past the end of the
    // file, with a tensor claiming gigabytes at offset 0, was accepted.
    void refusesTensorsOfAFileThatEndsInTheHeaderPadding()
    {
        QTemporaryDir dir;
        const std::string path = dir.filePath("short.gguf").toStdString();
        // 111 bytes: alignment 64, one f32 tensor of 2^31 + 2 elements at data offset 0.
        const std::string header = readBytes(TB_SOURCE_DIR "/tests/fuzz/regressions/fuzz_gguf/header-padding-past-end.gguf");
        writeBytes(path, header);
        try {
            GgufReader r(path);
            QFAIL("a tensor past the end of the file was accepted");
        } catch (const FormatError& e) {
            QVERIFY2(QString(e.what()).contains("truncated"), e.what());
        }
    }

    void refusesBrokenTensorInfos()
    {
        QTemporaryDir dir;
        struct Case {
            const char* what;
            GgufTensorSpec spec;
            const char* expected;
        };
        auto noop = [](uint8_t*) {};
        const Case cases[] = {
            {"unknown type", {"t", {32}, 99, 128, noop}, "ggml type 99"},
            {"row not a block multiple", {"t", {48, 2}, uint32_t(tbk::GgmlType::Q8_0), 2 * 34, noop}, "not a multiple"},
        };
        for (const Case& c : cases) {
            const std::string path = dir.filePath(QString("%1.gguf").arg(c.what)).toStdString();
            GgufWriter w;
            w.addTensor(c.spec);
            w.write(path);
            try {
                GgufReader r(path);
                QFAIL(c.what);
            } catch (const FormatError& e) {
                QVERIFY2(QString(e.what()).contains(c.expected), e.what());
            }
        }
    }
};

QTEST_GUILESS_MAIN(TestGguf)
#include "tst_gguf.moc"
