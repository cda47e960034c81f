// SafetensorsReader / SafetensorsWriter against real files: round trips, byte layouts taken
// from huggingface/safetensors' own tests, hand-built files, broken files and a mutation sweep.
#include "formats/FormatError.h"
#include "formats/SafetensorsReader.h"
#include "formats/SafetensorsWriter.h"

#include <QDir>
#include <QTemporaryDir>
#include <QtTest>

#include <cstring>
#include <fstream>
#include <stdexcept>
#include <unistd.h>

using namespace tb;

namespace {

const DType kAllDTypes[] = {DType::F64, DType::F32, DType::F16, DType::BF16, DType::I64,
                            DType::I32, DType::I16, DType::I8,  DType::U8,   DType::Bool};

void writeBytes(const std::string& path, const std::string& bytes)
{
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    QVERIFY2(out.good(), path.c_str());
}

std::string readBytes(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string le64(uint64_t n)
{
    std::string out(8, '\0');
    for (int i = 0; i < 8; ++i)
        out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
    return out;
}

// A safetensors file assembled by hand: length prefix (the JSON's size unless overridden),
// the JSON as given (no padding added), then the data bytes.
std::string rawFile(const std::string& json, const std::string& data, uint64_t headerLen = UINT64_MAX)
{
    return le64(headerLen == UINT64_MAX ? json.size() : headerLen) + json + data;
}

// Deterministic bytes (LCG), so failures reproduce.
std::vector<uint8_t> pattern(size_t n, uint32_t seed)
{
    std::vector<uint8_t> out(n);
    for (auto& b : out) {
        seed = seed * 1664525u + 1013904223u;
        b = static_cast<uint8_t>(seed >> 24);
    }
    return out;
}

// The FormatError text, or "" when the file was accepted. Any other exception escapes and
// fails the test.
std::string readError(const std::string& path)
{
    try {
        SafetensorsReader reader(path);
        return {};
    } catch (const FormatError& e) {
        return e.what();
    }
}

// Touches every byte of every tensor so AddressSanitizer sees any out-of-bounds pointer.
unsigned touchAll(const SafetensorsReader& reader)
{
    unsigned sum = 0;
    for (const SafetensorInfo& t : reader.tensors()) {
        const uint8_t* p = reader.data(t);
        for (uint64_t i = 0; i < t.byteSize(); ++i)
            sum += p[i];
    }
    return sum;
}

} // namespace

class TestSafetensors : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    std::string path(const char* name) const { return m_dir.filePath(name).toStdString(); }

private Q_SLOTS:
    void initTestCase() { QVERIFY(m_dir.isValid()); }

    void dtypeNames()
    {
        for (DType d : kAllDTypes)
            QCOMPARE(dtypeFromName(dtypeName(d)), std::optional<DType>(d));
        QCOMPARE(dtypeSize(DType::F64), size_t(8));
        QCOMPARE(dtypeSize(DType::BF16), size_t(2));
        QCOMPARE(dtypeSize(DType::Bool), size_t(1));
        QCOMPARE(std::string(dtypeName(DType::Bool)), std::string("BOOL"));
        QVERIFY(!dtypeFromName("f32"));
        QVERIFY(!dtypeFromName("F8_E4M3"));
    }

    void roundTripEveryDType()
    {
        SafetensorsWriter writer;
        std::map<std::string, std::vector<uint8_t>> expected;
        uint32_t seed = 1;
        for (DType d : kAllDTypes) {
            const std::vector<int64_t> shape{3, 5};
            std::vector<uint8_t> bytes = pattern(15 * dtypeSize(d), seed++);
            if (d == DType::Bool)
                for (auto& b : bytes)
                    b &= 1;
            std::string name = std::string("w.") + dtypeName(d);
            writer.add(name, d, shape, bytes.data(), bytes.size());
            expected[name] = bytes;
        }
        const std::string file = path("all.safetensors");
        writer.write(file);

        SafetensorsReader reader(file);
        QCOMPARE(reader.tensors().size(), expected.size());
        QCOMPARE(reader.fileSize(), uint64_t(readBytes(file).size()));
        for (DType d : kAllDTypes) {
            std::string name = std::string("w.") + dtypeName(d);
            const SafetensorInfo* info = reader.find(name);
            QVERIFY2(info, name.c_str());
            QCOMPARE(info->dtype, d);
            QCOMPARE(info->shape, (std::vector<int64_t>{3, 5}));
            QCOMPARE(info->numel(), int64_t(15));
            QCOMPARE(info->byteSize(), uint64_t(expected[name].size()));
            QVERIFY(std::memcmp(reader.data(*info), expected[name].data(), expected[name].size()) == 0);
            // Natural alignment in memory (the mapping is page-aligned).
            QCOMPARE(reinterpret_cast<uintptr_t>(reader.data(*info)) % dtypeSize(d), uintptr_t(0));
        }
        QVERIFY(std::is_sorted(reader.tensors().begin(), reader.tensors().end(),
                               [](const auto& a, const auto& b) { return a.name < b.name; }));
        QVERIFY(!reader.find("w.F8"));
        QVERIFY(reader.metadata().empty());
    }

