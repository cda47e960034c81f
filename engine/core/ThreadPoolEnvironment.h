// How the engine's worker threads wait between parallel regions, set before the OpenMP
// runtime starts.
//
// LibTorch's intra-op pool (and oneDNN's) is GNU OpenMP (libgomp). Between two parallel
// regions each worker spins before it sleeps: 300,000 rounds by default, milliseconds on this
// machine. With the machine to itself that hides the wake-up latency; with another busy
// process on the same cores a spinning worker holds a core its own team's straggler needs,
// and each region waits for the scheduler: two `bench` runs on 2 cores at sequence 256 made
// 370 tokens/s together where one alone made 710 (docs/measurements.md, "Shared CPU").
// OMP_WAIT_POLICY=passive (sleep at once) makes 867 together but 558 alone. A short spin,
// GOMP_SPINCOUNT=kGompSpinCount, made 712 together and, alone, as much as the default within
// this machine's run-to-run noise. Training and bench also fit their thread count to the cores
// other processes leave free (core/ThreadCountGovernor); the short spin covers the rest: the
// first steps before the count adapts, an explicit --threads, and the workbench's own work.
//
// libgomp reads these variables once, when it is loaded, before main() runs; so the process
// sets them and executes itself again (execv of /proc/self/exe, same arguments), once. A value
// the user set (OMP_WAIT_POLICY or GOMP_SPINCOUNT) is kept as it is. Child processes inherit
// the environment, so the runs the workbench starts need no second start.
#pragma once

#include <string>

namespace tb {

// Rounds of spinning before a waiting worker sleeps (libgomp's GOMP_SPINCOUNT).
constexpr long kGompSpinCount = 2000;

// First thing in main(): returns when the environment is in place (already so, or set by the
// user); otherwise sets it and replaces the process with a fresh copy of itself. If that exec
// fails, a warning goes to stderr and the process continues with libgomp's defaults.
void ensureThreadPoolEnvironment(char** argv);

// "GOMP_SPINCOUNT=2000", "OMP_WAIT_POLICY=passive", ... or "libgomp default": what this
// process's pool was started with, for reports and `bench --json`.
std::string threadWaitPolicy();

} // namespace tb
