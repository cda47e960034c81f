#include "store/ProcessIdentity.h"

#include <cerrno>
#include <fstream>
#include <sstream>

#include <signal.h>
#include <unistd.h>

namespace tb {

namespace {

std::string bootId()
{
    std::ifstream in("/proc/sys/kernel/random/boot_id");
    std::string id;
    std::getline(in, id);
    return id;
}

// /proc/<pid>/stat's state (field 3) and starttime (field 22); false when unreadable.
bool readStat(int64_t pid, char& state, std::string& startTime)
{
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(in, line))
        return false;
    // "pid (comm) state ppid ...": comm may hold spaces and ')', so fields are counted from
    // the last ')'. Field 3 (state) is the first after it.
    const size_t close = line.rfind(')');
    if (close == std::string::npos)
        return false;
    std::istringstream fields(line.substr(close + 1));
    std::string field;
    for (int index = 3; index <= 22; ++index) {
        if (!(fields >> field))
            return false;
        if (index == 3)
            state = field.empty() ? '?' : field[0];
    }
    startTime = field;
    return true;
}

} // namespace

ProcessIdentity ProcessIdentity::current()
{
    const auto pid = static_cast<int64_t>(::getpid());
    return {pid, startMarkerOf(pid)};
}

std::string ProcessIdentity::startMarkerOf(int64_t pid)
{
    char state = '?';
    std::string startTime;
    if (pid <= 0 || !readStat(pid, state, startTime))
        return {};
    return bootId() + ":" + startTime;
}

bool ProcessIdentity::isAlive(int64_t pid, const std::string& startMarker)
{
    if (pid <= 0)
        return false;
    // kill(pid, 0) delivers nothing; EPERM still means the process exists (another user's).
    if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno != EPERM)
        return false;
    char state = '?';
    std::string startTime;
    if (!readStat(pid, state, startTime))
        return true; // no /proc: the pid is all there is to go on
    // A killed owner whose parent has not reaped it yet is a zombie: it will write nothing more.
    if (state == 'Z' || state == 'X')
        return false;
    return startMarker.empty() || startMarker == bootId() + ":" + startTime;
}

} // namespace tb
