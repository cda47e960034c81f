#include "hub/HubRepo.h"

#include "hub/HubError.h"

#include <cctype>

namespace tb {

namespace {

bool isWordChar(char c)
{
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}

// One part of a repo id: [\w.-]+ starting and ending with a word character (the \b...\b of
// huggingface_hub's regex).
bool isIdPart(const std::string& part)
{
    if (part.empty() || !isWordChar(part.front()) || !isWordChar(part.back()))
        return false;
    for (char c : part)
        if (!isWordChar(c) && c != '-' && c != '.')
            return false;
    return true;
}

// "/"-separated components, none empty, ".", ".." or holding a backslash or control byte.
bool isSafeRelativePath(const std::string& path)
{
    if (path.empty() || path.size() > 1024 || path.front() == '/' || path.back() == '/')
        return false;
    size_t start = 0;
    while (start <= path.size()) {
        size_t end = path.find('/', start);
        if (end == std::string::npos)
            end = path.size();
        const std::string part = path.substr(start, end - start);
        if (part.empty() || part == "." || part == "..")
            return false;
        for (char c : part)
            if (c == '\\' || static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
                return false;
        start = end + 1;
    }
    return true;
}

const char* folderPrefix(HubRepoType type)
{
    return type == HubRepoType::Model ? "models" : "datasets";
}

} // namespace

const char* hubRepoTypeName(HubRepoType type)
{
    return type == HubRepoType::Model ? "model" : "dataset";
}

HubRepoType parseHubRepoType(const std::string& name)
{
    if (name == "model")
        return HubRepoType::Model;
    if (name == "dataset")
        return HubRepoType::Dataset;
    throw HubError(HubError::Kind::InvalidInput, "repository type \"" + name + "\": expected model or dataset");
}

HubRepoId HubRepoId::parse(const std::string& id, HubRepoType type)
{
    const auto bad = [&](const std::string& why) {
        return HubError(HubError::Kind::InvalidInput,
                        "\"" + id + "\" is not a Hub repository id (" + why + "); expected OWNER/NAME, e.g. Qwen/Qwen2.5-0.5B-Instruct");
    };
    if (id.empty() || id.size() > 96)
        throw bad("1 to 96 characters");
    if (id.find("--") != std::string::npos || id.find("..") != std::string::npos)
        throw bad("\"--\" and \"..\" are not allowed");
    const size_t slash = id.find('/');
    if (slash != std::string::npos && id.find('/', slash + 1) != std::string::npos)
        throw bad("at most one \"/\"");
    const bool ok = slash == std::string::npos ? isIdPart(id) : isIdPart(id.substr(0, slash)) && isIdPart(id.substr(slash + 1));
    if (!ok)
        throw bad("letters, digits, \"-\", \"_\" and \".\", starting and ending with a letter or digit");
    return HubRepoId{id, type};
}

std::string HubRepoId::folderName() const
{
    std::string name = std::string(folderPrefix(type)) + "--";
    for (char c : id)
        name += c == '/' ? std::string("--") : std::string(1, c);
    return name;
}

std::string HubRepoId::apiPath() const
{
    return std::string("api/") + folderPrefix(type) + "/" + id;
}

std::string HubRepoId::urlPrefix() const
{
    return type == HubRepoType::Model ? id : "datasets/" + id;
}

bool HubRepoId::fromFolderName(const std::string& folder, HubRepoId* out)
{
    for (HubRepoType type : {HubRepoType::Model, HubRepoType::Dataset}) {
        const std::string prefix = std::string(folderPrefix(type)) + "--";
        if (folder.rfind(prefix, 0) != 0)
            continue;
        std::string id = folder.substr(prefix.size());
        // The owner/name separator is the first "--" (ids never contain "--" themselves).
        if (const size_t sep = id.find("--"); sep != std::string::npos)
            id.replace(sep, 2, "/");
        try {
            *out = parse(id, type);
            return true;
        } catch (const HubError&) {
            return false;
        }
    }
    return false;
}

bool isHubCommitHash(const std::string& s)
{
    if (s.size() != 40)
        return false;
    for (char c : s)
        if (!std::isdigit(static_cast<unsigned char>(c)) && (c < 'a' || c > 'f'))
            return false;
    return true;
}

bool isSafeHubRevision(const std::string& revision)
{
    return revision.size() <= 256 && isSafeRelativePath(revision);
}

bool isSafeHubFilePath(const std::string& path)
{
    return isSafeRelativePath(path);
}

bool isSafeHubEtag(const std::string& etag)
{
    if (etag.empty() || etag.size() > 128 || etag == "." || etag == "..")
        return false;
    for (char c : etag)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-')
            return false;
    return true;
}

std::string hubUrlQuote(const std::string& text, bool keepSlash)
{
    static const char* const kHex = "0123456789ABCDEF";
    std::string out;
    for (char ch : text) {
        const auto c = static_cast<unsigned char>(ch);
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keepSlash && c == '/')) {
            out += ch;
        } else {
            out += '%';
            out += kHex[c >> 4];
            out += kHex[c & 15];
        }
    }
    return out;
}

} // namespace tb
