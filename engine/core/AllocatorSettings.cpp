#include "core/AllocatorSettings.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace tb {

void tuneAllocatorForTensors()
{
#if defined(__GLIBC__)
    static const bool done = [] {
        mallopt(M_MMAP_THRESHOLD, 1 << 30);  // large blocks from the heap, not fresh mappings
        mallopt(M_TRIM_THRESHOLD, 1 << 30);  // keep freed memory for the next step
        mallopt(M_TOP_PAD, 64 << 20);        // grow the heap in 64 MiB steps
        return true;
    }();
    (void)done;
#endif
}

} // namespace tb
