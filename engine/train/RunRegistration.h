// How a training run gets its row in the experiment database, shared by the CLI and the GUI:
// the model and dataset are registered (path, architecture, content hash), the run is created
// with its full config and key columns, or, when resuming, the row of the run folder is found
// and continued from its latest checkpoint.
#pragma once

#include <cstdint>
#include <string>

namespace tb {

class RunStore;
struct TrainConfig;

// "<workspace>/<name>-20261129-031500" (name reduced to [A-Za-z0-9._-], "run" when empty;
// "-2", "-3", ... appended if taken): the run folder when the user names none.
std::string defaultRunFolder(const std::string& workspace, const std::string& name);

// Returns the run's id. The run's name: `name` when given, else config.name, else the run
// folder's name. config.outputDir, modelDir and dataPath should be absolute. A new run
// (not resume) whose output folder already holds a run is refused with a ConfigError naming
// "output_dir", whichever front end asks.
int64_t registerTrainingRun(RunStore& store, const TrainConfig& config, bool resume, const std::string& name);

} // namespace tb
