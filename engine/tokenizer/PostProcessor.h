// tokenizer.json "post_processor", applied to a single sequence when encode() is asked to add
// special tokens. Supported types: TemplateProcessing (its "single" template), ByteLevel (ids
// unchanged), RobertaProcessing, BertProcessing, Sequence.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tokenizer/JsonReader.h"

namespace tb {

class PostProcessor {
public:
    virtual ~PostProcessor() = default;
    virtual void process(std::vector<int32_t>& ids) const = 0;
    // How many ids process() adds to a single sequence.
    virtual size_t addedCount() const = 0;
    // The largest id process() inserts (-1: none). The ids come from the file as written, so
    // they need not name a token (tokenizers does not check them either).
    virtual int64_t maxId() const = 0;

    // nullptr for a JSON null.
    static std::unique_ptr<PostProcessor> fromJson(const JsonReader& reader, const JsonReader::Json& json,
                                                   const std::string& path);
};

} // namespace tb
