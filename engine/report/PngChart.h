// Two kinds of chart drawn with cairo into a PNG file, for the comparison report: lines over
// a numeric x axis (loss against step, one series per method) and stacked bars (peak memory
// by category, one bar per method). White background, axes with "nice" ticks and labels, a
// title and a legend; nothing Qt, so the CLI and a headless machine draw the same pictures.
//
// Any thread (each call owns its cairo surface). Errors (a path that cannot be written) throw
// std::runtime_error naming the file.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace tb {

struct ChartColour {
    double r = 0, g = 0, b = 0; // 0..1
};

// The i-th colour of a palette that stays distinguishable for colour-blind readers
// (Okabe-Ito); wraps around after 8.
ChartColour chartColour(size_t index);

struct LineSeries {
    std::string label;
    std::vector<std::pair<double, double>> points; // (x, y), drawn in order; non-finite y skipped
    ChartColour colour;
    bool dashed = false;
    bool markers = false;  // a dot at each point (for sparse series such as validation loss)
};

struct LineChart {
    std::string title, xLabel, yLabel;
    std::vector<LineSeries> series;
};

struct StackedBar {
    std::string label;          // under the bar
    std::vector<double> values; // one per segment, bottom first; negative values count as 0
    std::string annotation;     // above the bar (e.g. its total); "" for none
    bool hatched = false;       // drawn with diagonal lines: an estimated, not measured, bar
};

struct StackedBarChart {
    std::string title, yLabel;
    std::vector<std::string> segmentLabels; // legend, bottom segment first
    std::vector<StackedBar> bars;
};

constexpr int kChartWidth = 1200;
constexpr int kChartHeight = 700;

// An empty chart (no series or no finite point) still gets axes, title and a "no data" line.
void writeLineChartPng(const LineChart& chart, const std::string& path, int width = kChartWidth,
                       int height = kChartHeight);
void writeStackedBarChartPng(const StackedBarChart& chart, const std::string& path, int width = kChartWidth,
                             int height = kChartHeight);

// False in an engine-only build made without cairo (engine/CMakeLists.txt): the write functions
// then throw, and `tunebench-cli report` refuses before training anything.
bool pngChartsAvailable();

// Tick positions covering [low, high] at a 1, 2 or 5 x 10^k step, about `count` of them.
std::vector<double> niceTicks(double low, double high, int count);

} // namespace tb
