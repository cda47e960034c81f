// The commands of tunebench-cli; each takes the arguments after its name and returns the
// process exit code (0 success, 1 failure with a message on stderr, 2 usage error).
#pragma once

#include <string>
#include <vector>

namespace tbcli {

int runMakeDemoModel(const std::vector<std::string>& args);
int runInspect(const std::vector<std::string>& args);
int runTokenize(const std::vector<std::string>& args);
int runGenerate(const std::vector<std::string>& args);
int runTrain(const std::vector<std::string>& args);
int runEval(const std::vector<std::string>& args);
int runMerge(const std::vector<std::string>& args);
int runExport(const std::vector<std::string>& args);
int runBench(const std::vector<std::string>& args);
int runRuns(const std::vector<std::string>& args);
int runDataset(const std::vector<std::string>& args);
int runEstimate(const std::vector<std::string>& args);
int runFit(const std::vector<std::string>& args);
int runReport(const std::vector<std::string>& args);
int runDownload(const std::vector<std::string>& args);

} // namespace tbcli
