// Where the experiment database and the run workspace live. No Qt: getenv only, so the CLI
// on a machine without Qt resolves the same paths as the GUI.
//
//   database:  explicit path  >  $TUNEBENCH_DB  >  $XDG_DATA_HOME/Tunebench/tunebench.db
//              >  $HOME/.local/share/Tunebench/tunebench.db
//   workspace: the "runs" folder beside the database (…/Tunebench/runs/)
//
// XDG_DATA_HOME is used only when absolute, as the XDG Base Directory spec requires.
#pragma once

#include <cstdint>
#include <string>

namespace tb {

struct StorePaths {
    std::string database;
    std::string workspace;

    // Throws StoreError when neither a path, TUNEBENCH_DB, XDG_DATA_HOME nor HOME is set.
    static StorePaths resolve(const std::string& explicitDatabase = {});
    // The workspace that belongs to a database file: "<its folder>/runs".
    static std::string workspaceFor(const std::string& database);
    // A run folder inside the workspace: "<workspace>/<id>-<name reduced to [A-Za-z0-9._-]>".
    static std::string runFolder(const std::string& workspace, int64_t runId, const std::string& runName);
};

} // namespace tb
