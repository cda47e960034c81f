// tests/hub/fake_hub.py as a child process: started with its repositories, its port read from
// its first stdout line, driven through stdin (faults, the request log) one JSON line at a
// time. Closing its stdin ends it, so it never outlives the test.
#pragma once

#include <QCoreApplication>
#include <QElapsedTimer>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QString>
#include <QStringList>

class FakeHub {
public:
    FakeHub() = default;
    FakeHub(const FakeHub&) = delete;
    FakeHub& operator=(const FakeHub&) = delete;
    ~FakeHub() { stop(); }

    // python3 fake_hub.py ARGS; false (with the reason in *error) when it does not come up.
    bool start(const QStringList& args, QString* error)
    {
        m_process.setProcessChannelMode(QProcess::SeparateChannels);
        m_process.start(TB_PYTHON3, QStringList{QString(TB_SOURCE_DIR) + "/tests/hub/fake_hub.py"} + args);
        if (!m_process.waitForStarted(10000)) {
            *error = "cannot start " TB_PYTHON3 ": " + m_process.errorString();
            return false;
        }
        const QByteArray line = readLine(60000);
        bool ok = false;
        m_port = line.trimmed().toInt(&ok);
        if (!ok) {
            *error = "fake_hub.py did not print its port: " + QString::fromUtf8(line) + QString::fromUtf8(m_process.readAllStandardError());
            return false;
        }
        return true;
    }

    void stop()
    {
        if (m_process.state() == QProcess::NotRunning)
            return;
        m_process.closeWriteChannel();
        if (!m_process.waitForFinished(5000)) {
            m_process.kill();
            m_process.waitForFinished(5000);
        }
    }

    int port() const { return m_port; }
    QString endpoint() const { return QString("http://127.0.0.1:%1").arg(m_port); }

    QJsonObject command(const QJsonObject& cmd)
    {
        m_process.write(QJsonDocument(cmd).toJson(QJsonDocument::Compact) + "\n");
        m_process.waitForBytesWritten(5000);
        return QJsonDocument::fromJson(readLine(10000)).object();
    }

    void reset() { command({{"cmd", "reset"}}); }

    // A fault for the next `times` GETs of `path` (fake_hub.py's "fault" command).
    void fault(const QString& path, const QJsonObject& what, int times = 1)
    {
        QJsonObject cmd = what;
        cmd["cmd"] = "fault";
        cmd["path"] = path;
        cmd["times"] = times;
        command(cmd);
    }

    // The requests since the last reset: {method, path, range, status, sent, auth}.
    QJsonArray requests() { return command({{"cmd", "stats"}})["requests"].toArray(); }

    // Requests whose URL path contains `part` (and with `method` unless empty).
    QJsonArray requestsTo(const QString& part, const QString& method = {})
    {
        QJsonArray matching;
        for (const auto& r : requests()) {
            const QJsonObject o = r.toObject();
            if (o["path"].toString().contains(part) && (method.isEmpty() || o["method"].toString() == method))
                matching.append(o);
        }
        return matching;
    }

    QByteArray standardError() { return m_process.readAllStandardError(); }

private:
    QByteArray readLine(int timeoutMs)
    {
        QElapsedTimer timer;
        timer.start();
        while (!m_process.canReadLine() && timer.elapsed() < timeoutMs && m_process.state() == QProcess::Running)
            m_process.waitForReadyRead(100);
        return m_process.readLine();
    }

    QProcess m_process;
    int m_port = 0;
};
