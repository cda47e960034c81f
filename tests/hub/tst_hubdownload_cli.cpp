// `tunebench-cli download` as a user runs it: a child process with HF_* variables pointing at
// fake_hub.py serving a demo model and a dataset with two commits; the snapshot it prints is a
// model folder `inspect` loads; --revision, --include and --repo-type dataset reach the Hub.
#include "FakeHub.h"

#include <QCryptographicHash>
#include <QDir>
#include <QDirIterator>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QTemporaryDir>
#include <QTest>

#include <csignal>

namespace {

const char* const kToken = "hf_CliRightToken_abcdef123456";
const char* const kWrongToken = "hf_CliWrongToken_NeverShown_987";

struct Run {
    int exitCode = -1;
    QByteArray out;
    QByteArray err;
};

} // namespace

class TestHubDownloadCli : public QObject {
    Q_OBJECT
private:
    QTemporaryDir m_tmp;
    FakeHub m_hub;
    QString m_home;
    int m_homes = 0;

    QProcessEnvironment environment(const QMap<QString, QString>& extra = {}) const
    {
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        for (const char* name : {"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_TOKEN_PATH"})
            env.remove(name);
        env.insert("HF_HOME", m_home);
        env.insert("HF_ENDPOINT", m_hub.endpoint());
        for (auto it = extra.begin(); it != extra.end(); ++it)
            env.insert(it.key(), it.value());
        return env;
    }

    Run cli(const QStringList& args, const QMap<QString, QString>& env = {})
    {
        QProcess p;
        p.setProcessEnvironment(environment(env));
        p.start(TB_CLI_PATH, args);
        if (!p.waitForStarted())
            return {};
        p.closeWriteChannel();
        p.waitForFinished(240000);
        return {p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -2, p.readAllStandardOutput(), p.readAllStandardError()};
    }

    static bool mentionsAToken(const Run& r)
    {
        for (const char* t : {kToken, kWrongToken})
            if (r.out.contains(t) || r.err.contains(t))
                return true;
        return false;
    }

private Q_SLOTS:
    void initTestCase()
    {
        const QString demo = m_tmp.filePath("demo");
        QProcess make;
        make.start(TB_CLI_PATH, {"make-demo-model", "--out", demo, "--preset", "tiny", "--seed", "3"});
        QVERIFY(make.waitForFinished(240000));
        QVERIFY2(make.exitCode() == 0, make.readAllStandardError().constData());
        const QString gpt2 = m_tmp.filePath("gpt2");
        QDir().mkpath(gpt2);
        QFile config(gpt2 + "/config.json");
        QVERIFY(config.open(QIODevice::WriteOnly));
        config.write(R"({"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2"})");
        config.close();
        QFile weights(gpt2 + "/model.safetensors");
        QVERIFY(weights.open(QIODevice::WriteOnly));
        weights.write(QByteArray(65536, 'x'));
        weights.close();
        // A dataset repository with two commits: r1, then main, which changes train.jsonl only.
        for (const QString version : {"v1", "v2"}) {
            const QString dir = m_tmp.filePath("data-" + version);
            QDir().mkpath(dir + "/data");
            const QList<QPair<QString, QByteArray>> files = {
                {"data/train.jsonl", "{\"text\": \"train " + version.toUtf8() + "\"}\n"},
                {"data/test.csv", "text\nheld out\n"},
                {"data/train.parquet", QByteArray(2000, 'p')},
                {"README.md", "# data\n"}};
            for (const auto& [rel, bytes] : files) {
                QFile f(dir + "/" + rel);
                QVERIFY(f.open(QIODevice::WriteOnly));
                f.write(bytes);
            }
        }
        QString error;
        QVERIFY2(m_hub.start({"--model", "org/demo=" + demo, "--model", "org/demo-gated=" + demo, "--gated", "org/demo-gated",
                              "--model", "org/gpt2=" + gpt2, "--dataset",
                              "org/data=" + m_tmp.filePath("data-v1") + "," + m_tmp.filePath("data-v2"), "--token", kToken},
                             &error),
                 qPrintable(error));
    }

    void init()
    {
        m_hub.reset();
        m_home = m_tmp.filePath(QString("hf-home-%1").arg(++m_homes));
    }

