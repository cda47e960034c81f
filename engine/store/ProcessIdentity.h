// Who owns a running run: a pid plus a marker of that process's start, so a pid the kernel
// has since given to another program is not taken for the owner still being alive.
// The marker is "<boot_id>:<starttime>" from /proc/sys/kernel/random/boot_id and field 22 of
// /proc/<pid>/stat (clock ticks after boot): unique per process across reboots. Where /proc
// is missing the marker is "" and only the pid is checked.
#pragma once

#include <cstdint>
#include <string>

namespace tb {

struct ProcessIdentity {
    int64_t pid = 0;
    std::string startMarker;

    static ProcessIdentity current();
    // "" when the process does not exist or /proc is unavailable.
    static std::string startMarkerOf(int64_t pid);
    // True when a process with this pid exists (a zombie counts as gone) and, where both
    // markers are known, it is the same process. An empty `startMarker` checks the pid alone.
    static bool isAlive(int64_t pid, const std::string& startMarker);
};

} // namespace tb
