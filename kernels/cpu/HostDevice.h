// TBK_HD marks the small inline helpers (bf16 rounding, NF4 and dynamic-map nearest code) that
// the CPU kernels and kernels/cuda/*.cu share, so both sides round and decide identically.
#pragma once

#if defined(__CUDACC__)
#define TBK_HD __host__ __device__ __forceinline__
#else
// static: each translation unit keeps its own copy, so the copy compiled with -mavx512f in
// Nf4DequantAvx512.cpp can never be the one the linker picks for the portable code.
#define TBK_HD static inline
#endif
