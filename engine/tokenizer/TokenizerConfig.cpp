#include "tokenizer/TokenizerConfig.h"

#include <fstream>
#include <sstream>

#include "tokenizer/JsonReader.h"

namespace tb {

namespace {

// A special token is a string, an AddedToken object {"content": ...} (older files tag it with
// "__type": "AddedToken"), or null.
std::string readToken(const JsonReader& reader, const JsonReader::Json& root, const char* key)
{
    const auto* v = reader.optionalMember(root, key, "");
    if (!v)
        return {};
    if (v->is_string())
        return v->get<std::string>();
    if (v->is_object())
        return reader.stringMember(*v, "content", key);
    reader.fail(key, "expected a string or {\"content\": ...}, got " + JsonReader::typeName(*v));
}

} // namespace

TokenizerConfig TokenizerConfig::fromFile(const std::string& path)
{
    TokenizerConfig config;
    std::ifstream in(path, std::ios::binary);
    if (!in)
        return config;
    std::ostringstream buffer;
    buffer << in.rdbuf();

    const JsonReader reader(path);
    const JsonReader::Json root = reader.parse(buffer.str());
    reader.object(root, "");
    config.bosToken = readToken(reader, root, "bos_token");
    config.eosToken = readToken(reader, root, "eos_token");
    config.padToken = readToken(reader, root, "pad_token");
    config.unkToken = readToken(reader, root, "unk_token");
    config.addBosToken = reader.optionalBool(root, "add_bos_token", "", false);
    config.addEosToken = reader.optionalBool(root, "add_eos_token", "", false);

    // A string, or a list of {"name", "template"} of which "default" is the chat template.
    if (const auto* tmpl = reader.optionalMember(root, "chat_template", "")) {
        if (tmpl->is_string()) {
            config.chatTemplate = tmpl->get<std::string>();
        } else if (tmpl->is_array()) {
            for (size_t i = 0; i < tmpl->size(); ++i) {
                const std::string itemPath = JsonReader::index("chat_template", i);
                const auto& item = (*tmpl)[i];
                if (reader.stringMember(item, "name", itemPath) == "default")
                    config.chatTemplate = reader.stringMember(item, "template", itemPath);
            }
        } else {
            reader.fail("chat_template", "expected a string or a list of {name, template}, got "
                                             + JsonReader::typeName(*tmpl));
        }
    }

    // transformers writes int(1e30) for "no limit": anything beyond 1e15 means none.
    if (const auto* length = reader.optionalMember(root, "model_max_length", "")) {
        if (!length->is_number())
            reader.fail("model_max_length", "expected a number, got " + JsonReader::typeName(*length));
        const double value = length->get<double>();
        if (value > 0 && value <= 1e15)
            config.modelMaxLength = static_cast<long long>(value);
    }
    return config;
}

} // namespace tb
