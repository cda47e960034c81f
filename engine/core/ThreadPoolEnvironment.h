// How the engine's worker threads wait between parallel regions, set before the OpenMP
// runtime starts.
//
// LibTorch's intra-op pool (and oneDNN's) is GNU OpenMP (libgomp). Between two parallel
// regions each worker spins before it sleeps: 300,000 rounds by default, milliseconds on this
// machine. With the machine to itself that hides the wake-up latency; with another busy
// process on the same cores a spinning worker holds a core its own team's straggler needs,
// and each region waits for the scheduler: two `bench` runs on 2 cores went from 864 tokens/s
// alone to 35 each (docs/measurements.md, "Shared CPU"). OMP_WAIT_POLICY=passive (sleep at
// once) cures that but costs a third of the speed alone. A short spin
// (GOMP_SPINCOUNT=kGompSpinCount) keeps the speed alone and shares the cores.
//
// libgomp reads these variables once, when it is loaded, before main() runs; so the process
// sets them and executes itself again (execv of /proc/self/exe, same arguments), once. A value
// the user set (OMP_WAIT_POLICY or GOMP_SPINCOUNT) is kept as it is. Child processes inherit
// the environment, so the runs the workbench starts need no second start.
#pragma once

#include <string>

namespace tb {

// Rounds of spinning before a waiting worker sleeps (libgomp's GOMP_SPINCOUNT).
constexpr long kGompSpinCount = 30000;

// First thing in main(): returns when the environment is in place (already so, or set by the
// user); otherwise sets it and replaces the process with a fresh copy of itself. If that exec
// fails, a warning goes to stderr and the process continues with libgomp's defaults.
void ensureThreadPoolEnvironment(char** argv);

// "GOMP_SPINCOUNT=30000", "OMP_WAIT_POLICY=passive", ... or "libgomp default": what this
// process's pool was started with, for reports and `bench --json`.
std::string threadWaitPolicy();

} // namespace tb
