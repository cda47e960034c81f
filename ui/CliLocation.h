// Where the workbench finds `tunebench-cli`, which trains every run (TrainingWorker) and each
// method of a comparison (MethodComparisonDialog) in a process of its own.
#pragma once

#include <QString>

// $TUNEBENCH_CLI when set (the tests point it at the build's), else tunebench-cli beside the
// running executable (the build folder, /usr/bin), else on PATH; "" when there is none.
QString tunebenchCliPath();
