#include "core/ThreadCountGovernor.h"

#include "core/UsableCores.h"

#include <ATen/Parallel.h>

#include <sched.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

namespace tb {

namespace {

std::vector<int> affinityCpuList()
{
    std::vector<int> cpus;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        for (int i = 0; i < CPU_SETSIZE; ++i)
            if (CPU_ISSET(i, &set))
                cpus.push_back(i);
    return cpus;
}

std::string procStat()
{
    std::ifstream in("/proc/stat");
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

double processCpuSeconds()
{
    timespec ts {};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

} // namespace

ThreadCountGovernor::ThreadCountGovernor(int maxThreads)
    : m_maxThreads(std::max(1, maxThreads)), m_threads(std::max(1, maxThreads)), m_cpus(affinityCpuList())
{
}

int ThreadCountGovernor::threadsFor(int maxThreads, int usable, double othersBusy)
{
    const int free = static_cast<int>(std::lround(static_cast<double>(usable) - std::max(0.0, othersBusy)));
    return std::clamp(free, 1, std::max(1, maxThreads));
}

ThreadCountGovernor::CpuTimes ThreadCountGovernor::cpuTimes(const std::string& text, const std::vector<int>& cpus)
{
    CpuTimes t;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
        if (line.rfind("cpu", 0) != 0 || line.size() < 4 || !std::isdigit(static_cast<unsigned char>(line[3])))
            continue;
        std::istringstream fields(line);
        std::string name;
        fields >> name;
        const int cpu = std::atoi(name.c_str() + 3);
        if (!cpus.empty() && std::find(cpus.begin(), cpus.end(), cpu) == cpus.end())
            continue;
        int64_t v[8] = {};
        for (int64_t& x : v)
            fields >> x;
        const int64_t idle = v[3] + v[4]; // idle, iowait
        const int64_t total = v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
        t.busy += total - idle;
        t.total += total;
    }
    return t;
}

int ThreadCountGovernor::update()
{
    const CpuTimes now = cpuTimes(procStat(), m_cpus);
    const double self = processCpuSeconds();
    if (m_primed && now.total > m_lastCpu.total && !m_cpus.empty()) {
        // Jiffies across the mask's CPUs; one CPU's share of them is the interval's length.
        const double cpus = static_cast<double>(m_cpus.size());
        const double interval = static_cast<double>(now.total - m_lastCpu.total) / cpus; // jiffies per CPU
        const double hz = static_cast<double>(sysconf(_SC_CLK_TCK));
        const double busyCores = static_cast<double>(now.busy - m_lastCpu.busy) / interval;
        const double selfCores = (self - m_lastSelfSeconds) * hz / interval;
        const double others = std::max(0.0, busyCores - selfCores);
        m_othersSmoothed = 0.5 * m_othersSmoothed + 0.5 * others;
        const int next = threadsFor(m_maxThreads, defaultThreadCount(), m_othersSmoothed);
        if (next != m_threads) {
            at::set_num_threads(next);
            m_threads = next;
        }
    }
    m_primed = true;
    m_lastCpu = now;
    m_lastSelfSeconds = self;
    return m_threads;
}

} // namespace tb
