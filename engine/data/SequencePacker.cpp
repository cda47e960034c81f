#include "data/SequencePacker.h"

#include <algorithm>
#include <stdexcept>

namespace tb {

std::vector<TokenizedExample> SequencePacker::pack(const std::vector<TokenizedExample>& examples, int64_t maxSeqLen)
{
    if (maxSeqLen < 1)
        throw std::invalid_argument("SequencePacker: maxSeqLen must be positive");
    std::vector<TokenizedExample> sequences;
    TokenizedExample current;
    for (const TokenizedExample& example : examples) {
        size_t pos = 0;
        while (pos < example.ids.size()) {
            if (current.ids.empty())
                current.sourceLine = example.sourceLine;
            const size_t room = size_t(maxSeqLen) - current.ids.size();
            const size_t take = std::min(room, example.ids.size() - pos);
            current.ids.insert(current.ids.end(), example.ids.begin() + pos, example.ids.begin() + pos + take);
            current.lossMask.insert(current.lossMask.end(), example.lossMask.begin() + pos,
                                    example.lossMask.begin() + pos + take);
            pos += take;
            if (current.ids.size() == size_t(maxSeqLen)) {
                sequences.push_back(std::move(current));
                current = TokenizedExample();
            }
        }
    }
    if (!current.ids.empty())
        sequences.push_back(std::move(current));
    return sequences;
}

} // namespace tb
