#include "report/ReportFolder.h"

#include "report/PngChart.h"
#include "report/ReportDocument.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <system_error>

namespace fs = std::filesystem;

namespace tb {

const char* const kReportMarkdownFile = "report.md";
const char* const kReportHtmlFile = "report.html";
const char* const kReportJsonFile = "report.json";

namespace {

std::string temporaryName(const fs::path& path)
{
    return path.string() + ".tmp";
}

void commit(const std::string& temporary, const fs::path& path)
{
    std::error_code ec;
    fs::rename(temporary, path, ec);
    if (ec) {
        fs::remove(temporary, ec);
        throw std::runtime_error(path.string() + ": cannot write it (" + ec.message() + ")");
    }
}

void writeText(const fs::path& path, const std::string& text)
{
    const std::string temporary = temporaryName(path);
    {
        std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
        if (!out)
            throw std::runtime_error(path.string() + ": cannot write it");
        out << text;
        out.flush();
        if (!out)
            throw std::runtime_error(path.string() + ": writing failed (disk full?)");
    }
    commit(temporary, path);
}

template <typename Chart, typename Writer>
void writeChart(const fs::path& path, const Chart& chart, Writer write)
{
    const std::string temporary = temporaryName(path);
    write(chart, temporary, kChartWidth, kChartHeight);
    commit(temporary, path);
}

} // namespace

void checkReportFolder(const std::string& dir, bool force)
{
    if (dir.empty())
        throw std::runtime_error("no report folder given");
    if (!pngChartsAvailable())
        throw std::runtime_error(dir + ": cannot write a report: this build of Tunebench has no cairo for its charts "
                                       "(an engine-only build on a machine without libcairo2-dev)");
    std::error_code ec;
    const fs::file_status status = fs::status(dir, ec);
    if (!fs::exists(status))
        return;
    if (!fs::is_directory(status))
        throw std::runtime_error(dir + ": exists and is not a folder");
    if (!force && !fs::is_empty(dir, ec))
        throw std::runtime_error(dir + ": the folder is not empty (choose a new folder, or pass --force to replace "
                                       "the report files in it)");
}

void writeReportFolder(MethodReport& report, const std::string& dir, bool force)
{
    checkReportFolder(dir, force);
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec)
        throw std::runtime_error(dir + ": cannot create the folder (" + ec.message() + ")");
    const fs::path root = fs::absolute(dir).lexically_normal();
    report.outputDir = root.string();
    writeChart(root / kReportLossChartFile, reportLossChart(report), writeLineChartPng);
    writeChart(root / kReportMemoryChartFile, reportMemoryChart(report), writeStackedBarChartPng);
    writeText(root / kReportJsonFile, report.toJson().dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
    writeText(root / kReportMarkdownFile, reportMarkdown(report));
    writeText(root / kReportHtmlFile, reportHtml(report));
}

MethodReport readReportFolder(const std::string& dirOrFile)
{
    fs::path path = dirOrFile;
    std::error_code ec;
    if (fs::is_directory(path, ec))
        path /= kReportJsonFile;
    std::ifstream in(path, std::ios::binary);
    if (!in)
        throw std::runtime_error(path.string() + ": cannot read it");
    const nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
    if (j.is_discarded())
        throw std::runtime_error(path.string() + ": not valid JSON");
    return MethodReport::fromJson(j, path.string());
}

} // namespace tb
