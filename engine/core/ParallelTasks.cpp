#include "core/ParallelTasks.h"

#include <ATen/Parallel.h>

namespace tb {

void runParallelTasks(int64_t tasks, int64_t grain, const std::function<void(int64_t, int64_t)>& body)
{
    at::parallel_for(0, tasks, grain, [&](int64_t begin, int64_t end) { body(begin, end); });
}

bool parallelTasksAreParallel()
{
#ifdef _OPENMP
    return true;
#else
    return false;
#endif
}

} // namespace tb
