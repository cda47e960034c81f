// A MethodReport as documents: Markdown and HTML pages (the table, the two charts, how each
// figure was obtained, the runs, the exact commands, the machine) and the two charts as cairo
// PNGs (training/validation loss against step for every method; peak memory by category per
// method). The pages refer to the charts by the file names below, which ReportFolder writes
// beside them.
//
// No Qt, no database; any thread.
#pragma once

#include "report/MethodReport.h"
#include "report/PngChart.h"

#include <string>

namespace tb {

extern const char* const kReportLossChartFile;   // "loss.png"
extern const char* const kReportMemoryChartFile; // "memory.png"

std::string reportMarkdown(const MethodReport& report);
// A complete HTML5 page, its style inline (no external files but the two PNGs).
std::string reportHtml(const MethodReport& report);

// Training loss (solid) and validation loss (dashed, dots) against step, one colour per method.
LineChart reportLossChart(const MethodReport& report);
// One bar per method: base weights, adapter weights, gradients, optimizer state, activations
// and runtime, stacked to the peak; bars from estimates are hatched. In MiB, or GiB when the
// largest peak is 4 GiB or more.
StackedBarChart reportMemoryChart(const MethodReport& report);

} // namespace tb
