// DatasetPreview, offscreen, with the tiny demo model's tokenizer and the shipped reviews
// dataset: the counts equal prepareDataset's statistics computed here, the histogram's bars sum
// to the records, truncation at a short sequence length is counted and labelled, the first
// record's prompt is shown masked and its answer trained, a malformed line is skipped and named,
// an unusable file shows its error, and a burst of requests yields one preview of the last.
#include "DatasetPreview.h"
#include "StallMeter.h"

#include "QCustomPlotCompat.h"

#include "data/TrainingDataset.h"
#include "demo/DemoModelMaker.h"
#include "tokenizer/Tokenizer.h"
#include "tokenizer/TokenizerConfig.h"

#include <QApplication>
#include <QElapsedTimer>
#include <QFile>
#include <QLabel>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <QTextBlock>
#include <QTextBrowser>
#include <QTimer>

namespace {

const QString kReviews = QStringLiteral(TB_SOURCE_DIR "/resources/datasets/reviews-train.jsonl");
const QString kReviewsVal = QStringLiteral(TB_SOURCE_DIR "/resources/datasets/reviews-val.jsonl");

tb::DatasetOptions options(int64_t maxSeqLen)
{
    tb::DatasetOptions o;
    o.maxSeqLen = maxSeqLen;
    o.splitSeed = 42;
    return o;
}

struct Piece {
    QString text;
    QTextCharFormat format;
};

// The text view's fragments with their character formats, in order.
std::vector<Piece> pieces(QTextDocument* doc)
{
    std::vector<Piece> out;
    for (QTextBlock block = doc->begin(); block.isValid(); block = block.next())
        for (auto it = block.begin(); !it.atEnd(); ++it)
            out.push_back({it.fragment().text(), it.fragment().charFormat()});
    return out;
}

QString textWithRole(QTextDocument* doc, const QString& role)
{
    QString text;
    for (const Piece& p : pieces(doc))
        if (p.format.property(DatasetPreview::kSegmentRole).toString() == role)
            text += p.text;
    return text;
}

double barSum(QCPBars* bars)
{
    double sum = 0;
    for (auto it = bars->data()->constBegin(); it != bars->data()->constEnd(); ++it)
        sum += it->value;
    return sum;
}

void writeFile(const QString& path, const QByteArray& bytes)
{
    QFile f(path);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write(bytes);
}

} // namespace

class TestDatasetPreview : public QObject {
    Q_OBJECT
private:
    QTemporaryDir m_tmp;
    QString m_model;
    std::unique_ptr<tb::Tokenizer> m_tokenizer;
    tb::TokenizerConfig m_config;

    tb::PreparedDataset prepared(const QString& data, const QString& validation, const tb::DatasetOptions& o)
    {
        return tb::prepareDataset(data.toStdString(), validation.toStdString(), *m_tokenizer, m_config, o);
    }

private Q_SLOTS:
    void initTestCase()
    {
        QVERIFY(m_tmp.isValid());
        m_model = m_tmp.filePath("demo");
        tb::makeDemoModel(m_model.toStdString(), "tiny", 0);
        m_tokenizer = std::make_unique<tb::Tokenizer>(tb::Tokenizer::fromFile((m_model + "/tokenizer.json").toStdString()));
        m_config = tb::TokenizerConfig::fromFile((m_model + "/tokenizer_config.json").toStdString());
    }

    void countsEqualPrepareDataset()
    {
        DatasetPreview preview;
        preview.show();
        QVERIFY(!preview.showsError());
        QSignalSpy ready(&preview, &DatasetPreview::previewReady);
        QSignalSpy failed(&preview, &DatasetPreview::previewFailed);
        StallMeter meter;
        preview.setInputs(m_model, kReviews, QString(), options(128));
        QVERIFY(ready.wait(30000));
        QCOMPARE(failed.count(), 0);
        QCOMPARE(ready.at(0).at(2).toString(), QStringLiteral("instruction"));
        QVERIFY2(meter.longest() < 500, qPrintable(QString("GUI thread stalled %1 ms").arg(meter.longest())));

        const tb::PreparedDataset direct = prepared(kReviews, QString(), options(128));
        const tb::DatasetStats& t = direct.trainStats;
        const tb::DatasetStats& v = direct.validationStats;
        QCOMPARE(t.records + v.records, 400);
        QCOMPARE(preview.trainStats().records, t.records);
        QCOMPARE(preview.validationStats().records, v.records);
        QCOMPARE(preview.countLabel(DatasetPreview::Records)->text(), QString::number(t.records + v.records));
        QVERIFY(preview.countLabel(DatasetPreview::Split)->text().startsWith(QString("%1 / %2").arg(t.records).arg(v.records)));
        QCOMPARE(preview.countLabel(DatasetPreview::Skipped)->text(), QString::number(t.skipped + v.skipped));
        QVERIFY(preview.countLabel(DatasetPreview::Truncated)->text().startsWith(QString::number(t.truncated + v.truncated) + " "));
        QCOMPARE(preview.countLabel(DatasetPreview::Tokens)->text(), QString::number(t.tokens + v.tokens));
        QVERIFY(preview.countLabel(DatasetPreview::LossTokens)->text().startsWith(QString::number(t.lossTokens + v.lossTokens) + " "));
        QVERIFY(t.lossTokens > 0 && t.lossTokens < t.tokens);
        QVERIFY(preview.formatLabel()->text().contains("instruction"));
        QVERIFY(preview.formatLabel()->text().contains("detected"));

        QCOMPARE(barSum(preview.histogramBars()), double(t.records + v.records));
        QCOMPARE(preview.histogramBars()->width(), double(t.histogramBucket));
        QCOMPARE(preview.seqLenLine()->point1->key(), 128.0);
    }

