// Internal to GgmlKQuantsAvx2.cpp and GgmlKQuantsAvx512.cpp: the k-quant kernels of
// GgmlKQuantsKernels.h written once over a small vector type V that each file defines with its
// intrinsics:
//   V::kLanes; V::F (floats), V::I (int32), V::M (lane mask); zero, set1, load, store (aligned),
//   add, sub, mul, div, sqrt, abs, lt/gt/eq (ordered, as C's < > ==), ne (unordered, as C's
//   !=), both (mask and), select(m, ifTrue, ifFalse); addI(I, int), clampI(I, lo, hi),
//   nearestInt(F) -> I (ggml's nearest_int), toFloat(I); on single registers also loadu,
//   storeBytes (the low byte of each lane) and transpose8x8(src, srcStride, dst, dstStride):
//   dst[r * dstStride + c] = src[c * srcStride + r] for r, c < 8.
// The scale searches (fits) run one sub-block per lane; the code writers one element per lane.
//
// Why the bytes stay ggml's: every lane runs exactly the scalar code of GgmlKQuants.cpp
// (makeQkx2Quants, makeQxQuants, the final-code loops) on its own sub-block or element -- the
// same fp32 operations on the same values in the same order, each one correctly rounded in a
// lane as in a scalar register, no FMA (-ffp-contract=off), nearest_int's magic-number trick
// as integer ops on the bits, and every `if` turned into a per-lane select of the same
// comparison (NaN compares as in C). The lanes are sub-blocks rather than candidate scales
// because the candidates are not independent: make_qkx2_quants moves `min` to each better
// candidate's fitted min, and the next candidate's iscale and codes are taken against it;
// make_qx_quants compares each with the best so far. The codes of the winning candidate are
// recomputed at the end from its iscale (and the min it was taken against), which gives the
// codes ggml kept.
//
// Everything here is in an anonymous namespace: each SIMD file compiles its own copy with its
// own -m flags, and the linker must never merge one file's copy into another.
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>

#include "cpu/GgmlKQuantsKernels.h"

namespace tbk::detail {
namespace {

constexpr float kLanesGroupMaxEps = 1e-15f; // ggml-quants.c GROUP_MAX_EPS

// Two registers of V as one vector of 2 * V::kLanes lanes: two independent sets of sub-blocks
// go through the search side by side, so the long dependency chains of one (each candidate's
// division, its 32-step sums, the next candidate waiting on the min it picked) overlap with
// the other's work.
template <class V>
struct LanePair {
    using Single = V;
    static constexpr int kLanes = 2 * V::kLanes;
    struct F {
        typename V::F a, b;
    };
    struct I {
        typename V::I a, b;
    };
    struct M {
        typename V::M a, b;
    };

