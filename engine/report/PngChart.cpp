#include "report/PngChart.h"

#ifdef TUNEBENCH_HAVE_CAIRO
#include <cairo.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <stdexcept>

namespace tb {

namespace {

double niceStep(double range, int count)
{
    if (!(range > 0))
        return 1;
    const double raw = range / std::max(count, 1);
    const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
    const double f = raw / magnitude;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * magnitude;
}

struct Axis {
    double low, high, step;
    double map(double v, double from, double to) const { return from + (v - low) / (high - low) * (to - from); }
};

// An axis over [low, high] extended to whole ticks; a single value gets room around it.
Axis makeAxis(double low, double high, int count, bool integerSteps)
{
    if (!(high > low)) {
        const double pad = low == 0 ? 1 : std::fabs(low) * 0.1;
        low -= pad;
        high += pad;
    }
    double step = niceStep(high - low, count);
    if (integerSteps)
        step = std::max(step, 1.0);
    return {std::floor(low / step + 1e-9) * step, std::ceil(high / step - 1e-9) * step, step};
}

} // namespace

ChartColour chartColour(size_t index)
{
    // Okabe & Ito (2008), "Color Universal Design": blue, vermillion, bluish green, orange,
    // reddish purple, sky blue, yellow, black.
    static const ChartColour palette[] = {{0.000, 0.447, 0.698}, {0.835, 0.369, 0.000}, {0.000, 0.620, 0.451},
                                          {0.902, 0.624, 0.000}, {0.800, 0.475, 0.655}, {0.337, 0.706, 0.914},
                                          {0.941, 0.894, 0.259}, {0.0, 0.0, 0.0}};
    return palette[index % 8];
}

std::vector<double> niceTicks(double low, double high, int count)
{
    const Axis axis = makeAxis(low, high, count, false);
    std::vector<double> ticks;
    for (double v = axis.low; v <= axis.high + axis.step * 1e-6; v += axis.step)
        ticks.push_back(std::fabs(v) < axis.step * 1e-9 ? 0 : v);
    return ticks;
}

#ifdef TUNEBENCH_HAVE_CAIRO

namespace {

// Layout in pixels: the title above, the axis labels left and below, the legend to the right.
constexpr double kLeft = 100, kTop = 64, kBottom = 76, kLegendWidth = 270;
constexpr double kTitleSize = 22, kLabelSize = 16, kTickSize = 13, kLegendSize = 14;

using Surface = std::unique_ptr<cairo_surface_t, decltype(&cairo_surface_destroy)>;
using Context = std::unique_ptr<cairo_t, decltype(&cairo_destroy)>;

struct Canvas {
    Surface surface;
    Context cr;
    int width, height;
    double plotLeft, plotTop, plotRight, plotBottom;

