#include <QTest>
class TestTokenizer : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void placeholder() {}
};
QTEST_GUILESS_MAIN(TestTokenizer)
#include "tst_tokenizer.moc"
