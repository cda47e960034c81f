// tokenizer.json "pre_tokenizer": splits each text piece (outside added tokens) into the words
// the model sees, and may rewrite them (ByteLevel maps bytes to printable characters,
// Metaspace spaces to U+2581). Supported types: Sequence, Split, ByteLevel, Metaspace,
// Whitespace, WhitespaceSplit, Digits, Punctuation, CharDelimiterSplit, BertPreTokenizer.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "tokenizer/JsonReader.h"
#include "tokenizer/TextPiece.h"

namespace tb {

class PreTokenizer {
public:
    virtual ~PreTokenizer() = default;
    // Splits every piece with addedId < 0; added-token pieces pass through untouched.
    // Empty results are dropped, as tokenizers' PreTokenizedString::split does.
    virtual void preTokenize(TextPieces& pieces) const = 0;

    // nullptr for a JSON null.
    static std::unique_ptr<PreTokenizer> fromJson(const JsonReader& reader, const JsonReader::Json& json,
                                                  const std::string& path);

    // GPT-2's byte-to-unicode table: the printable character standing for each byte.
    static const std::string& byteToUnicode(unsigned char byte);
    // Inverse of byteToUnicode for one code point; -1 when it stands for no byte.
    static int unicodeToByte(char32_t c);
    // The Split regex the BPE trainer and the demo tokenizer share (Llama 3's).
    static const char* llama3Pattern();
};

} // namespace tb
