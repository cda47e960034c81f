#include "AdapterExportWorker.h"

#include "lora/AdapterExport.h"
#include "model/TensorIO.h"
#include "store/ArtifactFiles.h"
#include "store/RunStore.h"

#include <QLocale>
#include <QtConcurrent/QtConcurrentRun>

#include <exception>
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
    try {
        if (r.merged) {
            const std::optional<at::ScalarType> dtype = tb::scalarTypeFromName(r.dtype.toStdString());
            if (!dtype)
                throw std::invalid_argument("dtype \"" + r.dtype.toStdString() + "\": expected bf16, fp16 or fp32");
            stored = tb::exportMergedModel(r.modelDir.toStdString(), r.adapterDir.toStdString(), outDir, dtype, progress);
        } else {
            fileCount = tb::exportPeftAdapter(r.adapterDir.toStdString(), outDir, progress).size();
        }
        ok = true;
    } catch (const std::exception& e) {
        message = tr("Export failed: %1").arg(QString::fromStdString(e.what()));
    }

    if (ok) {
        const std::optional<int64_t> bytes = tb::ArtifactFiles::sizeOnDisk(outDir);
        const QString size = bytes ? QLocale().formattedDataSize(*bytes) : tr("size unknown");
        message = r.merged ? tr("Merged run %1's adapter into %2 and saved a %3 Hugging Face model to %4 (%5).")
                                 .arg(r.runId)
                                 .arg(r.modelDir, QString(tb::scalarTypeName(stored)), r.outDir, size)
                           : tr("Exported the adapter of run %1 to %2 (%3 files, %4).").arg(r.runId).arg(r.outDir).arg(fileCount).arg(size);
        if (!r.databasePath.isEmpty()) {
            try {
                tb::StoreOptions options;
                options.recoverInterruptedRuns = false; // recording an export changes no run's status
                tb::RunStore store(r.databasePath.toStdString(), options);
                store.addArtifact(r.runId, r.merged ? tb::ArtifactKind::Merged : tb::ArtifactKind::Export, outDir,
                                  r.adapterStep >= 0 ? std::optional<int64_t>(r.adapterStep) : std::nullopt, bytes);
                message += QLatin1Char(' ') + tr("Recorded as an artifact of run %1.").arg(r.runId);
            } catch (const std::exception& e) {
                message += QLatin1Char(' ') + tr("Recording it in the experiment database failed: %1").arg(QString::fromStdString(e.what()));
            }
        }
    }
    Q_EMIT finished(ok, message, r.outDir);
    deleteLater(); // posted to the GUI thread, after the queued finished() above
}
