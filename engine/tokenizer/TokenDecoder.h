// tokenizer.json "decoder": turns the token strings of decode() back into text, as tokenizers'
// decode_chain does. Supported types: ByteLevel, ByteFallback, Metaspace, Fuse, Strip,
// Replace, BPEDecoder, Sequence.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tokenizer/JsonReader.h"

namespace tb {

class TokenDecoder {
public:
    virtual ~TokenDecoder() = default;
    virtual void decodeChain(std::vector<std::string>& tokens) const = 0;

    // Runs the chain and concatenates what it leaves.
    std::string decode(std::vector<std::string> tokens) const;

    // nullptr for a JSON null.
    static std::unique_ptr<TokenDecoder> fromJson(const JsonReader& reader, const JsonReader::Json& json,
                                                  const std::string& path);
};

} // namespace tb
