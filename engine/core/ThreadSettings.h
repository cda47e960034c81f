// LibTorch starts with a single intra-op thread on this platform; the engine uses every core
// unless the user asks for fewer.
#pragma once

namespace tb {

// requested <= 0 means all cores. Returns the thread count now in effect. Also applies
// tuneAllocatorForTensors(): every entry point calls this first.
int configureThreads(int requested);

} // namespace tb
