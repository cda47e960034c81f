#include "RunFormSettings.h"

#include <QSettings>

namespace {
const char* const kConfigKey = "trainForm/config";
const char* const kRecentKey = "trainForm/recentModels";
} // namespace

RunFormSettings::RunFormSettings(const QString& filePath)
    : m_settings(filePath.isEmpty() ? std::make_unique<QSettings>(QSettings::NativeFormat, QSettings::UserScope,
                                                                  QStringLiteral("Tunebench"), QStringLiteral("Tunebench"))
                                    : std::make_unique<QSettings>(filePath, QSettings::IniFormat))
{
}

RunFormSettings::~RunFormSettings() = default;

std::optional<tb::TrainConfig> RunFormSettings::loadForm() const
{
    const QByteArray text = m_settings->value(kConfigKey).toString().toUtf8();
    if (text.isEmpty())
        return std::nullopt;
    try {
        return tb::TrainConfig::fromJson(nlohmann::json::parse(text.toStdString()), m_settings->fileName().toStdString());
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

void RunFormSettings::saveForm(const tb::TrainConfig& config)
{
    nlohmann::json j = config.toJson();
    j.erase("output_dir");
    m_settings->setValue(kConfigKey, QString::fromStdString(j.dump()));
}

QStringList RunFormSettings::recentModels() const
{
    return m_settings->value(kRecentKey).toStringList();
}

void RunFormSettings::saveRecentModels(const QStringList& dirs)
{
    m_settings->setValue(kRecentKey, dirs);
}

void RunFormSettings::sync()
{
    m_settings->sync();
}
