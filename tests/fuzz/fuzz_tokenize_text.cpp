// libFuzzer target: arbitrary text (invalid UTF-8 included, as in a user's dataset) through
// every tokenizer.json fixture in tests/data/tokenizer: normalizers, pre-tokenizer regexes,
// BPE, post-processors and decoders. Nothing may throw; ids must be inside the vocabulary.
#include "FuzzInput.h"

#include "tokenizer/Tokenizer.h"

#include <vector>

namespace {

std::vector<tb::Tokenizer> loadFixtures()
{
    std::vector<tb::Tokenizer> tokenizers;
    for (const char* name : {"gpt2_bytelevel.json", "ignore_merges_regex.json", "metaspace_split.json",
                             "normalizers_words.json", "sentencepiece_metaspace.json",
                             "split_behaviors.json", "truncation_padding.json"})
        tokenizers.push_back(tb::Tokenizer::fromFile(std::string(TB_TEST_DATA_DIR "/tokenizer/") + name));
    return tokenizers;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    static const std::vector<tb::Tokenizer> tokenizers = loadFixtures();
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    for (const tb::Tokenizer& tokenizer : tokenizers) {
        const std::vector<int32_t> ids = tokenizer.encode(text, size % 2 == 0);
        for (int32_t id : ids)
            if (id < 0 || static_cast<size_t>(id) >= tokenizer.vocabSize())
                tbfuzz::violated("encode produced an id outside the vocabulary");
        (void)tokenizer.decode(ids, size % 3 == 0);
    }
    return 0;
}
