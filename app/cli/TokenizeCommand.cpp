#include "cli/ArgList.h"
#include "cli/Commands.h"

#include "tokenizer/Tokenizer.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <iostream>

namespace tbcli {

int runTokenize(const std::vector<std::string>& args)
{
    const ArgList a(args, {"model", "tokenizer"}, {"add-special-tokens"});
    if (a.has("model") == a.has("tokenizer"))
        throw UsageError("give exactly one of --model DIR or --tokenizer FILE");
    const std::string path = a.has("tokenizer")
        ? a.required("tokenizer")
        : (std::filesystem::path(a.required("model")) / "tokenizer.json").string();
    const tb::Tokenizer tokenizer = tb::Tokenizer::fromFile(path);
    const bool special = a.has("add-special-tokens");

    std::ios::sync_with_stdio(false);
    std::string line;
    long long lineNumber = 0;
    while (std::getline(std::cin, line)) {
        ++lineNumber;
        if (!line.empty() && line.back() == '\r')
            line.pop_back();
        if (line.find_first_not_of(" \t") == std::string::npos)
            throw std::runtime_error("stdin line " + std::to_string(lineNumber) + ": empty line (expected {\"text\": ...})");
        nlohmann::json record;
        try {
            record = nlohmann::json::parse(line);
        } catch (const nlohmann::json::exception& e) { // parse_error, or out_of_range (number overflow)
            throw std::runtime_error("stdin line " + std::to_string(lineNumber) + ": not valid JSON: " + e.what());
        }
        if (!record.is_object() || !record.contains("text") || !record["text"].is_string())
            throw std::runtime_error("stdin line " + std::to_string(lineNumber) + ": expected an object with a string field \"text\"");
        const std::vector<int32_t> ids = tokenizer.encode(record["text"].get<std::string>(), special);
        std::cout << nlohmann::json{{"ids", ids}}.dump() << '\n';
    }
    std::cout.flush();
    return 0;
}

} // namespace tbcli
