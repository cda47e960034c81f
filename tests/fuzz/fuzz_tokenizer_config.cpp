// libFuzzer target: tokenizer_config.json (TokenizerConfig::fromFile): special tokens as
// strings or AddedToken objects, the chat template, model_max_length.
#include "FuzzInput.h"

#include "formats/FormatError.h"
#include "tokenizer/TokenizerConfig.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    static const std::string path = tbfuzz::scratchPath("-tokenizer_config.json");
    tbfuzz::writeFile(path, data, size);
    try {
        const tb::TokenizerConfig config = tb::TokenizerConfig::fromFile(path);
        if (config.modelMaxLength < 0)
            tbfuzz::violated("negative model_max_length accepted");
    } catch (const tb::FormatError&) {
    }
    return 0;
}