    void metadataRoundTrip()
    {
        SafetensorsWriter writer;
        float v = 1.5f;
        writer.add("x", DType::F32, {1}, &v, sizeof v);
        const std::map<std::string, std::string> meta{
            {"format", "pt"}, {"empty", ""}, {"quote\"and\\slash", "line\nbreak"}, {"unicode", "\u00e9\u4e2d"}};
        writer.setMetadata(meta);
        const std::string file = path("meta.safetensors");
        writer.write(file);
        SafetensorsReader reader(file);
        QVERIFY(reader.metadata() == meta);
    }

    void scalarAndZeroSizeShapes()
    {
        SafetensorsWriter writer;
        double scalar = 3.25;
        writer.add("scalar", DType::F64, {}, &scalar, sizeof scalar);
        writer.add("empty1", DType::F32, {0}, nullptr, 0);
        writer.add("empty3", DType::I16, {2, 0, 3}, nullptr, 0);
        uint8_t one = 7;
        writer.add("one", DType::U8, {1, 1, 1}, &one, 1);
        const std::string file = path("shapes.safetensors");
        writer.write(file);

        SafetensorsReader reader(file);
        const SafetensorInfo* s = reader.find("scalar");
        QVERIFY(s);
        QVERIFY(s->shape.empty());
        QCOMPARE(s->numel(), int64_t(1));
        double back = 0;
        std::memcpy(&back, reader.data(*s), sizeof back);
        QCOMPARE(back, 3.25);
        QCOMPARE(reader.find("empty1")->numel(), int64_t(0));
        QCOMPARE(reader.find("empty1")->byteSize(), uint64_t(0));
        QCOMPARE(reader.find("empty3")->shape, (std::vector<int64_t>{2, 0, 3}));
        QCOMPARE(reader.find("empty3")->numel(), int64_t(0));
        QCOMPARE(*reader.data(*reader.find("one")), uint8_t(7));
        touchAll(reader);
    }

    // The layout rules the reference reader depends on: header padded to 8, data contiguous
    // and fully covered, and each tensor at a multiple of its element size.
    void layoutAndAlignment()
    {
        SafetensorsWriter writer;
        uint32_t seed = 100;
        // Odd element counts so a name-ordered layout would misalign the wider types.
        for (DType d : kAllDTypes) {
            std::vector<uint8_t> bytes = pattern(3 * dtypeSize(d), seed++);
            writer.add(std::string("t") + std::to_string(seed) + dtypeName(d), d, {3}, bytes.data(), bytes.size());
        }
        const std::string file = path("layout.safetensors");
        writer.write(file);
        const std::string bytes = readBytes(file);
        QCOMPARE(bytes, std::string(reinterpret_cast<const char*>(writer.serialize().data()), writer.serialize().size()));

        uint64_t n = 0;
        std::memcpy(&n, bytes.data(), 8); // little-endian host
        QCOMPARE(n % 8, uint64_t(0));
        QCOMPARE(bytes[8], '{');
        QVERIFY(bytes.substr(8, n).find_last_not_of(' ') < n);

        SafetensorsReader reader(file);
        std::vector<SafetensorInfo> byOffset = reader.tensors();
        std::sort(byOffset.begin(), byOffset.end(), [](auto& a, auto& b) { return a.dataBegin < b.dataBegin; });
        uint64_t expectBegin = 0;
        size_t prevSize = 8;
        for (const SafetensorInfo& t : byOffset) {
            QCOMPARE(t.dataBegin, expectBegin);
            QCOMPARE(t.dataBegin % dtypeSize(t.dtype), uint64_t(0));
            QVERIFY(dtypeSize(t.dtype) <= prevSize); // widest element types first
            prevSize = dtypeSize(t.dtype);
            expectBegin = t.dataEnd;
        }
        QCOMPARE(8 + n + expectBegin, uint64_t(bytes.size()));
    }

