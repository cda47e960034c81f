// Runs a kernel's independent tasks on LibTorch's intra-op threads.
//
// Why a file of its own: with LibTorch's OpenMP backend, at::parallel_for is a header template
// whose `#pragma omp parallel` is compiled into the caller. Compiled without -fopenmp (the
// engine's flags) the pragma is ignored and the loop runs on one thread, silently: the fused
// kernels measured the same with 1 and 2 threads until this existed. ParallelTasks.cpp alone is
// compiled with OpenMP (engine/CMakeLists.txt), so the one runtime LibTorch uses runs the tasks.
#pragma once

#include <cstdint>
#include <functional>

namespace tb {

// body(begin, end) over [0, tasks) in contiguous ranges, one per thread (at most
// at::get_num_threads(), at least `grain` tasks each); serial inside another parallel region.
void runParallelTasks(int64_t tasks, int64_t grain, const std::function<void(int64_t, int64_t)>& body);

// Whether this build runs runParallelTasks on more than one thread (OpenMP found at build time).
bool parallelTasksAreParallel();

} // namespace tb
