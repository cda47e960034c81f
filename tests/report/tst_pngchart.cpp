// The report's charts as files: each is a PNG that cairo decodes back, of the asked size, with
// its series drawn in their palette colours (not a blank canvas), and a chart that cannot be
// written says which file.
#include "report/PngChart.h"

#include <cairo.h>

#include <QTemporaryDir>
#include <QTest>

#include <cmath>
#include <cstdint>

namespace {

struct Decoded {
    int width = 0, height = 0;
    long nonWhite = 0;    // pixels that are not the white background
    long paletteHits = 0; // pixels within a small distance of the colour asked about
};

Decoded decode(const QString& path, const tb::ChartColour& colour)
{
    Decoded d;
    cairo_surface_t* s = cairo_image_surface_create_from_png(path.toLocal8Bit().constData());
    if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(s);
        return d;
    }
    d.width = cairo_image_surface_get_width(s);
    d.height = cairo_image_surface_get_height(s);
    const int stride = cairo_image_surface_get_stride(s);
    const unsigned char* data = cairo_image_surface_get_data(s);
    const int r = static_cast<int>(std::lround(colour.r * 255)), g = static_cast<int>(std::lround(colour.g * 255)),
              b = static_cast<int>(std::lround(colour.b * 255));
    for (int y = 0; y < d.height; ++y)
        for (int x = 0; x < d.width; ++x) {
            // CAIRO_FORMAT_ARGB32 / RGB24: native-endian 32-bit 0xAARRGGBB.
            const uint32_t px = *reinterpret_cast<const uint32_t*>(data + y * stride + x * 4);
            const int pr = (px >> 16) & 0xff, pg = (px >> 8) & 0xff, pb = px & 0xff;
            if (pr != 255 || pg != 255 || pb != 255)
                ++d.nonWhite;
            if (std::abs(pr - r) <= 3 && std::abs(pg - g) <= 3 && std::abs(pb - b) <= 3)
                ++d.paletteHits;
        }
    cairo_surface_destroy(s);
    return d;
}

} // namespace

class TestPngChart : public QObject {
    Q_OBJECT
private:
    QTemporaryDir m_tmp;

private Q_SLOTS:
    void lineChartIsAPngOfTheAskedSizeWithItsLines()
    {
        tb::LineChart chart{"Training and validation loss", "step", "loss", {}};
        tb::LineSeries train{"LoRA training", {}, tb::chartColour(0), false, false};
        tb::LineSeries val{"LoRA validation", {}, tb::chartColour(1), true, true};
        for (int step = 1; step <= 50; ++step)
            train.points.emplace_back(step, 8.0 * std::exp(-step / 20.0) + 1);
        for (int step = 10; step <= 50; step += 10)
            val.points.emplace_back(step, 8.0 * std::exp(-step / 25.0) + 1.2);
        train.points.emplace_back(51, NAN); // a non-finite loss leaves a gap, not a crash
        chart.series = {train, val};
        const QString path = m_tmp.filePath("loss.png");
        tb::writeLineChartPng(chart, path.toStdString());

        const Decoded d = decode(path, tb::chartColour(0));
        QCOMPARE(d.width, 1200);
        QCOMPARE(d.height, 700);
        QVERIFY2(d.nonWhite > 5000, qPrintable(QString::number(d.nonWhite)));
        QVERIFY2(d.paletteHits > 300, "the training line is drawn in its colour");
        QVERIFY(decode(path, tb::chartColour(1)).paletteHits > 100); // validation dashes and dots

        // Another size is honoured.
        const QString small = m_tmp.filePath("small.png");
        tb::writeLineChartPng(chart, small.toStdString(), 640, 400);
        const Decoded s = decode(small, tb::chartColour(0));
        QCOMPARE(s.width, 640);
        QCOMPARE(s.height, 400);
    }

    void stackedBarChartDrawsEverySegment()
    {
        tb::StackedBarChart chart{"Peak memory by category", "MiB",
                                  {"base weights", "adapter weights", "gradients", "optimizer state", "rest"}, {}};
        chart.bars.push_back({"LoRA", {7.5, 0.4, 0.4, 0.8, 300}, "309 MiB", false});
        chart.bars.push_back({"QLoRA", {3.4, 0.4, 0.4, 0.8, 290}, "295 MiB", false});
        chart.bars.push_back({"full", {15.1, 0, 15.1, 30.2, 320}, "380 MiB (estimated)", true});
        const QString path = m_tmp.filePath("memory.png");
        tb::writeStackedBarChartPng(chart, path.toStdString());
        const Decoded d = decode(path, tb::chartColour(4)); // the "rest" segment, the tallest
        QCOMPARE(d.width, 1200);
        QCOMPARE(d.height, 700);
        QVERIFY2(d.paletteHits > 20000, qPrintable(QString::number(d.paletteHits)));
        QVERIFY(decode(path, tb::chartColour(3)).paletteHits > 500); // optimizer state
    }

    void emptyChartStillHasAxesAndTitle()
    {
        const QString path = m_tmp.filePath("empty.png");
        tb::writeLineChartPng({"Nothing yet", "step", "loss", {}}, path.toStdString());
        const Decoded d = decode(path, tb::chartColour(0));
        QCOMPARE(d.width, 1200);
        QVERIFY(d.nonWhite > 500);
        QCOMPARE(d.paletteHits, 0L);
    }

    void unwritablePathNamesTheFile()
    {
        const std::string path = m_tmp.filePath("no-such-folder/loss.png").toStdString();
        try {
            tb::writeLineChartPng({"t", "x", "y", {}}, path);
            QFAIL("expected an error");
        } catch (const std::runtime_error& e) {
            QVERIFY2(std::string(e.what()).find(path) != std::string::npos, e.what());
        }
    }

    void niceTicksCoverTheRangeInRoundSteps()
    {
        const std::vector<double> t = tb::niceTicks(0.37, 8.2, 6);
        QVERIFY(t.size() >= 4 && t.size() <= 12);
        QVERIFY(t.front() <= 0.37);
        QVERIFY(t.back() >= 8.2);
        const double step = t[1] - t[0];
        QCOMPARE(step, 2.0);
        for (size_t i = 1; i < t.size(); ++i)
            QVERIFY(std::fabs((t[i] - t[i - 1]) - step) < 1e-9);
    }
};

QTEST_GUILESS_MAIN(TestPngChart)
#include "tst_pngchart.moc"
