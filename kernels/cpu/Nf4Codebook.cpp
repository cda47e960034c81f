#include "cpu/Nf4Codebook.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace tbk {

// bitsandbytes functional.py create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8)
// (after Dettmers 2015, "8-Bit Approximations for Parallelism in Deep Learning"):
//   for i in 0..6:                          # decimal exponent 10^(i-6): 1e-6 .. 1
//       b = torch.linspace(0.1, 1, 2^i + 1) # fp32
//       means = (b[:-1] + b[1:]) / 2        # 2^i fraction values in (0.1, 1)
//       data += 10^(i-6) * means, and the negated copies
//   data += [0, 1.0]; sort                 # 2*(1+2+...+64) + 2 = 256 values
// additional_items = 2^(7-7) - 1 = 0, so there is no extra group. The table is ascending with
// code[0] = -0.99296875, code[0..126] < 0, code[127] = 0, code[128..254] > 0, code[255] = 1.0;
// it is asymmetric: +1.0 exists, -1.0 does not.
//
// Everything is fp32 like torch, and the linspace values are computed the way LibTorch's CPU
// kernel does (aten/src/ATen/native/cpu/RangeFactoriesKernel.cpp, AVX2 build):
//   step = (end - start) / (steps - 1)
//   scalar path:  k <  steps/2: start + step*k          k >= steps/2: end - step*(steps-1-k)
//   vector path (chunks of 2x8 lanes while 16 elements remain, from k = 0):
//                 base = (chunk start as the scalar path), then base + j*step for lane j
// with the compiler contracting `a + b*c` into one fma in the scalar expressions but not in
// Vectorized::arange. That reproduces torch.linspace bit for bit on this machine's LibTorch
// (checked against LibTorch 1.13.1 for all seven linspaces, 0 of 127 values differ; plain
// unfused scalar code differs in 25). Another build of torch (AVX-512 kernels, no contraction)
// could differ in the last ulp of a few entries, which moves no more than the rare value that
// falls exactly between two codes; a checkpoint carries its own table in
// weight.nested_quant_map, which the dequantizers take as a parameter.
void buildDynamicMapSigned(float code[256])
{
    std::vector<float> data;
    data.reserve(256);
    for (int i = 0; i < 7; ++i) {
        const int steps = (1 << i) + 1;
        const float start = 0.1f, end = 1.0f;
        const float step = (end - start) / static_cast<float>(steps - 1);
        std::vector<float> b(static_cast<size_t>(steps));
        const int halfway = steps / 2;
        auto scalarAt = [&](int k) {
            return k < halfway ? std::fma(step, static_cast<float>(k), start)
                               : std::fma(-step, static_cast<float>(steps - 1 - k), end);
        };
        const int kLanes = 8;
        const int vectorEnd = steps / (2 * kLanes) * (2 * kLanes);
        for (int k = 0; k < steps; ++k) {
            if (k < vectorEnd) {
                const int lane = k % kLanes;
                const float base = scalarAt(k - lane);
                b[k] = lane == 0 ? base : base + static_cast<float>(lane) * step;
            } else {
                b[k] = scalarAt(k);
            }
        }
        // Python float 10**(i-6), converted to fp32 for the tensor multiply.
        static const double kDecade[7] = {1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0};
        const float decade = static_cast<float>(kDecade[i]);
        for (int k = 0; k + 1 < steps; ++k) {
            const float mean = (b[k] + b[k + 1]) / 2.0f;
            data.push_back(decade * mean);
            data.push_back(-(decade * mean));
        }
    }
    data.push_back(0.0f);
    data.push_back(1.0f);
    std::sort(data.begin(), data.end());
    std::copy(data.begin(), data.end(), code);
}

const float* dynamicMapSigned()
{
    struct Table {
        float v[256];
        Table() { buildDynamicMapSigned(v); }
    };
    static const Table table;
    return table.v;
}

} // namespace tbk
