#include "train/CausalLmLoss.h"

#include "model/LlamaForCausalLM.h"
#include "train/ChunkedLmHeadLoss.h"

#include <cmath>

namespace tb {

at::Tensor summedTokenLoss(LlamaForCausalLM& model, const TrainingBatch& batch)
{
    const at::Tensor hidden = model.hiddenStates(batch.inputIds, nullptr, batch.keyPadding);
    // Only the positions that carry loss reach the head (prompt and padding positions do not).
    const at::Tensor targets = batch.targets.reshape({-1});
    const at::Tensor rows = targets.ne(-100).nonzero().squeeze(1);
    return lmHeadCrossEntropySum(hidden.reshape({-1, hidden.size(-1)}).index_select(0, rows), model.lmHeadWeight(),
                                 targets.index_select(0, rows));
}

EvalReport evaluateLoss(LlamaForCausalLM& model, const std::vector<TokenizedExample>& examples, int64_t batchSize,
                        const at::Device& device, int shard, int shards)
{
    const bool wasTraining = model.is_training();
    model.eval();
    at::NoGradGuard noGrad;
    double lossSum = 0;
    EvalReport report;
    const size_t stride = static_cast<size_t>(batchSize) * static_cast<size_t>(shards);
    for (size_t i = static_cast<size_t>(batchSize) * static_cast<size_t>(shard); i < examples.size(); i += stride) {
        std::vector<const TokenizedExample*> batchExamples;
        for (size_t j = i; j < std::min(examples.size(), i + static_cast<size_t>(batchSize)); ++j)
            batchExamples.push_back(&examples[j]);
        const TrainingBatch batch = BatchStream::collate(batchExamples, 0, device);
        if (batch.lossTokens == 0)
            continue;
        lossSum += summedTokenLoss(model, batch).item<double>();
        report.tokens += batch.lossTokens;
    }
    model.train(wasTraining);
    if (report.tokens > 0) {
        report.loss = lossSum / static_cast<double>(report.tokens);
        report.perplexity = std::exp(report.loss);
    }
    return report;
}

} // namespace tb
