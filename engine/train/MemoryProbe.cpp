#include "train/MemoryProbe.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>

namespace tb {

int64_t MemorySample::peakBytes() const
{
    return onCuda() ? std::max(cudaPeakAllocatedBytes, cudaAllocatedBytes) : std::max(peakResidentBytes, residentBytes);
}

int64_t MemorySample::tensorBytes() const
{
    int64_t sum = 0;
    for (int64_t part : {baseWeightBytes, adapterBytes, gradientBytes, optimizerBytes})
        sum += std::max<int64_t>(0, part); // < 0: not recorded (a sample read back from the database)
    return sum;
}

ProcessMemory processMemory()
{
    ProcessMemory m;
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line)) {
        // Lines look like "VmRSS:	  123456 kB".
        auto read = [&](const char* key, int64_t& out) {
            if (line.rfind(key, 0) != 0)
                return;
            std::istringstream in(line.substr(std::string(key).size()));
            int64_t kb = 0;
            in >> kb;
            out = kb * 1024;
        };
        read("VmRSS:", m.residentBytes);
        read("VmHWM:", m.peakResidentBytes);
    }
    return m;
}

bool resetPeakResident()
{
    std::ofstream clearRefs("/proc/self/clear_refs");
    clearRefs << "5";
    clearRefs.flush();
    return static_cast<bool>(clearRefs);
}

} // namespace tb
