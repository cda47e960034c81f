// CheckpointFiles on model folders built in a temporary directory: one file, index + shards,
// broken indexes, and pickle-only folders (which must be refused without being opened).
#include "formats/FormatError.h"
#include "formats/CheckpointFiles.h"
#include "formats/SafetensorsWriter.h"

#include <QDir>
#include <QFileInfo>
#include <QTemporaryDir>
#include <QtTest>

#include <fstream>

using namespace tb;

namespace {

void writeText(const std::string& path, const std::string& text)
{
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
}

// A shard holding one F32 [2] tensor per name, valued {i, i + 0.5}.
void writeShard(const std::string& path, const std::vector<std::string>& names)
{
    SafetensorsWriter writer;
    float i = 0;
    for (const std::string& name : names) {
        const float v[2] = {i, i + 0.5f};
        writer.add(name, DType::F32, {2}, v, sizeof v);
        i += 1;
    }
    writer.write(path);
}

std::string indexJson(const std::vector<std::pair<std::string, std::string>>& weightMap)
{
    std::string json = "{\"metadata\": {\"total_size\": 64}, \"weight_map\": {";
    for (size_t i = 0; i < weightMap.size(); ++i)
        json += (i ? ", \"" : "\"") + weightMap[i].first + "\": \"" + weightMap[i].second + "\"";
    return json + "}}";
}

// The FormatError text, or "" when the folder was accepted.
std::string openError(const std::string& dir)
{
    try {
        CheckpointFiles files(dir);
        return {};
    } catch (const FormatError& e) {
        return e.what();
    }
}

} // namespace

class TestCheckpointFiles : public QObject {
    Q_OBJECT

private:
    QTemporaryDir m_root;
    int m_count = 0;
    // A fresh, empty model folder per test.
    std::string newDir()
    {
        const QString dir = m_root.filePath(QString("model%1").arg(m_count++));
        QDir().mkpath(dir);
        return dir.toStdString();
    }

    void expectError(const std::string& dir, const QStringList& needles)
    {
        const QString message = QString::fromStdString(openError(dir));
        QVERIFY2(!message.isEmpty(), "folder was accepted");
        for (const QString& needle : needles)
            QVERIFY2(message.contains(needle), qPrintable("missing '" + needle + "' in: " + message));
    }

    // Two shards as transformers names them; "a","b" in the first, "c" in the second.
    std::string shardedDir()
    {
        const std::string dir = newDir();
        writeShard(dir + "/model-00001-of-00002.safetensors", {"a", "b"});
        writeShard(dir + "/model-00002-of-00002.safetensors", {"c"});
        return dir;
    }

private Q_SLOTS:
    void initTestCase() { QVERIFY(m_root.isValid()); }

    void singleFile()
    {
        const std::string dir = newDir();
        writeShard(dir + "/model.safetensors", {"model.embed_tokens.weight", "lm_head.weight"});
        writeText(dir + "/pytorch_model.bin", "not a pickle, and never opened");
        CheckpointFiles files(dir);
        QCOMPARE(files.shards().size(), size_t(1));
        QCOMPARE(files.names(), (std::vector<std::string>{"lm_head.weight", "model.embed_tokens.weight"}));
        CheckpointFiles::Entry e = files.find("model.embed_tokens.weight");
        QVERIFY(e.file && e.info);
        QCOMPARE(reinterpret_cast<const float*>(e.file->data(*e.info))[1], 0.5f);
        QVERIFY(!files.find("missing").file);
        QCOMPARE(files.totalFileBytes(), uint64_t(QFileInfo(QString::fromStdString(dir + "/model.safetensors")).size()));
    }

    void otherSingleSafetensorsFile()
    {
        const std::string dir = newDir();
        writeShard(dir + "/consolidated.safetensors", {"w"});
        CheckpointFiles files(dir);
        QCOMPARE(files.names(), std::vector<std::string>{"w"});
    }

    void sharded()
    {
        const std::string dir = shardedDir();
        writeText(dir + "/model.safetensors.index.json",
                  indexJson({{"a", "model-00001-of-00002.safetensors"},
                             {"b", "model-00001-of-00002.safetensors"},
                             {"c", "model-00002-of-00002.safetensors"}}));
        CheckpointFiles files(dir);
        QCOMPARE(files.shards().size(), size_t(2));
        QCOMPARE(files.names(), (std::vector<std::string>{"a", "b", "c"}));
        CheckpointFiles::Entry c = files.find("c");
        QVERIFY(c.file);
        QVERIFY(QString::fromStdString(c.file->path()).endsWith("model-00002-of-00002.safetensors"));
        QCOMPARE(reinterpret_cast<const float*>(c.file->data(*c.info))[0], 0.0f);
        CheckpointFiles::Entry b = files.find("b");
        QCOMPARE(reinterpret_cast<const float*>(b.file->data(*b.info))[0], 1.0f);
        uint64_t total = 0;
        for (const char* shard : {"/model-00001-of-00002.safetensors", "/model-00002-of-00002.safetensors"})
            total += uint64_t(QFileInfo(QString::fromStdString(dir + shard)).size());
        QCOMPARE(files.totalFileBytes(), total);
    }

