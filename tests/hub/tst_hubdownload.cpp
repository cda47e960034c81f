// HubDownload against tests/hub/fake_hub.py on 127.0.0.1: the cache layout huggingface_hub
// writes, what is (not) transferred, resume (also from a server that ignores Range or answers
// 416), verification, giving up on a connection that keeps dropping or stalls, a renamed
// repository's relative redirects, an X-Repo-Commit that contradicts the listing, the blob lock
// held by another process, errors, offline mode, cancel, the free-space check, and that the
// token never reaches a message. Each test function downloads into a cache of its own.
#include "FakeHub.h"

#include "hub/HubCache.h"
#include "hub/HubDownload.h"
#include "hub/HubError.h"

#include <QCryptographicHash>
#include <QDir>
#include <QDirIterator>
#include <QElapsedTimer>
#include <QFile>
#include <QFileInfo>
#include <QProcess>
#include <QSet>
#include <QTemporaryDir>
#include <QTest>

#include <atomic>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <thread>

namespace {

const char* const kToken = "hf_RightTokenFor_TheGatedRepo_0123";
const char* const kWrongToken = "hf_WrongToken_MustNeverBePrinted_42";

QByteArray pseudoRandom(int bytes, quint32 seed)
{
    QByteArray out(bytes, Qt::Uninitialized);
    quint32 x = seed * 2654435761u + 1;
    for (int i = 0; i < bytes; ++i) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        out[i] = static_cast<char>(x);
    }
    return out;
}

void writeFile(const QString& root, const QString& rel, const QByteArray& bytes)
{
    const QString path = root + "/" + rel;
    QDir().mkpath(QFileInfo(path).path());
    QFile f(path);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write(bytes);
}

QByteArray readAll(const QString& path)
{
    QFile f(path);
    return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

QString gitBlobSha1(const QByteArray& content)
{
    return QCryptographicHash::hash("blob " + QByteArray::number(content.size()) + '\0' + content, QCryptographicHash::Sha1).toHex();
}

QString sha256(const QByteArray& content)
{
    return QCryptographicHash::hash(content, QCryptographicHash::Sha256).toHex();
}

// Every file below `root`, relative, symlinks not followed.
QSet<QString> filesBelow(const QString& root)
{
    QSet<QString> files;
    QDirIterator it(root, QDir::Files | QDir::System | QDir::Hidden | QDir::NoDotAndDotDot, QDirIterator::Subdirectories);
    while (it.hasNext())
        files.insert(QDir(root).relativeFilePath(it.next()));
    return files;
}

std::optional<tb::HubError> hubErrorOf(const std::function<void()>& work)
{
    try {
        work();
    } catch (const tb::HubError& e) {
        return e;
    }
    return std::nullopt;
}

const QStringList kDefaultModelFiles = {"config.json",           "generation_config.json",  "tokenizer.json",
                                        "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja",
                                        "model.safetensors"};

class ProgressRecorder : public tb::HubDownloadCallbacks {
public:
    std::function<void(const tb::HubProgress&)> onEach;
    int reports = 0;
    int mostDownloadingAtOnce = 0;
    bool sawFinished = false;

    void onProgress(const tb::HubProgress& p) override
    {
        ++reports;
        int downloading = 0;
        for (const auto& f : p.files)
            downloading += f.state == tb::HubFileState::Downloading;
        mostDownloadingAtOnce = std::max(mostDownloadingAtOnce, downloading);
        sawFinished = sawFinished || p.finished;
        if (onEach)
            onEach(p);
    }
};

} // namespace

class TestHubDownload : public QObject {
    Q_OBJECT
private:
    QTemporaryDir m_tmp;
    QString m_repos;
    FakeHub m_hub;
    int m_caches = 0;
    QString m_home; // this test function's HF_HOME
    QStringList m_messages; // every error message seen, checked for the token at the end

    tb::HubEnvironment environment(const QString& token = {}, bool offline = false, const QString& endpoint = {}) const
    {
        std::map<std::string, std::string> vars = {
            {"HOME", m_tmp.filePath("home").toStdString()},
            {"HF_HOME", m_home.toStdString()},
            {"HF_ENDPOINT", (endpoint.isEmpty() ? m_hub.endpoint() : endpoint).toStdString()},
        };
        if (!token.isEmpty())
            vars["HF_TOKEN"] = token.toStdString();
        if (offline)
            vars["HF_HUB_OFFLINE"] = "1";
        return tb::HubEnvironment::fromVariables([&](const std::string& name) -> std::optional<std::string> {
            const auto it = vars.find(name);
            return it == vars.end() ? std::nullopt : std::optional<std::string>(it->second);
        });
    }

    static tb::HubDownloadOptions quickOptions()
    {
        tb::HubDownloadOptions o;
        o.client.retryBaseSeconds = 0.05;
        o.client.retryMaxSeconds = 0.2;
        o.client.maxRetries = 3;
        o.progressIntervalSeconds = 0.05;
        return o;
    }

    tb::HubDownloadResult download(const std::string& repo, const std::string& revision = "main",
                                   std::vector<std::string> include = {}, tb::HubRepoType type = tb::HubRepoType::Model,
                                   const QString& token = {}, tb::HubDownloadOptions options = quickOptions(),
                                   tb::HubDownloadCallbacks* callbacks = nullptr, bool offline = false)
    {
        tb::HubDownload d(environment(token, offline), std::move(options));
        return d.run({tb::HubRepoId::parse(repo, type), revision, std::move(include)}, callbacks);
    }

