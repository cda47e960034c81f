#include "core/UsableCores.h"

#include <sched.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace tb {

namespace {

std::optional<std::string> readFile(const std::string& path)
{
    std::ifstream in(path);
    if (!in)
        return std::nullopt;
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

std::string trimmed(const std::string& s)
{
    const size_t a = s.find_first_not_of(" \t\r\n");
    const size_t b = s.find_last_not_of(" \t\r\n");
    return a == std::string::npos ? std::string() : s.substr(a, b - a + 1);
}

// "/a/b/c" -> {"/a/b/c", "/a/b", "/a", ""}: the cgroup and its ancestors, relative to a root.
std::vector<std::string> selfAndAncestors(std::string path)
{
    std::vector<std::string> out;
    while (!path.empty() && path.back() == '/')
        path.pop_back();
    for (;;) {
        out.push_back(path);
        if (path.empty())
            break;
        path = path.substr(0, path.rfind('/'));
    }
    return out;
}

void takeSmaller(CoreBudget& b, double cores, const std::string& file)
{
    if (!b.quota || cores < *b.quota) {
        b.quota = cores;
        b.quotaFile = file;
    }
}

// cgroup v1: cfs_quota_us of -1 is no limit.
std::optional<double> v1Quota(const std::string& dir)
{
    const auto quota = readFile(dir + "/cpu.cfs_quota_us");
    const auto period = readFile(dir + "/cpu.cfs_period_us");
    if (!quota || !period)
        return std::nullopt;
    try {
        const double q = std::stod(*quota), p = std::stod(*period);
        if (q <= 0 || p <= 0)
            return std::nullopt;
        return q / p;
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

int affinityCpus()
{
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0)
        return 1;
    return std::max(1, CPU_COUNT(&set));
}

} // namespace

std::optional<double> parseCgroupCpuMax(const std::string& text)
{
    std::istringstream in(text);
    std::string quota, period;
    if (!(in >> quota >> period))
        throw std::invalid_argument("cpu.max: expected \"QUOTA PERIOD\", got \"" + trimmed(text) + "\"");
    if (quota == "max")
        return std::nullopt;
    try {
        size_t used = 0;
        const double q = std::stod(quota, &used);
        const double p = std::stod(period);
        if (used != quota.size() || q <= 0 || p <= 0)
            throw std::invalid_argument("");
        return q / p;
    } catch (const std::exception&) {
        throw std::invalid_argument("cpu.max: expected \"QUOTA PERIOD\", got \"" + trimmed(text) + "\"");
    }
}

CoreBudget usableCores()
{
    return coreBudget(affinityCpus(), "/proc/self/cgroup", "/sys/fs/cgroup");
}

CoreBudget coreBudget(int affinity, const std::string& cgroupListFile, const std::string& cgroupRoot)
{
    CoreBudget b;
    b.affinityCpus = std::max(1, affinity);
    std::istringstream lines(readFile(cgroupListFile).value_or(""));
    for (std::string line; std::getline(lines, line);) {
        const size_t c1 = line.find(':');
        const size_t c2 = c1 == std::string::npos ? c1 : line.find(':', c1 + 1);
        if (c2 == std::string::npos)
            continue;
        const std::string controllers = line.substr(c1 + 1, c2 - c1 - 1);
        const std::string path = line.substr(c2 + 1);
        if (controllers.empty()) {
            for (const std::string& dir : selfAndAncestors(path)) {
                const std::string file = cgroupRoot + dir + "/cpu.max";
                const auto text = readFile(file);
                if (!text)
                    continue;
                try {
                    if (const auto cores = parseCgroupCpuMax(*text))
                        takeSmaller(b, *cores, file);
                } catch (const std::invalid_argument&) {
                    // An unreadable limit is no limit; the affinity mask still applies.
                }
            }
            continue;
        }
        std::istringstream names(controllers);
        bool cpu = false;
        for (std::string n; std::getline(names, n, ',');)
            cpu = cpu || n == "cpu";
        if (!cpu)
            continue;
        for (const std::string mount : {controllers, std::string("cpu"), std::string("cpu,cpuacct")})
            for (const std::string& dir : selfAndAncestors(path))
                if (const auto cores = v1Quota(cgroupRoot + "/" + mount + dir))
                    takeSmaller(b, *cores, cgroupRoot + "/" + mount + dir + "/cpu.cfs_quota_us");
    }
    b.usable = b.affinityCpus;
    if (b.quota)
        b.usable = std::min(b.usable, std::max(1, static_cast<int>(std::ceil(*b.quota - 1e-9))));
    return b;
}

int defaultThreadCount()
{
    static const int n = usableCores().usable;
    return n;
}

} // namespace tb
