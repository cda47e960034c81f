#include "cli/TextFormat.h"

#include <iomanip>
#include <sstream>

namespace tbcli {

std::vector<std::string> splitCommaList(const std::string& text)
{
    std::vector<std::string> out;
    std::stringstream in(text);
    std::string item;
    while (std::getline(in, item, ','))
        if (!item.empty())
            out.push_back(item);
    return out;
}

std::string humanBytes(int64_t bytes)
{
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = static_cast<double>(bytes);
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        ++u;
    }
    std::ostringstream out;
    out << std::fixed << std::setprecision(u ? 1 : 0) << v << ' ' << units[u];
    return out.str();
}

} // namespace tbcli
