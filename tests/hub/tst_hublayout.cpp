// The pieces of engine/hub that need no server: environment variables and their defaults
// (huggingface_hub's constants.py), repository names and path safety, the cache layout and its
// listing, the Hub's file list, file selection, digests (against values git and sha256sum
// print) and the blob writer's resume and ENOSPC paths.
#include "hub/BlobDigest.h"
#include "hub/HubCache.h"
#include "hub/HubClient.h"
#include "hub/HubEnvironment.h"
#include "hub/HubError.h"
#include "hub/HubFileSelection.h"
#include "hub/HubRepo.h"
#include "hub/HubRepoInfo.h"
#include "hub/IncompleteBlob.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QTemporaryDir>
#include <QTest>

#include <filesystem>
#include <map>
#include <optional>

namespace {

tb::HubEnvironment envOf(const std::map<std::string, std::string>& vars)
{
    return tb::HubEnvironment::fromVariables([&](const std::string& name) -> std::optional<std::string> {
        const auto it = vars.find(name);
        return it == vars.end() ? std::nullopt : std::optional<std::string>(it->second);
    });
}

std::optional<tb::HubError::Kind> errorKind(const std::function<void()>& work)
{
    try {
        work();
    } catch (const tb::HubError& e) {
        return e.kind();
    }
    return std::nullopt;
}

tb::HubRepoInfo infoWith(const std::vector<std::string>& paths)
{
    tb::HubRepoInfo info;
    info.commit = std::string(40, 'a');
    for (const auto& p : paths)
        info.siblings.push_back(tb::HubSibling{p});
    return info;
}

std::vector<std::string> selected(const tb::HubRepoInfo& info, tb::HubRepoType type, const std::vector<std::string>& include = {})
{
    std::vector<std::string> paths;
    for (const auto& s : tb::selectHubFiles(info, tb::HubRepoId::parse("org/x", type), include))
        paths.push_back(s.path);
    return paths;
}

void writeBytes(const QString& path, const QByteArray& bytes)
{
    QDir().mkpath(QFileInfo(path).path());
    QFile f(path);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write(bytes);
}

} // namespace

class TestHubLayout : public QObject {
    Q_OBJECT
private:
    QTemporaryDir m_tmp;

private Q_SLOTS:
    void environmentDefaults()
    {
        const tb::HubEnvironment e = envOf({{"HOME", "/home/u"}});
        QCOMPARE(e.endpoint, std::string("https://huggingface.co"));
        QCOMPARE(e.home, std::string("/home/u/.cache/huggingface"));
        QCOMPARE(e.hubCache, std::string("/home/u/.cache/huggingface/hub"));
        QVERIFY(e.token.empty() && !e.offline);

        QCOMPARE(envOf({{"HOME", "/home/u"}, {"XDG_CACHE_HOME", "/xdg"}}).hubCache, std::string("/xdg/huggingface/hub"));
        QCOMPARE(envOf({{"HOME", "/home/u"}, {"HF_HOME", "~/hf"}}).hubCache, std::string("/home/u/hf/hub"));
        QCOMPARE(envOf({{"HOME", "/h"}, {"HF_HOME", "/a"}, {"HF_HUB_CACHE", "/b"}}).hubCache, std::string("/b"));
        QCOMPARE(envOf({{"HOME", "/h"}, {"HUGGINGFACE_HUB_CACHE", "/old"}}).hubCache, std::string("/old"));
        QCOMPARE(envOf({{"HOME", "/h"}, {"HF_ENDPOINT", "http://127.0.0.1:8080/"}}).endpoint, std::string("http://127.0.0.1:8080"));
        for (const char* on : {"1", "ON", "yes", "True"})
            QVERIFY2(envOf({{"HOME", "/h"}, {"HF_HUB_OFFLINE", on}}).offline, on);
        for (const char* off : {"0", "", "no", "false"})
            QVERIFY2(!envOf({{"HOME", "/h"}, {"HF_HUB_OFFLINE", off}}).offline, off);
    }

