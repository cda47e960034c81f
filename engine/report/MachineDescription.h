// The machine a report was measured on, as the report prints it next to its figures:
// CPU model, hardware threads and the threads used, the device and its memory, the LibTorch and
// Tunebench versions, the operating system.
//
// Any thread. current() reads /proc/cpuinfo, uname and the device's memory (a CUDA query
// creates its context), so the GUI calls it off its thread.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace tb {

struct MachineDescription {
    std::string cpuModel;         // /proc/cpuinfo "model name"; "unknown CPU" when absent
    int hardwareThreads = 0;      // std::thread::hardware_concurrency()
    int threadsUsed = 0;          // what the runs were given (0 asked: all hardware threads)
    std::string device;           // "cpu", "cuda:0"
    std::string deviceName;       // "CPU (system RAM)", "NVIDIA H200"
    int64_t deviceTotalBytes = -1;
    std::string torchVersion;     // "1.13.0"
    std::string tunebenchVersion; // "0.1.0"
    std::string system;           // "Linux 6.1.0-18-amd64 x86_64"

    // requestedThreads as the request has it (0: all cores).
    static MachineDescription current(const std::string& device, int requestedThreads);

    // One line: "Intel(R) Xeon(R) ... (2 of 2 threads), cpu, LibTorch 1.13.0, Tunebench 0.1.0, Linux ..."
    std::string summary() const;
    nlohmann::json toJson() const;
    static MachineDescription fromJson(const nlohmann::json& j);
};

} // namespace tb
