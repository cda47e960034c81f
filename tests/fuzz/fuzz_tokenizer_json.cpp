// libFuzzer target: tokenizer.json (Tokenizer::fromJson). An accepted tokenizer must encode and
// decode a fixed mixed-script text, and every id it produces must be inside its vocabulary.
#include "FuzzInput.h"

#include "formats/FormatError.h"
#include "tokenizer/Tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    const std::string_view json(reinterpret_cast<const char*>(data), size);
    try {
        const tb::Tokenizer tokenizer = tb::Tokenizer::fromJson(json, "tokenizer.json");
        static const std::string text = "Hello, world!  It's 2026 \xE2\x80\x94 na\xC3\xAFve caf\xC3\xA9 "
                                        "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E \xF0\x9F\x98\x80\n\tend";
        for (bool special : {false, true}) {
            const std::vector<int32_t> ids = tokenizer.encode(text, special);
            for (int32_t id : ids)
                if (id < 0 || static_cast<size_t>(id) >= tokenizer.vocabSize())
                    tbfuzz::violated("encode produced an id outside the vocabulary");
            (void)tokenizer.decode(ids, special);
        }
    } catch (const tb::FormatError&) {
    }
    return 0;
}