    // Byte-for-byte outputs from huggingface/safetensors' tests (safetensors/src/tensor.rs:
    // test_serialization_forced_alignement, test_empty), so files we write load in Python.
    void matchesReferenceSerializer()
    {
        static const uint8_t forcedAlignment[] = {
            72, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 48, 34, 58, 123, 34, 100, 116,
            121, 112, 101, 34, 58, 34, 70, 51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34, 58,
            91, 49, 44, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97, 95, 111, 102, 102,
            115, 101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 32, 32, 32, 32, 32,
            32, 32, 0, 0, 0, 0, 0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0,
            160, 64};
        const float values[] = {0, 1, 2, 3, 4, 5};
        SafetensorsWriter w1;
        w1.add("attn0", DType::F32, {1, 1, 2, 3}, values, sizeof values);
        QVERIFY(w1.serialize() == std::vector<uint8_t>(std::begin(forcedAlignment), std::end(forcedAlignment)));

        static const uint8_t empty[] = {8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32};
        SafetensorsWriter w2;
        QVERIFY(w2.serialize() == std::vector<uint8_t>(std::begin(empty), std::end(empty)));

        static const uint8_t emptyWithMeta[] = {
            40, 0, 0, 0, 0, 0, 0, 0, 123, 34, 95, 95, 109, 101, 116, 97, 100, 97, 116, 97, 95,
            95, 34, 58, 123, 34, 102, 114, 97, 109, 101, 119, 111, 114, 107, 34, 58, 34, 112,
            116, 34, 125, 125, 32, 32, 32, 32, 32};
        w2.setMetadata({{"framework", "pt"}});
        QVERIFY(w2.serialize() == std::vector<uint8_t>(std::begin(emptyWithMeta), std::end(emptyWithMeta)));

        const std::string file = path("reference.safetensors");
        writeBytes(file, std::string(reinterpret_cast<const char*>(forcedAlignment), sizeof forcedAlignment));
        SafetensorsReader reader(file);
        const SafetensorInfo* t = reader.find("attn0");
        QVERIFY(t);
        QCOMPARE(t->shape, (std::vector<int64_t>{1, 1, 2, 3}));
        QVERIFY(std::memcmp(reader.data(*t), values, sizeof values) == 0);
    }

    // A file built byte by byte, independent of the writer: unsorted keys, a gap between
    // tensors, spaces around the JSON, metadata first or last.
    void readsHandBuiltFile()
    {
        const std::string json =
            " {\"b\": {\"shape\": [2], \"dtype\": \"I16\", \"data_offsets\": [8, 12]},"
            " \"a\": {\"dtype\": \"U8\", \"shape\": [2, 2], \"data_offsets\": [0, 4]},"
            " \"__metadata__\": {\"format\": \"pt\"}}   ";
        const std::string data("\x01\x02\x03\x04\xAA\xAA\xAA\xAA\x34\x12\xFF\xFF", 12);
        const std::string file = path("handmade.safetensors");
        writeBytes(file, rawFile(json, data));

        SafetensorsReader reader(file);
        QCOMPARE(reader.tensors().size(), size_t(2));
        QCOMPARE(reader.tensors()[0].name, std::string("a"));
        QCOMPARE(reader.tensors()[1].name, std::string("b"));
        const SafetensorInfo* a = reader.find("a");
        QCOMPARE(a->dtype, DType::U8);
        QCOMPARE(a->shape, (std::vector<int64_t>{2, 2}));
        QCOMPARE(reader.data(*a)[3], uint8_t(4));
        const SafetensorInfo* b = reader.find("b");
        QCOMPARE(b->dataBegin, uint64_t(8));
        int16_t b0 = 0, b1 = 0;
        std::memcpy(&b0, reader.data(*b), 2);
        std::memcpy(&b1, reader.data(*b) + 2, 2);
        QCOMPARE(b0, int16_t(0x1234));
        QCOMPARE(b1, int16_t(-1));
        QCOMPARE(reader.metadata().at("format"), std::string("pt"));
        QCOMPARE(reader.fileSize(), uint64_t(8 + json.size() + data.size()));
    }

