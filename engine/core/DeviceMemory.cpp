#include "core/DeviceMemory.h"

#include "core/TorchCompat.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace tb {

namespace {

std::string readFile(const char* path)
{
    std::ifstream in(path);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

// cgroup v2 memory.max: a byte count, or "max" for no limit. -1 when absent or unlimited.
int64_t cgroupLimitBytes()
{
    std::string text = readFile("/sys/fs/cgroup/memory.max");
    if (text.empty() || text.rfind("max", 0) == 0)
        return -1;
    try {
        return static_cast<int64_t>(std::stoll(text));
    } catch (const std::exception&) {
        return -1;
    }
}

int64_t cgroupUsageBytes()
{
    std::string text = readFile("/sys/fs/cgroup/memory.current");
    try {
        return text.empty() ? -1 : static_cast<int64_t>(std::stoll(text));
    } catch (const std::exception&) {
        return -1;
    }
}

DeviceMemoryInfo cpuMemory()
{
    DeviceMemoryInfo info = parseMeminfo(readFile("/proc/meminfo"));
    const int64_t limit = cgroupLimitBytes();
    if (limit > 0 && (info.totalBytes < 0 || limit < info.totalBytes)) {
        info.totalBytes = limit;
        const int64_t used = cgroupUsageBytes();
        if (used >= 0 && (info.freeBytes < 0 || limit - used < info.freeBytes))
            info.freeBytes = std::max<int64_t>(0, limit - used);
    }
    return info;
}

} // namespace

DeviceMemoryInfo parseMeminfo(const std::string& text)
{
    DeviceMemoryInfo info;
    info.device = "cpu";
    info.name = "CPU (system RAM)";
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line)) {
        auto read = [&](const char* key, int64_t& out) {
            const std::string k(key);
            if (line.rfind(k, 0) != 0)
                return;
            std::istringstream value(line.substr(k.size()));
            int64_t kb = -1;
            if (value >> kb)
                out = kb * 1024;
        };
        read("MemTotal:", info.totalBytes);
        read("MemAvailable:", info.freeBytes);
    }
    return info;
}

std::vector<DeviceMemoryInfo> availableDevices()
{
    std::vector<DeviceMemoryInfo> devices{cpuMemory()};
    const int count = compat::cudaAvailable() ? compat::cudaDeviceCount() : 0;
    for (int i = 0; i < count; ++i) {
        const compat::CudaDeviceMemory cuda = compat::cudaDeviceMemory(i);
        DeviceMemoryInfo info;
        info.device = "cuda:" + std::to_string(i);
        info.name = cuda.name.empty() ? info.device : cuda.name;
        info.totalBytes = cuda.totalBytes;
        info.freeBytes = cuda.freeBytes;
        devices.push_back(info);
    }
    return devices;
}

DeviceMemoryInfo deviceMemory(const std::string& device)
{
    const std::string wanted = device == "cuda" ? "cuda:0" : device;
    for (const DeviceMemoryInfo& info : availableDevices())
        if (info.device == wanted)
            return info;
    throw std::invalid_argument("device '" + device + "' is not available here (devices: cpu" +
                                std::string(compat::cudaAvailable() ? ", cuda:N" : "") + ")");
}

} // namespace tb