    void tokenSources()
    {
        const QString home = m_tmp.filePath("hf-home");
        writeBytes(home + "/token", "  hf_fromTheFile_123\n");
        const tb::HubEnvironment fromFile = envOf({{"HOME", "/h"}, {"HF_HOME", home.toStdString()}});
        QCOMPARE(fromFile.token, std::string("hf_fromTheFile_123"));
        QCOMPARE(fromFile.tokenSource, (home + "/token").toStdString());

        tb::HubEnvironment fromEnv = envOf({{"HOME", "/h"}, {"HF_HOME", home.toStdString()}, {"HF_TOKEN", "hf_fromTheVariable"}});
        QCOMPARE(fromEnv.token, std::string("hf_fromTheVariable"));
        QCOMPARE(fromEnv.tokenSource, std::string("HF_TOKEN"));
        QCOMPARE(envOf({{"HOME", "/h"}, {"HUGGING_FACE_HUB_TOKEN", "hf_old"}}).token, std::string("hf_old"));
        writeBytes(m_tmp.filePath("elsewhere"), "hf_pathToken");
        QCOMPARE(envOf({{"HOME", "/h"}, {"HF_HOME", "/none"}, {"HF_TOKEN_PATH", m_tmp.filePath("elsewhere").toStdString()}}).token,
                 std::string("hf_pathToken"));

        const std::string shown = fromEnv.redacted();
        QVERIFY2(shown.find("fromTheVariable") == std::string::npos && shown.find("hf_") == std::string::npos, shown.c_str());
        QVERIFY(shown.find("HF_TOKEN") != std::string::npos);
        fromEnv.setToken("hf_explicit", "--token");
        QCOMPARE(fromEnv.tokenSource, std::string("--token"));
        QVERIFY(fromEnv.redacted().find("explicit") == std::string::npos);
    }

    void repositoryIds()
    {
        const tb::HubRepoId qwen = tb::HubRepoId::parse("Qwen/Qwen2.5-0.5B-Instruct");
        QCOMPARE(qwen.folderName(), std::string("models--Qwen--Qwen2.5-0.5B-Instruct"));
        QCOMPARE(qwen.apiPath(), std::string("api/models/Qwen/Qwen2.5-0.5B-Instruct"));
        QCOMPARE(qwen.urlPrefix(), std::string("Qwen/Qwen2.5-0.5B-Instruct"));
        const tb::HubRepoId data = tb::HubRepoId::parse("org/data_set", tb::HubRepoType::Dataset);
        QCOMPARE(data.folderName(), std::string("datasets--org--data_set"));
        QCOMPARE(data.urlPrefix(), std::string("datasets/org/data_set"));
        QCOMPARE(tb::HubRepoId::parse("gpt2").folderName(), std::string("models--gpt2"));

        for (const char* id : {"models--Qwen--Qwen2.5-0.5B-Instruct", "datasets--org--data_set", "models--gpt2"}) {
            tb::HubRepoId back;
            QVERIFY2(tb::HubRepoId::fromFolderName(id, &back), id);
            QCOMPARE(back.folderName(), std::string(id));
        }
        tb::HubRepoId ignored;
        QVERIFY(!tb::HubRepoId::fromFolderName(".locks", &ignored));
        QVERIFY(!tb::HubRepoId::fromFolderName("version.txt", &ignored));

        for (const char* bad : {"", "a/b/c", "../x", "a--b/c", "-a/b", "a/b.", "a b/c", "a/..", "/a"})
            QVERIFY2(errorKind([&] { tb::HubRepoId::parse(bad); }) == tb::HubError::Kind::InvalidInput, bad);
        QVERIFY(errorKind([] { tb::HubRepoId::parse(std::string(97, 'a')); }) == tb::HubError::Kind::InvalidInput);
        QVERIFY(errorKind([] { tb::parseHubRepoType("space"); }) == tb::HubError::Kind::InvalidInput);
    }

    void pathsFromTheServerStayInside()
    {
        for (const char* ok : {"config.json", "onnx/model.onnx", "a b/c.json"})
            QVERIFY2(tb::isSafeHubFilePath(ok), ok);
        for (const char* bad : {"", "../x", "a/../../x", "/abs", "a//b", "a/./b", "a/", "a\\b", "a\nb", "..", "."})
            QVERIFY2(!tb::isSafeHubFilePath(bad), bad);
        QVERIFY(tb::isSafeHubRevision("refs/pr/1") && tb::isSafeHubRevision("main") && tb::isSafeHubRevision("v1.0"));
        QVERIFY(!tb::isSafeHubRevision("../main") && !tb::isSafeHubRevision(""));
        QVERIFY(tb::isSafeHubEtag(std::string(64, 'a')) && !tb::isSafeHubEtag("a/b") && !tb::isSafeHubEtag("..")
                && !tb::isSafeHubEtag("\"x\""));
        QVERIFY(tb::isHubCommitHash(std::string(40, 'f')) && !tb::isHubCommitHash(std::string(40, 'F'))
                && !tb::isHubCommitHash(std::string(39, 'f')));
        QCOMPARE(tb::hubUrlQuote("refs/pr/1", false), std::string("refs%2Fpr%2F1"));
        QCOMPARE(tb::hubUrlQuote("a b/c+d.json", true), std::string("a%20b/c%2Bd.json"));
    }

