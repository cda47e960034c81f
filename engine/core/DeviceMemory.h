// The devices a run can use and how much memory each has: what the new-run form's device
// chooser lists, what the memory inspector and the estimator compare against.
//
// CPU: system RAM from /proc/meminfo (MemTotal, and MemAvailable as "free": page cache the
// kernel can drop counts as free), capped by the cgroup v2 limit (memory.max) when the
// process runs in a container with a smaller one. CUDA: the driver's cudaMemGetInfo, so
// memory other processes hold on the card is not free.
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

// One device by its TrainConfig spelling ("cpu", "cuda", "cuda:1"). Throws
// std::invalid_argument naming the device when it is not one of availableDevices().
DeviceMemoryInfo deviceMemory(const std::string& device);

// Parses /proc/meminfo-formatted text ("MemTotal:  16314960 kB" lines) into total and
// available bytes (-1 where a key is missing); exposed so tests can feed fixed text.
DeviceMemoryInfo parseMeminfo(const std::string& text);

} // namespace tb
