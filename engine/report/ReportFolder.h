// The report's folder on disk: report.md, report.html, report.json and the charts loss.png and
// memory.png, side by side so the pages' relative <img> links work wherever the folder is moved.
//
// Each file is written as "<name>.tmp" and renamed over its final name, so a reader (the GUI
// watching the folder, a browser) never sees half a file. Any thread; errors throw
// std::runtime_error naming the file.
#pragma once

#include "report/MethodReport.h"

#include <string>

namespace tb {

extern const char* const kReportMarkdownFile; // "report.md"
extern const char* const kReportHtmlFile;     // "report.html"
extern const char* const kReportJsonFile;     // "report.json"

// Throws std::runtime_error when `dir` cannot take a report: it is a file, or a folder that is
// not empty and `force` is false, or this build cannot draw the charts (no cairo). Writes nothing; the CLI calls it before the runs start.
void checkReportFolder(const std::string& dir, bool force);

// Creates `dir` (and its parents) when missing, sets report.outputDir to its absolute path and
// writes the five files. With `force` an existing folder's five files are replaced and any
// other file in it is left alone.
void writeReportFolder(MethodReport& report, const std::string& dir, bool force);

// report.json of a report folder (or the file itself). Throws std::runtime_error naming the
// file when it is missing or not JSON, std::invalid_argument when it is not a report.
MethodReport readReportFolder(const std::string& dirOrFile);

} // namespace tb