    void digestsMatchGitAndSha256sum()
    {
        // `printf abc | sha256sum`; `printf 'hello\n' | git hash-object --stdin`; git's empty blob.
        tb::BlobDigest sha(tb::BlobDigestKind::Sha256, 3);
        sha.update("abc", 3);
        QCOMPARE(sha.finalHex(), std::string("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
        tb::BlobDigest git(tb::BlobDigestKind::GitBlobSha1, 6);
        git.update("hel", 3);
        git.update("lo\n", 3);
        QCOMPARE(git.finalHex(), std::string("ce013625030ba8dba906f756967f9e9ca394464a"));
        QCOMPARE(tb::BlobDigest(tb::BlobDigestKind::GitBlobSha1, 0).finalHex(), std::string("e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"));

        const QString file = m_tmp.filePath("hello.txt");
        writeBytes(file, "hello\n");
        QCOMPARE(tb::BlobDigest::ofFile(file.toStdString(), tb::BlobDigestKind::GitBlobSha1),
                 std::string("ce013625030ba8dba906f756967f9e9ca394464a"));

        QCOMPARE(tb::blobDigestKindForEtag(std::string(64, 'a')), tb::BlobDigestKind::Sha256);
        QCOMPARE(tb::blobDigestKindForEtag(std::string(40, '0')), tb::BlobDigestKind::GitBlobSha1);
        QCOMPARE(tb::blobDigestKindForEtag("abc-123"), tb::BlobDigestKind::None);
        QCOMPARE(tb::blobDigestKindForEtag(std::string(64, 'A')), tb::BlobDigestKind::None);
    }

    void cacheLayoutAndListing()
    {
        const QString root = m_tmp.filePath("hub");
        const tb::HubCache cache(root.toStdString());
        const tb::HubRepoId repo = tb::HubRepoId::parse("org/m");
        const std::string commit(40, 'c'), etag(64, 'e');
        cache.makeRepoFolders(repo);
        writeBytes(QString::fromStdString(cache.blobPath(repo, etag)), "weights");
        cache.linkSnapshotFile(repo, commit, "model.safetensors", etag);
        cache.linkSnapshotFile(repo, commit, "a/b/c.json", etag);
        cache.linkSnapshotFile(repo, commit, "model.safetensors", etag); // replaces, no error
        QCOMPARE(std::filesystem::read_symlink(cache.snapshotFilePath(repo, commit, "model.safetensors")).string(),
                 "../../blobs/" + etag);
        QCOMPARE(std::filesystem::read_symlink(cache.snapshotFilePath(repo, commit, "a/b/c.json")).string(),
                 "../../../../blobs/" + etag);
        QVERIFY(cache.hasSnapshotFile(repo, commit, "a/b/c.json"));
        cache.linkSnapshotFile(repo, commit, "dangling.json", std::string(40, 'd'));
        QVERIFY(!cache.hasSnapshotFile(repo, commit, "dangling.json"));
        QVERIFY(cache.hasBlob(repo, etag) && !cache.hasBlob(repo, std::string(40, 'd')));

        cache.writeRef(repo, "main", commit);
        cache.writeRef(repo, "refs/pr/1", commit);
        QFile ref(QString::fromStdString(cache.refPath(repo, "main")));
        QVERIFY(ref.open(QIODevice::ReadOnly));
        QCOMPARE(ref.readAll(), QByteArray::fromStdString(commit));
        QCOMPARE(cache.resolveCommit(repo, "main"), commit);
        QCOMPARE(cache.resolveCommit(repo, "refs/pr/1"), commit);
        QCOMPARE(cache.resolveCommit(repo, std::string(40, '1')), std::string(40, '1'));
        QCOMPARE(cache.resolveCommit(repo, "v2"), std::string());
        QCOMPARE(QString::fromStdString(cache.lockPath(repo, etag)), root + "/.locks/models--org--m/" + QString::fromStdString(etag) + ".lock");

        QDir().mkpath(root + "/not-a-repo");
        QDir().mkpath(root + "/datasets--org--d/snapshots/" + QString(40, 'b'));
        const auto repos = cache.listRepos();
        QCOMPARE(repos.size(), size_t(2));
        QCOMPARE(repos[0].repo.id, std::string("org/m"));
        QCOMPARE(repos[0].snapshots.size(), size_t(1));
        QCOMPARE(repos[0].snapshots[0].refs, (std::vector<std::string>{"main", "refs/pr/1"}));
        QCOMPARE(repos[1].repo.type, tb::HubRepoType::Dataset);
        QVERIFY(repos[1].refs.empty());
    }

    void repoInfoFromTheApi()
    {
        const std::string sha(40, 'a'), lfs(64, 'b');
        const tb::HubRepoInfo info = tb::HubRepoInfo::fromJson(
            R"({"sha": ")" + sha + R"(", "gated": "manual", "siblings": [
                {"rfilename": "config.json", "size": 10, "blobId": ")" + std::string(40, 'c') + R"("},
                {"rfilename": "model.safetensors", "size": 99, "blobId": ")" + std::string(40, 'd') + R"(",
                 "lfs": {"sha256": ")" + lfs + R"(", "size": 1000, "pointerSize": 130}},
                {"rfilename": "README.md"}]})",
            "test");
        QCOMPARE(info.commit, sha);
        QCOMPARE(info.gated, std::string("manual"));
        QCOMPARE(info.siblings.size(), size_t(3));
        QCOMPARE(info.siblings[0].expectedEtag(), std::string(40, 'c'));
        QCOMPARE(info.siblings[1].expectedEtag(), lfs);
        QCOMPARE(info.siblings[1].size, int64_t(1000));
        QCOMPARE(info.siblings[2].expectedEtag(), std::string());
        QCOMPARE(info.siblings[2].size, int64_t(-1));

