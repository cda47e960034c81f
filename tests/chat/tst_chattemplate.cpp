#include <QTest>
class TestChatTemplate : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void placeholder() {}
};
QTEST_GUILESS_MAIN(TestChatTemplate)
#include "tst_chattemplate.moc"
