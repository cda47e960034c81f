// ElementwiseKernels.h, AVX-512F/BW/VL + FMA: 16 fp32 lanes, the scalar reference's operations
// lane by lane (same bits). Compiled with its -m flags and -ffp-contract=off
// (kernels/CMakeLists.txt); called only when cpuFeatures() reports them.
#include "cpu/ElementwiseKernelsDetail.h"

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__FMA__)

#include <immintrin.h>

#include <type_traits>

namespace tbk::detail {

namespace {

inline __mmask16 firstLanes(int64_t n) { return n >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1); }

// Up to 16 elements (n valid, the rest +0) as fp32.
inline __m512 load(const float* p, int64_t n) { return _mm512_maskz_loadu_ps(firstLanes(n), p); }
inline __m512 load(const uint16_t* p, int64_t n)
{
    const __m256i h = _mm256_maskz_loadu_epi16(firstLanes(n), p);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

// fp32 bits rounded to bf16 in place (low 16 bits cleared): nearest even, NaN -> 0x7FC0, as
// floatToBf16.
inline __m512i bf16Bits(__m512 v)
{
    const __m512i bits = _mm512_castps_si512(v);
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
    const __m512i rounded = _mm512_and_si512(_mm512_add_epi32(bits, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7FFF))),
                                             _mm512_set1_epi32(int32_t(0xFFFF0000u)));
    return _mm512_mask_blend_epi32(_mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), rounded, _mm512_set1_epi32(0x7FC00000));
}

// v rounded to E and widened back (roundTo<E>).
template <typename E>
inline __m512 roundLanes(__m512 v)
{
    if constexpr (std::is_same_v<E, float>)
        return v;
    else
        return _mm512_castsi512_ps(bf16Bits(v));
}

inline void store(float* p, __m512 v, int64_t n) { _mm512_mask_storeu_ps(p, firstLanes(n), v); }
inline void store(uint16_t* p, __m512 v, int64_t n)
{
    _mm256_mask_storeu_epi16(p, firstLanes(n), _mm512_cvtepi32_epi16(_mm512_srli_epi32(bf16Bits(v), 16)));
}

inline __m512 neg(__m512 v) { return _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(v), _mm512_set1_epi32(int32_t(0x80000000u)))); }

inline __m512 pow2i(__m512i e)
{
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(e, _mm512_set1_epi32(0x7F)), 23));
}

// sleefExpf, 16 lanes (this is SLEEF's own AVX-512 code path).
inline __m512 sleefExp(__m512 d)
{
    const __m512i q = _mm512_cvtps_epi32(_mm512_mul_ps(d, _mm512_set1_ps(kSleefRLn2)));
    const __m512 qf = _mm512_cvtepi32_ps(q);
    __m512 s = _mm512_fmadd_ps(qf, _mm512_set1_ps(-kSleefL2U), d);
    s = _mm512_fmadd_ps(qf, _mm512_set1_ps(-kSleefL2L), s);
    __m512 u = _mm512_set1_ps(kSleefExpC0);
    u = _mm512_fmadd_ps(u, s, _mm512_set1_ps(kSleefExpC1));
    u = _mm512_fmadd_ps(u, s, _mm512_set1_ps(kSleefExpC2));
    u = _mm512_fmadd_ps(u, s, _mm512_set1_ps(kSleefExpC3));
    u = _mm512_fmadd_ps(u, s, _mm512_set1_ps(kSleefExpC4));
    u = _mm512_fmadd_ps(u, s, _mm512_set1_ps(kSleefExpC5));
    u = _mm512_add_ps(_mm512_set1_ps(1.0f), _mm512_fmadd_ps(_mm512_mul_ps(s, s), u, s));
    const __m512i qh = _mm512_srai_epi32(q, 1);
    u = _mm512_mul_ps(_mm512_mul_ps(u, pow2i(qh)), pow2i(_mm512_sub_epi32(q, qh)));
    u = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(d, _mm512_set1_ps(-104.0f), _CMP_NLT_US), u); // 0 where d < -104
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(_mm512_set1_ps(100.0f), d, _CMP_LT_OQ), u,
                                _mm512_set1_ps(INFINITY));
}