    void separateValidationFile()
    {
        DatasetPreview preview;
        QSignalSpy ready(&preview, &DatasetPreview::previewReady);
        preview.setInputs(m_model, kReviews, kReviewsVal, options(128));
        QVERIFY(ready.wait(30000));
        const tb::PreparedDataset direct = prepared(kReviews, kReviewsVal, options(128));
        QCOMPARE(preview.countLabel(DatasetPreview::Split)->text(),
                 QString("%1 / %2 (validation file)").arg(direct.trainStats.records).arg(direct.validationStats.records));
        QCOMPARE(barSum(preview.histogramBars()), double(direct.trainStats.records + direct.validationStats.records));
    }

    void shortSequenceLengthTruncates()
    {
        // At 64 tokens a few reviews are cut (their answer still fits); at 32 even the prompt
        // does not fit, so nothing is usable and the preview says why.
        DatasetPreview preview;
        QSignalSpy ready(&preview, &DatasetPreview::previewReady);
        QSignalSpy failed(&preview, &DatasetPreview::previewFailed);
        preview.setInputs(m_model, kReviews, QString(), options(64));
        QVERIFY(ready.wait(30000));
        const tb::PreparedDataset direct = prepared(kReviews, QString(), options(64));
        const int64_t records = direct.trainStats.records + direct.validationStats.records;
        const int64_t truncated = direct.trainStats.truncated + direct.validationStats.truncated;
        QVERIFY(truncated > 0);
        QVERIFY(preview.countLabel(DatasetPreview::Truncated)->text().startsWith(QString::number(truncated) + " ("));
        QVERIFY(preview.countLabel(DatasetPreview::Truncated)->text().contains("at 64 tokens"));
        QVERIFY(preview.truncationText()->text().contains(QString("%1 truncated").arg(truncated)));
        QCOMPARE(preview.seqLenLine()->point1->key(), 64.0);
        QCOMPARE(barSum(preview.histogramBars()), double(records));
        // The truncated examples are all right of the line (the bucket starting at 64 also
        // holds examples of exactly 64 tokens, which are not cut).
        double beyond = 0;
        for (auto it = preview.histogramBars()->data()->constBegin(); it != preview.histogramBars()->data()->constEnd(); ++it)
            if (it->key > 64.0)
                beyond += it->value;
        QVERIFY(beyond >= double(truncated));

        preview.setInputs(m_model, kReviews, QString(), options(32));
        QVERIFY(failed.wait(30000));
        QVERIFY2(failed.at(0).at(0).toString().contains("max_seq_len is 32"), qPrintable(failed.at(0).at(0).toString()));
        QVERIFY(preview.showsError());
    }

    void firstRecordPromptMaskedAnswerTrained()
    {
        DatasetPreview preview;
        QSignalSpy ready(&preview, &DatasetPreview::previewReady);
        preview.setInputs(m_model, kReviews, QString(), options(128));
        QVERIFY(ready.wait(30000));
        QTextDocument* doc = preview.textView()->document();
        QVERIFY(preview.textView()->isReadOnly());

        const QString masked = textWithRole(doc, "masked");
        const QString trained = textWithRole(doc, "trained");
        // The first record: instruction + review as the user turn (masked), "positive" the answer.
        QVERIFY(masked.contains("Classify the sentiment of this review."));
        QVERIFY(masked.contains("This beachfront hotel had a comfortable bed and a lovely view."));
        QVERIFY(trained.contains("positive"));
        QVERIFY(!trained.contains("Classify the sentiment"));
        // ChatML markup is shown literally (not swallowed as HTML tags).
        QVERIFY(preview.textView()->toPlainText().contains("<|im_start|>user"));
        QVERIFY(preview.textView()->toPlainText().contains("<|im_end|>"));

        // The two roles look different: grey and plain vs bold on a coloured background.
        bool sawMasked = false, sawTrained = false;
        for (const Piece& p : pieces(doc)) {
            const QString role = p.format.property(DatasetPreview::kSegmentRole).toString();
            if (role == "masked" && p.text.contains("Classify the sentiment")) {
                sawMasked = true;
                QCOMPARE(p.format.background().style(), Qt::NoBrush);
                QVERIFY(p.format.fontWeight() < QFont::Bold);
                QCOMPARE(p.format.foreground().color(), QColor(0x80, 0x80, 0x80));
            } else if (role == "trained" && p.text.contains("positive")) {
                sawTrained = true;
                QCOMPARE(p.format.background().style(), Qt::SolidPattern);
                QCOMPARE(p.format.fontWeight(), int(QFont::Bold));
            }
        }
        QVERIFY(sawMasked);
        QVERIFY(sawTrained);
    }

