// tunebench-cli as a user runs it: a real child process, real folders, real stdin/stdout.
#include "formats/ModelConfig.h"

#include <QDir>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>

namespace {

struct Run {
    int exitCode = -1;
    QByteArray out;
    QByteArray err;
};

Run cli(const QStringList& args, const QByteArray& input = {})
{
    QProcess p;
    p.start(TB_CLI_PATH, args);
    if (!p.waitForStarted())
        return {};
    if (!input.isEmpty())
        p.write(input);
    p.closeWriteChannel();
    p.waitForFinished(300000);
    return {p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -2, p.readAllStandardOutput(), p.readAllStandardError()};
}

} // namespace

class TestCli : public QObject {
    Q_OBJECT
private:
    QTemporaryDir m_tmp;
    QString m_model;

private Q_SLOTS:
    void initTestCase()
    {
        // Runs recorded by tests go to a scratch database, never the user's.
        qputenv("TUNEBENCH_DB", m_tmp.filePath("default.db").toUtf8());
        m_model = m_tmp.filePath("demo");
        const Run r = cli({"make-demo-model", "--out", m_model, "--seed", "7"});
        QVERIFY2(r.exitCode == 0, r.err.constData());
        for (const char* f : {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"})
            QVERIFY2(QFile::exists(m_model + "/" + f), f);
    }

    void demoModelIsDeterministic()
    {
        const QString again = m_tmp.filePath("demo-again");
        QCOMPARE(cli({"make-demo-model", "--out", again, "--seed", "7"}).exitCode, 0);
        for (const char* f : {"model.safetensors", "tokenizer.json", "config.json"}) {
            QFile a(m_model + "/" + f), b(again + "/" + f);
            QVERIFY(a.open(QIODevice::ReadOnly) && b.open(QIODevice::ReadOnly));
            QVERIFY2(a.readAll() == b.readAll(), f);
        }
        const QString other = m_tmp.filePath("demo-other");
        QCOMPARE(cli({"make-demo-model", "--out", other, "--seed", "8"}).exitCode, 0);
        QFile a(m_model + "/model.safetensors"), b(other + "/model.safetensors");
        QVERIFY(a.open(QIODevice::ReadOnly) && b.open(QIODevice::ReadOnly));
        QVERIFY(a.readAll() != b.readAll());
    }

    void inspectJson()
    {
        const Run r = cli({"inspect", "--model", m_model, "--json"});
        QVERIFY2(r.exitCode == 0, r.err.constData());
        const QJsonObject j = QJsonDocument::fromJson(r.out).object();
        QCOMPARE(j["architecture"].toString(), QString("LlamaForCausalLM"));
        QCOMPARE(j["layers"].toInt(), 4);
        QCOMPARE(j["vocab_size"].toInt(), 4096);
        QCOMPARE(j["tokenizer_vocab_size"].toInt(), 4096);
        const tb::ModelConfig c = tb::ModelConfig::fromFile((m_model + "/config.json").toStdString());
        QCOMPARE(qint64(j["parameters"].toDouble()), qint64(c.parameterCount()));
        QCOMPARE(qint64(j["weight_bytes"].toObject()["bf16"].toDouble()), qint64(c.parameterCount() * 2));
        QVERIFY(j["weight_bytes"].toObject()["nf4"].toDouble() < j["weight_bytes"].toObject()["bf16"].toDouble());
        QVERIFY(j["file_bytes"].toDouble() >= c.parameterCount() * 2);
        const Run text = cli({"inspect", "--model", m_model});
        QCOMPARE(text.exitCode, 0);
        QVERIFY(text.out.contains("LlamaForCausalLM") && text.out.contains("NF4"));
    }

    void inspectWarnsAndComparesTheCheckpoint()
    {
        // The demo checkpoint under a config that asks for attention biases (q/k/v and o_proj)
        // and carries a key LlamaConfig does not have.
        const QString dir = m_tmp.filePath("demo-biased-config");
        QVERIFY(QDir().mkpath(dir));
        for (const char* f : {"model.safetensors", "tokenizer.json"})
            QVERIFY(QFile::copy(m_model + "/" + f, dir + "/" + f));
        QFile in(m_model + "/config.json");
        QVERIFY(in.open(QIODevice::ReadOnly));
        QJsonObject config = QJsonDocument::fromJson(in.readAll()).object();
        config["attention_bias"] = true;
        config["made_up_key"] = 1;
        QFile out(dir + "/config.json");
        QVERIFY(out.open(QIODevice::WriteOnly));
        out.write(QJsonDocument(config).toJson());
        out.close();

        const Run r = cli({"inspect", "--model", dir, "--json"});
        QVERIFY2(r.exitCode == 0, r.err.constData());
        const QJsonObject j = QJsonDocument::fromJson(r.out).object();
        const tb::ModelConfig c = tb::ModelConfig::fromFile((dir + "/config.json").toStdString());
        QCOMPARE(qint64(j["parameters"].toDouble()), qint64(c.parameterCount()));
        // 4 layers x (q 256 + k 128 + v 128 + o 256) biases the checkpoint does not hold.
        QCOMPARE(qint64(j["parameters"].toDouble() - j["checkpoint_parameters"].toDouble()), qint64(4 * (256 + 128 + 128 + 256)));
        QCOMPARE(j["attention_bias"].toObject()["o_proj"].toBool(), true);
        const QJsonArray warnings = j["warnings"].toArray();
        QCOMPARE(warnings.size(), 2);
        QVERIFY(warnings[0].toString().contains("\"made_up_key\"") && warnings[0].toString().contains("LlamaConfig"));
        QVERIFY(warnings[1].toString().contains("the checkpoint holds"));
        const Run text = cli({"inspect", "--model", dir});
        QCOMPARE(text.exitCode, 0);
        QVERIFY2(text.out.contains("warning: ") && text.out.contains("made_up_key") && text.out.contains("o_proj"), text.out.constData());
        // The plain demo model: no warnings, the counts agree.
        const QJsonObject plain = QJsonDocument::fromJson(cli({"inspect", "--model", m_model, "--json"}).out).object();
        QVERIFY(plain["warnings"].toArray().isEmpty());
        QCOMPARE(plain["checkpoint_parameters"].toDouble(), plain["parameters"].toDouble());
    }

    void tokenizeJsonLines()
    {
        const QByteArray input = "{\"text\": \"Hello world\"}\n{\"text\": \"\"}\n{\"text\": \"caf\\u00e9 \\ud83e\\udd17\"}\n";
        const Run r = cli({"tokenize", "--model", m_model}, input);
        QVERIFY2(r.exitCode == 0, r.err.constData());
        const QList<QByteArray> lines = r.out.trimmed().split('\n');
        QCOMPARE(lines.size(), 3);
        QVERIFY(!QJsonDocument::fromJson(lines[0]).object()["ids"].toArray().isEmpty());
        QVERIFY(QJsonDocument::fromJson(lines[1]).object()["ids"].toArray().isEmpty());
        const Run special = cli({"tokenize", "--tokenizer", m_model + "/tokenizer.json", "--add-special-tokens"}, input);
        QCOMPARE(special.exitCode, 0);
        const QJsonArray withBos = QJsonDocument::fromJson(special.out.split('\n')[1]).object()["ids"].toArray();
        QCOMPARE(withBos.size(), 1); // just BOS for the empty text
        QCOMPARE(withBos[0].toInt(), 4096 - 5);
    }

    void demoTokenizerMatchesTheReferenceLibrary()
    {
        // The demo model's tokenizer.json, read by Hugging Face tokenizers (npm, see
        // tests/parity) and by `tunebench-cli tokenize`, on the parity corpus.
        const QString node = QStandardPaths::findExecutable("node");
        if (node.isEmpty() || !QFile::exists(QString(TB_PARITY_DIR) + "/node_modules/@anush008/tokenizers"))
            QFAIL("the reference tokenizers are not installed: run installer/setup.sh");
        const QString corpus = QString(TB_PARITY_DIR) + "/corpus.jsonl";
        const QString reference = m_tmp.filePath("demo-reference.jsonl");
        QProcess p;
        p.setProcessChannelMode(QProcess::MergedChannels);
        p.start(node, {QString(TB_PARITY_DIR) + "/encode.js", m_model + "/tokenizer.json", corpus, reference});
        QVERIFY(p.waitForFinished(120000));
        QVERIFY2(p.exitCode() == 0, p.readAll().constData());
        QFile in(corpus);
        QVERIFY(in.open(QIODevice::ReadOnly));
        const Run ours = cli({"tokenize", "--model", m_model, "--add-special-tokens"}, in.readAll());
        QVERIFY2(ours.exitCode == 0, ours.err.constData());
        QFile ref(reference);
        QVERIFY(ref.open(QIODevice::ReadOnly));
        const QList<QByteArray> expected = ref.readAll().trimmed().split('\n');
        const QList<QByteArray> got = ours.out.trimmed().split('\n');
        QCOMPARE(got.size(), expected.size());
        QVERIFY(got.size() >= 400);
        for (int i = 0; i < got.size(); ++i)
            QVERIFY2(QJsonDocument::fromJson(got[i]).object()["ids"] == QJsonDocument::fromJson(expected[i]).object()["ids"],
                     qPrintable(QString("corpus line %1 differs").arg(i + 1)));
    }

    void tokenizeBadLineIsNamed()
    {
        const Run r = cli({"tokenize", "--model", m_model}, "{\"text\": \"ok\"}\n{\"txt\": 1}\n");
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.contains("line 2") && r.err.contains("\"text\""), r.err.constData());
        const Run broken = cli({"tokenize", "--model", m_model}, "{\"text\": \"ok\"\n");
        QCOMPARE(broken.exitCode, 1);
        QVERIFY2(broken.err.contains("line 1") && broken.err.contains("JSON"), broken.err.constData());
    }

    void generateStreamsAndIsReproducible()
    {
        const QStringList args = {"generate", "--model", m_model, "--prompt", "Once upon a time", "--max-new-tokens", "16",
                                  "--temperature", "0.9", "--top-p", "0.9", "--seed", "3", "--json"};
        const Run a = cli(args), b = cli(args);
        QVERIFY2(a.exitCode == 0, a.err.constData());
        const QList<QByteArray> events = a.out.trimmed().split('\n');
        const QList<QByteArray> again = b.out.trimmed().split('\n');
        QCOMPARE(events.mid(0, events.size() - 1), again.mid(0, again.size() - 1)); // same streamed text
        const QJsonObject end = QJsonDocument::fromJson(events.last()).object();
        QCOMPARE(end["ids"].toArray(), QJsonDocument::fromJson(again.last()).object()["ids"].toArray());
        QString streamed;
        for (int i = 0; i + 1 < events.size(); ++i)
            streamed += QJsonDocument::fromJson(events[i]).object()["text"].toString();
        QVERIFY(!streamed.isEmpty());
        QCOMPARE(end["event"].toString(), QString("end"));
        QVERIFY(end["new_tokens"].toInt() >= 1 && end["new_tokens"].toInt() <= 16);
        QVERIFY(events.size() >= 2); // at least one streamed text event
        const Run plain = cli({"generate", "--model", m_model, "--prompt", "Hi", "--max-new-tokens", "5"});
        QCOMPARE(plain.exitCode, 0);
        QVERIFY(plain.err.contains("tokens/s"));
    }

    void errorsAreClear_data()
    {
        QTest::addColumn<QStringList>("args");
        QTest::addColumn<int>("exitCode");
        QTest::addColumn<QString>("mentions");
        QTest::newRow("unknown command") << QStringList{"frobnicate"} << 2 << "unknown command";
        QTest::newRow("unknown option") << QStringList{"inspect", "--modle", "x"} << 2 << "--modle";
        QTest::newRow("missing option") << QStringList{"inspect"} << 2 << "--model";
        QTest::newRow("bad preset") << QStringList{"make-demo-model", "--out", "/tmp/x", "--preset", "huge"} << 1 << "huge";
        QTest::newRow("bad number") << QStringList{"generate", "--model", "x", "--prompt", "a", "--top-p", "lots"} << 2 << "--top-p";
        QTest::newRow("no folder") << QStringList{"inspect", "--model", "/nonexistent/model"} << 1 << "/nonexistent/model";
        QTest::newRow("no tokenizer") << QStringList{"tokenize", "--tokenizer", "/nonexistent/tokenizer.json"} << 1 << "/nonexistent/tokenizer.json";
    }

    void errorsAreClear()
    {
        QFETCH(QStringList, args);
        QFETCH(int, exitCode);
        QFETCH(QString, mentions);
        const Run r = cli(args);
        QCOMPARE(r.exitCode, exitCode);
        QVERIFY2(QString::fromUtf8(r.err).contains(mentions), r.err.constData());
    }

    void trainEvalMergeAndGenerate()
    {
        const QString data = QString(TB_SOURCE_DIR) + "/resources/datasets/reviews-train.jsonl";
        const QString val = QString(TB_SOURCE_DIR) + "/resources/datasets/reviews-val.jsonl";
        const QString run = m_tmp.filePath("run");
        const Run train = cli({"train", "--model", m_model, "--data", data, "--val-data", val, "--out", run, "--steps", "6",
                               "--batch-size", "4", "--seq-len", "96", "--lr", "3e-3", "--save-every", "3", "--json"});
        QVERIFY2(train.exitCode == 0, train.err.constData());
        QMap<QString, int> counts;
        QJsonObject end;
        for (const QByteArray& line : train.out.trimmed().split('\n')) {
            const QJsonObject e = QJsonDocument::fromJson(line).object();
            counts[e["event"].toString()]++;
            if (e["event"] == "end")
                end = e;
            if (e["event"] == "memory")
                QVERIFY(e["base_weights"].toDouble() > 0 && e["rss"].toDouble() > 0);
        }
        QCOMPARE(counts["step"], 6);
        QCOMPARE(counts["eval"], 2);       // before the first step and at the end
        QCOMPARE(counts["checkpoint"], 2); // step 3 and the end
        QVERIFY(counts["memory"] >= 6 && counts["log"] >= 2);
        QCOMPARE(end["status"].toString(), QString("finished"));
        QVERIFY(QFile::exists(run + "/adapter/adapter_config.json"));
        QVERIFY(QFile::exists(run + "/checkpoints/step-00000003/trainable.safetensors"));

        const Run baseEval = cli({"eval", "--model", m_model, "--data", val, "--json"});
        const Run adapterEval = cli({"eval", "--model", m_model, "--adapter", run + "/adapter", "--data", val, "--json"});
        QVERIFY2(adapterEval.exitCode == 0, adapterEval.err.constData());
        const double before = QJsonDocument::fromJson(baseEval.out).object()["loss"].toDouble();
        const double after = QJsonDocument::fromJson(adapterEval.out).object()["loss"].toDouble();
        QVERIFY2(after < before, qPrintable(QString("%1 -> %2").arg(before).arg(after)));

        const QString merged = m_tmp.filePath("merged");
        const Run merge = cli({"merge", "--model", m_model, "--adapter", run + "/adapter", "--out", merged, "--dtype", "fp32"});
        QVERIFY2(merge.exitCode == 0, merge.err.constData());
        const Run mergedEval = cli({"eval", "--model", merged, "--dtype", "fp32", "--data", val, "--json"});
        const Run adapterEval32 = cli({"eval", "--model", m_model, "--dtype", "fp32", "--adapter", run + "/adapter", "--data", val, "--json"});
        const double m = QJsonDocument::fromJson(mergedEval.out).object()["loss"].toDouble();
        const double a = QJsonDocument::fromJson(adapterEval32.out).object()["loss"].toDouble();
        QVERIFY2(std::abs(m - a) < 1e-3 * a, qPrintable(QString("merged %1, adapter %2").arg(m).arg(a)));
        QVERIFY(QFile::exists(merged + "/tokenizer.json"));
        QCOMPARE(cli({"merge", "--model", m_model, "--adapter", run + "/adapter", "--out", merged}).exitCode, 1); // not empty

        const Run chat = cli({"generate", "--model", m_model, "--adapter", run + "/adapter", "--chat", "--prompt", "Hello",
                              "--max-new-tokens", "3"});
        QVERIFY2(chat.exitCode == 0, chat.err.constData());
    }

    void sigtermCancelsCleanlyAndResumes()
    {
        const QString data = QString(TB_SOURCE_DIR) + "/resources/datasets/reviews-train.jsonl";
        const QString run = m_tmp.filePath("killed");
        const QStringList common = {"train", "--model", m_model, "--data", data, "--batch-size", "4", "--seq-len", "96",
                                    "--json"};
        QProcess p;
        p.start(TB_CLI_PATH, common + QStringList{"--out", run, "--steps", "100000"});
        QVERIFY(p.waitForStarted());
        QByteArray out;
        while (!out.contains("\"event\":\"step\"") && p.waitForReadyRead(60000))
            out += p.readAllStandardOutput();
        QVERIFY(out.contains("\"event\":\"step\""));
        p.terminate(); // SIGTERM
        QVERIFY(p.waitForFinished(60000));
        out += p.readAllStandardOutput();
        QCOMPARE(p.exitCode(), 0);
        const QJsonObject end = QJsonDocument::fromJson(out.trimmed().split('\n').last()).object();
        QCOMPARE(end["status"].toString(), QString("cancelled"));
        const int reached = end["step"].toInt();
        QVERIFY(reached >= 1);

        const Run resumed = cli(common + QStringList{"--resume", run, "--steps", QString::number(reached + 2)});
        QVERIFY2(resumed.exitCode == 0, resumed.err.constData());
        const QJsonObject done = QJsonDocument::fromJson(resumed.out.trimmed().split('\n').last()).object();
        QCOMPARE(done["status"].toString(), QString("finished"));
        QCOMPARE(done["step"].toInt(), reached + 2);
        QVERIFY(resumed.out.contains("Resumed from"));
    }

    void sigkillLeavesAnInterruptedRunThatResumes()
    {
        // A real training process killed with SIGKILL mid-run: the database stays intact,
        // the run is marked interrupted with its last checkpoint, and --resume continues the
        // same run row.
        const QString data = QString(TB_SOURCE_DIR) + "/resources/datasets/reviews-train.jsonl";
        const QString db = m_tmp.filePath("runs.db");
        const QString run = m_tmp.filePath("sigkill");
        const QStringList common = {"train", "--model", m_model, "--data", data, "--batch-size", "4", "--seq-len", "96",
                                    "--save-every", "1", "--db", db, "--json"};
        QProcess p;
        p.start(TB_CLI_PATH, common + QStringList{"--out", run, "--steps", "100000", "--name", "killed"});
        QVERIFY(p.waitForStarted());
        QByteArray out;
        while (out.count("\"event\":\"checkpoint\"") < 3 && p.waitForReadyRead(60000))
            out += p.readAllStandardOutput();
        QVERIFY(out.count("\"event\":\"checkpoint\"") >= 3);
        p.kill(); // SIGKILL: no handler runs
        QVERIFY(p.waitForFinished(30000));
        QCOMPARE(p.exitStatus(), QProcess::CrashExit);

        const Run listed = cli({"runs", "list", "--db", db, "--json"});
        QVERIFY2(listed.exitCode == 0, listed.err.constData());
        const QJsonArray runs = QJsonDocument::fromJson(listed.out).array();
        QCOMPARE(runs.size(), 1);
        const QJsonObject interrupted = runs[0].toObject();
        QCOMPARE(interrupted["status"].toString(), QString("interrupted"));
        QCOMPARE(interrupted["name"].toString(), QString("killed"));
        const int reached = interrupted["step"].toInt();
        QVERIFY(reached >= 3);
        const Run shown = cli({"runs", "show", QString::number(interrupted["id"].toInt()), "--db", db, "--json"});
        const QJsonObject details = QJsonDocument::fromJson(shown.out).object();
        QVERIFY(details["last_checkpoint"].toString().contains("step-"));
        QVERIFY(details["final_metrics"].toObject().contains("loss"));

        const Run resumed = cli(common + QStringList{"--resume", run, "--steps", QString::number(reached + 2)});
        QVERIFY2(resumed.exitCode == 0, resumed.err.constData());
        const QJsonObject end = QJsonDocument::fromJson(resumed.out.trimmed().split('\n').last()).object();
        QCOMPARE(end["status"].toString(), QString("finished"));
        QCOMPARE(end["run_id"].toInt(), interrupted["id"].toInt()); // the same row
        const QJsonArray after = QJsonDocument::fromJson(cli({"runs", "list", "--db", db, "--json"}).out).array();
        QCOMPARE(after.size(), 1);
        QCOMPARE(after[0].toObject()["status"].toString(), QString("finished"));
        QCOMPARE(after[0].toObject()["step"].toInt(), reached + 2);
    }

    void runsCommands()
    {
        const QString data = QString(TB_SOURCE_DIR) + "/resources/datasets/reviews-train.jsonl";
        const QString db = m_tmp.filePath("compare.db");
        for (const char* rank : {"4", "8"}) {
            const Run r = cli({"train", "--model", m_model, "--data", data, "--batch-size", "4", "--seq-len", "96", "--steps", "2",
                               "--rank", rank, "--db", db, "--out", m_tmp.filePath(QString("rank") + rank), "--name",
                               QString("rank-") + rank});
            QVERIFY2(r.exitCode == 0, r.err.constData());
        }
        const Run compare = cli({"runs", "compare", "1", "2", "--db", db, "--json"});
        QVERIFY2(compare.exitCode == 0, compare.err.constData());
        const QJsonObject c = QJsonDocument::fromJson(compare.out).object();
        QStringList keys;
        for (const auto& d : c["differences"].toArray())
            keys << d.toObject()["key"].toString();
        QVERIFY2(keys.contains("lora.rank") && keys.contains("lora.alpha"), qPrintable(keys.join(",")));
        const QJsonArray runs = c["runs"].toArray();
        QVERIFY(runs[1].toObject()["results"].toObject()["trainable_parameters"].toDouble()
                == 2 * runs[0].toObject()["results"].toObject()["trainable_parameters"].toDouble());
        QVERIFY(runs[0].toObject()["results"].toObject()["peak_memory"].toObject().contains("optimizer"));
        QCOMPARE(cli({"runs", "compare", "1", "2", "--db", db}).exitCode, 0); // the table

        QCOMPARE(cli({"runs", "rename", "1", "small", "--db", db}).exitCode, 0);
        QCOMPARE(cli({"runs", "tag", "1", "baseline", "--db", db}).exitCode, 0);
        QCOMPARE(cli({"runs", "note", "1", "rank 4 first", "--db", db}).exitCode, 0);
        const QJsonObject one = QJsonDocument::fromJson(cli({"runs", "show", "1", "--db", db, "--json"}).out).object();
        QCOMPARE(one["name"].toString(), QString("small"));
        QCOMPARE(one["tags"].toArray().first().toString(), QString("baseline"));
        QCOMPARE(one["note"].toString(), QString("rank 4 first"));
        QCOMPARE(QJsonDocument::fromJson(cli({"runs", "list", "--tag", "baseline", "--db", db, "--json"}).out).array().size(), 1);

        QCOMPARE(cli({"runs", "delete", "2", "--files", "--db", db}).exitCode, 0);
        QCOMPARE(QJsonDocument::fromJson(cli({"runs", "list", "--db", db, "--json"}).out).array().size(), 1);
        const Run missing = cli({"runs", "show", "2", "--db", db});
        QCOMPARE(missing.exitCode, 1);
        QVERIFY2(missing.err.contains("2"), missing.err.constData());
        QCOMPARE(cli({"runs", "show", "abc", "--db", db}).exitCode, 2);
        // A database file that is not a database is named in the error, and left as it was.
        QFile junk(m_tmp.filePath("junk.db"));
        QVERIFY(junk.open(QIODevice::WriteOnly));
        junk.write("this is not sqlite, just text that is long enough to look like a header........");
        junk.close();
        const Run corrupt = cli({"runs", "list", "--db", m_tmp.filePath("junk.db")});
        QCOMPARE(corrupt.exitCode, 1);
        QVERIFY2(corrupt.err.contains("junk.db"), corrupt.err.constData());
    }

    void datasetStatsAndPreview()
    {
        const QString data = QString(TB_SOURCE_DIR) + "/resources/datasets/reviews-train.jsonl";
        const Run r = cli({"dataset", "--model", m_model, "--data", data, "--seq-len", "50", "--preview", "1", "--json"});
        QVERIFY2(r.exitCode == 0, r.err.constData());
        const QJsonObject j = QJsonDocument::fromJson(r.out).object();
        QCOMPARE(j["format"].toString(), QString("instruction"));
        const QJsonObject train = j["train"].toObject();
        const QJsonObject val = j["validation"].toObject();
        QCOMPARE(train["records"].toInt() + val["records"].toInt() + train["skipped"].toInt() + val["skipped"].toInt(), 400);
        QVERIFY(train["skipped"].toInt() > 0); // prompts longer than 50 tokens leave nothing to learn
        QVERIFY(train["truncated"].toInt() > 0); // 50 tokens cut the longer reviews
        int histogramTotal = 0;
        for (const auto& v : train["length_histogram"].toArray())
            histogramTotal += v.toInt();
        QCOMPARE(histogramTotal, train["records"].toInt());
        const QJsonArray segments = j["preview"].toArray()[0].toObject()["segments"].toArray();
        QString trained;
        for (const auto& seg : segments)
            if (!seg.toObject()["masked"].toBool())
                trained += seg.toObject()["text"].toString();
        QVERIFY2(trained.startsWith("positive") || trained.startsWith("negative"), qPrintable(trained));
        const Run bad = cli({"dataset", "--model", m_model, "--data", m_tmp.filePath("none.jsonl")});
        QCOMPARE(bad.exitCode, 1);
        QVERIFY(bad.err.contains("none.jsonl"));
    }

    void trainRunsADescriptionFile()
    {
        const QString data = QString(TB_SOURCE_DIR) + "/resources/datasets/reviews-val.jsonl";
        // --print-config: the description the options make, with TrainConfig's defaults.
        const Run printed = cli({"train", "--model", m_model, "--data", data, "--out", m_tmp.filePath("described"), "--steps", "2",
                                 "--batch-size", "2", "--seq-len", "64", "--rank", "4", "--print-config"});
        QVERIFY2(printed.exitCode == 0, printed.err.constData());
        QJsonObject config = QJsonDocument::fromJson(printed.out).object();
        QCOMPARE(config["lora"].toObject()["alpha"].toDouble(), 8.0); // 2 x rank
        QCOMPARE(config["learning_rate"].toDouble(), 2e-4);
        QCOMPARE(config["max_steps"].toInt(), 2);
        QVERIFY(!QFile::exists(m_tmp.filePath("described"))); // nothing ran
        const Run fullPrinted = cli({"train", "--model", m_model, "--data", data, "--out", m_tmp.filePath("x"), "--method", "full", "--print-config"});
        QCOMPARE(QJsonDocument::fromJson(fullPrinted.out).object()["learning_rate"].toDouble(), 2e-5);

        // That file runs exactly that description; the run folder keeps it.
        const QString file = m_tmp.filePath("described.json");
        QFile out(file);
        QVERIFY(out.open(QIODevice::WriteOnly));
        out.write(printed.out);
        out.close();
        const Run run = cli({"train", "--config", file, "--no-db", "--json"});
        QVERIFY2(run.exitCode == 0, run.err.constData());
        QFile kept(m_tmp.filePath("described/train_config.json"));
        QVERIFY(kept.open(QIODevice::ReadOnly));
        QCOMPARE(QJsonDocument::fromJson(kept.readAll()).object(), config);
        const QList<QByteArray> lines = run.out.trimmed().split('\n');
        QCOMPARE(QJsonDocument::fromJson(lines.first()).object()["event"].toString(), QString("run"));
        QCOMPARE(QJsonDocument::fromJson(lines.first()).object()["v"].toInt(), 1);
        bool started = false;
        for (const QByteArray& line : lines) {
            const QJsonObject e = QJsonDocument::fromJson(line).object();
            QCOMPARE(e["v"].toInt(), 1); // every line carries the stream's version
            if (e["event"] == "start") {
                started = true;
                QCOMPARE(e["total_steps"].toInt(), 2);
            }
        }
        QVERIFY(started);

        // The same folder again is refused before anything runs, naming the key.
        const Run again = cli({"train", "--config", file, "--no-db"});
        QCOMPARE(again.exitCode, 2);
        QVERIFY2(again.err.contains("described.json: key \"output_dir\"") && again.err.contains("already holds a run"), again.err.constData());
        // ... and at registration, for a run recorded in the database too.
        const Run recorded = cli({"train", "--config", file, "--db", m_tmp.filePath("config.db")});
        QCOMPARE(recorded.exitCode, 2);
        QVERIFY2(recorded.err.contains("already holds a run"), recorded.err.constData());
        // A run made without the database resumes into one: a new row for its folder.
        const Run resumed = cli({"train", "--config", file, "--resume", m_tmp.filePath("described"), "--db", m_tmp.filePath("config.db"), "--json"});
        QVERIFY2(resumed.exitCode == 0, resumed.err.constData());
        // Options that describe the run contradict the file.
        const Run both = cli({"train", "--config", file, "--steps", "3"});
        QCOMPARE(both.exitCode, 2);
        QVERIFY2(both.err.contains("--steps contradicts it"), both.err.constData());
    }

    void everyConfigProblemIsNamedByItsOption()
    {
        const Run r = cli({"train", "--model", m_model, "--data", m_tmp.filePath("nothing.jsonl"), "--out", m_tmp.filePath("p"),
                           "--lr", "2", "--rank", "0", "--seq-len", "0", "--no-db"});
        QCOMPARE(r.exitCode, 2);
        const QString err = QString::fromUtf8(r.err);
        for (const char* expected : {"option --lr (learning_rate): must be above 0 and at most 1",
                                     "option --rank (lora.rank): must be between 1 and 4096",
                                     "option --seq-len (dataset.seq_len): must be at least 2 tokens",
                                     "option --data (data):"})
            QVERIFY2(err.contains(expected), qPrintable(err));
    }

    void runFolderDefaultsToTheWorkspace()
    {
        const QString db = m_tmp.filePath("ws/tb.db");
        const Run r = cli({"train", "--model", m_model, "--data", QString(TB_SOURCE_DIR) + "/resources/datasets/reviews-val.jsonl",
                           "--steps", "1", "--batch-size", "2", "--seq-len", "64", "--name", "auto folder", "--db", db, "--json"});
        QVERIFY2(r.exitCode == 0, r.err.constData());
        const QJsonObject end = QJsonDocument::fromJson(r.out.trimmed().split('\n').last()).object();
        QVERIFY2(end["adapter"].toString().startsWith(m_tmp.filePath("ws/runs/auto-folder-")), qPrintable(end["adapter"].toString()));
        QVERIFY(QFile::exists(end["adapter"].toString() + "/adapter_config.json"));
        QCOMPARE(cli({"train", "--model", m_model, "--data", "x.jsonl", "--no-db"}).exitCode, 2); // --out needed then
    }

    void tokenizerPastTheModelIsNamed()
    {
        // A tokenizer with one more token than the model has embedding rows (vocab_size 4096):
        // train, eval and generate refuse with the file and line, not Torch's index error.
        const QString wide = m_tmp.filePath("wide-tokenizer");
        QDir().mkpath(wide);
        for (const char* f : {"config.json", "model.safetensors", "tokenizer_config.json"})
            QVERIFY(QFile::copy(m_model + "/" + f, wide + "/" + f));
        QFile in(m_model + "/tokenizer.json");
        QVERIFY(in.open(QIODevice::ReadOnly));
        QJsonObject tokenizer = QJsonDocument::fromJson(in.readAll()).object();
        QJsonArray added = tokenizer["added_tokens"].toArray();
        added.append(QJsonObject{{"id", 4096}, {"content", "<|new|>"}, {"single_word", false}, {"lstrip", false},
                                 {"rstrip", false}, {"normalized", false}, {"special", true}});
        tokenizer["added_tokens"] = added;
        QFile out(wide + "/tokenizer.json");
        QVERIFY(out.open(QIODevice::WriteOnly));
        out.write(QJsonDocument(tokenizer).toJson());
        out.close();
        const QString data = m_tmp.filePath("new-token.jsonl");
        QFile d(data);
        QVERIFY(d.open(QIODevice::WriteOnly));
        d.write("{\"text\": \"a plain line\"}\n{\"text\": \"uses <|new|> here\"}\n");
        d.close();

        const Run train = cli({"train", "--model", wide, "--data", data, "--val-data", data, "--out",
                               m_tmp.filePath("wide-run"), "--steps", "1"});
        QCOMPARE(train.exitCode, 1);
        for (const char* needle : {"new-token.jsonl: line 2: token id 4096 (\"<|new|>\")", "vocab_size 4096"})
            QVERIFY2(train.err.contains(needle), train.err.constData());
        const Run eval = cli({"eval", "--model", wide, "--data", data});
        QCOMPARE(eval.exitCode, 1);
        QVERIFY2(eval.err.contains("line 2: token id 4096"), eval.err.constData());
        const Run inspect = cli({"inspect", "--model", wide});
        QCOMPARE(inspect.exitCode, 0);
        QVERIFY2(inspect.out.contains("4096 (tokenizer.json: 4097)") && inspect.out.contains("ids 4096 and up have no embedding row"),
                 inspect.out.constData());
        const Run generate = cli({"generate", "--model", wide, "--prompt", "say <|new|>", "--max-new-tokens", "2"});
        QCOMPARE(generate.exitCode, 1);
        QVERIFY2(generate.err.contains("prompt token id 4096 (\"<|new|>\")"), generate.err.constData());
    }

    void brokenCheckpointIsNamed()
    {
        const QString broken = m_tmp.filePath("broken");
        QDir().mkpath(broken);
        QFile::copy(m_model + "/config.json", broken + "/config.json");
        QFile::copy(m_model + "/tokenizer.json", broken + "/tokenizer.json");
        QFile in(m_model + "/model.safetensors");
        QVERIFY(in.open(QIODevice::ReadOnly));
        QFile out(broken + "/model.safetensors");
        QVERIFY(out.open(QIODevice::WriteOnly));
        out.write(in.read(in.size() / 2));
        out.close();
        const Run r = cli({"generate", "--model", broken, "--prompt", "x"});
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.contains("model.safetensors"), r.err.constData());
    }
};

QTEST_GUILESS_MAIN(TestCli)
#include "tst_cli.moc"