template <typename E>
inline __m512 siluFromExp(__m512 g, __m512 e)
{
    const __m512 one = _mm512_set1_ps(1.0f);
    if constexpr (std::is_same_v<E, float>)
        return _mm512_div_ps(g, _mm512_add_ps(one, e));
    else
        return roundLanes<E>(_mm512_div_ps(g, roundLanes<E>(_mm512_add_ps(one, roundLanes<E>(e)))));
}

// ---- RMSNorm ------------------------------------------------------------------------------------

// ATen's cascade sum of x * x with U = 8 or 16 lanes (ElementwiseKernelsDetail.h): a group of
// 4 units is 4U floats, Z = U / 4 registers; each float keeps its accumulator slot.
template <typename E, int U>
float sumOfSquares(const E* x, int64_t n)
{
    constexpr int Z = U / 4;
    const int64_t groups = n / U / 4;
    const int64_t power = cascadeLevelPower(groups), step = int64_t(1) << power, mask = step - 1;
    __m512 acc[4][Z];
    for (auto& level : acc)
        for (__m512& z : level)
            z = _mm512_setzero_ps();
    auto addGroup = [&](int64_t i) {
        for (int z = 0; z < Z; ++z) {
            const __m512 v = load(x + i * 4 * U + 16 * z, 16);
            acc[0][z] = _mm512_add_ps(acc[0][z], _mm512_mul_ps(v, v));
        }
    };
    int64_t i = 0;
    while (i + step <= groups) {
        for (int64_t j = 0; j < step; ++j, ++i)
            addGroup(i);
        for (int lv = 1; lv < 4; ++lv) {
            for (int z = 0; z < Z; ++z) {
                acc[lv][z] = _mm512_add_ps(acc[lv][z], acc[lv - 1][z]);
                acc[lv - 1][z] = _mm512_setzero_ps();
            }
            if ((i & (mask << (lv * power))) != 0)
                break;
        }
    }
    for (; i < groups; ++i)
        addGroup(i);
    for (int lv = 1; lv < 4; ++lv)
        for (int z = 0; z < Z; ++z)
            acc[0][z] = _mm512_add_ps(acc[0][z], acc[lv][z]);
    alignas(64) float acc0[4 * U];
    for (int z = 0; z < Z; ++z)
        _mm512_store_ps(acc0 + 16 * z, acc[0][z]);
    return cascadeFinish(x, n, U, acc0);
}

template <typename E>
float sumOfSquares(const E* x, int64_t n, int lanes)
{
    if (n < lanes) { // ATen's scalar_inner_sum
        float acc0[4];
        cascadeGroupsScalar(x, n, 1, acc0);
        return cascadeFinish(x, n, 1, acc0);
    }
    return lanes == 16 ? sumOfSquares<E, 16>(x, n) : sumOfSquares<E, 8>(x, n);
}

template <typename E>
void rmsNormForwardRows(const RmsNormArgs& a, int64_t r0, int64_t r1)
{
    const E* w = static_cast<const E*>(a.weight);
    for (int64_t r = r0; r < r1; ++r) {
        const E* x = static_cast<const E*>(a.x) + r * a.xRowStride;
        E* y = static_cast<E*>(a.y) + r * a.yRowStride;
        const float rstd = rstdFromSum(sumOfSquares(x, a.dim, a.sumLanes), a.dim, a.eps);
        a.rstd[r] = rstd;
        const __m512 vr = _mm512_set1_ps(rstd);
        for (int64_t i = 0; i < a.dim; i += 16) {
            const int64_t n = a.dim - i;
            const __m512 normed = roundLanes<E>(_mm512_mul_ps(load(x + i, n), vr));
            store(y + i, _mm512_mul_ps(load(w + i, n), normed), n);
        }
    }
}

