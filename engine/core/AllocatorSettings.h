// glibc malloc settings for tensor workloads. By default glibc serves blocks over 128 KiB with
// mmap and gives them back on free, so every activation-sized tensor of every step costs fresh
// page faults (measured here: a decoder layer's attention 20 ms -> 10 ms once memory is kept
// and reused). Called once by the mains and the trainer; a no-op off glibc.
#pragma once

namespace tb {

void tuneAllocatorForTensors();

} // namespace tb
