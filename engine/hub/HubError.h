// The one error the Hub download code throws. what() is a message for the user that says what
// went wrong and what to do about it (accept the terms, set HF_TOKEN, free space, ...); kind()
// lets a caller (the CLI's exit code, a test) tell the cases apart without parsing text.
//
// Invariant: no message ever contains the access token. Messages are built from repository
// ids, paths, URLs without credentials and HTTP status lines; text the server sends back
// (X-Error-Message) passes through HubClient's redaction first.
#pragma once

#include <stdexcept>
#include <string>

namespace tb {

class HubError : public std::runtime_error {
public:
    enum class Kind {
        NotFound,     // no such repository, revision or file (404, or 401 RepoNotFound)
        AccessDenied, // gated or private: 401 / 403
        Network,      // cannot connect to the endpoint, or the connection kept failing
        Server,       // the Hub answered 5xx / 429 after the retries, or something unexpected
        DiskSpace,    // not enough free space (checked before starting, and on ENOSPC)
        Checksum,     // the bytes do not match the ETag (SHA-256 or git blob SHA-1)
        Offline,      // HF_HUB_OFFLINE and the cache lacks what was asked for
        Refused,      // nothing Tunebench can use (pickle-only weights, no file selected)
        Cancelled,    // the cancel flag was set; partial files stay resumable
        InvalidInput, // a malformed repo id, revision or path (ours or the server's)
        Io,           // a local file could not be written, renamed or linked
    };

    HubError(Kind kind, const std::string& message) : std::runtime_error(message), m_kind(kind) {}

    Kind kind() const { return m_kind; }

private:
    Kind m_kind;
};

} // namespace tb
