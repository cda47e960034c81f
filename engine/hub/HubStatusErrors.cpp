#include "hub/HubStatusErrors.h"

namespace tb {

namespace {

std::string hubSays(const std::string& message)
{
    return message.empty() ? std::string() : " (the Hub says: " + message.substr(0, 300) + ")";
}

std::string tokenPlaces(const HubEnvironment& env)
{
    return "HF_TOKEN (or write the token to " + env.home + "/token)";
}

} // namespace

HubError hubListingError(const HubRefusal& r, const HubEnvironment& env, const HubRepoId& repo, const std::string& revision)
{
    const std::string says = hubSays(r.errorMessage);
    const std::string where = env.endpoint + "/" + repo.urlPrefix();
    const std::string kind = hubRepoTypeName(repo.type);
    const std::string tokenHint = env.token.empty() ? " (if it is private, set " + tokenPlaces(env) + ")" : " that this token can read";
    const std::string typeHint = repo.type == HubRepoType::Model ? "; for a dataset add --repo-type dataset" : "";
    if (r.errorCode == "RevisionNotFound")
        return HubError(HubError::Kind::NotFound,
                        repo.id + " has no revision \"" + revision + "\" on " + env.endpoint + " (a branch, tag or commit hash)" + says);
    if (r.errorCode == "RepoNotFound")
        return HubError(HubError::Kind::NotFound, "no " + kind + " repository " + repo.id + " on " + env.endpoint + tokenHint + says + typeHint);
    if (r.status == 404)
        return HubError(HubError::Kind::NotFound, "no " + kind + " repository " + repo.id + " with a revision \"" + revision + "\" on "
                                                      + env.endpoint + tokenHint + says + typeHint);
    if (r.status == 401 || r.status == 403 || r.errorCode == "GatedRepo")
        return HubError(HubError::Kind::AccessDenied, repo.id + ": access refused (" + std::to_string(r.status)
                                                          + "): the repository is gated or private. Accept its terms at " + where
                                                          + " and set " + tokenPlaces(env) + " to a token of an account with access" + says);
    return HubError(HubError::Kind::Server, where + ": unexpected answer " + std::to_string(r.status) + says);
}

HubError hubFileError(const HubRefusal& r, const HubEnvironment& env, const HubRepoId& repo, const std::string& commit,
                      const std::string& path)
{
    const std::string says = hubSays(r.errorMessage);
    const std::string where = env.endpoint + "/" + repo.urlPrefix();
    if (r.status == 404 || r.errorCode == "EntryNotFound" || r.errorCode == "RepoNotFound" || r.errorCode == "RevisionNotFound")
        return HubError(HubError::Kind::NotFound, path + " not found in " + repo.id + " at " + commit + says);
    if (r.status == 401)
        return HubError(HubError::Kind::AccessDenied,
                        repo.id + " is gated or private and "
                            + (env.token.empty() ? std::string("no token is set (401). ") : "the token was not accepted (401). ")
                            + "Accept its terms at " + where + " (logged in), then set " + tokenPlaces(env) + says);
    if (r.status == 403)
        return HubError(HubError::Kind::AccessDenied,
                        repo.id + ": access refused (403): the repository is gated and the token's account has not been granted "
                            + "access yet, or the token lacks read permission. Accept its terms at " + where
                            + " with the account of the token in " + (env.tokenSource.empty() ? "HF_TOKEN" : env.tokenSource) + says);
    return HubError(HubError::Kind::Server, where + ": unexpected answer " + std::to_string(r.status) + " for " + path + says);
}

} // namespace tb