        for (const std::string& bad : std::vector<std::string>{"[]", "not json", R"({"sha": "short", "siblings": []})",
                                      R"({"sha": ")" + sha + R"("})",
                                      R"({"sha": ")" + sha + R"(", "siblings": [{"rfilename": "../../etc/passwd"}]})"})
            QVERIFY2(errorKind([&] { tb::HubRepoInfo::fromJson(bad, "test"); }) == tb::HubError::Kind::Server, bad.c_str());
    }

    void fileSelection()
    {
        const auto model = infoWith({"config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
                                     "special_tokens_map.json", "chat_template.jinja", "tokenizer.model", "vocab.json",
                                     "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
                                     "model.safetensors.index.json", "pytorch_model.bin", "README.md", ".gitattributes",
                                     "original/consolidated.00.pth", "original/tokenizer.model", "onnx/model.safetensors"});
        QCOMPARE(selected(model, tb::HubRepoType::Model),
                 (std::vector<std::string>{"config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
                                           "special_tokens_map.json", "chat_template.jinja", "tokenizer.model",
                                           "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
                                           "model.safetensors.index.json"}));
        QCOMPARE(selected(model, tb::HubRepoType::Model, {"original/"}),
                 (std::vector<std::string>{"original/consolidated.00.pth", "original/tokenizer.model"}));
        QCOMPARE(selected(model, tb::HubRepoType::Model, {"*.model"}), // "*" crosses "/" as in fnmatch
                 (std::vector<std::string>{"tokenizer.model", "original/tokenizer.model"}));
        QCOMPARE(selected(model, tb::HubRepoType::Model, {"README.md", "vocab.json"}), (std::vector<std::string>{"vocab.json", "README.md"}));
        QVERIFY(errorKind([&] { selected(model, tb::HubRepoType::Model, {"*.gguf"}); }) == tb::HubError::Kind::Refused);

        for (const char* pickle : {"pytorch_model.bin", "model.pt", "consolidated.00.pth"}) {
            try {
                selected(infoWith({"config.json", pickle}), tb::HubRepoType::Model);
                QFAIL(pickle);
            } catch (const tb::HubError& e) {
                QCOMPARE(e.kind(), tb::HubError::Kind::Refused);
                QVERIFY2(std::string(e.what()).find("never loads pickle") != std::string::npos, e.what());
            }
        }
        QVERIFY(errorKind([] { selected(infoWith({"config.json", "model.gguf"}), tb::HubRepoType::Model); }) == tb::HubError::Kind::Refused);
        // Only nested safetensors: still refused (the top level is what loads).
        QVERIFY(errorKind([] { selected(infoWith({"config.json", "onnx/model.safetensors"}), tb::HubRepoType::Model); })
                == tb::HubError::Kind::Refused);

        const auto data = infoWith({"README.md", "data/train.jsonl", "data/val.json", "test.csv", "train.parquet", "script.py"});
        QCOMPARE(selected(data, tb::HubRepoType::Dataset),
                 (std::vector<std::string>{"README.md", "data/train.jsonl", "data/val.json", "test.csv"}));
        QVERIFY(errorKind([] { selected(infoWith({"README.md", "train.parquet"}), tb::HubRepoType::Dataset); })
                == tb::HubError::Kind::Refused);
    }

    void blobWriterResumesAndVerifies()
    {
        const QByteArray content = QByteArray("0123456789").repeated(100000);
        const std::string etag = tb::BlobDigest::ofFile([&] {
            writeBytes(m_tmp.filePath("whole"), content);
            return m_tmp.filePath("whole").toStdString();
        }(), tb::BlobDigestKind::Sha256);
        const QString incomplete = m_tmp.filePath("blobs/" + QString::fromStdString(etag) + ".incomplete");
        writeBytes(incomplete, content.left(400000)); // an earlier run's part
        {
            tb::IncompleteBlob blob(incomplete.toStdString(), etag, content.size(), "org/m/model.safetensors");
            QCOMPARE(blob.resumedFrom(), uint64_t(400000));
            blob.append(content.constData() + 400000, content.size() - 400000);
            blob.complete(m_tmp.filePath("blobs/" + QString::fromStdString(etag)).toStdString());
        }
        QVERIFY(!QFileInfo::exists(incomplete));
        QCOMPARE(QFileInfo(m_tmp.filePath("blobs/" + QString::fromStdString(etag))).size(), qint64(content.size()));

        // A wrong prefix from an earlier run is caught at the end, and the file is removed.
        QByteArray wrong = content.left(400000);
        wrong[5] = 'x';
        writeBytes(incomplete, wrong);
        tb::IncompleteBlob bad(incomplete.toStdString(), etag, content.size(), "org/m/model.safetensors");
        bad.append(content.constData() + 400000, content.size() - 400000);
        QVERIFY(errorKind([&] { bad.complete(m_tmp.filePath("blobs/never").toStdString()); }) == tb::HubError::Kind::Checksum);
        QVERIFY(!QFileInfo::exists(incomplete) && !QFileInfo::exists(m_tmp.filePath("blobs/never")));
    }

    void offlineClientMakesNoRequest()
    {
        // An endpoint nothing listens on: a request would fail as Network, not Offline.
        tb::HubEnvironment env = envOf({{"HOME", "/h"}, {"HF_ENDPOINT", "http://127.0.0.1:1"}, {"HF_HUB_OFFLINE", "1"}});
        tb::HubClient client(env, {}, {});
        QCOMPARE(errorKind([&] { client.repoInfo(tb::HubRepoId::parse("org/m"), "main"); }), tb::HubError::Kind::Offline);
        QCOMPARE(errorKind([&] { client.fileMetadata(tb::HubRepoId::parse("org/m"), std::string(40, 'a'), "config.json"); }),
                 tb::HubError::Kind::Offline);
    }

    void fullDiskIsReportedAsSuchWhileWriting()
    {
        if (!QFileInfo::exists("/dev/full"))
            QSKIP("no /dev/full here");
        tb::IncompleteBlob blob("/dev/full", std::string(64, 'a'), 100, "org/m/model.safetensors");
        try {
            blob.append("0123456789", 10); // buffered
            blob.append(QByteArray(2 << 20, 'x').constData(), 2 << 20); // past the buffer: written
            QFAIL("a write to /dev/full succeeded");
        } catch (const tb::HubError& e) {
            QCOMPARE(e.kind(), tb::HubError::Kind::DiskSpace);
            QVERIFY2(std::string(e.what()).find("HF_HUB_CACHE") != std::string::npos, e.what());
        }
    }
};

QTEST_GUILESS_MAIN(TestHubLayout)
#include "tst_hublayout.moc"
