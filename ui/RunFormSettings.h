// Remembers the Train tab's new-run form between launches: the last form as TrainConfig JSON
// (every field, so settings the form does not show survive too) and the recent base models.
// The output folder is not remembered: each run needs a new folder.
//
// Storage: QSettings, group "trainForm": "config" (TrainConfig::toJson() text, without
// output_dir) and "recentModels" (a string list, most recent first). With no file path the
// application's settings (organization and application "Tunebench": on Linux
// ~/.config/Tunebench/Tunebench.conf; tests enable QStandardPaths' test mode); with a path an
// INI file there (tests).
//
// Thread contract: GUI thread (one QSettings object, not shared).
#pragma once

#include "train/TrainConfig.h"

#include <QString>
#include <QStringList>

#include <memory>
#include <optional>

class QSettings;

class RunFormSettings {
public:
    explicit RunFormSettings(const QString& filePath = QString());
    ~RunFormSettings();
    RunFormSettings(const RunFormSettings&) = delete;
    RunFormSettings& operator=(const RunFormSettings&) = delete;

    // The saved form, or nothing when none was saved or it no longer parses (it was written
    // by another version): the form then starts from its defaults.
    std::optional<tb::TrainConfig> loadForm() const;
    void saveForm(const tb::TrainConfig& config);

    QStringList recentModels() const;
    void saveRecentModels(const QStringList& dirs);

    // Writes to permanent storage now (QSettings otherwise writes lazily).
    void sync();

private:
    std::unique_ptr<QSettings> m_settings;
};