    void writerRejectsBadInput()
    {
        SafetensorsWriter w;
        float v[4] = {};
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, w.add("x", DType::F32, {3}, v, sizeof v));
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, w.add("x", DType::F32, {-4}, v, sizeof v));
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, w.add("__metadata__", DType::F32, {4}, v, sizeof v));
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, w.add("bad\xff", DType::F32, {4}, v, sizeof v));
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument,
                                 w.add("big", DType::F32, {int64_t(1) << 40, int64_t(1) << 40}, v, sizeof v));
        w.add("x", DType::F32, {4}, v, sizeof v);
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, w.add("x", DType::F32, {2, 2}, v, sizeof v));

        w.setMetadata({{"note", "not utf-8 \xc3"}});
        const std::string file = path("bad-metadata.safetensors");
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, w.write(file));
        QVERIFY(!QFileInfo::exists(QString::fromStdString(file)));
    }

    void atomicWrite()
    {
        const QString sub = m_dir.filePath("atomic");
        QVERIFY(QDir().mkpath(sub));
        const std::string file = (sub + "/adapter.safetensors").toStdString();
        float v1 = 1, v2 = 2;
        SafetensorsWriter first;
        first.add("v", DType::F32, {}, &v1, 4);
        first.write(file);
        SafetensorsWriter second;
        second.add("v", DType::F32, {}, &v2, 4);
        second.write(file); // replaces the existing file
        QCOMPARE(QDir(sub).entryList(QDir::Files | QDir::Hidden), QStringList{"adapter.safetensors"});
        {
            SafetensorsReader reader(file);
            QCOMPARE(*reinterpret_cast<const float*>(reader.data(*reader.find("v"))), 2.0f);
        }
        const std::string before = readBytes(file);

        // A folder that does not exist: the error names the target path.
        const std::string missing = (sub + "/no/such/dir/x.safetensors").toStdString();
        try {
            second.write(missing);
            QFAIL("write into a missing folder succeeded");
        } catch (const std::runtime_error& e) {
            QVERIFY2(std::string(e.what()).find(missing) != std::string::npos, e.what());
        }

        // The rename fails (the target is a non-empty folder): the temporary file is removed
        // and the target is untouched.
        const QString blocker = sub + "/blocker.safetensors";
        QVERIFY(QDir().mkpath(blocker + "/inner"));
        try {
            first.write(blocker.toStdString());
            QFAIL("write over a folder succeeded");
        } catch (const std::runtime_error& e) {
            QVERIFY2(std::string(e.what()).find(blocker.toStdString()) != std::string::npos, e.what());
        }
        QVERIFY(QFileInfo(blocker).isDir());

        // A read-only folder (root ignores permissions, so only checked for other users).
        if (::geteuid() != 0) {
            QFile::setPermissions(sub, QFileDevice::ReadOwner | QFileDevice::ExeOwner);
            bool threw = false;
            try {
                first.write(file);
            } catch (const std::runtime_error& e) {
                threw = true;
                QVERIFY2(std::string(e.what()).find(file) != std::string::npos, e.what());
            }
            QFile::setPermissions(sub, QFileDevice::ReadOwner | QFileDevice::WriteOwner | QFileDevice::ExeOwner);
            QVERIFY(threw);
        }
        QCOMPARE(readBytes(file), before);
        QCOMPARE(QDir(sub).entryList(QDir::Files | QDir::Hidden), QStringList{"adapter.safetensors"});
    }

    void brokenFiles_data()
    {
        QTest::addColumn<QByteArray>("bytes");
        QTest::addColumn<QStringList>("needles");
        auto row = [](const char* name, const std::string& bytes, QStringList needles) {
            QTest::newRow(name) << QByteArray(bytes.data(), int(bytes.size())) << needles;
        };
        auto f32 = [](const char* shape, const char* offsets) {
            return std::string("{\"t.weight\":{\"dtype\":\"F32\",\"shape\":") + shape + ",\"data_offsets\":" + offsets + "}}";
        };
        const std::string zeros16(16, '\0');
        row("empty file", "", {"0 bytes"});
        row("4-byte file", std::string("\x08\0\0\0", 4), {"4 bytes"});
        row("header length past EOF", rawFile("{}", "", 100), {"header length 100", "past the end"});
        row("header length huge", rawFile("{}", "", uint64_t(1) << 62), {"header length 4611686018427387904", "limit"});
        row("header length just over limit", rawFile("{}", "", 100'000'001), {"header length 100000001"});
        row("header not JSON", rawFile("{not json", ""), {"not valid JSON", "byte"});
        row("header invalid UTF-8", rawFile("{\"\xff\":1}", ""), {"not valid JSON"});
        row("header JSON array", rawFile("[1,2]", ""), {"array", "expected an object"});
        // nlohmann reports a number past double's range as out_of_range, not parse_error (found
        // by fuzz_safetensors' sibling fuzz_model_config).
        row("header number overflow", rawFile("{\"__metadata__\":{},\"x\":1e400}", ""),
            {"not valid JSON", "number overflow"});
        row("header JSON string", rawFile("\"x\"", ""), {"string"});
        row("truncated data area", rawFile(f32("[4]", "[0,16]"), zeros16.substr(0, 9)),
            {"\"t.weight\"", "[0, 16]", "end past the data area", "9 data bytes", "8+"});
        row("data_offsets out of range", rawFile(f32("[250000]", "[0,1000000]"), zeros16),
            {"\"t.weight\"", "[0, 1000000]", "16 data bytes"});
        row("begin after end", rawFile(f32("[1]", "[8,4]"), zeros16), {"\"t.weight\"", "[8, 4]", "begin is after end"});
        row("size/shape mismatch", rawFile(f32("[3]", "[0,8]"), zeros16), {"\"t.weight\"", "[0, 8]", "needs 12"});
        row("overlapping tensors",
            rawFile("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                    "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", zeros16),
            {"\"a\"", "\"b\"", "overlap", "[4, 12]", "[0, 8]"});
        row("overlap hidden behind a zero-size tensor",
            rawFile("{\"a\":{\"dtype\":\"U8\",\"shape\":[16],\"data_offsets\":[0,16]},"
                    "\"e\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[2,2]},"
                    "\"c\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[4,8]}}", zeros16),
            {"overlap", "\"a\""});
        row("unknown dtype", rawFile("{\"q\":{\"dtype\":\"F8_E4M3\",\"shape\":[1],\"data_offsets\":[0,1]}}", zeros16),
            {"\"q\"", "unknown dtype \"F8_E4M3\""});
        row("negative shape", rawFile(f32("[-1]", "[0,4]"), zeros16), {"\"t.weight\"", "shape[0] = -1"});
        row("float shape", rawFile(f32("[1.5]", "[0,4]"), zeros16), {"\"t.weight\"", "shape[0] = 1.5"});
        row("overflowing shape", rawFile(f32("[1099511627776,1099511627776]", "[0,16]"), zeros16),
            {"\"t.weight\"", "overflows", "1099511627776"});
        row("overflow by dtype size", rawFile(f32("[4611686018427387904]", "[0,16]"), zeros16),
            {"\"t.weight\"", "overflows"});
        row("overflow before a zero dim", rawFile(f32("[4294967296,4294967296,0]", "[0,0]"), zeros16),
            {"\"t.weight\"", "overflows"});
        row("offsets not a pair", rawFile(f32("[1]", "[0,4,8]"), zeros16), {"\"t.weight\"", "data_offsets"});
        row("negative offset", rawFile(f32("[1]", "[-4,0]"), zeros16), {"\"t.weight\"", "[-4,0]"});
        row("missing dtype", rawFile("{\"m\":{\"shape\":[1],\"data_offsets\":[0,1]}}", zeros16), {"\"m\"", "dtype"});
        row("shape not array", rawFile("{\"m\":{\"dtype\":\"U8\",\"shape\":1,\"data_offsets\":[0,1]}}", zeros16),
            {"\"m\"", "shape"});
        row("entry not an object", rawFile("{\"m\":[1,2]}", zeros16), {"\"m\"", "array"});
        row("metadata value not string", rawFile("{\"__metadata__\":{\"epoch\":3}}", ""), {"__metadata__", "epoch"});
        row("metadata not object", rawFile("{\"__metadata__\":[\"a\"]}", ""), {"__metadata__", "array"});
    }

    void brokenFiles()
    {
        QFETCH(QByteArray, bytes);
        QFETCH(QStringList, needles);
        const std::string file = path("broken.safetensors");
        writeBytes(file, bytes.toStdString());
        const QString message = QString::fromStdString(readError(file));
        QVERIFY2(!message.isEmpty(), "accepted a broken file");
        QVERIFY2(message.startsWith(QString::fromStdString(file) + ": "), qPrintable(message));
        for (const QString& needle : needles)
            QVERIFY2(message.contains(needle), qPrintable("missing '" + needle + "' in: " + message));
    }

    void notARegularFile()
    {
        QVERIFY(readError(m_dir.path().toStdString()).find("not a regular file") != std::string::npos);
        QVERIFY(readError(path("does-not-exist.safetensors")).find("cannot open") != std::string::npos);
    }

    // Every single-byte corruption and every truncation of a valid file either parses or throws
    // FormatError; under ASan this also proves no read leaves the mapping.
    void mutationsNeverCrash()
    {
        SafetensorsWriter writer;
        std::vector<uint8_t> a = pattern(6 * 4, 7), b = pattern(4 * 2, 8);
        int64_t c = -5;
        writer.add("model.layers.0.a", DType::F32, {2, 3}, a.data(), a.size());
        writer.add("model.layers.0.b", DType::BF16, {4}, b.data(), b.size());
        writer.add("c", DType::I64, {}, &c, sizeof c);
        writer.add("d", DType::U8, {0}, nullptr, 0);
        writer.setMetadata({{"format", "pt"}});
        const std::vector<uint8_t> valid = writer.serialize();
        const std::string file = path("mutant.safetensors");

        int accepted = 0, rejected = 0;
        auto check = [&](const std::vector<uint8_t>& bytes) {
            writeBytes(file, std::string(bytes.begin(), bytes.end()));
            try {
                SafetensorsReader reader(file);
                // Reads past the file's end but inside its last page would not fault, and the
                // mapping has no ASan redzones: check the invariant against the bytes written.
                uint64_t headerLen = 0;
                std::memcpy(&headerLen, bytes.data(), 8);
                for (const SafetensorInfo& t : reader.tensors())
                    QVERIFY(t.dataBegin <= t.dataEnd && 8 + headerLen + t.dataEnd <= bytes.size());
                touchAll(reader);
                ++accepted;
            } catch (const FormatError& e) {
                QVERIFY(std::string(e.what()).find(file) == 0);
                ++rejected;
            }
        };
        for (size_t len = 0; len < valid.size(); ++len)
            check(std::vector<uint8_t>(valid.begin(), valid.begin() + len));
        const uint8_t replacements[] = {'0', '9', '"', '[', '{', '-', ' ', 0x00, 0xff};
        for (size_t pos = 0; pos < valid.size(); ++pos) {
            for (uint8_t xorMask : {0x01, 0x80}) {
                std::vector<uint8_t> m = valid;
                m[pos] ^= xorMask;
                check(m);
            }
            for (uint8_t r : replacements) {
                std::vector<uint8_t> m = valid;
                m[pos] = r;
                check(m);
            }
        }
        uint32_t seed = 12345;
        for (int round = 0; round < 300; ++round) {
            std::vector<uint8_t> m = valid;
            for (int k = 0; k < 3; ++k) {
                seed = seed * 1664525u + 1013904223u;
                m[(seed >> 8) % m.size()] = static_cast<uint8_t>(seed >> 24);
            }
            check(m);
        }
        QVERIFY(accepted > 0); // e.g. bit flips inside tensor data or header padding
        QVERIFY(rejected > 0);
    }
};

QTEST_GUILESS_MAIN(TestSafetensors)
#include "tst_safetensors.moc"
