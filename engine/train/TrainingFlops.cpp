#include "train/TrainingFlops.h"

#include "formats/WeightFootprint.h"

namespace tb {

double trainingFlopsPerToken(const ModelConfig& c, int64_t seqLen, bool fullFineTuning, int64_t adapterParameters,
                             bool gradientCheckpointing)
{
    const WeightFootprint f = weightFootprint(c);
    const double n = static_cast<double>(f.quantizableParameters + c.vocabSize * c.hiddenSize); // + lm_head
    const double attentionForward = 4.0 * c.numLayers * seqLen * c.numHeads * c.headDim;
    double flops = (fullFineTuning ? 6.0 : 4.0) * n + 3.0 * attentionForward + 6.0 * adapterParameters;
    if (gradientCheckpointing) // one more forward of every layer (not of lm_head)
        flops += 2.0 * f.quantizableParameters + attentionForward + 2.0 * adapterParameters;
    return flops;
}

} // namespace tb
