// Internal: the per-ISA scale searches behind the k-quants (GgmlKQuants.cpp). A "fit" takes
// `count` consecutive sub-blocks of x and gives, for each, what ggml's per-sub-block function
// returns, exactly:
//   fitQkx2 (Q4_K, Q5_K; sub-blocks of 32): weights av_x + |x| as quantize_row_q4_K_ref forms
//     them, then make_qkx2_quants(32, nmax, x, weights, L, &mins[j], Laux, rmin, rdelta, nstep,
//     false) -> scales[j], mins[j], L[32 j .. 32 j + 31] in 0..nmax.
//   fitQx (Q6_K; sub-blocks of 16): make_qx_quants(16, 32, x, L, 1, NULL) -> scales[j],
//     L[16 j .. 16 j + 15] in 0..63.
#pragma once

#include <cstdint>

namespace tbk::detail {

struct GgmlQkx2Params {
    int nmax;     // 15 (Q4_K) or 31 (Q5_K)
    float rmin;   // -1 or -0.5
    float rdelta; // 0.1
    int nstep;    // 20 or 15: the search tries nstep + 1 scales
};

using GgmlFitQkx2 = void (*)(const float* x, int64_t count, const GgmlQkx2Params& p, float* scales, float* mins,
                             uint8_t* L);
using GgmlFitQx = void (*)(const float* x, int64_t count, float* scales, int8_t* L);

void ggmlFitQkx2Scalar(const float* x, int64_t count, const GgmlQkx2Params& p, float* scales, float* mins,
                       uint8_t* L); // GgmlKQuants.cpp
void ggmlFitQxScalar(const float* x, int64_t count, float* scales, int8_t* L);

// GgmlKQuantsAvx2.cpp / GgmlKQuantsAvx512.cpp; the *Compiled() functions say whether the file
// was built with its -m flags (false on other architectures, where the fits are stubs).
bool ggmlKQuantsAvx2Compiled();
void ggmlFitQkx2Avx2(const float* x, int64_t count, const GgmlQkx2Params& p, float* scales, float* mins, uint8_t* L);
void ggmlFitQxAvx2(const float* x, int64_t count, float* scales, int8_t* L);
bool ggmlKQuantsAvx512Compiled();
void ggmlFitQkx2Avx512(const float* x, int64_t count, const GgmlQkx2Params& p, float* scales, float* mins,
                       uint8_t* L);
void ggmlFitQxAvx512(const float* x, int64_t count, float* scales, int8_t* L);

} // namespace tbk::detail
