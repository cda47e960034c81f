// The devices a run can use and how much memory each has: what the new-run form's device
// chooser lists, what the memory inspector and the estimator compare against.
//
// CPU: system RAM from /proc/meminfo (MemTotal, and MemAvailable as "free": page cache the
// kernel can drop counts as free), capped by the memory cgroup's limit when the process runs
// in a container with a smaller one (cgroup v2 memory.max or v1 memory.limit_in_bytes, the
// tightest on the path from the process's group to the root). CUDA: the driver's
// cudaMemGetInfo, so memory other processes hold on the card is not free.
//
// Thread contract: any thread; every call reads /proc, /sys or the driver afresh (a CUDA
// query creates the device's context the first time), so the GUI calls it off its thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tb {

struct DeviceMemoryInfo {
    std::string device;      // "cpu", "cuda:0", ... (TrainConfig::device spelling)
    std::string name;        // "CPU (system RAM)", "NVIDIA H200"
    int64_t totalBytes = -1; // -1: unknown
    int64_t freeBytes = -1;  // -1: unknown
};

// "cpu" first, then every CUDA device LibTorch sees (none on a CPU-only LibTorch).
std::vector<DeviceMemoryInfo> availableDevices();

// One device by its TrainConfig spelling ("cpu", "cuda", "cuda:1"); queries only that device.
// Throws std::invalid_argument naming the device when it is not one of availableDevices().
DeviceMemoryInfo deviceMemory(const std::string& device);

// Parses /proc/meminfo-formatted text ("MemTotal:  16314960 kB" lines) into total and
// available bytes (-1 where a key is missing; MemFree stands in for a missing MemAvailable,
// which kernels before 3.14 lack); exposed so tests can feed fixed text.
DeviceMemoryInfo parseMeminfo(const std::string& text);

// The memory cgroup limit over a process whose /proc/self/cgroup reads `procCgroup`, looked up
// under `cgroupRoot` (normally /sys/fs/cgroup): the tightest limit on the path from the
// process's group up to the hierarchy's root (a group path missing under the root, as in a
// container without its own cgroup namespace, falls back to the nearest existing ancestor),
// and the bytes in use in that group that the kernel cannot simply drop (usage minus inactive
// page cache). v1 (the "memory" controller's hierarchy) is used when present, else v2.
struct CgroupMemoryLimit {
    int64_t limitBytes = -1; // -1: none ("max"); v1's "unlimited" (near 2^63) comes back as read
    int64_t usedBytes = -1;  // -1: unknown
};
CgroupMemoryLimit cgroupMemoryLimit(const std::string& procCgroup, const std::string& cgroupRoot);

} // namespace tb