    // The architecture is checked from config.json alone: no weight of a model Tunebench cannot
    // train is downloaded.
    void refusesAnArchitectureBeforeAnyWeight()
    {
        const Run r = cli({"download", "org/gpt2"});
        QCOMPARE(r.exitCode, 1);
        QVERIFY2(r.err.contains("config.json") && r.err.contains("GPT2LMHeadModel"), r.err.constData());
        const QStringList blobs = QDir(m_home + "/hub/models--org--gpt2/blobs").entryList(QDir::Files);
        QCOMPARE(blobs.size(), 1); // config.json's alone
    }

    void downloadPrintsASnapshotThatLoads()
    {
        const Run r = cli({"download", "org/demo"});
        QVERIFY2(r.exitCode == 0, r.err.constData());
        QVERIFY2(r.err.isEmpty(), r.err.constData()); // no progress when stderr is not a terminal
        const QString snapshot = QString::fromUtf8(r.out).trimmed();
        QVERIFY2(snapshot.startsWith(m_home + "/hub/models--org--demo/snapshots/"), qPrintable(snapshot));
        QVERIFY(QFileInfo(snapshot + "/config.json").isSymLink());
        QVERIFY(QFileInfo(snapshot + "/model.safetensors").isSymLink());

        const Run inspect = cli({"inspect", "--model", snapshot, "--json"});
        QVERIFY2(inspect.exitCode == 0, inspect.err.constData());
        QCOMPARE(QJsonDocument::fromJson(inspect.out).object()["architecture"].toString(), QString("LlamaForCausalLM"));

        const Run again = cli({"download", "org/demo", "--json"});
        QVERIFY2(again.exitCode == 0, again.err.constData());
        const QJsonObject j = QJsonDocument::fromJson(again.out).object();
        QCOMPARE(j["snapshot"].toString(), snapshot);
        QCOMPARE(j["bytes_received"].toInteger(), 0);
        QVERIFY(!j["files"].toArray().isEmpty());
        for (const auto& f : j["files"].toArray())
            QVERIFY(!f.toObject()["transferred"].toBool());
    }

    void jsonDescribesWhatWasVerified()
    {
        const Run r = cli({"download", "org/demo", "--json", "--connections", "2"});
        QVERIFY2(r.exitCode == 0, r.err.constData());
        const QJsonObject j = QJsonDocument::fromJson(r.out).object();
        QCOMPARE(j["repo"].toString(), QString("org/demo"));
        QCOMPARE(j["revision"].toString(), QString("main"));
        QCOMPARE(j["commit"].toString().size(), 40);
        bool sawWeights = false;
        for (const auto& v : j["files"].toArray()) {
            const QJsonObject f = v.toObject();
            QVERIFY(f["transferred"].toBool());
            // LFS files (the weights, and here the large tokenizer.json) by SHA-256, the others
            // by their git blob SHA-1.
            const QString path = f["path"].toString();
            sawWeights = sawWeights || path == "model.safetensors";
            if (path == "model.safetensors")
                QCOMPARE(f["verified_by"].toString(), QString("SHA-256"));
            else if (path == "config.json")
                QCOMPARE(f["verified_by"].toString(), QString("git blob SHA-1"));
            else
                QVERIFY2(f["verified_by"].toString() == "SHA-256" || f["verified_by"].toString() == "git blob SHA-1", qPrintable(path));
        }
        QVERIFY(sawWeights);
    }