    void missingShard()
    {
        const std::string dir = newDir();
        writeShard(dir + "/model-00001-of-00002.safetensors", {"a"});
        writeText(dir + "/model.safetensors.index.json",
                  indexJson({{"a", "model-00001-of-00002.safetensors"}, {"c", "model-00002-of-00002.safetensors"}}));
        expectError(dir, {"model.safetensors.index.json", "model-00002-of-00002.safetensors", "\"c\"", "does not exist"});
    }

    void tensorMissingFromShard()
    {
        const std::string dir = shardedDir();
        writeText(dir + "/model.safetensors.index.json",
                  indexJson({{"a", "model-00001-of-00002.safetensors"},
                             {"c", "model-00002-of-00002.safetensors"},
                             {"z.weight", "model-00002-of-00002.safetensors"}}));
        expectError(dir, {"model.safetensors.index.json", "\"z.weight\"", "model-00002-of-00002.safetensors",
                          "does not contain"});
    }

    void duplicateTensorAcrossShards()
    {
        const std::string dir = newDir();
        writeShard(dir + "/model-00001-of-00002.safetensors", {"a", "b"});
        writeShard(dir + "/model-00002-of-00002.safetensors", {"b", "c"});
        writeText(dir + "/model.safetensors.index.json",
                  indexJson({{"a", "model-00001-of-00002.safetensors"},
                             {"b", "model-00001-of-00002.safetensors"},
                             {"c", "model-00002-of-00002.safetensors"}}));
        expectError(dir, {"\"b\"", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
                          "exactly one shard"});
    }

    void brokenIndex()
    {
        const std::string dir = shardedDir();
        const std::string index = dir + "/model.safetensors.index.json";
        writeText(index, "{\"weight_map\": ");
        expectError(dir, {"model.safetensors.index.json", "not valid JSON"});
        writeText(index, "{\"metadata\": {\"total_size\": 1e400}, \"weight_map\": {}}"); // out_of_range, not parse_error
        expectError(dir, {"model.safetensors.index.json", "not valid JSON", "number overflow"});
        writeText(index, "{\"metadata\": {}}");
        expectError(dir, {"model.safetensors.index.json", "weight_map"});
        writeText(index, indexJson({{"a", "../elsewhere.safetensors"}}));
        expectError(dir, {"\"a\"", "../elsewhere.safetensors", "plain file name"});
        writeText(index, "{\"weight_map\": {\"a\": 3}}");
        expectError(dir, {"\"a\"", "not a file name"});
    }

    void corruptShardNamesTheShard()
    {
        const std::string dir = newDir();
        writeText(dir + "/model.safetensors", std::string("\x10\0\0\0\0\0\0\0{}", 10));
        expectError(dir, {QString::fromStdString(dir + "/model.safetensors"), "header length 16"});
    }

    void pickleOnlyFolder()
    {
        const std::string dir = newDir();
        writeText(dir + "/pytorch_model.bin", "\x80\x02}q\x00.");
        writeText(dir + "/config.json", "{}");
        expectError(dir, {QString::fromStdString(dir), "pickle", "safetensors", "save_pretrained",
                          "safe_serialization=True"});

        const std::string sharded = newDir();
        writeText(sharded + "/pytorch_model.bin.index.json", "{\"weight_map\": {}}");
        writeText(sharded + "/pytorch_model-00001-of-00002.bin", "x");
        writeText(sharded + "/training_args.pt", "x");
        expectError(sharded, {"pickle", "safetensors"});
    }

    void emptyFolder()
    {
        const std::string dir = newDir();
        expectError(dir, {QString::fromStdString(dir), "no model weights", "model.safetensors",
                          "model.safetensors.index.json"});
    }

    void notAFolder()
    {
        expectError(m_root.filePath("nope").toStdString(), {"nope", "not a folder"});
    }

    void ambiguousOrAdapterFolder()
    {
        const std::string several = newDir();
        writeShard(several + "/x.safetensors", {"a"});
        writeShard(several + "/y.safetensors", {"b"});
        expectError(several, {"x.safetensors", "y.safetensors", "index"});

        const std::string adapter = newDir();
        writeShard(adapter + "/adapter_model.safetensors", {"a"});
        expectError(adapter, {"adapter_model.safetensors", "LoRA adapter"});
    }
};

QTEST_GUILESS_MAIN(TestCheckpointFiles)
#include "tst_checkpointfiles.moc"
