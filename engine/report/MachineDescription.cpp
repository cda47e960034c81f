#include "report/MachineDescription.h"

#include "core/DeviceMemory.h"
#include "core/TorchCompat.h"
#include "core/UsableCores.h"

#include <sys/utsname.h>

#include <fstream>
#include <thread>

namespace tb {

namespace {

std::string cpuModelName()
{
    std::ifstream in("/proc/cpuinfo");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("model name", 0) != 0)
            continue;
        const size_t colon = line.find(':');
        if (colon == std::string::npos)
            continue;
        const size_t start = line.find_first_not_of(" \t", colon + 1);
        return start == std::string::npos ? std::string() : line.substr(start);
    }
    return {};
}

} // namespace

MachineDescription MachineDescription::current(const std::string& device, int requestedThreads)
{
    MachineDescription m;
    m.cpuModel = cpuModelName();
    if (m.cpuModel.empty())
        m.cpuModel = "unknown CPU";
    m.hardwareThreads = static_cast<int>(std::thread::hardware_concurrency());
    m.threadsUsed = requestedThreads > 0 ? requestedThreads : defaultThreadCount(); // as configureThreads
    m.device = device;
    try {
        const DeviceMemoryInfo info = deviceMemory(device);
        m.deviceName = info.name;
        m.deviceTotalBytes = info.totalBytes;
    } catch (const std::exception&) {
        m.deviceName = device + " (not available here)";
    }
    m.torchVersion = compat::torchVersion();
    m.tunebenchVersion = TUNEBENCH_VERSION;
    utsname u{};
    if (::uname(&u) == 0)
        m.system = std::string(u.sysname) + " " + u.release + " " + u.machine;
    return m;
}

std::string MachineDescription::summary() const
{
    std::string s = cpuModel + " (" + std::to_string(threadsUsed) + " of " + std::to_string(hardwareThreads) +
                    " threads), " + deviceName + ", LibTorch " + torchVersion + ", Tunebench " + tunebenchVersion;
    if (!system.empty())
        s += ", " + system;
    return s;
}

nlohmann::json MachineDescription::toJson() const
{
    return {{"cpu_model", cpuModel},       {"hardware_threads", hardwareThreads},
            {"threads_used", threadsUsed}, {"device", device},
            {"device_name", deviceName},   {"device_total_bytes", deviceTotalBytes},
            {"torch_version", torchVersion}, {"tunebench_version", tunebenchVersion},
            {"system", system}};
}

MachineDescription MachineDescription::fromJson(const nlohmann::json& j)
{
    MachineDescription m;
    m.cpuModel = j.value("cpu_model", "");
    m.hardwareThreads = j.value("hardware_threads", 0);
    m.threadsUsed = j.value("threads_used", 0);
    m.device = j.value("device", "");
    m.deviceName = j.value("device_name", "");
    m.deviceTotalBytes = j.value("device_total_bytes", int64_t{-1});
    m.torchVersion = j.value("torch_version", "");
    m.tunebenchVersion = j.value("tunebench_version", "");
    m.system = j.value("system", "");
    return m;
}

} // namespace tb
