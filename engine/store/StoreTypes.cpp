#include "store/StoreTypes.h"

#include <array>
#include <stdexcept>
#include <utility>

namespace tb {

namespace {

// The spellings are the schema's CHECK constraints; keep them in step with StoreSchema.cpp.
constexpr std::array<std::pair<RunStatus, const char*>, 6> kStatusNames = {{
    {RunStatus::Queued, "queued"},
    {RunStatus::Running, "running"},
    {RunStatus::Finished, "finished"},
    {RunStatus::Failed, "failed"},
    {RunStatus::Cancelled, "cancelled"},
    {RunStatus::Interrupted, "interrupted"},
}};

constexpr std::array<std::pair<ArtifactKind, const char*>, 5> kKindNames = {{
    {ArtifactKind::Checkpoint, "checkpoint"},
    {ArtifactKind::Adapter, "adapter"},
    {ArtifactKind::Merged, "merged"},
    {ArtifactKind::Export, "export"},
    {ArtifactKind::Report, "report"},
}};

template <typename Enum, size_t N>
const char* nameOf(const std::array<std::pair<Enum, const char*>, N>& table, Enum value)
{
    for (const auto& [e, name] : table)
        if (e == value)
            return name;
    return "?";
}

template <typename Enum, size_t N>
Enum valueOf(const std::array<std::pair<Enum, const char*>, N>& table, const std::string& name, const char* what)
{
    for (const auto& [e, n] : table)
        if (name == n)
            return e;
    std::string known;
    for (const auto& entry : table)
        known += (known.empty() ? "" : ", ") + std::string(entry.second);
    throw std::invalid_argument("unknown " + std::string(what) + " \"" + name + "\" (known: " + known + ")");
}

} // namespace

const char* runStatusName(RunStatus status)
{
    return nameOf(kStatusNames, status);
}

RunStatus runStatusFromName(const std::string& name)
{
    return valueOf(kStatusNames, name, "run status");
}

const char* artifactKindName(ArtifactKind kind)
{
    return nameOf(kKindNames, kind);
}

ArtifactKind artifactKindFromName(const std::string& name)
{
    return valueOf(kKindNames, name, "artifact kind");
}

} // namespace tb
