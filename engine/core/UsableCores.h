// How many cores this process may use, as opposed to how many the machine has: the CPUs of
// its affinity mask (sched_getaffinity: taskset, numactl, a container's cpuset) capped by a
// CPU bandwidth quota (cgroup v2 `cpu.max`, cgroup v1 `cpu.cfs_quota_us / cpu.cfs_period_us`,
// the smallest along the cgroup's path up to the root): what `docker run --cpus 2`, Kubernetes
// CPU limits and systemd's CPUQuota set. A quota of 1.5 cores gives 2 (rounded up, as Java
// and .NET do): the second thread still gets half a core.
//
// Why it matters: the engine runs one intra-op thread per core and its thread pool spins
// while waiting; more threads than usable cores means threads spinning on cores that are
// running their peers (docs/measurements.md, shared CPU).
#pragma once

#include <optional>
#include <string>

namespace tb {

struct CoreBudget {
    int affinityCpus = 1;          // CPUs in this process's affinity mask
    std::optional<double> quota;   // cores allowed by the CPU bandwidth quota, when one is set
    std::string quotaFile;         // the file the quota came from
    int usable = 1;                // min(affinityCpus, ceil(quota)), at least 1
};

// This process's: its affinity mask, /proc/self/cgroup and /sys/fs/cgroup.
CoreBudget usableCores();

// The same from given inputs: the affinity mask's CPU count, a file in /proc/PID/cgroup's
// format ("ID:CONTROLLERS:PATH" lines; cgroup v2's is "0::PATH") and the cgroup mount root
// (v2 files directly under it, v1 under ROOT/cpu or ROOT/cpu,cpuacct).
CoreBudget coreBudget(int affinityCpus, const std::string& cgroupListFile, const std::string& cgroupRoot);

// cgroup v2 cpu.max ("QUOTA PERIOD" in microseconds, or "max PERIOD"): cores, or nullopt
// for no limit. Throws std::invalid_argument naming the text when it is neither.
std::optional<double> parseCgroupCpuMax(const std::string& text);

// The engine's default thread count: usableCores().usable, read once per process.
int defaultThreadCount();

} // namespace tb