    // Runs `work`, which must throw a HubError of `kind`; records its message.
    std::optional<tb::HubError> expectFailure(tb::HubError::Kind kind, const std::function<void()>& work)
    {
        auto error = hubErrorOf(work);
        if (error) {
            m_messages << QString::fromStdString(error->what());
            if (error->kind() != kind)
                qWarning("unexpected kind %d: %s", int(error->kind()), error->what());
        }
        return error && error->kind() == kind ? error : std::nullopt;
    }

    QString repoFolder(const QString& name = "models--org--model") const { return m_home + "/hub/" + name; }

    void writeModel(const QString& dir, int version)
    {
        writeFile(dir, "config.json", QString(R"({"model_type": "llama", "version": %1})").arg(version).toUtf8());
        writeFile(dir, "generation_config.json", R"({"eos_token_id": 2})");
        writeFile(dir, "tokenizer.json", QByteArray(R"({"model": {"type": "BPE", "vocab": {}}, "padding": ")") + pseudoRandom(900, 3).toHex() + "\"}");
        writeFile(dir, "tokenizer_config.json", R"({"eos_token": "</s>"})");
        writeFile(dir, "special_tokens_map.json", R"({"eos_token": "</s>", "bos_token": "<s>"})");
        writeFile(dir, "chat_template.jinja", "{% for m in messages %}{{ m.content }}{% endfor %}");
        writeFile(dir, "model.safetensors", pseudoRandom(3000000, 1));
        writeFile(dir, "README.md", "# a model\n");
        writeFile(dir, "original/consolidated.pth", pseudoRandom(100000, 2));
        writeFile(dir, "onnx/model.onnx", pseudoRandom(20000, 4));
        writeFile(dir, "nested/extra.json", R"({"nested": true})");
        writeFile(dir, "nested/copy-a.json", R"({"same": "content"})"); // one blob for two paths
        writeFile(dir, "nested/copy-b.json", R"({"same": "content"})");
    }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_tmp.isValid());
        m_repos = m_tmp.filePath("repos");
        writeModel(m_repos + "/model-v1", 1);
        writeModel(m_repos + "/model-v2", 2); // only config.json differs
        writeFile(m_repos + "/pickle", "config.json", "{}");
        writeFile(m_repos + "/pickle", "pytorch_model.bin", pseudoRandom(5000, 5));
        writeFile(m_repos + "/gated", "config.json", R"({"gated": true})");
        writeFile(m_repos + "/gated", "model.safetensors", pseudoRandom(200000, 6));
        writeFile(m_repos + "/data", "data/train.jsonl", "{\"text\": \"a\"}\n{\"text\": \"b\"}\n");
        writeFile(m_repos + "/data", "data/test.csv", "text\nc\n");
        writeFile(m_repos + "/data", "data/train.parquet", pseudoRandom(1000, 7));
        writeFile(m_repos + "/data", "README.md", "# data\n");
        QString error;
        QVERIFY2(m_hub.start({"--model", "org/model=" + m_repos + "/model-v1," + m_repos + "/model-v2", "--model",
                              "org/pickle=" + m_repos + "/pickle", "--model", "org/gated=" + m_repos + "/gated", "--gated",
                              "org/gated", "--token", kToken, "--dataset", "org/data=" + m_repos + "/data", "--rename",
                              "org/old-name=org/model"},
                             &error),
                 qPrintable(error));
    }

    void init()
    {
        m_hub.reset();
        m_home = m_tmp.filePath(QString("hf-home-%1").arg(++m_caches));
    }

    void freshDownloadWritesTheCacheLayout()
    {
        const tb::HubDownloadResult r = download("org/model");
        QVERIFY(tb::isHubCommitHash(r.commit));
        QCOMPARE(QString::fromStdString(r.snapshotPath), repoFolder() + "/snapshots/" + QString::fromStdString(r.commit));
        QCOMPARE(readAll(repoFolder() + "/refs/main"), QByteArray::fromStdString(r.commit)); // no newline

        QSet<QString> expectedBlobs, expectedLinks;
        for (const QString& name : kDefaultModelFiles) {
            const QByteArray content = readAll(m_repos + "/model-v2/" + name);
            const QString etag = name.endsWith(".safetensors") ? sha256(content) : gitBlobSha1(content);
            expectedBlobs << "blobs/" + etag;
            expectedLinks << "snapshots/" + QString::fromStdString(r.commit) + "/" + name;
            const QString link = QString::fromStdString(r.snapshotPath) + "/" + name;
            QVERIFY2(QFileInfo(link).isSymLink(), qPrintable(link));
            QCOMPARE(QFile::symLinkTarget(link), QFileInfo(repoFolder() + "/blobs/" + etag).absoluteFilePath());
            QCOMPARE(QString::fromStdString(std::filesystem::read_symlink(link.toStdString()).string()), "../../blobs/" + etag);
            QVERIFY2(readAll(link) == content, qPrintable(name));
        }
        // Exactly the default selection: no README, no pickle copy, no onnx, no .incomplete left.
        QCOMPARE(filesBelow(repoFolder()), expectedBlobs + expectedLinks + QSet<QString>{"refs/main"});
        for (const auto& f : r.files) {
            QVERIFY(f.transferred);
            QCOMPARE(f.verifiedBy, f.path == "model.safetensors" ? tb::BlobDigestKind::Sha256 : tb::BlobDigestKind::GitBlobSha1);
        }
        QVERIFY(QDir(m_home + "/hub/.locks/models--org--model").exists());
        // The LFS file came through the redirect to the CDN, and the HEAD read its X-Linked-Etag.
        QCOMPARE(m_hub.requestsTo("/cdn/", "GET").size(), 1);
    }

    void secondDownloadTransfersNothing()
    {
        const tb::HubDownloadResult first = download("org/model");
        m_hub.reset();
        const tb::HubDownloadResult second = download("org/model");
        QCOMPARE(second.snapshotPath, first.snapshotPath);
        QCOMPARE(second.bytesReceived, uint64_t(0));
        for (const auto& f : second.files)
            QVERIFY(!f.transferred && !f.etag.empty());
        const QJsonArray requests = m_hub.requests();
        QCOMPARE(requests.size(), 1); // the file list, nothing else
        QVERIFY(requests[0].toObject()["path"].toString().startsWith("/api/models/org/model/revision/main"));
    }

    void newRevisionSharesUnchangedBlobs()
    {
        const tb::HubDownloadResult r1 = download("org/model", "r1");
        m_hub.reset();
        const tb::HubDownloadResult r2 = download("org/model", "main");
        QVERIFY(r1.commit != r2.commit);
        const QJsonArray gets = m_hub.requestsTo("/resolve/", "GET");
        QCOMPARE(gets.size(), 1);
        QVERIFY(gets[0].toObject()["path"].toString().endsWith("/config.json"));
        QVERIFY(m_hub.requestsTo("/cdn/").isEmpty());
        for (const auto& f : r2.files)
            QCOMPARE(f.transferred, f.path == "config.json");
        const QString a = QString::fromStdString(r1.snapshotPath + "/model.safetensors");
        const QString b = QString::fromStdString(r2.snapshotPath + "/model.safetensors");
        QCOMPARE(QFile::symLinkTarget(a), QFile::symLinkTarget(b));
        QCOMPARE(readAll(repoFolder() + "/refs/r1"), QByteArray::fromStdString(r1.commit));
        QCOMPARE(readAll(repoFolder() + "/refs/main"), QByteArray::fromStdString(r2.commit));
        QCOMPARE(QDir(repoFolder() + "/blobs").entryList(QDir::Files).size(), kDefaultModelFiles.size() + 1);

        // What a model chooser lists.
        const auto repos = tb::HubCache((m_home + "/hub").toStdString()).listRepos();
        QCOMPARE(repos.size(), size_t(1));
        QCOMPARE(QString::fromStdString(repos[0].repo.id), QString("org/model"));
        QCOMPARE(repos[0].snapshots.size(), size_t(2));
        QCOMPARE(repos[0].refs.at("r1"), r1.commit);
        QCOMPARE(repos[0].refs.at("main"), r2.commit);
    }

    void droppedConnectionIsResumedWithRange()
    {
        m_hub.fault("model.safetensors", {{"drop_after", 1000000}}, 2);
        const tb::HubDownloadResult r = download("org/model");
        QCOMPARE(readAll(QString::fromStdString(r.snapshotPath) + "/model.safetensors"), readAll(m_repos + "/model-v2/model.safetensors"));
        const QJsonArray gets = m_hub.requestsTo("/cdn/", "GET");
        QCOMPARE(gets.size(), 3);
        QVERIFY(gets[0].toObject()["range"].isNull());
        QCOMPARE(gets[1].toObject()["range"].toString(), QString("bytes=1000000-"));
        QCOMPARE(gets[2].toObject()["range"].toString(), QString("bytes=2000000-"));
        // Each dropped answer delivered its first million bytes and the next one began right
        // there: no byte fetched twice.
        QCOMPARE(gets[0].toObject()["sent"].toInteger(), qint64(1000000));
        QCOMPARE(gets[1].toObject()["sent"].toInteger(), qint64(1000000));
    }

    // A resume answered 200 with the whole file (a server or proxy without Range support):
    // the file starts over from byte 0, and what the earlier bytes were does not matter.
    void serverIgnoringRangeRestartsTheFile()
    {
        const QByteArray weights = readAll(m_repos + "/model-v2/model.safetensors");
        // In one run: dropped after 1 MB, then the resume is answered with the whole file.
        m_hub.fault("model.safetensors", {{"drop_after", 1000000}}, 1);
        m_hub.fault("model.safetensors", {{"ignore_range", true}}, 1);
        tb::HubDownloadResult r = download("org/model");
        QCOMPARE(readAll(QString::fromStdString(r.snapshotPath) + "/model.safetensors"), weights);
        QJsonArray gets = m_hub.requestsTo("/cdn/", "GET");
        QCOMPARE(gets.size(), 2);
        QCOMPARE(gets[1].toObject()["range"].toString(), QString("bytes=1000000-"));
        QCOMPARE(gets[1].toObject()["status"].toInt(), 200);
        QCOMPARE(gets[1].toObject()["sent"].toInteger(), qint64(weights.size()));
        for (const auto& f : r.files)
            if (f.path == "model.safetensors") {
                QCOMPARE(f.bytesReceived, uint64_t(1000000 + weights.size()));
                QCOMPARE(f.resumedFrom, uint64_t(0));
                QCOMPARE(f.verifiedBy, tb::BlobDigestKind::Sha256);
            }

        // Across runs: an earlier run's .incomplete (here 1 MB of other bytes, so keeping any
        // of them would fail the SHA-256) is dropped when the answer is 200.
        init();
        const QString incomplete = repoFolder() + "/blobs/" + sha256(weights) + ".incomplete";
        writeFile(repoFolder() + "/blobs", sha256(weights) + ".incomplete", pseudoRandom(1000000, 99));
        m_hub.fault("model.safetensors", {{"ignore_range", true}}, 1);
        r = download("org/model");
        gets = m_hub.requestsTo("/cdn/", "GET");
        QCOMPARE(gets.size(), 1);
        QCOMPARE(gets[0].toObject()["range"].toString(), QString("bytes=1000000-"));
        QCOMPARE(gets[0].toObject()["status"].toInt(), 200);
        QCOMPARE(readAll(QString::fromStdString(r.snapshotPath) + "/model.safetensors"), weights);
        QVERIFY(!QFileInfo::exists(incomplete));
        for (const auto& f : r.files)
            if (f.path == "model.safetensors") {
                QCOMPARE(f.resumedFrom, uint64_t(0)); // the 1 MB on disk was not kept
                QCOMPARE(f.bytesReceived, uint64_t(weights.size()));
            }
    }

    // 416 Range Not Satisfiable to a resume: the partial file is dropped and fetched whole.
    void rangeNotSatisfiableStartsOver()
    {
        const QByteArray weights = readAll(m_repos + "/model-v2/model.safetensors");
        m_hub.fault("model.safetensors", {{"drop_after", 1000000}}, 1);
        m_hub.fault("model.safetensors", {{"status", 416}}, 1);
        const tb::HubDownloadResult r = download("org/model");
        QCOMPARE(readAll(QString::fromStdString(r.snapshotPath) + "/model.safetensors"), weights);
        const QJsonArray gets = m_hub.requestsTo("/cdn/", "GET");
        QCOMPARE(gets.size(), 3);
        QCOMPARE(gets[1].toObject()["range"].toString(), QString("bytes=1000000-"));
        QCOMPARE(gets[1].toObject()["status"].toInt(), 416);
        QVERIFY(gets[2].toObject()["range"].isNull()); // from byte 0
        QCOMPARE(gets[2].toObject()["status"].toInt(), 200);
        QCOMPARE(gets[2].toObject()["sent"].toInteger(), qint64(weights.size()));

        // A .incomplete longer than the file cannot be a prefix of it: no Range past the end
        // (which the server would answer 416), the file comes whole.
        init();
        writeFile(repoFolder() + "/blobs", sha256(weights) + ".incomplete", pseudoRandom(weights.size() + 100, 98));
        const tb::HubDownloadResult again = download("org/model");
        const QJsonArray whole = m_hub.requestsTo("/cdn/", "GET");
        QCOMPARE(whole.size(), 1);
        QVERIFY(whole[0].toObject()["range"].isNull());
        QCOMPARE(readAll(QString::fromStdString(again.snapshotPath) + "/model.safetensors"), weights);
    }

    // A server that keeps closing the connection without sending anything: maxRetries
    // attempts in a row without progress, then a Network error that says to run the download
    // again, which then resumes from what the first attempt delivered.
    void droppingConnectionGivesUpWithAClearError()
    {
        const QByteArray weights = readAll(m_repos + "/model-v2/model.safetensors");
        m_hub.fault("model.safetensors", {{"drop_after", 1000000}}, 1);
        m_hub.fault("model.safetensors", {{"drop_after", 0}}, -1);
        const auto e = expectFailure(tb::HubError::Kind::Network, [&] { download("org/model"); }); // maxRetries 3
        QVERIFY(e);
        const QString m = e->what();
        QVERIFY2(m.contains("org/model/model.safetensors") && m.contains("gave up after 4 attempts in a row")
                     && m.contains("run the download again to resume"),
                 qPrintable(m));
        QVERIFY2(!m.contains(kToken), qPrintable(m));
        // The first attempt made progress (so it counts as the first of the four); three more
        // without a byte end it.
        QCOMPARE(m_hub.requestsTo("/cdn/", "GET").size(), 4);
        const QString incomplete = repoFolder() + "/blobs/" + sha256(weights) + ".incomplete";
        QCOMPARE(QFileInfo(incomplete).size(), qint64(1000000));
        QVERIFY(!QFileInfo::exists(repoFolder() + "/refs/main"));

        m_hub.reset();
        const tb::HubDownloadResult r = download("org/model");
        const QJsonArray gets = m_hub.requestsTo("/cdn/", "GET");
        QCOMPARE(gets.size(), 1);
        QCOMPARE(gets[0].toObject()["range"].toString(), QString("bytes=1000000-"));
        QCOMPARE(readAll(QString::fromStdString(r.snapshotPath) + "/model.safetensors"), weights);
    }

    // A response that stops sending but keeps the connection open ends after stallSeconds
    // (1 s here, 30 s by default), not after the server's 20 s silence, with an error naming
    // the stall. (Headers, then silence: a burst of bytes first would keep libcurl's speed,
    // averaged over about 5 s, above its limit for that long.)
    void stalledTransferHitsTheStallTimeout()
    {
        tb::HubDownloadOptions options = quickOptions();
        options.client.stallSeconds = 1;
        options.client.maxRetries = 1;
        m_hub.fault("model.safetensors", {{"stall_after", 0}, {"stall_seconds", 20}}, -1);
        QElapsedTimer timer;
        timer.start();
        const auto e = expectFailure(tb::HubError::Kind::Network, [&] {
            download("org/model", "main", {}, tb::HubRepoType::Model, {}, options);
        });
        const qint64 ms = timer.elapsed();
        QVERIFY(e);
        const QString m = e->what();
        QVERIFY2(m.contains("stalled while fetching org/model/model.safetensors") && m.contains("no data for 1 s")
                     && m.contains("gave up after 2 attempts in a row") && m.contains("run the download again to resume"),
                 qPrintable(m));
        QVERIFY2(ms < 10000, qPrintable(QString("took %1 ms").arg(ms))); // two stalls of 1-3 s each, not 20 s
        QCOMPARE(m_hub.requestsTo("/cdn/", "GET").size(), 2);
    }

    // A renamed repository: the Hub answers the old id's info endpoint with 301 and its resolve
    // URLs with 307, each with a relative Location. Both are followed on the same host; the
    // cache folder is the id that was asked for, as huggingface_hub names it.
    void renamedRepositoryIsFollowed()
    {
        const tb::HubDownloadResult r = download("org/old-name", "main", {}, tb::HubRepoType::Model, kToken);
        QVERIFY(QString::fromStdString(r.snapshotPath).startsWith(repoFolder("models--org--old-name") + "/snapshots/"));
        for (const QString& name : kDefaultModelFiles)
            QVERIFY2(readAll(QString::fromStdString(r.snapshotPath) + "/" + name) == readAll(m_repos + "/model-v2/" + name), qPrintable(name));
        QCOMPARE(readAll(repoFolder("models--org--old-name") + "/refs/main"), QByteArray::fromStdString(r.commit));
        QVERIFY(!QDir(repoFolder()).exists());

        const QJsonArray info = m_hub.requestsTo("/api/models/");
        QCOMPARE(info.size(), 2);
        QCOMPARE(info[0].toObject()["path"].toString(), QString("/api/models/org/old-name/revision/main"));
        QCOMPARE(info[0].toObject()["status"].toInt(), 301);
        QCOMPARE(info[1].toObject()["path"].toString(), QString("/api/models/org/model/revision/main"));
        QCOMPARE(info[1].toObject()["status"].toInt(), 200);
        QVERIFY(info[1].toObject()["auth"].toBool()); // same host: the token still goes with it
        const QJsonArray oldHeads = m_hub.requestsTo("/org/old-name/resolve/", "HEAD");
        QCOMPARE(oldHeads.size(), kDefaultModelFiles.size());
        for (const auto& h : oldHeads)
            QCOMPARE(h.toObject()["status"].toInt(), 307);
        QCOMPARE(m_hub.requestsTo("/org/model/resolve/", "HEAD").size(), kDefaultModelFiles.size());
        // The GETs go where the redirect pointed (or to the CDN), never to the old name again.
        QVERIFY(m_hub.requestsTo("/org/old-name/resolve/", "GET").isEmpty());
        QCOMPARE(m_hub.requestsTo("/org/model/resolve/", "GET").size(), kDefaultModelFiles.size() - 1);
        QCOMPARE(m_hub.requestsTo("/cdn/", "GET").size(), 1);
    }

    // A HEAD whose X-Repo-Commit is not the listing's commit (a mirror ignoring the commit in
    // the URL): the file is refused, so no snapshot mixes two commits, and no ref is written.
    void commitMismatchIsRefused()
    {
        const QString other(40, QChar('e'));
        m_hub.fault("config.json", {{"commit", other}}, 1);
        const auto e = expectFailure(tb::HubError::Kind::Server, [&] { download("org/model"); });
        QVERIFY(e);
        const QString m = e->what();
        QVERIFY2(m.contains("org/model/config.json") && m.contains("answered for commit " + other)
                     && m.contains("the snapshot would mix commits"),
                 qPrintable(m));
        QVERIFY(m_hub.requestsTo("/config.json", "GET").isEmpty()); // refused at its HEAD
        QVERIFY(!QFileInfo::exists(repoFolder() + "/refs/main"));
        QDirIterator links(repoFolder() + "/snapshots", QDir::Files | QDir::System, QDirIterator::Subdirectories);
        while (links.hasNext())
            QVERIFY(!links.next().endsWith("/config.json"));

        // The listing's commit is what the next (honest) answer names: the download completes.
        const tb::HubDownloadResult r = download("org/model");
        QVERIFY2(m.contains(QString::fromStdString(r.commit)), qPrintable(m));
        QCOMPARE(readAll(QString::fromStdString(r.snapshotPath) + "/config.json"), readAll(m_repos + "/model-v2/config.json"));
    }

    // huggingface_hub (filelock: fcntl.flock LOCK_EX on .locks/<repo folder>/<etag>.lock) is
    // writing the same blob in another process: the download waits for the lock instead of
    // appending to the same .incomplete, then finds the blob done and only links it.
    void waitsForAnotherProcessHoldingTheBlobLock()
    {
        const QByteArray weights = readAll(m_repos + "/model-v2/model.safetensors");
        const QString etag = sha256(weights);
        const QString lockPath = m_home + "/hub/.locks/models--org--model/" + etag + ".lock";
        const QString blobPath = repoFolder() + "/blobs/" + etag;
        QVERIFY(QDir().mkpath(QFileInfo(lockPath).path()));
        QVERIFY(QDir().mkpath(QFileInfo(blobPath).path()));
        // The other process: takes the lock as filelock does, and when the file `go` appears
        // writes the blob (.incomplete, then a rename, as huggingface_hub does), unlocks, exits.
        const QString go = m_home + "/go";
        const char* script = R"(
import fcntl, os, sys, time
lock, blob, source, go = sys.argv[1:5]
f = open(lock, "a")
fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
print("locked", flush=True)
deadline = time.time() + 60
while not os.path.exists(go) and time.time() < deadline:
    time.sleep(0.02)
with open(source, "rb") as s, open(blob + ".incomplete", "wb") as o:
    o.write(s.read())
os.replace(blob + ".incomplete", blob)
fcntl.flock(f.fileno(), fcntl.LOCK_UN)
)";
        QProcess other;
        other.setProcessChannelMode(QProcess::ForwardedErrorChannel);
        other.start(TB_PYTHON3, {"-c", script, lockPath, blobPath, m_repos + "/model-v2/model.safetensors", go});
        QVERIFY(other.waitForStarted(10000));
        QElapsedTimer timer;
        timer.start();
        while (!other.canReadLine() && timer.elapsed() < 10000)
            other.waitForReadyRead(100);
        QCOMPARE(other.readLine().trimmed(), QByteArray("locked"));

        std::atomic<bool> cancel{false}, finished{false};
        tb::HubDownloadOptions options = quickOptions();
        options.cancel = &cancel;
        tb::HubDownloadResult r;
        std::optional<tb::HubError> error;
        std::thread downloading([&] {
            error = hubErrorOf([&] { r = download("org/model", "main", {}, tb::HubRepoType::Model, {}, options); });
            finished = true;
        });
        const auto stop = [&] { // on a failure: no thread or child outlives the test
            cancel = true;
            other.kill();
            downloading.join();
        };
        // It reaches the weights (their HEAD), then waits on the lock while the others finish.
        timer.restart();
        while (m_hub.requestsTo("/model.safetensors", "HEAD").isEmpty() && timer.elapsed() < 30000)
            QTest::qWait(20);
        QTest::qWait(1500);
        const bool waited = !finished && m_hub.requestsTo("/cdn/").isEmpty() && !QFileInfo::exists(blobPath + ".incomplete");
        const bool othersIn = m_hub.requestsTo("/resolve/", "GET").size() == kDefaultModelFiles.size() - 1;
        if (!waited || !othersIn)
            stop();
        QVERIFY2(waited, "the download did not wait for the lock another process holds");
        QVERIFY2(othersIn, "the other files did not download meanwhile");

        QFile(go).open(QIODevice::WriteOnly);
        const bool exited = other.waitForFinished(20000) && other.exitCode() == 0;
        if (!exited)
            stop();
        QVERIFY2(exited, "the other process did not write the blob and unlock");
        timer.restart();
        while (!finished && timer.elapsed() < 30000)
            QTest::qWait(20);
        if (!finished)
            stop();
        else
            downloading.join();
        QVERIFY2(!error, error ? error->what() : "");
        QVERIFY(m_hub.requestsTo("/cdn/").isEmpty()); // the weights never came over the network
        for (const auto& f : r.files)
            if (f.path == "model.safetensors") {
                QVERIFY(!f.transferred);
                QCOMPARE(f.bytesReceived, uint64_t(0));
                QCOMPARE(QString::fromStdString(f.etag), etag);
            }
        QCOMPARE(readAll(QString::fromStdString(r.snapshotPath) + "/model.safetensors"), weights);
        QCOMPARE(QFile::symLinkTarget(QString::fromStdString(r.snapshotPath) + "/model.safetensors"), QFileInfo(blobPath).absoluteFilePath());
    }

    void serverErrorsAreRetriedThenReported()
    {
        m_hub.fault("model.safetensors", {{"status", 503}}, 2);
        download("org/model");
        QCOMPARE(m_hub.requestsTo("/cdn/", "GET").size(), 3);

        init();
        m_hub.fault("model.safetensors", {{"status", 503}}, -1);
        const auto e = expectFailure(tb::HubError::Kind::Server, [&] { download("org/model"); });
        QVERIFY(e);
        QVERIFY2(QString(e->what()).contains("503") && QString(e->what()).contains("run the download again"), e->what());
        QVERIFY(!QFileInfo::exists(repoFolder() + "/refs/main"));
    }

    void checksumMismatchDeletesTheFile()
    {
        for (const QString name : {"model.safetensors", "config.json"}) {
            init();
            m_hub.fault(name, {{"corrupt", true}});
            const auto e = expectFailure(tb::HubError::Kind::Checksum, [&] { download("org/model"); });
            QVERIFY2(e, qPrintable(name));
            QVERIFY2(QString(e->what()).contains(name) && QString(e->what()).contains("deleted"), e->what());
            const QByteArray content = readAll(m_repos + "/model-v2/" + name);
            const QString etag = name.endsWith(".safetensors") ? sha256(content) : gitBlobSha1(content);
            QVERIFY(!QFileInfo::exists(repoFolder() + "/blobs/" + etag));
            QVERIFY(!QFileInfo::exists(repoFolder() + "/blobs/" + etag + ".incomplete"));
            QDirIterator links(repoFolder() + "/snapshots", QDir::Files | QDir::System, QDirIterator::Subdirectories);
            while (links.hasNext())
                QVERIFY2(!links.next().endsWith("/" + name), qPrintable(name));
            // The next run gets the right bytes.
            const tb::HubDownloadResult r = download("org/model");
            QCOMPARE(readAll(QString::fromStdString(r.snapshotPath) + "/" + name), content);
        }
    }

    void cancelLeavesAResumableIncompleteFile()
    {
        m_hub.fault("model.safetensors", {{"rate", 1000000}});
        std::atomic<bool> cancel{false};
        ProgressRecorder recorder;
        recorder.onEach = [&](const tb::HubProgress& p) {
            for (const auto& f : p.files)
                if (f.path == "model.safetensors" && f.bytesDone > 200000)
                    cancel = true;
        };
        tb::HubDownloadOptions options = quickOptions();
        options.cancel = &cancel;
        QVERIFY(expectFailure(tb::HubError::Kind::Cancelled, [&] {
            download("org/model", "main", {}, tb::HubRepoType::Model, {}, options, &recorder);
        }));
        const QString etag = sha256(readAll(m_repos + "/model-v2/model.safetensors"));
        const QString incomplete = repoFolder() + "/blobs/" + etag + ".incomplete";
        const qint64 kept = QFileInfo(incomplete).size();
        QVERIFY2(kept > 200000 && kept < 3000000, qPrintable(QString::number(kept)));
        QVERIFY(!QFileInfo::exists(repoFolder() + "/refs/main"));

        m_hub.reset();
        const tb::HubDownloadResult r = download("org/model");
        const QJsonArray gets = m_hub.requestsTo("/cdn/", "GET");
        QCOMPARE(gets.size(), 1);
        QCOMPARE(gets[0].toObject()["range"].toString(), QString("bytes=%1-").arg(kept));
        for (const auto& f : r.files)
            if (f.path == "model.safetensors")
                QCOMPARE(f.resumedFrom, uint64_t(kept));
        QCOMPARE(readAll(QString::fromStdString(r.snapshotPath) + "/model.safetensors"), readAll(m_repos + "/model-v2/model.safetensors"));
        QVERIFY(!QFileInfo::exists(incomplete));
    }

    void filesDownloadInParallel()
    {
        // Two slow files (about a second each): with several connections both run at once.
        m_hub.fault("model.safetensors", {{"rate", 3000000}});
        m_hub.fault("onnx/model.onnx", {{"rate", 20000}});
        ProgressRecorder recorder;
        const tb::HubDownloadResult r =
            download("org/model", "main", {"*.safetensors", "onnx/*"}, tb::HubRepoType::Model, {}, quickOptions(), &recorder);
        QCOMPARE(r.files.size(), size_t(2));
        QVERIFY2(recorder.mostDownloadingAtOnce == 2, qPrintable(QString::number(recorder.mostDownloadingAtOnce)));
        QVERIFY(recorder.sawFinished);
    }

    void gatedRepoNeedsTheRightToken()
    {
        const auto noToken = expectFailure(tb::HubError::Kind::AccessDenied, [&] { download("org/gated"); });
        QVERIFY(noToken);
        const QString m1 = noToken->what();
        QVERIFY2(m1.contains("401") && m1.contains("HF_TOKEN") && m1.contains("Accept its terms") && m1.contains(m_hub.endpoint() + "/org/gated"),
                 qPrintable(m1));

        const auto wrong = expectFailure(tb::HubError::Kind::AccessDenied, [&] {
            download("org/gated", "main", {}, tb::HubRepoType::Model, kWrongToken);
        });
        QVERIFY(wrong);
        const QString m2 = wrong->what();
        QVERIFY2(m2.contains("403") && m2.contains("Accept its terms"), qPrintable(m2));
        QVERIFY2(!m2.contains(kWrongToken) && m2.contains("***"), qPrintable(m2)); // the server echoed it

        m_hub.reset();
        const tb::HubDownloadResult r = download("org/gated", "main", {}, tb::HubRepoType::Model, kToken);
        QCOMPARE(r.files.size(), size_t(2));
        for (const auto& req : m_hub.requests()) {
            const QJsonObject o = req.toObject();
            // The token goes to the Hub, never to the CDN (as huggingface_hub does).
            QCOMPARE(o["auth"].toBool(), !o["path"].toString().startsWith("/cdn/"));
        }
    }

    void unknownRepositoryAndRevision()
    {
        const auto repo = expectFailure(tb::HubError::Kind::NotFound, [&] { download("org/nope"); });
        QVERIFY(repo);
        QVERIFY2(QString(repo->what()).contains("org/nope") && QString(repo->what()).contains("HF_TOKEN"), repo->what());
        const auto revision = expectFailure(tb::HubError::Kind::NotFound, [&] { download("org/model", "v9"); });
        QVERIFY(revision);
        QVERIFY2(QString(revision->what()).contains("\"v9\""), revision->what());
        QVERIFY(!QDir(repoFolder("models--org--nope")).exists());
    }

    void noServerIsAClearNetworkError()
    {
        tb::HubDownloadOptions options = quickOptions();
        options.client.maxRetries = 1;
        tb::HubDownload d(environment({}, false, "http://127.0.0.1:1"), options);
        const auto e = expectFailure(tb::HubError::Kind::Network, [&] { d.run({tb::HubRepoId::parse("org/model"), "main", {}}); });
        QVERIFY(e);
        QVERIFY2(QString(e->what()).contains("cannot connect to http://127.0.0.1:1") && QString(e->what()).contains("HF_HUB_OFFLINE"), e->what());
    }

    void offlineResolvesFromTheCacheOnly()
    {
        const auto empty = expectFailure(tb::HubError::Kind::Offline, [&] {
            download("org/model", "main", {}, tb::HubRepoType::Model, {}, quickOptions(), nullptr, true);
        });
        QVERIFY(empty);
        QVERIFY2(QString(empty->what()).contains("HF_HUB_OFFLINE") && QString(empty->what()).contains("org/model"), empty->what());

        const tb::HubDownloadResult online = download("org/model");
        m_hub.reset();
        const tb::HubDownloadResult offline = download("org/model", "main", {}, tb::HubRepoType::Model, {}, quickOptions(), nullptr, true);
        QVERIFY(offline.offline);
        QCOMPARE(offline.snapshotPath, online.snapshotPath);
        QCOMPARE(offline.commit, online.commit);
        QCOMPARE(offline.files.size(), online.files.size());
        QVERIFY(m_hub.requests().isEmpty());

        const auto revision = expectFailure(tb::HubError::Kind::Offline, [&] {
            download("org/model", "r1", {}, tb::HubRepoType::Model, {}, quickOptions(), nullptr, true);
        });
        QVERIFY(revision);
        QVERIFY2(QString(revision->what()).contains("refs/r1"), revision->what());

        const auto include = expectFailure(tb::HubError::Kind::Offline, [&] {
            download("org/model", "main", {"onnx/*"}, tb::HubRepoType::Model, {}, quickOptions(), nullptr, true);
        });
        QVERIFY(include);
        QVERIFY2(QString(include->what()).contains("a file matching onnx/*"), include->what());

        QVERIFY(QFile::remove(repoFolder() + "/blobs/" + sha256(readAll(m_repos + "/model-v2/model.safetensors"))));
        const auto blob = expectFailure(tb::HubError::Kind::Offline, [&] {
            download("org/model", "main", {}, tb::HubRepoType::Model, {}, quickOptions(), nullptr, true);
        });
        QVERIFY(blob);
        QVERIFY2(QString(blob->what()).contains("model.safetensors (its blob is gone)"), blob->what());
    }

    void pickleOnlyRepositoryIsRefused()
    {
        const auto e = expectFailure(tb::HubError::Kind::Refused, [&] { download("org/pickle"); });
        QVERIFY(e);
        QVERIFY2(QString(e->what()).contains("pytorch_model.bin") && QString(e->what()).contains("never loads pickle"), e->what());
        QVERIFY(m_hub.requestsTo("/resolve/").isEmpty());
    }

    void includeAndDatasetSelection()
    {
        const tb::HubDownloadResult nested = download("org/model", "main", {"nested/"});
        QCOMPARE(nested.files.size(), size_t(3));
        const QString link = QString::fromStdString(nested.snapshotPath) + "/nested/extra.json";
        // Two paths with the same content: one blob, fetched once, two links to it.
        QCOMPARE(QFile::symLinkTarget(QString::fromStdString(nested.snapshotPath) + "/nested/copy-a.json"),
                 QFile::symLinkTarget(QString::fromStdString(nested.snapshotPath) + "/nested/copy-b.json"));
        QCOMPARE(m_hub.requestsTo("/nested/copy-", "GET").size(), 1);
        QCOMPARE(QString::fromStdString(std::filesystem::read_symlink(link.toStdString()).string()),
                 "../../../blobs/" + gitBlobSha1(readAll(m_repos + "/model-v2/nested/extra.json")));
        QCOMPARE(readAll(link), readAll(m_repos + "/model-v2/nested/extra.json"));

        const tb::HubDownloadResult data = download("org/data", "main", {}, tb::HubRepoType::Dataset);
        QSet<QString> paths;
        for (const auto& f : data.files)
            paths << QString::fromStdString(f.path);
        QCOMPARE(paths, (QSet<QString>{"README.md", "data/test.csv", "data/train.jsonl"}));
        QVERIFY(QString::fromStdString(data.snapshotPath).startsWith(repoFolder("datasets--org--data") + "/snapshots/"));
        QVERIFY(m_hub.requestsTo("/datasets/org/data/resolve/").size() > 0);

        QVERIFY(expectFailure(tb::HubError::Kind::Refused, [&] { download("org/model", "main", {"*.gguf"}); }));
    }

    void freeSpaceIsCheckedBeforeStarting()
    {
        tb::HubDownloadOptions options = quickOptions();
        std::string askedFor;
        options.freeBytes = [&](const std::string& folder) {
            askedFor = folder;
            return uint64_t(1000000); // less than the 3 MB model
        };
        const auto e = expectFailure(tb::HubError::Kind::DiskSpace, [&] {
            download("org/model", "main", {}, tb::HubRepoType::Model, {}, options);
        });
        QVERIFY(e);
        QVERIFY2(QString(e->what()).contains("1.0 MB free") && QString(e->what()).contains("HF_HUB_CACHE"), e->what());
        QCOMPARE(QString::fromStdString(askedFor), repoFolder() + "/blobs");
        QVERIFY(m_hub.requestsTo("/resolve/").isEmpty());

        // A resumed file needs only what is missing.
        init();
        m_hub.fault("model.safetensors", {{"rate", 1000000}});
        std::atomic<bool> cancel{false};
        ProgressRecorder recorder;
        recorder.onEach = [&](const tb::HubProgress& p) { cancel = p.bytesDone > 2600000 || cancel; };
        options = quickOptions();
        options.cancel = &cancel;
        expectFailure(tb::HubError::Kind::Cancelled, [&] { download("org/model", "main", {}, tb::HubRepoType::Model, {}, options, &recorder); });
        options.cancel = nullptr;
        options.freeBytes = [](const std::string&) { return uint64_t(1000000); };
        download("org/model", "main", {}, tb::HubRepoType::Model, {}, options);
    }

    void tokenNeverAppearsInMessages()
    {
        tb::HubEnvironment env = environment(kWrongToken);
        QVERIFY(!QString::fromStdString(env.redacted()).contains(kWrongToken));
        QVERIFY(QString::fromStdString(env.redacted()).contains("HF_TOKEN"));
        m_hub.fault("model.safetensors", {{"status", 500}}, -1);
        const auto failing = [&](const std::string& repo) {
            return hubErrorOf([&] { download(repo, "main", {}, tb::HubRepoType::Model, kWrongToken); });
        };
        for (const std::string repo : {"org/gated", "org/model", "org/nope"}) {
            const auto e = failing(repo);
            QVERIFY2(e, repo.c_str());
            m_messages << e->what();
        }
        QVERIFY(m_messages.size() >= 3);
        for (const QString& m : m_messages) {
            QVERIFY2(!m.contains(kWrongToken) && !m.contains(kToken), qPrintable(m));
            QVERIFY2(!m.contains("WrongToken") && !m.contains("RightToken"), qPrintable(m));
        }
    }

    void cleanupTestCase()
    {
        m_hub.stop();
        const QByteArray serverErrors = m_hub.standardError();
        QVERIFY2(!serverErrors.contains("Traceback"), serverErrors.constData());
    }
};

QTEST_GUILESS_MAIN(TestHubDownload)
#include "tst_hubdownload.moc"
