// The one table of config.json keys: every key transformers' LlamaConfig, MistralConfig,
// Qwen2Config and Qwen3Config accept (with the PretrainedConfig keys under them, and the few
// keys their modeling code reads through getattr), per architecture, with what Tunebench does
// with it. ModelConfig parses against it:
//   Honoured              changes what the model computes; ModelConfig reads it and the engine
//                         implements it as transformers does (some values may still be refused
//                         by name, e.g. rope_scaling "yarn", hidden_act "gelu")
//   RefusedUnlessNeutral  changes what the model computes and is not implemented: accepted only
//                         at its neutral value (or null); anything else is a FormatError naming
//                         the key and the value
//   NoEffect              metadata, generation defaults, training-loop switches: the model
//                         computes the same whatever the value (ModelConfig may still read it,
//                         e.g. eos_token_id to stop generation)
//   Warned                read by nothing, but worth a named warning (auto_map: custom code)
// A key the table does not list for the architecture is not a setting of that config class:
// transformers ignores it and so does Tunebench, with a named warning. docs/model-config.md
// is this table in prose.
#pragma once

#include <string>
#include <vector>

namespace tb {

enum class ConfigKeyUse { Honoured, RefusedUnlessNeutral, NoEffect, Warned };

// Bit set of the architectures a key belongs to (by ModelConfig::modelType).
enum ConfigArchitectures : unsigned {
    kConfigLlama = 1u << 0,   // "llama":   LlamaConfig
    kConfigMistral = 1u << 1, // "mistral": MistralConfig
    kConfigQwen2 = 1u << 2,   // "qwen2":   Qwen2Config
    kConfigQwen3 = 1u << 3,   // "qwen3":   Qwen3Config
    kConfigAll = kConfigLlama | kConfigMistral | kConfigQwen2 | kConfigQwen3,
};

struct ConfigKey {
    const char* name;
    unsigned architectures; // ConfigArchitectures bits
    ConfigKeyUse use;
    const char* neutral;    // RefusedUnlessNeutral: the one accepted value, as JSON text; else nullptr
    const char* why;        // what the key does in transformers, or why it is warned about
};

// Every entry, in the order docs/model-config.md lists them.
const std::vector<ConfigKey>& configKeys();

// The entry for `key` in an architecture of model_type `modelType`, nullptr when that config
// class has no such key.
const ConfigKey* findConfigKey(const std::string& key, const std::string& modelType);

// The ConfigArchitectures bit of a model_type ("llama" -> kConfigLlama), 0 for another one.
unsigned configArchitectureBit(const std::string& modelType);

const char* configKeyUseName(ConfigKeyUse use); // "honoured", "refused unless neutral", ...

} // namespace tb
