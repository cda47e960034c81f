#include "core/ThreadSettings.h"

#include "core/AllocatorSettings.h"
#include "core/UsableCores.h"

#include <ATen/Parallel.h>

namespace tb {

int configureThreads(int requested)
{
    tuneAllocatorForTensors();
    int n = requested;
    if (n <= 0)
        n = defaultThreadCount();
    at::set_num_threads(n);
    return at::get_num_threads();
}

} // namespace tb
