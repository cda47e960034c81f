#include "formats/WeightFootprint.h"

namespace tb {

namespace {

int64_t ceilDiv(int64_t a, int64_t b)
{
    return (a + b - 1) / b;
}

// Blocks are formed per weight matrix, as bitsandbytes quantizes each Linear separately.
int64_t nf4MatrixBytes(int64_t rows, int64_t cols, int64_t blockSize, bool doubleQuant)
{
    const int64_t n = rows * cols;
    const int64_t blocks = ceilDiv(n, blockSize);
    const int64_t packed = ceilDiv(n, 2);
    if (!doubleQuant)
        return packed + blocks * 4;
    // 8-bit absmax codes, fp32 scale per 256 absmax values, fp32 offset (the absmax mean).
    return packed + blocks + ceilDiv(blocks, 256) * 4 + 4;
}

} // namespace

WeightFootprint weightFootprint(const ModelConfig& c, int64_t blockSize)
{
    WeightFootprint f;
    f.totalParameters = c.parameterCount();
    const int64_t q = c.numHeads * c.headDim;
    const int64_t kv = c.numKeyValueHeads * c.headDim;
    const int64_t shapes[7][2] = {{q, c.hiddenSize},           {kv, c.hiddenSize},
                                  {kv, c.hiddenSize},          {c.hiddenSize, q},
                                  {c.intermediateSize, c.hiddenSize}, {c.intermediateSize, c.hiddenSize},
                                  {c.hiddenSize, c.intermediateSize}};
    int64_t nf4 = 0, nf4NoDq = 0;
    for (const auto& s : shapes) {
        f.quantizableParameters += s[0] * s[1];
        nf4 += nf4MatrixBytes(s[0], s[1], blockSize, true);
        nf4NoDq += nf4MatrixBytes(s[0], s[1], blockSize, false);
    }
    f.quantizableParameters *= c.numLayers;
    const int64_t rest = f.totalParameters - f.quantizableParameters;
    f.fp32Bytes = f.totalParameters * 4;
    f.bf16Bytes = f.totalParameters * 2;
    f.nf4Bytes = nf4 * c.numLayers + rest * 2;
    f.nf4NoDqBytes = nf4NoDq * c.numLayers + rest * 2;
    return f;
}

} // namespace tb
