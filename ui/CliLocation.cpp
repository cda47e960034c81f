#include "CliLocation.h"

#include <QCoreApplication>
#include <QDir>
#include <QFileInfo>
#include <QStandardPaths>

QString tunebenchCliPath()
{
    const QString chosen = qEnvironmentVariable("TUNEBENCH_CLI");
    if (!chosen.isEmpty())
        return chosen;
    const QString beside = QDir(QCoreApplication::applicationDirPath()).filePath(QStringLiteral("tunebench-cli"));
    const QFileInfo info(beside);
    if (info.isFile() && info.isExecutable())
        return beside;
    return QStandardPaths::findExecutable(QStringLiteral("tunebench-cli"));
}
