// tokenizer.json "normalizer": rewrites each text piece (outside added tokens) before
// pre-tokenization. Supported types: Sequence, NFC, NFD, NFKC, NFKD, Lowercase, Strip,
// StripAccents, Replace, Prepend. Others are rejected at load time with a FormatError.
#pragma once

#include <memory>
#include <string>

#include "tokenizer/JsonReader.h"

namespace tb {

class Normalizer {
public:
    virtual ~Normalizer() = default;
    virtual void normalize(std::string& text) const = 0;

    // nullptr for a JSON null.
    static std::unique_ptr<Normalizer> fromJson(const JsonReader& reader, const JsonReader::Json& json,
                                                const std::string& path);
};

} // namespace tb
