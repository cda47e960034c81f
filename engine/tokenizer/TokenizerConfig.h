// tokenizer_config.json: the special tokens and chat template that sit beside tokenizer.json.
// bos/eos/pad may be given as a string or as an AddedToken object {"content": ...}.
#pragma once

#include <string>

namespace tb {

struct TokenizerConfig {
    std::string bosToken;     // "" when not given
    std::string eosToken;
    std::string padToken;
    std::string unkToken;
    std::string chatTemplate; // Jinja source, "" when absent
    bool addBosToken = false; // Llama-2 style configs
    bool addEosToken = false;
    long long modelMaxLength = 0; // 0 when absent or absurd (HF writes 1e30 for "none")

    // A missing file yields a default config; a malformed one throws FormatError naming it.
    static TokenizerConfig fromFile(const std::string& path);
};

} // namespace tb
