#include "train/ChunkedLmHeadLoss.h"

#include <torch/autograd.h>

#include <algorithm>
#include <stdexcept>

namespace tb {

namespace {

constexpr int64_t kChunkLogitBytes = int64_t(32) << 20;
constexpr int64_t kMinChunkRows = 32;

// hidden [N, H], weight [V, H], targets [N]; saves hidden, weight, targets and the fp32
// log-sum-exp per row [N], nothing of size V.
class LmHeadCrossEntropy : public torch::autograd::Function<LmHeadCrossEntropy> {
public:
    static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& hidden, const at::Tensor& weight,
                              const at::Tensor& targets)
    {
        const int64_t n = hidden.size(0);
        const int64_t chunk = lmHeadChunkRows(weight.size(0), n);
        at::Tensor lse = at::empty({n}, hidden.options().dtype(at::kFloat));
        at::Tensor loss = at::zeros({}, hidden.options().dtype(at::kFloat));
        for (int64_t start = 0; start < n; start += chunk) {
            const int64_t rows = std::min(chunk, n - start);
            const at::Tensor logits = at::linear(hidden.narrow(0, start, rows), weight).to(at::kFloat); // [rows, V]
            const at::Tensor rowLse = at::logsumexp(logits, {1});
            lse.narrow(0, start, rows).copy_(rowLse);
            const at::Tensor picked = logits.gather(1, targets.narrow(0, start, rows).unsqueeze(1)).squeeze(1);
            loss.add_((rowLse - picked).sum());
        }
        ctx->save_for_backward({hidden, weight, targets, lse});
        return loss;
    }

    static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grads)
    {
        const auto saved = ctx->get_saved_variables();
        const at::Tensor& hidden = saved[0];
        const at::Tensor& weight = saved[1];
        const at::Tensor& targets = saved[2];
        const at::Tensor& lse = saved[3];
        const at::Tensor scale = grads[0].to(at::kFloat); // d(loss sum): 1 / tokens of the step
        const bool wantHidden = ctx->needs_input_grad(0);
        const bool wantWeight = ctx->needs_input_grad(1);
        const int64_t n = hidden.size(0);
        const int64_t chunk = lmHeadChunkRows(weight.size(0), n);
        at::Tensor gradHidden = wantHidden ? at::empty_like(hidden) : at::Tensor();
        // Accumulated over chunks in fp32, then cast once: a bf16 weight's gradient is rounded
        // once, as the unchunked matmul would round it.
        at::Tensor gradWeight = wantWeight ? at::zeros(weight.sizes(), weight.options().dtype(at::kFloat)) : at::Tensor();
        for (int64_t start = 0; start < n; start += chunk) {
            const int64_t rows = std::min(chunk, n - start);
            const at::Tensor h = hidden.narrow(0, start, rows);
            // d loss / d logits = softmax - one_hot(target), times the incoming gradient.
            at::Tensor probs = at::linear(h, weight).to(at::kFloat).sub_(lse.narrow(0, start, rows).unsqueeze(1)).exp_();
            probs.scatter_add_(1, targets.narrow(0, start, rows).unsqueeze(1),
                               at::full({rows, 1}, -1.0, probs.options()));
            probs.mul_(scale);
            const at::Tensor gradLogits = probs.to(hidden.scalar_type());
            if (wantHidden)
                gradHidden.narrow(0, start, rows).copy_(at::matmul(gradLogits, weight));
            if (wantWeight)
                gradWeight.add_(at::matmul(gradLogits.t(), h).to(at::kFloat));
        }
        return {gradHidden, wantWeight ? gradWeight.to(weight.scalar_type()) : at::Tensor(), at::Tensor()};
    }
};

} // namespace

int64_t lmHeadChunkRows(int64_t vocab, int64_t rows)
{
    const int64_t byBytes = kChunkLogitBytes / (4 * std::max<int64_t>(vocab, 1));
    return std::max<int64_t>(1, std::min(rows, std::max(kMinChunkRows, byBytes)));
}

at::Tensor lmHeadCrossEntropySum(const at::Tensor& hidden, const at::Tensor& weight, const at::Tensor& targets)
{
    if (hidden.dim() != 2 || weight.dim() != 2 || hidden.size(1) != weight.size(1))
        throw std::invalid_argument("lm head loss: hidden " + c10::str(hidden.sizes()) + " does not match weight "
                                    + c10::str(weight.sizes()));
    if (targets.dim() != 1 || targets.size(0) != hidden.size(0) || targets.scalar_type() != at::kLong)
        throw std::invalid_argument("lm head loss: targets must be int64 [" + std::to_string(hidden.size(0)) + "]");
    if (hidden.size(0) == 0)
        return at::zeros({}, hidden.options().dtype(at::kFloat));
    return LmHeadCrossEntropy::apply(hidden, weight, targets);
}

} // namespace tb
