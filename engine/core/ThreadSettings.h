// LibTorch starts with a single intra-op thread on this platform; the engine uses every core
// this process may use (core/UsableCores: affinity mask and CPU quota, not the machine's core
// count) unless the user asks for fewer.
#pragma once

namespace tb {

// requested <= 0 means every usable core. Returns the thread count now in effect. Also applies
// tuneAllocatorForTensors(): every entry point calls this first.
int configureThreads(int requested);

} // namespace tb
