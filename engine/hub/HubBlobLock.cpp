#include "hub/HubBlobLock.h"

#include "hub/HubError.h"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

namespace tb {

HubBlobLock::HubBlobLock(const std::string& path, const std::function<bool()>& cancelled)
{
    m_fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (m_fd < 0)
        throw HubError(HubError::Kind::Io, path + ": cannot open the lock file (" + std::strerror(errno) + ")");
    while (::flock(m_fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno != EWOULDBLOCK && errno != EINTR) {
            const int e = errno;
            ::close(m_fd);
            throw HubError(HubError::Kind::Io, path + ": cannot lock (" + std::strerror(e) + ")");
        }
        if (cancelled && cancelled()) {
            ::close(m_fd);
            throw HubError(HubError::Kind::Cancelled, "cancelled while waiting for another download of the same file ("
                                                          + path + ")");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
}

HubBlobLock::~HubBlobLock()
{
    ::flock(m_fd, LOCK_UN);
    ::close(m_fd);
}

} // namespace tb
