// Which adapter a run of the experiment database has to export, or why it has none: what the
// workbench's Export dialog shows and what `tunebench-cli export --run ID` uses.
#pragma once

#include <cstdint>
#include <string>

namespace tb {

class SqliteDatabase;

struct RunExportSource {
    std::string name, method, status, runDir, modelDir;
    std::string adapterDir;      // "" when the run has no adapter to export
    std::string noAdapterReason; // why adapterDir is "" (full fine-tuning, failed before saving, ...)
    int64_t adapterStep = -1;    // the step the adapter was saved at; -1 when unknown
};

// The newest adapter recorded for the run (or the run folder's adapter/ when it was saved but
// not recorded). Throws StoreError for an unknown run.
RunExportSource runExportSource(SqliteDatabase& database, int64_t runId);

} // namespace tb