    // --repo-type dataset, --revision and --include (repeated) as they reach the Hub and the
    // cache: the older commit's bytes, only the files asked for, refs/<revision>.
    void revisionIncludeAndRepoType()
    {
        const Run r1 = cli({"download", "org/data", "--repo-type", "dataset", "--revision", "r1", "--include", "data/*.jsonl",
                            "--include", "README.md", "--json"});
        QVERIFY2(r1.exitCode == 0, r1.err.constData());
        const QJsonObject j = QJsonDocument::fromJson(r1.out).object();
        QCOMPARE(j["repo"].toString(), QString("org/data"));
        QCOMPARE(j["repo_type"].toString(), QString("dataset"));
        QCOMPARE(j["revision"].toString(), QString("r1"));
        const QString commit = j["commit"].toString();
        QCOMPARE(commit.size(), 40);
        QStringList paths;
        for (const auto& f : j["files"].toArray())
            paths << f.toObject()["path"].toString();
        paths.sort();
        QCOMPARE(paths, (QStringList{"README.md", "data/train.jsonl"})); // not test.csv, not the parquet
        const QString snapshot = j["snapshot"].toString();
        QCOMPARE(snapshot, m_home + "/hub/datasets--org--data/snapshots/" + commit);
        QFile train(snapshot + "/data/train.jsonl");
        QVERIFY(train.open(QIODevice::ReadOnly));
        QCOMPARE(train.readAll(), QByteArray("{\"text\": \"train v1\"}\n")); // r1's bytes, not main's
        QVERIFY(!QFileInfo::exists(snapshot + "/data/test.csv"));
        QFile ref(m_home + "/hub/datasets--org--data/refs/r1");
        QVERIFY(ref.open(QIODevice::ReadOnly));
        QCOMPARE(QString::fromLatin1(ref.readAll()), commit);
        QVERIFY(!QFileInfo::exists(m_home + "/hub/datasets--org--data/refs/main"));
        QVERIFY(!QDir(m_home + "/hub/models--org--data").exists());
        // The dataset endpoints, at the revision asked for; no model-style config.json first.
        QCOMPARE(m_hub.requestsTo("/api/datasets/org/data/revision/r1").size(), 1);
        QVERIFY(m_hub.requestsTo("/api/models/").isEmpty());
        const QJsonArray gets = m_hub.requestsTo("/datasets/org/data/resolve/" + commit + "/", "GET");
        QCOMPARE(gets.size(), 2);
        QVERIFY(m_hub.requestsTo("config.json").isEmpty());

        // main: a new commit; README.md's blob is shared, so only train.jsonl is transferred.
        m_hub.reset();
        const Run main = cli({"download", "org/data", "--repo-type", "dataset", "--include", "data/*.jsonl", "--include",
                              "README.md", "--json"});
        QVERIFY2(main.exitCode == 0, main.err.constData());
        const QJsonObject m = QJsonDocument::fromJson(main.out).object();
        QVERIFY(m["commit"].toString() != commit);
        for (const auto& v : m["files"].toArray())
            QCOMPARE(v.toObject()["transferred"].toBool(), v.toObject()["path"].toString() == "data/train.jsonl");
        QFile trainMain(m["snapshot"].toString() + "/data/train.jsonl");
        QVERIFY(trainMain.open(QIODevice::ReadOnly));
        QCOMPARE(trainMain.readAll(), QByteArray("{\"text\": \"train v2\"}\n"));

        // A model with --include: only those files (no weights), into the model cache.
        m_hub.reset();
        const Run tok = cli({"download", "org/demo", "--include", "tokenizer*", "--json"});
        QVERIFY2(tok.exitCode == 0, tok.err.constData());
        QStringList modelPaths;
        for (const auto& f : QJsonDocument::fromJson(tok.out).object()["files"].toArray())
            modelPaths << f.toObject()["path"].toString();
        modelPaths.sort();
        QCOMPARE(modelPaths, (QStringList{"tokenizer.json", "tokenizer_config.json"}));
        QCOMPARE(m_hub.requestsTo("/resolve/", "HEAD").size(), 2); // nothing else asked for, the weights neither
        QCOMPARE(QJsonDocument::fromJson(tok.out).object()["repo_type"].toString(), QString("model"));
    }

    void gatedRepoAndTheToken()
    {
        const Run none = cli({"download", "org/demo-gated"});
        QCOMPARE(none.exitCode, 1);
        QVERIFY2(none.err.contains("HF_TOKEN") && none.err.contains("401"), none.err.constData());

        const Run wrong = cli({"download", "org/demo-gated", "--token", kWrongToken});
        QCOMPARE(wrong.exitCode, 1);
        QVERIFY2(wrong.err.contains("403"), wrong.err.constData());
        QVERIFY(wrong.out.isEmpty());
        QVERIFY2(!mentionsAToken(wrong), wrong.err.constData());

        const Run wrongEnv = cli({"download", "org/demo-gated"}, {{"HF_TOKEN", kWrongToken}});
        QCOMPARE(wrongEnv.exitCode, 1);
        QVERIFY2(!mentionsAToken(wrongEnv), wrongEnv.err.constData());

        QDir().mkpath(m_home);
        QFile tokenFile(m_home + "/token");
        QVERIFY(tokenFile.open(QIODevice::WriteOnly));
        tokenFile.write(QByteArray(kToken) + "\n");
        tokenFile.close();
        const Run right = cli({"download", "org/demo-gated", "--json"});
        QVERIFY2(right.exitCode == 0, right.err.constData());
        QVERIFY2(!mentionsAToken(right), right.out.constData());

        // Nothing the CLI wrote into the cache holds the token either.
        QDirIterator it(m_home + "/hub", QDir::Files | QDir::Hidden | QDir::NoDotAndDotDot, QDirIterator::Subdirectories);
        while (it.hasNext()) {
            QFile f(it.next());
            QVERIFY(f.open(QIODevice::ReadOnly));
            QVERIFY2(!f.readAll().contains(kToken), qPrintable(f.fileName()));
        }
    }

