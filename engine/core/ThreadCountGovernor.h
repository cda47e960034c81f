// Fits the intra-op thread count, between training steps, to the cores other processes leave
// free. A team of OpenMP threads waits at the end of every parallel region for its slowest
// member; when another busy process shares the cores, one member is always waiting for the
// scheduler and the team's spinning peers hold the core it needs: two training runs on two
// cores fell to a fifth of their speed each (docs/measurements.md, "Shared CPU"). With as many
// threads as there are free cores the team never waits for a core, and a run alone keeps all
// of them (and libgomp's default spinning, which makes it fastest alone).
//
// Free cores are measured, not guessed: the busy time of the CPUs in this process's affinity
// mask (/proc/stat's per-CPU lines) minus this process's own CPU time, over the last step, is
// what others used. threads = usable cores (core/UsableCores) minus others' share, rounded, at
// least 1; smoothed over steps, so one short burst elsewhere does not halve a run.
//
// Only for the default thread count: an explicit --threads is kept as given.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tb {

class ThreadCountGovernor {
public:
    // maxThreads: the count configureThreads chose (the usable cores).
    explicit ThreadCountGovernor(int maxThreads);

    // Between steps: measures the interval since the last call and sets LibTorch's thread count
    // for the next one (at::set_num_threads when it changes). Returns the count now in effect.
    int update();
    int threads() const { return m_threads; }
    // Others' busy cores over the last interval, smoothed (0 before the second update).
    double othersBusyCores() const { return m_othersSmoothed; }

    // The rule alone, for tests: the threads for `usable` cores when others keep `othersBusy`
    // cores busy on average.
    static int threadsFor(int maxThreads, int usable, double othersBusy);

    // Busy and total jiffies of the CPUs `cpus` in a /proc/stat text ("cpuN user nice system
    // idle iowait irq softirq steal ..."; busy excludes idle and iowait).
    struct CpuTimes {
        int64_t busy = 0;
        int64_t total = 0;
    };
    static CpuTimes cpuTimes(const std::string& procStat, const std::vector<int>& cpus);

private:
    int m_maxThreads;
    int m_threads;
    std::vector<int> m_cpus; // the affinity mask's CPUs
    bool m_primed = false;
    CpuTimes m_lastCpu;
    double m_lastSelfSeconds = 0;
    double m_othersSmoothed = 0;
};

} // namespace tb