    Canvas(int w, int h)
        : surface(cairo_image_surface_create(CAIRO_FORMAT_ARGB32, w, h), &cairo_surface_destroy),
          cr(cairo_create(surface.get()), &cairo_destroy), width(w), height(h), plotLeft(kLeft), plotTop(kTop),
          plotRight(w - kLegendWidth), plotBottom(h - kBottom)
    {
        if (w < 400 || h < 300)
            throw std::invalid_argument("chart size " + std::to_string(w) + "x" + std::to_string(h) +
                                        " is below the 400x300 minimum");
        cairo_set_source_rgb(cr.get(), 1, 1, 1);
        cairo_paint(cr.get());
        cairo_select_font_face(cr.get(), "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    }
    cairo_t* c() const { return cr.get(); }
};

void setColour(cairo_t* cr, const ChartColour& colour, double alpha = 1)
{
    cairo_set_source_rgba(cr, colour.r, colour.g, colour.b, alpha);
}

// Text anchored at (x, y): ax 0 left / 0.5 centre / 1 right; ay the same for top..bottom.
void drawText(cairo_t* cr, const std::string& text, double x, double y, double size, double ax, double ay,
              bool bold = false, double angle = 0)
{
    cairo_save(cr);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL,
                           bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, size);
    cairo_text_extents_t e;
    cairo_text_extents(cr, text.c_str(), &e);
    cairo_translate(cr, x, y);
    cairo_rotate(cr, angle);
    cairo_move_to(cr, -e.x_bearing - e.width * ax, -e.y_bearing - e.height * ay);
    cairo_show_text(cr, text.c_str());
    cairo_restore(cr);
}

std::string tickText(double v, double step)
{
    if (std::fabs(v) < step * 1e-6)
        v = 0;
    // Enough decimals to tell neighbouring ticks apart, none beyond.
    const int decimals = step >= 1 ? 0 : static_cast<int>(std::ceil(-std::log10(step) - 1e-9));
    char buffer[48];
    std::snprintf(buffer, sizeof buffer, "%.*f", std::min(decimals, 8), v);
    return buffer;
}

void drawFrame(const Canvas& canvas, const std::string& title, const std::string& xLabel, const std::string& yLabel)
{
    cairo_t* cr = canvas.c();
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    drawText(cr, title, canvas.width / 2.0, 20, kTitleSize, 0.5, 0, true);
    if (!xLabel.empty())
        drawText(cr, xLabel, (canvas.plotLeft + canvas.plotRight) / 2, canvas.height - 14, kLabelSize, 0.5, 1);
    if (!yLabel.empty())
        drawText(cr, yLabel, 22, (canvas.plotTop + canvas.plotBottom) / 2, kLabelSize, 0.5, 0.5, false, -M_PI / 2);
}

void drawYAxis(const Canvas& canvas, const Axis& y)
{
    cairo_t* cr = canvas.c();
    cairo_set_line_width(cr, 1);
    for (double v = y.low; v <= y.high + y.step * 1e-6; v += y.step) {
        const double py = std::round(y.map(v, canvas.plotBottom, canvas.plotTop)) + 0.5;
        cairo_set_source_rgb(cr, 0.88, 0.88, 0.88); // grid line
        cairo_move_to(cr, canvas.plotLeft, py);
        cairo_line_to(cr, canvas.plotRight, py);
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
        cairo_move_to(cr, canvas.plotLeft - 6, py);
        cairo_line_to(cr, canvas.plotLeft, py);
        cairo_stroke(cr);
        drawText(cr, tickText(v, y.step), canvas.plotLeft - 10, py, kTickSize, 1, 0.5);
    }
}

void drawAxesLines(const Canvas& canvas)
{
    cairo_t* cr = canvas.c();
    cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
    cairo_set_line_width(cr, 1.5);
    cairo_move_to(cr, canvas.plotLeft, canvas.plotTop);
    cairo_line_to(cr, canvas.plotLeft, canvas.plotBottom);
    cairo_line_to(cr, canvas.plotRight, canvas.plotBottom);
    cairo_stroke(cr);
}

void hatch(cairo_t* cr, double x, double y, double w, double h)
{
    cairo_save(cr);
    cairo_rectangle(cr, x, y, w, h);
    cairo_clip(cr);
    cairo_set_source_rgba(cr, 1, 1, 1, 0.85);
    cairo_set_line_width(cr, 2);
    for (double d = -h; d < w; d += 10) {
        cairo_move_to(cr, x + d, y + h);
        cairo_line_to(cr, x + d + h, y);
    }
    cairo_stroke(cr);
    cairo_restore(cr);
}

enum class LegendMark { Line, DashedLine, Box, HatchedBox };

struct LegendEntry {
    std::string label;
    ChartColour colour;
    LegendMark mark;
};

void drawLegend(const Canvas& canvas, const std::vector<LegendEntry>& entries)
{
    cairo_t* cr = canvas.c();
    const double x = canvas.plotRight + 20;
    double y = canvas.plotTop + 6;
    for (const LegendEntry& e : entries) {
        setColour(cr, e.colour);
        switch (e.mark) {
        case LegendMark::Line:
        case LegendMark::DashedLine: {
            const double dash[] = {8, 5};
            cairo_set_dash(cr, dash, e.mark == LegendMark::DashedLine ? 2 : 0, 0);
            cairo_set_line_width(cr, 2.5);
            cairo_move_to(cr, x, y + 8);
            cairo_line_to(cr, x + 30, y + 8);
            cairo_stroke(cr);
            cairo_set_dash(cr, nullptr, 0, 0);
            break;
        }
        case LegendMark::Box:
        case LegendMark::HatchedBox:
            cairo_rectangle(cr, x + 4, y, 22, 16);
            cairo_fill(cr);
            if (e.mark == LegendMark::HatchedBox)
                hatch(cr, x + 4, y, 22, 16);
            break;
        }
        cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
        drawText(cr, e.label, x + 40, y + 8, kLegendSize, 0, 0.5);
        y += 26;
    }
}

void writePng(const Canvas& canvas, const std::string& path)
{
    cairo_surface_flush(canvas.surface.get());
    const cairo_status_t status = cairo_surface_write_to_png(canvas.surface.get(), path.c_str());
    if (status != CAIRO_STATUS_SUCCESS)
        throw std::runtime_error(path + ": cannot write the chart (" + cairo_status_to_string(status) + ")");
}

} // namespace

void writeLineChartPng(const LineChart& chart, const std::string& path, int width, int height)
{
    Canvas canvas(width, height);
    cairo_t* cr = canvas.c();
    double xLow = INFINITY, xHigh = -INFINITY, yLow = INFINITY, yHigh = -INFINITY;
    bool integerX = true;
    for (const LineSeries& s : chart.series)
        for (const auto& [x, y] : s.points) {
            if (!std::isfinite(x) || !std::isfinite(y))
                continue;
            xLow = std::min(xLow, x);
            xHigh = std::max(xHigh, x);
            yLow = std::min(yLow, y);
            yHigh = std::max(yHigh, y);
            integerX = integerX && x == std::floor(x);
        }
    drawFrame(canvas, chart.title, chart.xLabel, chart.yLabel);
    const bool empty = !(xLow <= xHigh);
    if (empty) {
        xLow = 0, xHigh = 1, yLow = 0, yHigh = 1;
    }
    const double yPad = (yHigh - yLow) * 0.05;
    const Axis x = makeAxis(xLow, xHigh, 8, integerX);
    const Axis y = makeAxis(yLow - yPad, yHigh + yPad, 6, false);
    drawYAxis(canvas, y);
    cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
    cairo_set_line_width(cr, 1);
    for (double v = x.low; v <= x.high + x.step * 1e-6; v += x.step) {
        const double px = std::round(x.map(v, canvas.plotLeft, canvas.plotRight)) + 0.5;
        cairo_move_to(cr, px, canvas.plotBottom);
        cairo_line_to(cr, px, canvas.plotBottom + 6);
        cairo_stroke(cr);
        drawText(cr, tickText(v, x.step), px, canvas.plotBottom + 10, kTickSize, 0.5, 0);
    }
    drawAxesLines(canvas);
    if (empty) {
        cairo_set_source_rgb(cr, 0.4, 0.4, 0.4);
        drawText(cr, "no data", (canvas.plotLeft + canvas.plotRight) / 2, (canvas.plotTop + canvas.plotBottom) / 2,
                 kLabelSize, 0.5, 0.5);
    }

    std::vector<LegendEntry> legend;
    cairo_save(cr);
    cairo_rectangle(cr, canvas.plotLeft, canvas.plotTop - 4, canvas.plotRight - canvas.plotLeft,
                    canvas.plotBottom - canvas.plotTop + 8);
    cairo_clip(cr);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    for (const LineSeries& s : chart.series) {
        legend.push_back({s.label, s.colour, s.dashed ? LegendMark::DashedLine : LegendMark::Line});
        setColour(cr, s.colour);
        const double dash[] = {8, 5};
        cairo_set_dash(cr, dash, s.dashed ? 2 : 0, 0);
        cairo_set_line_width(cr, 2.5);
        bool open = false;
        for (const auto& [px, py] : s.points) {
            if (!std::isfinite(px) || !std::isfinite(py)) {
                open = false; // a gap where the value is missing
                continue;
            }
            const double cx = x.map(px, canvas.plotLeft, canvas.plotRight);
            const double cy = y.map(py, canvas.plotBottom, canvas.plotTop);
            if (open)
                cairo_line_to(cr, cx, cy);
            else
                cairo_move_to(cr, cx, cy);
            open = true;
        }
        cairo_stroke(cr);
        cairo_set_dash(cr, nullptr, 0, 0);
        if (s.markers)
            for (const auto& [px, py] : s.points) {
                if (!std::isfinite(px) || !std::isfinite(py))
                    continue;
                cairo_arc(cr, x.map(px, canvas.plotLeft, canvas.plotRight), y.map(py, canvas.plotBottom, canvas.plotTop),
                          4.5, 0, 2 * M_PI);
                cairo_fill(cr);
            }
    }
    cairo_restore(cr);
    drawLegend(canvas, legend);
    writePng(canvas, path);
}

void writeStackedBarChartPng(const StackedBarChart& chart, const std::string& path, int width, int height)
{
    Canvas canvas(width, height);
    cairo_t* cr = canvas.c();
    double top = 0;
    for (const StackedBar& bar : chart.bars) {
        double total = 0;
        for (const double v : bar.values)
            total += std::isfinite(v) && v > 0 ? v : 0;
        top = std::max(top, total);
    }
    drawFrame(canvas, chart.title, "", chart.yLabel);
    // Room above the tallest bar for its annotation.
    const Axis y = makeAxis(0, top > 0 ? top * 1.08 : 1, 6, false);
    drawYAxis(canvas, y);
    drawAxesLines(canvas);
    const size_t n = chart.bars.size();
    const double slot = (canvas.plotRight - canvas.plotLeft) / static_cast<double>(std::max<size_t>(n, 1));
    const double barWidth = std::min(170.0, slot * 0.55);
    bool anyHatched = false;
    for (size_t i = 0; i < n; ++i) {
        const StackedBar& bar = chart.bars[i];
        const double left = canvas.plotLeft + slot * (static_cast<double>(i) + 0.5) - barWidth / 2;
        double base = 0;
        for (size_t k = 0; k < bar.values.size(); ++k) {
            const double v = std::isfinite(bar.values[k]) && bar.values[k] > 0 ? bar.values[k] : 0;
            if (v <= 0)
                continue;
            const double yTop = y.map(base + v, canvas.plotBottom, canvas.plotTop);
            const double yBottom = y.map(base, canvas.plotBottom, canvas.plotTop);
            setColour(cr, chartColour(k));
            cairo_rectangle(cr, left, yTop, barWidth, yBottom - yTop);
            cairo_fill(cr);
            if (bar.hatched)
                hatch(cr, left, yTop, barWidth, yBottom - yTop);
            base += v;
        }
        anyHatched = anyHatched || bar.hatched;
        const double barTop = y.map(base, canvas.plotBottom, canvas.plotTop);
        cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
        if (!bar.annotation.empty())
            drawText(cr, bar.annotation, left + barWidth / 2, barTop - 6, kTickSize, 0.5, 1);
        drawText(cr, bar.label, left + barWidth / 2, canvas.plotBottom + 12, kLabelSize, 0.5, 0);
    }
    std::vector<LegendEntry> legend;
    for (size_t k = 0; k < chart.segmentLabels.size(); ++k)
        legend.push_back({chart.segmentLabels[k], chartColour(k), LegendMark::Box});
    if (anyHatched)
        legend.push_back({"hatched: estimated", {0.5, 0.5, 0.5}, LegendMark::HatchedBox});
    drawLegend(canvas, legend);
    writePng(canvas, path);
}

bool pngChartsAvailable()
{
    return true;
}

#else // an engine-only build on a machine without libcairo2-dev (engine/CMakeLists.txt)

namespace {

[[noreturn]] void throwNoCairo(const std::string& path)
{
    throw std::runtime_error(path + ": cannot draw the chart: this build of Tunebench has no cairo "
                             "(an engine-only build on a machine without libcairo2-dev)");
}

} // namespace

void writeLineChartPng(const LineChart&, const std::string& path, int, int)
{
    throwNoCairo(path);
}

void writeStackedBarChartPng(const StackedBarChart&, const std::string& path, int, int)
{
    throwNoCairo(path);
}

bool pngChartsAvailable()
{
    return false;
}

#endif

} // namespace tb