    static F zero() { return {V::zero(), V::zero()}; }
    static F set1(float v) { return {V::set1(v), V::set1(v)}; }
    static F load(const float* p) { return {V::load(p), V::load(p + V::kLanes)}; }
    static void store(float* p, F v)
    {
        V::store(p, v.a);
        V::store(p + V::kLanes, v.b);
    }
    static F add(F x, F y) { return {V::add(x.a, y.a), V::add(x.b, y.b)}; }
    static F sub(F x, F y) { return {V::sub(x.a, y.a), V::sub(x.b, y.b)}; }
    static F mul(F x, F y) { return {V::mul(x.a, y.a), V::mul(x.b, y.b)}; }
    static F div(F x, F y) { return {V::div(x.a, y.a), V::div(x.b, y.b)}; }
    static F sqrt(F x) { return {V::sqrt(x.a), V::sqrt(x.b)}; }
    static F abs(F x) { return {V::abs(x.a), V::abs(x.b)}; }
    static M lt(F x, F y) { return {V::lt(x.a, y.a), V::lt(x.b, y.b)}; }
    static M gt(F x, F y) { return {V::gt(x.a, y.a), V::gt(x.b, y.b)}; }
    static M eq(F x, F y) { return {V::eq(x.a, y.a), V::eq(x.b, y.b)}; }
    static M ne(F x, F y) { return {V::ne(x.a, y.a), V::ne(x.b, y.b)}; }
    static M both(M x, M y) { return {V::both(x.a, y.a), V::both(x.b, y.b)}; }
    static F select(M m, F t, F f) { return {V::select(m.a, t.a, f.a), V::select(m.b, t.b, f.b)}; }
    static I addI(I x, int y) { return {V::addI(x.a, y), V::addI(x.b, y)}; }
    static I clampI(I x, int lo, int hi) { return {V::clampI(x.a, lo, hi), V::clampI(x.b, lo, hi)}; }
    static I nearestInt(F x) { return {V::nearestInt(x.a), V::nearestInt(x.b)}; }
    static F toFloat(I x) { return {V::toFloat(x.a), V::toFloat(x.b)}; }
};

// dst[i * W + lane] = src[lane * n + i]: element i of the first `active` sub-blocks of n
// floats, one sub-block per lane; the other lanes get zeros. Whole groups go through Tile's
// 8 x 8 register transposes (T::transpose8x8(src, srcStride, dst, dstStride)), a partial
// last group through plain copies.
template <class T, int W, int n>
void transposeToLanes(const float* src, int active, float* dst)
{
    static_assert(W % 8 == 0 && n % 8 == 0, "whole 8 x 8 tiles");
    if (active == W) {
        for (int lane = 0; lane < W; lane += 8)
            for (int i = 0; i < n; i += 8)
                T::transpose8x8(src + lane * n + i, n, dst + i * W + lane, W);
        return;
    }
    for (int lane = 0; lane < W; ++lane) {
        if (lane < active)
            for (int i = 0; i < n; ++i)
                dst[i * W + lane] = src[lane * n + i];
        else
            for (int i = 0; i < n; ++i)
                dst[i * W + lane] = 0.f;
    }
}

// Single: V itself when V is one register, V's register type when V is a LanePair.
template <class V, class = void>
struct SingleOf {
    using Type = V;
};
template <class V>
struct SingleOf<V, std::void_t<typename V::Single>> {
    using Type = typename V::Single;
};

// Element-wise code writers on n consecutive values (n a multiple of V::kLanes), each lane an
// element: the formulas of ggml's scalar loops with per-sub-block constants.
// L[i] = MAX(lo, MIN(hi, nearest_int(iscale * (x[i] - shift)))): make_qkx2_quants' codes.
template <class V>
void codesMulShift(const float* x, int n, float iscale, float shift, int lo, int hi, uint8_t* L)
{
    const typename V::F a = V::set1(iscale), b = V::set1(shift);
    for (int i = 0; i < n; i += V::kLanes)
        V::storeBytes(L + i, V::clampI(V::nearestInt(V::mul(a, V::sub(V::loadu(x + i), b))), lo, hi));
}

// L[i] = MAX(lo, MIN(hi, nearest_int(iscale * x[i]))) + offset: make_qx_quants' codes.
template <class V>
void codesMul(const float* x, int n, float iscale, int lo, int hi, int offset, int8_t* L)
{
    const typename V::F a = V::set1(iscale);
    for (int i = 0; i < n; i += V::kLanes)
        V::storeBytes(reinterpret_cast<uint8_t*>(L + i),
                      V::addI(V::clampI(V::nearestInt(V::mul(a, V::loadu(x + i))), lo, hi), offset));
}

// ggmlCodesKScalar: L = MAX(0, MIN(nmax, nearest_int((x + dm[j]) / d[j]))) where d[j] != 0.
template <class V>
void codesKLanes(const float* x, const float* d, const float* dm, int nmax, uint8_t* L)
{
    for (int j = 0; j < 8; ++j) {
        if (!d[j])
            continue;
        const typename V::F vd = V::set1(d[j]), vdm = V::set1(dm[j]);
        for (int i = 32 * j; i < 32 * j + 32; i += V::kLanes)
            V::storeBytes(L + i, V::clampI(V::nearestInt(V::div(V::add(V::loadu(x + i), vdm), vd)), 0, nmax));
    }
}

// ggmlCodesQ6Scalar: L = MAX(-32, MIN(31, nearest_int(x / d[j]))) + 32 where d[j] != 0.
template <class V>
void codesQ6Lanes(const float* x, const float* d, int8_t* L)
{
    for (int j = 0; j < 16; ++j) {
        if (!d[j])
            continue;
        const typename V::F vd = V::set1(d[j]);
        for (int i = 16 * j; i < 16 * j + 16; i += V::kLanes)
            V::storeBytes(reinterpret_cast<uint8_t*>(L + i),
                          V::addI(V::clampI(V::nearestInt(V::div(V::loadu(x + i), vd)), -32, 31), 32));
    }
}

template <class V>
void fitQkx2Lanes(const float* x, int64_t count, const GgmlQkx2Params& p, float* scales, float* mins, uint8_t* L)
{
    using Single = typename SingleOf<V>::Type;
    using F = typename V::F;
    using M = typename V::M;
    constexpr int W = V::kLanes;
    constexpr int n = 32;
    alignas(64) float xt[n * W];      // xt[i * W + lane]: element i of the lane's sub-block
    alignas(64) float wt[n * W];      // its weight, av_x + |x|
    alignas(64) float codes[n * W];   // one candidate's codes (Laux), as floats
    alignas(64) float outScale[W];
    alignas(64) float outMin[W];
    alignas(64) float outIscale[W];
    alignas(64) float outShift[W];
    alignas(64) float outFlat[W];
    const F zero = V::zero();
    const float nmaxF = static_cast<float>(p.nmax); // ggml's int nmax in float expressions
    const int lastStep = p.nstep < 1 ? -1 : p.nstep; // nstep < 1: ggml returns before the search

    for (int64_t g = 0; g < count; g += W) {
        const int active = static_cast<int>(count - g < W ? count - g : W);
        transposeToLanes<Single, W, n>(x + g * n, active, xt);

        // quantize_row_q4_K_ref: av_x = sqrt(sum x^2 / 32), weights av_x + |x|.
        F sumX2 = zero;
        for (int i = 0; i < n; ++i) {
            const F v = V::load(xt + i * W);
            sumX2 = V::add(sumX2, V::mul(v, v));
        }
        const F avX = V::sqrt(V::div(sumX2, V::set1(32.f)));
        for (int i = 0; i < n; ++i)
            V::store(wt + i * W, V::add(avX, V::abs(V::load(xt + i * W))));

        // make_qkx2_quants
        F min = V::load(xt);
        F max = min;
        F sumW = V::load(wt);
        F sumX = V::mul(sumW, min);
        for (int i = 1; i < n; ++i) {
            const F v = V::load(xt + i * W);
            min = V::select(V::lt(v, min), v, min);
            max = V::select(V::gt(v, max), v, max);
            const F w = V::load(wt + i * W);
            sumW = V::add(sumW, w);
            sumX = V::add(sumX, V::mul(w, v));
        }
        min = V::select(V::gt(min, zero), zero, min);
        const M flat = V::eq(max, min); // ggml: L = 0, the_min = -min, scale 0
        const F flatMin = min;

        F iscale = V::div(V::set1(nmaxF), V::sub(max, min));
        F scale = V::div(V::set1(1.f), iscale);
        F bestError = zero;
        for (int i = 0; i < n; ++i) {
            const F v = V::load(xt + i * W);
            const F l = V::toFloat(V::clampI(V::nearestInt(V::mul(iscale, V::sub(v, min))), 0, p.nmax));
            F diff = V::sub(V::add(V::mul(scale, l), min), v);
            diff = V::mul(diff, diff);
            bestError = V::add(bestError, V::mul(V::load(wt + i * W), diff));
        }
        // The kept codes are nearest_int(bestIscale * (x - bestShift)) clamped.
        F bestIscale = iscale;
        F bestShift = min;

        for (int is = 0; is <= lastStep; ++is) {
            iscale = V::div(V::set1(p.rmin + p.rdelta * static_cast<float>(is) + nmaxF), V::sub(max, min));
            F sumL = zero, sumL2 = zero, sumXL = zero;
            for (int i = 0; i < n; ++i) {
                const F v = V::load(xt + i * W);
                const F l = V::toFloat(V::clampI(V::nearestInt(V::mul(iscale, V::sub(v, min))), 0, p.nmax));
                V::store(codes + i * W, l);
                const F wl = V::mul(V::load(wt + i * W), l);
                sumL = V::add(sumL, wl);
                sumL2 = V::add(sumL2, V::mul(wl, l));
                sumXL = V::add(sumXL, V::mul(wl, v));
            }
            const F D = V::sub(V::mul(sumW, sumL2), V::mul(sumL, sumL));
            const M valid = V::gt(D, zero);
            F thisScale = V::div(V::sub(V::mul(sumW, sumXL), V::mul(sumX, sumL)), D);
            F thisMin = V::div(V::sub(V::mul(sumL2, sumX), V::mul(sumL, sumXL)), D);
            const M positiveMin = V::gt(thisMin, zero);
            thisMin = V::select(positiveMin, zero, thisMin);
            thisScale = V::select(positiveMin, V::div(sumXL, sumL2), thisScale);
            F curError = zero;
            for (int i = 0; i < n; ++i) {
                F diff = V::sub(V::add(V::mul(thisScale, V::load(codes + i * W)), thisMin), V::load(xt + i * W));
                diff = V::mul(diff, diff);
                curError = V::add(curError, V::mul(V::load(wt + i * W), diff));
            }
            const M better = V::both(valid, V::lt(curError, bestError));
            bestError = V::select(better, curError, bestError);
            bestIscale = V::select(better, iscale, bestIscale);
            bestShift = V::select(better, min, bestShift);
            scale = V::select(better, thisScale, scale);
            min = V::select(better, thisMin, min);
        }

        V::store(outScale, V::select(flat, zero, scale));
        V::store(outMin, V::select(flat, flatMin, min));
        V::store(outIscale, bestIscale);
        V::store(outShift, bestShift);
        V::store(outFlat, V::select(flat, V::set1(1.f), zero));
        for (int lane = 0; lane < active; ++lane) {
            scales[g + lane] = outScale[lane];
            mins[g + lane] = -outMin[lane]; // ggml's *the_min = -min (a 0 becomes -0)
            uint8_t* Lj = L + (g + lane) * n;
            if (outFlat[lane] != 0.f)
                std::memset(Lj, 0, n);
            else
                codesMulShift<Single>(x + (g + lane) * n, n, outIscale[lane], outShift[lane], 0, p.nmax, Lj);
        }
    }
}

// ggmlFitQxScalar (make_qx_quants(16, 32, x, L, rmse_type 1, NULL)), kLanes sub-blocks of 16 at
// a time.
template <class V>
void fitQxLanes(const float* x, int64_t count, float* scales, int8_t* L)
{
    using Single = typename SingleOf<V>::Type;
    using F = typename V::F;
    using M = typename V::M;
    constexpr int W = V::kLanes;
    constexpr int n = 16;
    constexpr int nmax = 32;
    alignas(64) float xt[n * W];
    alignas(64) float wt[n * W];  // w = x * x
    alignas(64) float wxt[n * W]; // w * x, the first product of w*x[i]*l
    alignas(64) float outScale[W];
    alignas(64) float outIscale[W];
    alignas(64) float outZero[W];
    const F zero = V::zero();

    for (int64_t g = 0; g < count; g += W) {
        const int active = static_cast<int>(count - g < W ? count - g : W);
        transposeToLanes<Single, W, n>(x + g * n, active, xt);

        F max = zero;
        F amax = zero;
        for (int i = 0; i < n; ++i) {
            const F v = V::load(xt + i * W);
            const F ax = V::abs(v);
            const M larger = V::gt(ax, amax);
            amax = V::select(larger, ax, amax);
            max = V::select(larger, v, max);
            const F w = V::mul(v, v);
            V::store(wt + i * W, w);
            V::store(wxt + i * W, V::mul(w, v));
        }
        const M allZero = V::lt(amax, V::set1(kLanesGroupMaxEps)); // ggml: L = 0, scale 0

        F iscale = V::div(V::set1(static_cast<float>(-nmax)), max);
        F sumlx = zero, suml2 = zero;
        for (int i = 0; i < n; ++i) {
            const F l = V::toFloat(V::clampI(V::nearestInt(V::mul(iscale, V::load(xt + i * W))), -nmax, nmax - 1));
            sumlx = V::add(sumlx, V::mul(V::load(wxt + i * W), l));
            suml2 = V::add(suml2, V::mul(V::mul(V::load(wt + i * W), l), l));
        }
        F scale = V::select(V::ne(suml2, zero), V::div(sumlx, suml2), zero);
        F bestValue = V::mul(scale, sumlx); // ggml's `best`
        F bestIscale = iscale;
        for (int is = -9; is <= 9; ++is) {
            if (is == 0)
                continue;
            iscale = V::div(V::set1(-(static_cast<float>(nmax) + 0.1f * static_cast<float>(is))), max);
            sumlx = suml2 = zero;
            for (int i = 0; i < n; ++i) {
                const F l =
                    V::toFloat(V::clampI(V::nearestInt(V::mul(iscale, V::load(xt + i * W))), -nmax, nmax - 1));
                sumlx = V::add(sumlx, V::mul(V::load(wxt + i * W), l));
                suml2 = V::add(suml2, V::mul(V::mul(V::load(wt + i * W), l), l));
            }
            const M better = V::both(V::gt(suml2, zero), V::gt(V::mul(sumlx, sumlx), V::mul(bestValue, suml2)));
            scale = V::select(better, V::div(sumlx, suml2), scale);
            bestValue = V::select(better, V::mul(scale, sumlx), bestValue);
            bestIscale = V::select(better, iscale, bestIscale);
        }

        V::store(outScale, V::select(allZero, zero, scale));
        V::store(outIscale, bestIscale);
        V::store(outZero, V::select(allZero, V::set1(1.f), zero));
        for (int lane = 0; lane < active; ++lane) {
            scales[g + lane] = outScale[lane];
            int8_t* Lj = L + (g + lane) * n;
            if (outZero[lane] != 0.f)
                std::memset(Lj, 0, n);
            else
                codesMul<Single>(x + (g + lane) * n, n, outIscale[lane], -nmax, nmax - 1, nmax, Lj);
        }
    }
}

} // namespace
} // namespace tbk::detail