    void malformedLineIsSkippedAndNamed()
    {
        const QString path = m_tmp.filePath("broken.jsonl");
        writeFile(path, "{\"text\": \"The river runs past the old mill.\"}\n"
                        "{\"text\": \"this line is not closed\"\n"
                        "{\"text\": \"Children come in summer.\"}\n"
                        "{\"text\": \"In winter the mill is quiet.\"}\n");
        DatasetPreview preview;
        QSignalSpy ready(&preview, &DatasetPreview::previewReady);
        preview.setInputs(m_model, path, QString(), options(64));
        QVERIFY(ready.wait(30000));
        QCOMPARE(ready.at(0).at(2).toString(), QStringLiteral("json-text"));
        QCOMPARE(preview.countLabel(DatasetPreview::Skipped)->text(), QStringLiteral("1"));
        QCOMPARE(preview.countLabel(DatasetPreview::Records)->text(), QStringLiteral("3"));
        QVERIFY2(preview.warningsLabel()->text().contains(path + ":2:"), qPrintable(preview.warningsLabel()->text()));
        QVERIFY(!preview.warningsLabel()->isHidden());
        QVERIFY(preview.textView()->toPlainText().contains("line 2: skipped"));
    }

    void unusableFileShowsError()
    {
        const QString path = m_tmp.filePath("unusable.jsonl");
        writeFile(path, "{\"text\": \"no closing brace\"\n{not json at all\n");
        DatasetPreview preview;
        preview.show();
        QSignalSpy ready(&preview, &DatasetPreview::previewReady);
        QSignalSpy failed(&preview, &DatasetPreview::previewFailed);
        preview.setInputs(m_model, path, QString(), options(64));
        QVERIFY(failed.wait(30000));
        QCOMPARE(ready.count(), 0);
        const QString message = failed.at(0).at(0).toString();
        QVERIFY2(message.contains(path) && message.contains("line 1"), qPrintable(message));
        QVERIFY(preview.showsError());
        QVERIFY(preview.errorLabel()->isVisible());
        QVERIFY(preview.errorLabel()->text().contains(message));
        QVERIFY(!preview.textView()->isVisible());

        // A missing file is an error too; a usable one afterwards replaces the error.
        preview.setInputs(m_model, m_tmp.filePath("missing.jsonl"), QString(), options(64));
        QVERIFY(failed.wait(30000));
        QVERIFY(failed.at(1).at(0).toString().contains("missing.jsonl"));
        preview.setInputs(m_model, kReviews, QString(), options(64));
        QVERIFY(ready.wait(30000));
        QVERIFY(!preview.showsError());
        QVERIFY(preview.textView()->isVisible());
    }

    void latestOfQuickRequestsWins()
    {
        DatasetPreview preview;
        QSignalSpy ready(&preview, &DatasetPreview::previewReady);
        QSignalSpy failed(&preview, &DatasetPreview::previewFailed);
        // Within the debounce: only the second request runs.
        preview.setInputs(m_model, kReviews, QString(), options(128));
        preview.setInputs(m_model, kReviews, QString(), options(64));
        QVERIFY(ready.wait(30000));
        QTest::qWait(700);
        QCOMPARE(ready.count(), 1);
        const tb::PreparedDataset short64 = prepared(kReviews, QString(), options(64));
        QCOMPARE(preview.trainStats().truncated, short64.trainStats.truncated);
        QCOMPARE(preview.seqLenLine()->point1->key(), 64.0);

        // A request made while an older job runs: the older result is dropped. The older job
        // reads a file of 10,000 records (about a second), so it is still running.
        QByteArray reviews;
        {
            QFile f(kReviews);
            QVERIFY(f.open(QIODevice::ReadOnly));
            reviews = f.readAll();
        }
        const QString big = m_tmp.filePath("big.jsonl");
        writeFile(big, reviews.repeated(25));
        preview.setInputs(m_model, big, QString(), options(256));
        QTRY_VERIFY_WITH_TIMEOUT(preview.jobRunning(), 5000);
        preview.setInputs(m_model, kReviewsVal, QString(), options(64));
        QVERIFY(ready.wait(30000));
        QTest::qWait(700);
        QCOMPARE(ready.count(), 2);
        QCOMPARE(failed.count(), 0);
        const tb::PreparedDataset val = prepared(kReviewsVal, QString(), options(64));
        QCOMPARE(preview.trainStats().records, val.trainStats.records);
        QCOMPARE(preview.countLabel(DatasetPreview::Records)->text(),
                 QString::number(val.trainStats.records + val.validationStats.records));

        // The same request again (files unchanged) starts nothing; refresh() runs it again.
        preview.setInputs(m_model, kReviewsVal, QString(), options(64));
        QTest::qWait(500);
        QCOMPARE(ready.count(), 2);
        preview.refresh();
        QVERIFY(ready.wait(30000));
        QCOMPARE(ready.count(), 3);
    }
};

QTEST_MAIN(TestDatasetPreview)
#include "tst_datasetpreview.moc"
