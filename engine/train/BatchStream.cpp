#include "train/BatchStream.h"

#include <algorithm>
#include <numeric>
#include <random>
#include <stdexcept>

namespace tb {

BatchStream::BatchStream(const std::vector<TokenizedExample>& examples, int64_t batchSize, uint64_t seed)
    : m_examples(examples), m_batchSize(batchSize), m_seed(seed)
{
    if (examples.empty())
        throw std::invalid_argument("no training examples");
}

const std::vector<int64_t>& BatchStream::permutation(int64_t epoch) const
{
    if (epoch != m_cachedEpoch) {
        m_cachedPermutation.resize(m_examples.size());
        std::iota(m_cachedPermutation.begin(), m_cachedPermutation.end(), 0);
        // mt19937_64 and a hand-written Fisher-Yates: std::shuffle's algorithm is not specified
        // by the standard, and the order must not change with the standard library.
        std::mt19937_64 rng(m_seed * 1000003ULL + static_cast<uint64_t>(epoch));
        for (size_t i = m_cachedPermutation.size(); i > 1; --i) {
            const size_t j = static_cast<size_t>(rng() % i);
            std::swap(m_cachedPermutation[i - 1], m_cachedPermutation[j]);
        }
        m_cachedEpoch = epoch;
    }
    return m_cachedPermutation;
}

std::vector<const TokenizedExample*> BatchStream::microBatch(int64_t index) const
{
    return examplesAt(index * m_batchSize, m_batchSize);
}

std::vector<const TokenizedExample*> BatchStream::examplesAt(int64_t position, int64_t count) const
{
    std::vector<const TokenizedExample*> out;
    const int64_t n = static_cast<int64_t>(m_examples.size());
    for (int64_t p = position; p < position + count; ++p)
        out.push_back(&m_examples[static_cast<size_t>(permutation(p / n)[static_cast<size_t>(p % n)])]);
    return out;
}

double BatchStream::epochAt(int64_t microBatches) const
{
    return epochAtExample(microBatches * m_batchSize);
}

double BatchStream::epochAtExample(int64_t examples) const
{
    return static_cast<double>(examples) / static_cast<double>(m_examples.size());
}

TrainingBatch BatchStream::collate(const std::vector<const TokenizedExample*>& examples, int64_t padId, const at::Device& device)
{
    const int64_t b = static_cast<int64_t>(examples.size());
    int64_t t = 0;
    for (const auto* e : examples)
        t = std::max<int64_t>(t, static_cast<int64_t>(e->ids.size()));
    at::Tensor ids = at::full({b, t}, padId, at::kLong);
    at::Tensor targets = at::full({b, t}, -100, at::kLong);
    at::Tensor real = at::zeros({b, t}, at::kBool);
    auto idsA = ids.accessor<int64_t, 2>();
    auto targetsA = targets.accessor<int64_t, 2>();
    auto realA = real.accessor<bool, 2>();
    TrainingBatch batch;
    bool padded = false;
    for (int64_t i = 0; i < b; ++i) {
        const TokenizedExample& e = *examples[static_cast<size_t>(i)];
        const int64_t len = static_cast<int64_t>(e.ids.size());
        padded = padded || len < t;
        for (int64_t j = 0; j < len; ++j) {
            idsA[i][j] = e.ids[static_cast<size_t>(j)];
            realA[i][j] = true;
            // Position j predicts token j + 1; it counts when that token is a target.
            if (j + 1 < len && e.lossMask[static_cast<size_t>(j + 1)]) {
                targetsA[i][j] = e.ids[static_cast<size_t>(j + 1)];
                ++batch.lossTokens;
            }
        }
        batch.tokens += len;
    }
    batch.inputIds = ids.to(device);
    batch.targets = targets.to(device);
    if (padded)
        batch.keyPadding = real.to(device);
    return batch;
}

} // namespace tb
