#include "generate/TokenSampler.h"

#include <ATen/CPUGeneratorImpl.h>

namespace tb {

TokenSampler::TokenSampler(double temperature, double topP, uint64_t seed)
    : m_temperature(temperature), m_topP(topP), m_generator(at::make_generator<at::CPUGeneratorImpl>(seed))
{
}

int64_t TokenSampler::next(const at::Tensor& logits)
{
    const at::Tensor row = logits.to(at::kCPU, at::kFloat);
    if (m_temperature <= 0.0)
        return row.argmax().item<int64_t>();
    at::Tensor probs = at::softmax(row / m_temperature, -1);
    if (m_topP > 0.0 && m_topP < 1.0) {
        // Keep the smallest set of most likely tokens whose mass reaches top_p (always at
        // least the most likely one), as transformers' TopPLogitsWarper does.
        auto [sorted, order] = probs.sort(-1, /*descending=*/true);
        const at::Tensor before = sorted.cumsum(-1) - sorted; // mass of the tokens ranked above
        sorted.masked_fill_(before >= m_topP, 0.0);
        probs = at::zeros_like(probs).scatter_(-1, order, sorted);
    }
    return at::multinomial(probs, 1, /*replacement=*/false, m_generator).item<int64_t>();
}

} // namespace tb
