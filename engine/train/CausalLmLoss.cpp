#include "train/CausalLmLoss.h"

#include "model/LlamaForCausalLM.h"

#include <cmath>

namespace tb {

at::Tensor summedTokenLoss(LlamaForCausalLM& model, const TrainingBatch& batch)
{
    const at::Tensor logits = model.logits(model.hiddenStates(batch.inputIds, nullptr, batch.keyPadding)).to(at::kFloat);
    return at::cross_entropy_loss(logits.view({-1, logits.size(-1)}), batch.targets.view({-1}), {}, at::Reduction::Sum, -100);
}

EvalReport evaluateLoss(LlamaForCausalLM& model, const std::vector<TokenizedExample>& examples, int64_t batchSize,
                        const at::Device& device)
{
    const bool wasTraining = model.is_training();
    model.eval();
    at::NoGradGuard noGrad;
    double lossSum = 0;
    EvalReport report;
    for (size_t i = 0; i < examples.size(); i += static_cast<size_t>(batchSize)) {
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
