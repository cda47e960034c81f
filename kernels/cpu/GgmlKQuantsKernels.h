// Internal: the per-ISA scale searches behind the k-quants (GgmlKQuants.cpp). A "fit" takes
// `count` consecutive sub-blocks of x and gives, for each, what ggml's per-sub-block function
// returns, exactly:
//   fitQkx2 (Q4_K, Q5_K; sub-blocks of 32): weights av_x + |x| as quantize_row_q4_K_ref forms
//     them, then make_qkx2_quants(32, nmax, x, weights, L, &mins[j], Laux, rmin, rdelta, nstep,
//     false) -> scales[j], mins[j], L[32 j .. 32 j + 31] in 0..nmax.
//   fitQx (Q6_K; sub-blocks of 16): make_qx_quants(16, 32, x, L, 1, NULL) -> scales[j],
//     L[16 j .. 16 j + 15] in 0..63.
// and the final codes of one super-block against its quantized sub-block scales, for the
// sub-blocks j with d[j] != 0 (the others are left alone):
//   codesK (Q4_K, Q5_K; 8 sub-blocks of 32): L = MAX(0, MIN(nmax, nearest_int((x + dm[j]) / d[j])))
//   codesQ6 (Q6_K; 16 sub-blocks of 16):     L = MAX(-32, MIN(31, nearest_int(x / d[j]))) + 32
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
using GgmlCodesK = void (*)(const float* x, const float* d, const float* dm, int nmax, uint8_t* L);
using GgmlCodesQ6 = void (*)(const float* x, const float* d, int8_t* L);

// One variant's functions.
struct GgmlKQuantKernels {
    GgmlFitQkx2 fitQkx2;
    GgmlFitQx fitQx;
    GgmlCodesK codesK;
    GgmlCodesQ6 codesQ6;
};

// GgmlKQuants.cpp: the scalar ports of ggml's code.
void ggmlFitQkx2Scalar(const float* x, int64_t count, const GgmlQkx2Params& p, float* scales, float* mins,
                       uint8_t* L);
void ggmlFitQxScalar(const float* x, int64_t count, float* scales, int8_t* L);
void ggmlCodesKScalar(const float* x, const float* d, const float* dm, int nmax, uint8_t* L);
void ggmlCodesQ6Scalar(const float* x, const float* d, int8_t* L);
GgmlKQuantKernels ggmlKQuantKernelsScalar();

// GgmlKQuantsAvx2.cpp / GgmlKQuantsAvx512.cpp; the *Compiled() functions say whether the file
// was built with its -m flags (false on other architectures, where the kernels are null).
bool ggmlKQuantsAvx2Compiled();
GgmlKQuantKernels ggmlKQuantKernelsAvx2();
bool ggmlKQuantsAvx512Compiled();
GgmlKQuantKernels ggmlKQuantKernelsAvx512();

} // namespace tbk::detail
