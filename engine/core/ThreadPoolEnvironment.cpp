#include "core/ThreadPoolEnvironment.h"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>

namespace tb {

namespace {

// Set by the process for the copy it starts: guards against a second exec whatever happens.
constexpr const char* kMarker = "TUNEBENCH_THREAD_ENV";

const char* envOrNull(const char* name)
{
    const char* v = std::getenv(name);
    return v && *v ? v : nullptr;
}

} // namespace

void ensureThreadPoolEnvironment(char** argv)
{
    if (envOrNull("OMP_WAIT_POLICY") || envOrNull("GOMP_SPINCOUNT") || envOrNull(kMarker))
        return;
    ::setenv("GOMP_SPINCOUNT", std::to_string(kGompSpinCount).c_str(), 1);
    ::setenv(kMarker, "1", 1);
    ::execv("/proc/self/exe", argv);
    std::cerr << "warning: cannot restart with GOMP_SPINCOUNT set (" << std::strerror(errno)
              << "); worker threads spin for libgomp's default time\n";
}

std::string threadWaitPolicy()
{
    std::string s;
    for (const char* name : {"OMP_WAIT_POLICY", "GOMP_SPINCOUNT"})
        if (const char* v = envOrNull(name))
            s += std::string(s.empty() ? "" : " ") + name + "=" + v;
    return s.empty() ? "libgomp default" : s;
}

} // namespace tb
