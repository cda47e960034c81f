// The workbench window, offscreen: it opens a real demo model folder on its worker thread and
// streams a generation into the playground while the GUI thread keeps processing events.
#include "MainWindow.h"

#include "demo/DemoModelMaker.h"

#include <QApplication>
#include <QElapsedTimer>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QStatusBar>
#include <QTemporaryDir>
#include <QTest>
#include <QTimer>

class TestMainWindow : public QObject {
    Q_OBJECT
private:
    QTemporaryDir m_tmp;
    QString m_model;

private Q_SLOTS:
    void initTestCase()
    {
        QStandardPaths::setTestModeEnabled(true); // the Train tab's remembered form: not the user's settings
        m_model = m_tmp.filePath("demo");
        tb::makeDemoModel(m_model.toStdString(), "tiny", 0);
    }

    void loadsAndGeneratesWithoutBlocking()
    {
        MainWindow window(m_model);
        window.show();
        QVERIFY(!window.generateButton()->isEnabled());
        QTRY_VERIFY_WITH_TIMEOUT(window.generateButton()->isEnabled(), 60000);
        QVERIFY(window.statusBar()->currentMessage().contains("Loaded"));

        // Measure the longest gap between timer ticks on the GUI thread during generation.
        QElapsedTimer sinceTick;
        qint64 longestGap = 0;
        QTimer ticker;
        QObject::connect(&ticker, &QTimer::timeout, [&] {
            longestGap = std::max(longestGap, sinceTick.restart());
        });
        window.promptEdit()->setPlainText("The weather today");
        sinceTick.start();
        ticker.start(5);
        QTest::mouseClick(window.generateButton(), Qt::LeftButton);
        QCOMPARE(window.generateButton()->text(), QString("Stop"));
        QTRY_COMPARE_WITH_TIMEOUT(window.generateButton()->text(), QString("Generate"), 60000);
        ticker.stop();
        QVERIFY(window.outputView()->toPlainText().startsWith("The weather today"));
        QVERIFY(window.outputView()->toPlainText().size() > QString("The weather today").size());
        QVERIFY(window.statusBar()->currentMessage().contains("tokens/s"));
        // The GUI thread was never blocked for long (generous bound for a loaded CI machine).
        QVERIFY2(longestGap < 500, qPrintable(QString("GUI thread stalled for %1 ms").arg(longestGap)));
    }

    void badFolderShowsError()
    {
        MainWindow window(m_tmp.filePath("missing"));
        QTRY_VERIFY_WITH_TIMEOUT(window.statusBar()->currentMessage().contains("missing"), 20000);
        QVERIFY(!window.generateButton()->isEnabled());
    }
};

QTEST_MAIN(TestMainWindow)
#include "tst_mainwindow.moc"
