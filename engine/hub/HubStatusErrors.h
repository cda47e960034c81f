// What a refusal by the Hub means to the user: the HTTP status and the Hub's X-Error-Code
// (RepoNotFound, RevisionNotFound, EntryNotFound, GatedRepo) turned into a HubError whose
// message says what to do. HubClient passes the result through its redaction before throwing.
#pragma once

#include "hub/HubEnvironment.h"
#include "hub/HubError.h"
#include "hub/HubRepo.h"

#include <string>

namespace tb {

struct HubRefusal {
    long status = 0;
    std::string errorCode;    // X-Error-Code, "" when absent
    std::string errorMessage; // X-Error-Message, already redacted; "" when absent
};

// The file list (GET /api/.../revision/{rev}) answered something other than 200.
HubError hubListingError(const HubRefusal& refusal, const HubEnvironment& env, const HubRepoId& repo,
                         const std::string& revision);
// A file's HEAD answered 4xx.
HubError hubFileError(const HubRefusal& refusal, const HubEnvironment& env, const HubRepoId& repo,
                      const std::string& commit, const std::string& path);

} // namespace tb
