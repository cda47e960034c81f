#include "core/ThreadSettings.h"

#include "core/AllocatorSettings.h"

#include <ATen/Parallel.h>

#include <thread>

namespace tb {

int configureThreads(int requested)
{
    tuneAllocatorForTensors();
    int n = requested;
    if (n <= 0)
        n = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    at::set_num_threads(n);
    return at::get_num_threads();
}

} // namespace tb
