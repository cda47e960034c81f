// Picks the next token from a row of logits: greedy (temperature 0), or temperature then
// nucleus (top-p, Holtzman et al. 2019) sampling with a seeded generator, so a given seed
// reproduces the same text on the same build.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>

namespace tb {

class TokenSampler {
public:
    TokenSampler(double temperature, double topP, uint64_t seed);

    // logits: [vocab] (any float dtype, any device). Returns the chosen token id.
    int64_t next(const at::Tensor& logits);

private:
    double m_temperature;
    double m_topP;
    at::Generator m_generator;
};

} // namespace tb