template <typename E>
void rmsNormBackwardRows(const RmsNormArgs& a, int64_t r0, int64_t r1, float* partial)
{
    const E* w = static_cast<const E*>(a.weight);
    const int64_t dim = a.dim;
    if (partial)
        for (int64_t i = 0; i < dim; i += 16)
            store(partial + i, _mm512_setzero_ps(), dim - i);
    for (int64_t r = r0; r < r1; ++r) {
        const E* x = static_cast<const E*>(a.x) + r * a.xRowStride;
        const E* dy = static_cast<const E*>(a.dy) + r * a.dyRowStride;
        E* dx = static_cast<E*>(a.dx) + r * a.dxRowStride;
        const float rstd = a.rstd[r];
        __m512 acc = _mm512_setzero_ps();
        for (int64_t i = 0; i < dim; i += 16) {
            const int64_t n = dim - i;
            acc = _mm512_add_ps(acc, _mm512_mul_ps(_mm512_mul_ps(load(dy + i, n), load(w + i, n)), load(x + i, n)));
        }
        alignas(64) float lanes[kDotLanes];
        _mm512_store_ps(lanes, acc);
        float dot = 0.0f;
        for (float l : lanes)
            dot += l;
        const __m512 vc = _mm512_set1_ps((dot / static_cast<float>(dim)) * (rstd * rstd));
        const __m512 vr = _mm512_set1_ps(rstd);
        for (int64_t i = 0; i < dim; i += 16) {
            const int64_t n = dim - i;
            const __m512 xi = load(x + i, n), dyi = load(dy + i, n);
            const __m512 g = _mm512_mul_ps(dyi, load(w + i, n));
            store(dx + i, _mm512_mul_ps(vr, _mm512_sub_ps(g, _mm512_mul_ps(xi, vc))), n);
            if (partial) {
                const __m512 normed = roundLanes<E>(_mm512_mul_ps(xi, vr));
                store(partial + i, _mm512_add_ps(load(partial + i, n), _mm512_mul_ps(dyi, normed)), n);
            }
        }
    }
}

// ---- SwiGLU -------------------------------------------------------------------------------------

template <typename E>
void swiGluForwardRows(const SwiGluArgs& a, int64_t r0, int64_t r1)
{
    for (int64_t r = r0; r < r1; ++r) {
        const E* g = static_cast<const E*>(a.gate) + r * a.gateRowStride;
        const E* u = static_cast<const E*>(a.up) + r * a.upRowStride;
        E* h = static_cast<E*>(a.h) + r * a.hRowStride;
        for (int64_t i = 0; i < a.cols; i += 16) {
            const int64_t n = a.cols - i;
            const __m512 gi = load(g + i, n);
            store(h + i, _mm512_mul_ps(siluFromExp<E>(gi, sleefExp(neg(gi))), load(u + i, n)), n);
        }
    }
}

