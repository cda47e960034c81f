#include "AdapterExportWorker.h"

#include "export/GgufFolderExport.h"
#include "lora/AdapterExport.h"
#include "model/TensorIO.h"
#include "store/ArtifactFiles.h"
#include "store/RunStore.h"

#include <QLocale>
#include <QtConcurrent/QtConcurrentRun>

#include <exception>
#include <filesystem>
#include <optional>

AdapterExportWorker::AdapterExportWorker(const AdapterExportRequest& request) : m_request(request) {}

void AdapterExportWorker::start()
{
    if (m_started)
        return;
    m_started = true;
    // The future is dropped on purpose: completion comes back through finished().
    (void)QtConcurrent::run([this] { run(); });
}

void AdapterExportWorker::cancel()
{
    m_cancelled = true;
}

void AdapterExportWorker::run()
{
    const AdapterExportRequest& r = m_request;
    const std::string outDir = r.outDir.toStdString();
    const tb::ExportProgress progress = [this](double fraction, const std::string& stage) {
        Q_EMIT progressed(fraction, QString::fromStdString(stage));
    };
    bool ok = false;
    QString message;
    size_t fileCount = 0;
    at::ScalarType stored = at::kBFloat16;
    tb::GgufFolderResult gguf;
    const bool isGguf = r.format == AdapterExportFormat::GgufModel || r.format == AdapterExportFormat::GgufLora
                        || r.format == AdapterExportFormat::Ollama;
    try {
        if (r.format == AdapterExportFormat::MergedModel) {
            const std::optional<at::ScalarType> dtype = tb::scalarTypeFromName(r.dtype.toStdString());
            if (!dtype)
                throw std::invalid_argument("dtype \"" + r.dtype.toStdString() + "\": expected bf16, fp16 or fp32");
            stored = tb::exportMergedModel(r.modelDir.toStdString(), r.adapterDir.toStdString(), outDir, dtype, progress);
        } else if (isGguf) {
            const std::optional<tb::GgufFileType> type = tb::ggufFileTypeFromName(r.dtype.toStdString());
            if (!type)
                throw std::invalid_argument("GGUF type \"" + r.dtype.toStdString() + "\" is not one Tunebench writes");
            tb::GgufFolderRequest request;
            request.modelDir = r.modelDir.toStdString();
            request.adapterDir = r.adapterDir.toStdString();
            request.outDir = outDir;
            request.separateAdapter = r.format == AdapterExportFormat::GgufLora
                                      || (r.format == AdapterExportFormat::Ollama && r.separateAdapter);
            request.ollama = r.format == AdapterExportFormat::Ollama;
            request.options.type = *type;
            request.options.name = r.runName.toStdString();
            request.options.progress = progress;
            request.options.cancelled = [this] { return m_cancelled.load(); };
            gguf = tb::exportGgufFolder(request);
        } else {
            fileCount = tb::exportPeftAdapter(r.adapterDir.toStdString(), outDir, progress).size();
        }
        ok = true;
    } catch (const tb::GgufExportCancelled&) {
        message = tr("Export cancelled; nothing was written to %1.").arg(r.outDir);
    } catch (const std::exception& e) {
        message = tr("Export failed: %1").arg(QString::fromStdString(e.what()));
    }

    // What to record: the folder, or each GGUF file (and an Ollama folder as a whole).
    std::vector<std::pair<tb::ArtifactKind, std::string>> artifacts;
    if (ok) {
        const std::optional<int64_t> bytes = tb::ArtifactFiles::sizeOnDisk(outDir);
        const QString size = bytes ? QLocale().formattedDataSize(*bytes) : tr("size unknown");
        switch (r.format) {
        case AdapterExportFormat::MergedModel:
            message = tr("Merged run %1's adapter into %2 and saved a %3 Hugging Face model to %4 (%5).")
                          .arg(r.runId)
                          .arg(r.modelDir, QString(tb::scalarTypeName(stored)), r.outDir, size);
            artifacts.emplace_back(tb::ArtifactKind::Merged, outDir);
            break;
        case AdapterExportFormat::PeftAdapter:
            message = tr("Exported the adapter of run %1 to %2 (%3 files, %4).").arg(r.runId).arg(r.outDir).arg(fileCount).arg(size);
            artifacts.emplace_back(tb::ArtifactKind::Export, outDir);
            break;
        default: {
            QStringList files;
            for (const auto& f : gguf.files)
                files << QString::fromStdString(f);
            message = tr("Wrote %1 to %2 (%3).").arg(files.join(", "), r.outDir, size);
            if (r.format == AdapterExportFormat::Ollama) {
                message += QLatin1Char(' ')
                           + (gguf.chatRecognized ? tr("Chat template: %1.").arg(QString::fromStdString(gguf.chatFamily))
                                                  : tr("The chat template was not recognized (%1): the Modelfile has no TEMPLATE.")
                                                        .arg(QString::fromStdString(gguf.chatNote)));
                artifacts.emplace_back(tb::ArtifactKind::Export, outDir);
            }
            for (const auto& f : gguf.ggufFiles)
                artifacts.emplace_back(tb::ArtifactKind::Export, (std::filesystem::path(outDir) / f).string());
            for (const auto& w : gguf.warnings)
                message += QLatin1Char(' ') + QString::fromStdString(w) + QLatin1Char('.');
        }
        }
        if (!r.databasePath.isEmpty()) {
            try {
                tb::StoreOptions options;
                options.recoverInterruptedRuns = false; // recording an export changes no run's status
                tb::RunStore store(r.databasePath.toStdString(), options);
                const std::optional<int64_t> step = r.adapterStep >= 0 ? std::optional<int64_t>(r.adapterStep) : std::nullopt;
                for (const auto& [kind, path] : artifacts)
                    store.addArtifact(r.runId, kind, path, step, path == outDir ? bytes : std::nullopt);
                message += QLatin1Char(' ') + tr("Recorded as an artifact of run %1.").arg(r.runId);
            } catch (const std::exception& e) {
                message += QLatin1Char(' ') + tr("Recording it in the experiment database failed: %1").arg(QString::fromStdString(e.what()));
            }
        }
    }
    Q_EMIT finished(ok, message, r.outDir);
    deleteLater(); // posted to the GUI thread, after the queued finished() above
}
