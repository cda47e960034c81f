// Scalar reference of ElementwiseKernels.h: one element at a time, the operations in the order
// the header specifies (the AVX-512 variant reproduces them lane by lane).
#include "cpu/ElementwiseKernelsDetail.h"

namespace tbk::detail {

namespace {

template <typename E>
const E* rowOf(const void* base, int64_t stride, int64_t r)
{
    return static_cast<const E*>(base) + r * stride;
}
template <typename E>
E* rowOf(void* base, int64_t stride, int64_t r)
{
    return static_cast<E*>(base) + r * stride;
}

// ---- RMSNorm ------------------------------------------------------------------------------------

template <typename E>
float sumOfSquares(const E* x, int64_t n, int lanes)
{
    float acc0[64];
    const int U = n < lanes ? 1 : lanes; // ATen's scalar_inner_sum below one vector
    cascadeGroupsScalar(x, n / U, U, acc0);
    return cascadeFinish(x, n, U, acc0);
}

template <typename E>
void rmsNormForwardRows(const RmsNormArgs& a, int64_t r0, int64_t r1)
{
    const E* w = static_cast<const E*>(a.weight);
    for (int64_t r = r0; r < r1; ++r) {
        const E* x = rowOf<E>(a.x, a.xRowStride, r);
        E* y = rowOf<E>(a.y, a.yRowStride, r);
        const float rstd = rstdFromSum(sumOfSquares(x, a.dim, a.sumLanes), a.dim, a.eps);
        a.rstd[r] = rstd;
        for (int64_t i = 0; i < a.dim; ++i)
            y[i] = fromF32<E>(toF32(w[i]) * roundTo<E>(toF32(x[i]) * rstd));
    }
}

template <typename E>
void rmsNormBackwardRows(const RmsNormArgs& a, int64_t r0, int64_t r1, float* partial)
{
    const E* w = static_cast<const E*>(a.weight);
    const int64_t n = a.dim, padded = (n + kDotLanes - 1) / kDotLanes * kDotLanes;
    if (partial)
        for (int64_t i = 0; i < n; ++i)
            partial[i] = 0.0f;
    for (int64_t r = r0; r < r1; ++r) {
        const E* x = rowOf<E>(a.x, a.xRowStride, r);
        const E* dy = rowOf<E>(a.dy, a.dyRowStride, r);
        E* dx = rowOf<E>(a.dx, a.dxRowStride, r);
        const float rstd = a.rstd[r];
        // dot = sum g * x in kDotLanes lanes; the padding past n adds +0 as the masked lanes do.
        float lanes[kDotLanes] = {};
        for (int64_t i = 0; i < padded; ++i)
            lanes[i % kDotLanes] += i < n ? (toF32(dy[i]) * toF32(w[i])) * toF32(x[i]) : 0.0f;
        float dot = 0.0f;
        for (float l : lanes)
            dot += l;
        const float c = (dot / static_cast<float>(n)) * (rstd * rstd);
        for (int64_t i = 0; i < n; ++i) {
            const float xi = toF32(x[i]), dyi = toF32(dy[i]);
            const float g = dyi * toF32(w[i]);
            dx[i] = fromF32<E>(rstd * (g - xi * c));
            if (partial)
                partial[i] += dyi * roundTo<E>(xi * rstd);
        }
    }
}

// ---- SwiGLU -------------------------------------------------------------------------------------

template <typename E>
void swiGluForwardRows(const SwiGluArgs& a, int64_t r0, int64_t r1)
{
    for (int64_t r = r0; r < r1; ++r) {
        const E* g = rowOf<E>(a.gate, a.gateRowStride, r);
        const E* u = rowOf<E>(a.up, a.upRowStride, r);
        E* h = rowOf<E>(a.h, a.hRowStride, r);
        for (int64_t i = 0; i < a.cols; ++i) {
            const float gi = toF32(g[i]);
            h[i] = fromF32<E>(siluFromExp<E>(gi, sleefExpf(-gi)) * toF32(u[i]));
        }
    }
}

template <typename E>
void swiGluBackwardRows(const SwiGluArgs& a, int64_t r0, int64_t r1)
{
    for (int64_t r = r0; r < r1; ++r) {
        const E* g = rowOf<E>(a.gate, a.gateRowStride, r);
        const E* u = rowOf<E>(a.up, a.upRowStride, r);
        const E* dh = rowOf<E>(a.dh, a.dhRowStride, r);
        E* dg = rowOf<E>(a.dGate, a.dGateRowStride, r);
        E* du = rowOf<E>(a.dUp, a.dUpRowStride, r);
        for (int64_t i = 0; i < a.cols; ++i) {
            const float gi = toF32(g[i]), dhi = toF32(dh[i]);
            const float e = sleefExpf(-gi);
            const float sigma = 1.0f / (1.0f + e);
            const float silu = siluFromExp<E>(gi, e);
            dg[i] = fromF32<E>(((dhi * toF32(u[i])) * sigma) * (1.0f + gi * (1.0f - sigma)));
            du[i] = fromF32<E>(dhi * silu);
        }
    }
}

// ---- Rotary -------------------------------------------------------------------------------------

template <typename E>
void rotaryRows(const RotaryArgs& a, int64_t r0, int64_t r1, bool backward)
{
    const int64_t half = a.headDim / 2;
    for (int64_t r = r0; r < r1; ++r) {
        const int64_t b = r / a.seq, t = r % a.seq;
        const E* cs = static_cast<const E*>(a.cos) + t * a.cosRowStride;
        const E* sn = static_cast<const E*>(a.sin) + t * a.sinRowStride;
        for (int64_t hd = 0; hd < a.heads; ++hd) {
            const E* in = static_cast<const E*>(a.in) + b * a.inStride.batch + t * a.inStride.time + hd * a.inStride.head;
            E* out = static_cast<E*>(a.out) + b * a.outStride.batch + t * a.outStride.time + hd * a.outStride.head;
            for (int64_t i = 0; i < half; ++i) {
                const float x1 = toF32(in[i]), x2 = toF32(in[i + half]);
                const float c1 = toF32(cs[i]), c2 = toF32(cs[i + half]);
                const float s1 = toF32(sn[i]), s2 = toF32(sn[i + half]);
                float o1, o2;
                if (!backward) {
                    o1 = roundTo<E>(x1 * c1) - roundTo<E>(x2 * s1);
                    o2 = roundTo<E>(x2 * c2) + roundTo<E>(x1 * s2);
                } else {
                    o1 = roundTo<E>(x1 * c1) + roundTo<E>(x2 * s2);
                    o2 = roundTo<E>(x2 * c2) - roundTo<E>(x1 * s1);
                }
                out[i] = fromF32<E>(o1);
                out[i + half] = fromF32<E>(o2);
            }
        }
    }
}

} // namespace

void rmsNormForwardScalar(const RmsNormArgs& a, int64_t r0, int64_t r1)
{
    a.dtype == ElementwiseDtype::Bf16 ? rmsNormForwardRows<uint16_t>(a, r0, r1) : rmsNormForwardRows<float>(a, r0, r1);
}

void rmsNormBackwardScalar(const RmsNormArgs& a, int64_t r0, int64_t r1, float* partial)
{
    a.dtype == ElementwiseDtype::Bf16 ? rmsNormBackwardRows<uint16_t>(a, r0, r1, partial)
                                      : rmsNormBackwardRows<float>(a, r0, r1, partial);
}

void swiGluForwardScalar(const SwiGluArgs& a, int64_t r0, int64_t r1)
{
    a.dtype == ElementwiseDtype::Bf16 ? swiGluForwardRows<uint16_t>(a, r0, r1) : swiGluForwardRows<float>(a, r0, r1);
}

void swiGluBackwardScalar(const SwiGluArgs& a, int64_t r0, int64_t r1)
{
    a.dtype == ElementwiseDtype::Bf16 ? swiGluBackwardRows<uint16_t>(a, r0, r1) : swiGluBackwardRows<float>(a, r0, r1);
}

void rotaryScalar(const RotaryArgs& a, int64_t r0, int64_t r1, bool backward)
{
    a.dtype == ElementwiseDtype::Bf16 ? rotaryRows<uint16_t>(a, r0, r1, backward)
                                      : rotaryRows<float>(a, r0, r1, backward);
}

} // namespace tbk::detail
