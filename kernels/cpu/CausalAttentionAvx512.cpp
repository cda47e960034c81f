// Tiled attention, AVX-512F/BW/VL + FMA; bf16 pairs multiplied as two fp32 FMAs (CPUs without AVX512_BF16). Compiled with its -m flags (kernels/CMakeLists.txt); called only when
// cpuFeatures() reports them. The loops are in CausalAttentionAvx512Forward.h / Backward.h (on
// the tools of CausalAttentionAvx512Impl.h).
#include "cpu/CausalAttentionKernels.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__FMA__)

#define TBK_ATTN_NATIVE_BF16 0
#include "cpu/CausalAttentionAvx512Backward.h"
#include "cpu/CausalAttentionAvx512Forward.h"

namespace tbk::detail {

bool attentionAvx512Compiled() { return true; }

void attentionForwardAvx512(const AttentionArgs& a, int64_t b, int64_t h0, int64_t nh, int64_t i0, int64_t i1)
{
    if (a.dtype == AttentionDtype::Bf16)
        forwardTile<uint16_t>(a, b, h0, nh, i0, i1);
    else
        forwardTile<float>(a, b, h0, nh, i0, i1);
}

void attentionBackwardQAvx512(const AttentionArgs& a, int64_t b, int64_t h0, int64_t nh, int64_t i0, int64_t i1)
{
    if (a.dtype == AttentionDtype::Bf16)
        backwardQTile<uint16_t>(a, b, h0, nh, i0, i1);
    else
        backwardQTile<float>(a, b, h0, nh, i0, i1);
}

void attentionBackwardKvAvx512(const AttentionArgs& a, int64_t b, int64_t g, int64_t j0, int64_t j1)
{
    if (a.dtype == AttentionDtype::Bf16)
        backwardKvTile<uint16_t>(a, b, g, j0, j1);
    else
        backwardKvTile<float>(a, b, g, j0, j1);
}

} // namespace tbk::detail

#else // not built with these instruction sets: never selected (attentionIsaSupported checks).

namespace tbk::detail {
bool attentionAvx512Compiled() { return false; }
void attentionForwardAvx512(const AttentionArgs&, int64_t, int64_t, int64_t, int64_t, int64_t) {}
void attentionBackwardQAvx512(const AttentionArgs&, int64_t, int64_t, int64_t, int64_t, int64_t) {}
void attentionBackwardKvAvx512(const AttentionArgs&, int64_t, int64_t, int64_t, int64_t) {}
} // namespace tbk::detail

#endif
