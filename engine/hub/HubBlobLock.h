// An exclusive lock on one blob while it is downloaded: flock(LOCK_EX) on
// <cache>/.locks/<repo folder>/<etag>.lock, the same file and the same kind of lock
// huggingface_hub takes (filelock's UnixFileLock), so a Python download and ours, or two of
// ours, never append to one .incomplete file at once. The lock file stays behind, as
// huggingface_hub leaves it.
#pragma once

#include <functional>
#include <string>

namespace tb {

class HubBlobLock {
public:
    // Waits for the lock, polling every 100 ms; throws HubError(Cancelled) when `cancelled`
    // returns true meanwhile, HubError(Io) when the lock file cannot be opened.
    HubBlobLock(const std::string& path, const std::function<bool()>& cancelled);
    ~HubBlobLock();
    HubBlobLock(const HubBlobLock&) = delete;
    HubBlobLock& operator=(const HubBlobLock&) = delete;

private:
    int m_fd = -1;
};

} // namespace tb