    void errorsAndUsage()
    {
        const Run missing = cli({"download", "org/nope"});
        QCOMPARE(missing.exitCode, 1);
        QVERIFY2(missing.err.contains("no model repository org/nope"), missing.err.constData());
        const Run bad = cli({"download", "a/b/c"});
        QCOMPARE(bad.exitCode, 2);
        QVERIFY2(bad.err.contains("not a Hub repository id"), bad.err.constData());
        QCOMPARE(cli({"download"}).exitCode, 2);
        QCOMPARE(cli({"download", "org/demo", "--repo-type", "space"}).exitCode, 2);
        const Run offlineMissing = cli({"download", "org/demo"}, {{"HF_HUB_OFFLINE", "1"}});
        QCOMPARE(offlineMissing.exitCode, 1);
        QVERIFY2(offlineMissing.err.contains("HF_HUB_OFFLINE"), offlineMissing.err.constData());
    }

    void offlineUsesTheCache()
    {
        const Run online = cli({"download", "org/demo"});
        QVERIFY2(online.exitCode == 0, online.err.constData());
        m_hub.reset();
        const Run offline = cli({"download", "org/demo"}, {{"HF_HUB_OFFLINE", "1"}});
        QVERIFY2(offline.exitCode == 0, offline.err.constData());
        QCOMPARE(offline.out, online.out);
        QVERIFY(m_hub.requests().isEmpty());
    }

    void interruptedDownloadResumes()
    {
        // The weights (8 MB) trickle in at 500 kB/s; SIGINT once the first MiB is on disk.
        m_hub.fault("model.safetensors", {{"rate", 500000}});
        QProcess p;
        p.setProcessEnvironment(environment());
        p.start(TB_CLI_PATH, {"download", "org/demo"});
        QVERIFY(p.waitForStarted());
        QFile weights(m_tmp.filePath("demo/model.safetensors"));
        QVERIFY(weights.open(QIODevice::ReadOnly));
        const QString incomplete = m_home + "/hub/models--org--demo/blobs/"
                                   + QCryptographicHash::hash(weights.readAll(), QCryptographicHash::Sha256).toHex() + ".incomplete";
        for (int i = 0; i < 300 && QFileInfo(incomplete).size() < (1 << 20); ++i)
            QTest::qWait(50);
        QVERIFY2(QFileInfo(incomplete).size() >= (1 << 20), "no partial download appeared");
        ::kill(static_cast<pid_t>(p.processId()), SIGINT);
        QVERIFY(p.waitForFinished(30000));
        QCOMPARE(p.exitCode(), 1);
        QVERIFY2(p.readAllStandardError().contains("cancelled"), "no cancel message");
        const qint64 kept = QFileInfo(incomplete).size();
        QVERIFY(kept >= (1 << 20) && kept < weights.size());

        m_hub.reset();
        const Run resumed = cli({"download", "org/demo", "--json"});
        QVERIFY2(resumed.exitCode == 0, resumed.err.constData());
        const QJsonArray gets = m_hub.requestsTo("/cdn/", "GET");
        QCOMPARE(gets.size(), 1);
        QCOMPARE(gets[0].toObject()["range"].toString(), QString("bytes=%1-").arg(kept));
        QVERIFY(!QFileInfo::exists(incomplete));
    }
};

QTEST_GUILESS_MAIN(TestHubDownloadCli)
#include "tst_hubdownload_cli.moc"