template <typename E>
void swiGluBackwardRows(const SwiGluArgs& a, int64_t r0, int64_t r1)
{
    const __m512 one = _mm512_set1_ps(1.0f);
    for (int64_t r = r0; r < r1; ++r) {
        const E* g = static_cast<const E*>(a.gate) + r * a.gateRowStride;
        const E* u = static_cast<const E*>(a.up) + r * a.upRowStride;
        const E* dh = static_cast<const E*>(a.dh) + r * a.dhRowStride;
        E* dg = static_cast<E*>(a.dGate) + r * a.dGateRowStride;
        E* du = static_cast<E*>(a.dUp) + r * a.dUpRowStride;
        for (int64_t i = 0; i < a.cols; i += 16) {
            const int64_t n = a.cols - i;
            const __m512 gi = load(g + i, n), dhi = load(dh + i, n);
            const __m512 e = sleefExp(neg(gi));
            const __m512 sigma = _mm512_div_ps(one, _mm512_add_ps(one, e));
            const __m512 silu = siluFromExp<E>(gi, e);
            const __m512 slope = _mm512_add_ps(one, _mm512_mul_ps(gi, _mm512_sub_ps(one, sigma)));
            store(dg + i, _mm512_mul_ps(_mm512_mul_ps(_mm512_mul_ps(dhi, load(u + i, n)), sigma), slope), n);
            store(du + i, _mm512_mul_ps(dhi, silu), n);
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
            for (int64_t i = 0; i < half; i += 16) {
                const int64_t n = half - i;
                const __m512 x1 = load(in + i, n), x2 = load(in + half + i, n);
                const __m512 c1 = load(cs + i, n), c2 = load(cs + half + i, n);
                const __m512 s1 = load(sn + i, n), s2 = load(sn + half + i, n);
                __m512 o1, o2;
                if (!backward) {
                    o1 = _mm512_sub_ps(roundLanes<E>(_mm512_mul_ps(x1, c1)), roundLanes<E>(_mm512_mul_ps(x2, s1)));
                    o2 = _mm512_add_ps(roundLanes<E>(_mm512_mul_ps(x2, c2)), roundLanes<E>(_mm512_mul_ps(x1, s2)));
                } else {
                    o1 = _mm512_add_ps(roundLanes<E>(_mm512_mul_ps(x1, c1)), roundLanes<E>(_mm512_mul_ps(x2, s2)));
                    o2 = _mm512_sub_ps(roundLanes<E>(_mm512_mul_ps(x2, c2)), roundLanes<E>(_mm512_mul_ps(x1, s1)));
                }
                store(out + i, o1, n);
                store(out + half + i, o2, n);
            }
        }
    }
}

} // namespace

bool elementwiseAvx512Compiled() { return true; }

void rmsNormForwardAvx512(const RmsNormArgs& a, int64_t r0, int64_t r1)
{
    a.dtype == ElementwiseDtype::Bf16 ? rmsNormForwardRows<uint16_t>(a, r0, r1) : rmsNormForwardRows<float>(a, r0, r1);
}

void rmsNormBackwardAvx512(const RmsNormArgs& a, int64_t r0, int64_t r1, float* partial)
{
    a.dtype == ElementwiseDtype::Bf16 ? rmsNormBackwardRows<uint16_t>(a, r0, r1, partial)
                                      : rmsNormBackwardRows<float>(a, r0, r1, partial);
}

void swiGluForwardAvx512(const SwiGluArgs& a, int64_t r0, int64_t r1)
{
    a.dtype == ElementwiseDtype::Bf16 ? swiGluForwardRows<uint16_t>(a, r0, r1) : swiGluForwardRows<float>(a, r0, r1);
}

void swiGluBackwardAvx512(const SwiGluArgs& a, int64_t r0, int64_t r1)
{
    a.dtype == ElementwiseDtype::Bf16 ? swiGluBackwardRows<uint16_t>(a, r0, r1) : swiGluBackwardRows<float>(a, r0, r1);
}

void rotaryAvx512(const RotaryArgs& a, int64_t r0, int64_t r1, bool backward)
{
    a.dtype == ElementwiseDtype::Bf16 ? rotaryRows<uint16_t>(a, r0, r1, backward)
                                      : rotaryRows<float>(a, r0, r1, backward);
}

} // namespace tbk::detail

#else // not built with these instruction sets: never selected (elementwiseIsaSupported checks).

namespace tbk::detail {
bool elementwiseAvx512Compiled() { return false; }
void rmsNormForwardAvx512(const RmsNormArgs&, int64_t, int64_t) {}
void rmsNormBackwardAvx512(const RmsNormArgs&, int64_t, int64_t, float*) {}
void swiGluForwardAvx512(const SwiGluArgs&, int64_t, int64_t) {}
void swiGluBackwardAvx512(const SwiGluArgs&, int64_t, int64_t) {}
void rotaryAvx512(const RotaryArgs&, int64_t, int64_t, bool) {}
} // namespace tbk::detail

#endif
