#include "core/DeviceMemory.h"

#include "core/TorchCompat.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace tb {

namespace {

std::string readFile(const std::string& path)
{
    std::ifstream in(path);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

// A file holding one byte count (memory.max, memory.current, ...). -1 when absent, "max" or
// not a number.
int64_t readBytes(const std::string& path)
{
    const std::string text = readFile(path);
    if (text.empty() || text.rfind("max", 0) == 0)
        return -1;
    try {
        return static_cast<int64_t>(std::stoll(text));
    } catch (const std::exception&) {
        return -1;
    }
}

// The value of `key` in memory.stat text ("inactive_file 12345" lines); 0 when missing.
int64_t statValue(const std::string& text, const std::string& key)
{
    std::istringstream lines(text);
    std::string name;
    int64_t value = 0;
    while (lines >> name >> value)
        if (name == key)
            return value;
    return 0;
}

// One cgroup hierarchy's file names: v2 keeps them in the unified tree, v1 in the memory
// controller's own tree, with hierarchical totals under total_*.
struct CgroupLayout {
    std::string mount, limitFile, usageFile, inactiveKey;
};

CgroupMemoryLimit tightestLimit(const CgroupLayout& layout, std::string group)
{
    CgroupMemoryLimit best;
    for (;;) {
        const std::string dir = layout.mount + (group == "/" ? std::string() : group);
        const int64_t limit = readBytes(dir + "/" + layout.limitFile);
        if (limit > 0 && (best.limitBytes < 0 || limit < best.limitBytes)) {
            best.limitBytes = limit;
            const int64_t usage = readBytes(dir + "/" + layout.usageFile);
            const int64_t inactive = statValue(readFile(dir + "/memory.stat"), layout.inactiveKey);
            best.usedBytes = usage < 0 ? -1 : std::max<int64_t>(0, usage - inactive);
        }
        if (group.empty() || group == "/")
            return best;
        const size_t slash = group.rfind('/');
        group = slash == 0 || slash == std::string::npos ? "/" : group.substr(0, slash);
    }
}

DeviceMemoryInfo cpuMemory()
{
    DeviceMemoryInfo info = parseMeminfo(readFile("/proc/meminfo"));
    const CgroupMemoryLimit cgroup = cgroupMemoryLimit(readFile("/proc/self/cgroup"), "/sys/fs/cgroup");
    if (cgroup.limitBytes > 0 && (info.totalBytes < 0 || cgroup.limitBytes < info.totalBytes)) {
        info.totalBytes = cgroup.limitBytes;
        if (cgroup.usedBytes >= 0) {
            const int64_t free = std::max<int64_t>(0, cgroup.limitBytes - cgroup.usedBytes);
            if (info.freeBytes < 0 || free < info.freeBytes)
                info.freeBytes = free;
        }
    }
    return info;
}

DeviceMemoryInfo cudaMemory(int index)
{
    const compat::CudaDeviceMemory cuda = compat::cudaDeviceMemory(index);
    DeviceMemoryInfo info;
    info.device = "cuda:" + std::to_string(index);
    info.name = cuda.name.empty() ? info.device : cuda.name;
    info.totalBytes = cuda.totalBytes;
    info.freeBytes = cuda.freeBytes;
    return info;
}

int cudaCount()
{
    return compat::cudaAvailable() ? compat::cudaDeviceCount() : 0;
}

} // namespace

DeviceMemoryInfo parseMeminfo(const std::string& text)
{
    DeviceMemoryInfo info;
    info.device = "cpu";
    info.name = "CPU (system RAM)";
    int64_t memFree = -1;
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
        read("MemFree:", memFree);
    }
    if (info.freeBytes < 0)
        info.freeBytes = memFree;
    return info;
}

CgroupMemoryLimit cgroupMemoryLimit(const std::string& procCgroup, const std::string& cgroupRoot)
{
    // Lines are "hierarchy-id:controllers:path": "0::/path" for v2, "4:memory:/path" (or a
    // comma-separated controller list holding memory) for v1's memory hierarchy.
    std::string v1Group, v2Group;
    bool haveV1 = false, haveV2 = false;
    std::istringstream lines(procCgroup);
    std::string line;
    while (std::getline(lines, line)) {
        const size_t first = line.find(':');
        const size_t second = first == std::string::npos ? std::string::npos : line.find(':', first + 1);
        if (second == std::string::npos)
            continue;
        const std::string controllers = line.substr(first + 1, second - first - 1);
        const std::string group = line.substr(second + 1);
        if (line.compare(0, first, "0") == 0 && controllers.empty()) {
            haveV2 = true;
            v2Group = group;
        }
        std::istringstream names(controllers);
        std::string name;
        while (std::getline(names, name, ','))
            if (name == "memory") {
                haveV1 = true;
                v1Group = group;
            }
    }
    if (haveV1)
        return tightestLimit({cgroupRoot + "/memory", "memory.limit_in_bytes", "memory.usage_in_bytes",
                              "total_inactive_file"},
                             v1Group);
    if (haveV2)
        return tightestLimit({cgroupRoot, "memory.max", "memory.current", "inactive_file"}, v2Group);
    return {};
}

std::vector<DeviceMemoryInfo> availableDevices()
{
    std::vector<DeviceMemoryInfo> devices{cpuMemory()};
    const int count = cudaCount();
    for (int i = 0; i < count; ++i)
        devices.push_back(cudaMemory(i));
    return devices;
}

DeviceMemoryInfo deviceMemory(const std::string& device)
{
    if (device == "cpu")
        return cpuMemory();
    // "cuda" is device 0, as LibTorch reads it; "cuda:N" needs N to be a plain index.
    const std::string prefix = "cuda:";
    int index = -1;
    if (device == "cuda") {
        index = 0;
    } else if (device.rfind(prefix, 0) == 0 && device.size() > prefix.size() && device.size() <= prefix.size() + 4 &&
               std::all_of(device.begin() + prefix.size(), device.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        index = std::stoi(device.substr(prefix.size()));
    }
    const int count = cudaCount();
    if (index >= 0 && index < count)
        return cudaMemory(index);
    throw std::invalid_argument("device '" + device + "' is not available here (devices: cpu" +
                                (count > 0 ? ", cuda:0" + (count > 1 ? "-" + std::to_string(count - 1) : std::string()) : std::string()) + ")");
}

} // namespace tb
