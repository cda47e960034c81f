// Dispatch for ElementwiseKernels.h: argument checks, ISA choice, and the task -> row mapping.
#include "cpu/ElementwiseKernels.h"

#include <algorithm>

#include "cpu/CpuFeatures.h"
#include "cpu/ElementwiseKernelsDetail.h"

namespace tbk {

namespace {

constexpr int64_t kTaskElements = 32768;

ElementwiseIsa resolve(ElementwiseIsa isa) { return isa == ElementwiseIsa::Auto ? elementwiseBestIsa() : isa; }

bool isaOk(ElementwiseIsa isa) { return isa == ElementwiseIsa::Auto || elementwiseIsaSupported(isa); }

// Runs fn(r0, r1, task) for each task of [taskBegin, taskEnd).
template <typename Fn>
void forTaskRows(int64_t rows, int64_t rowElements, int64_t taskBegin, int64_t taskEnd, const Fn& fn)
{
    const int64_t per = elementwiseTaskRows(rowElements);
    for (int64_t t = taskBegin; t < taskEnd; ++t)
        fn(t * per, std::min(rows, (t + 1) * per), t);
}

} // namespace

const char* elementwiseIsaName(ElementwiseIsa isa)
{
    switch (isa) {
    case ElementwiseIsa::Auto: return "auto";
    case ElementwiseIsa::Scalar: return "scalar";
    case ElementwiseIsa::Avx512: return "avx512";
    }
    return "unknown";
}

bool elementwiseIsaSupported(ElementwiseIsa isa)
{
    const CpuFeatures& f = cpuFeatures();
    switch (isa) {
    case ElementwiseIsa::Auto:
    case ElementwiseIsa::Scalar: return true;
    // VL comes with BW on every such CPU; FMA is needed for SLEEF's exp.
    case ElementwiseIsa::Avx512: return detail::elementwiseAvx512Compiled() && f.avx512f && f.avx512bw && f.fma;
    }
    return false;
}

ElementwiseIsa elementwiseBestIsa()
{
    return elementwiseIsaSupported(ElementwiseIsa::Avx512) ? ElementwiseIsa::Avx512 : ElementwiseIsa::Scalar;
}

int64_t elementwiseTaskRows(int64_t rowElements)
{
    return rowElements <= 0 ? kTaskElements : std::max<int64_t>(1, (kTaskElements + rowElements - 1) / rowElements);
}

int64_t elementwiseTasks(int64_t rows, int64_t rowElements)
{
    if (rows <= 0)
        return 0;
    const int64_t per = elementwiseTaskRows(rowElements);
    return (rows + per - 1) / per;
}

// ---- RMSNorm ------------------------------------------------------------------------------------

KernelStatus rmsNormCheck(const RmsNormArgs& a, ElementwisePass pass)
{
    if (a.rows < 0 || a.dim < 0 || (a.rows > 0 && a.dim < 1) || (a.sumLanes != 8 && a.sumLanes != 16))
        return KernelStatus::BadSize;
    if (!isaOk(a.isa))
        return KernelStatus::IsaUnavailable;
    if (a.rows == 0)
        return KernelStatus::Ok;
    if (!a.x || !a.weight || !a.rstd)
        return KernelStatus::NullPointer;
    if (pass == ElementwisePass::Forward && !a.y)
        return KernelStatus::NullPointer;
    if (pass == ElementwisePass::Backward && (!a.dy || !a.dx))
        return KernelStatus::NullPointer;
    return KernelStatus::Ok;
}

int64_t rmsNormTasks(const RmsNormArgs& a) { return elementwiseTasks(a.rows, a.dim); }

void rmsNormForward(const RmsNormArgs& a, int64_t taskBegin, int64_t taskEnd)
{
    const bool simd = resolve(a.isa) == ElementwiseIsa::Avx512;
    forTaskRows(a.rows, a.dim, taskBegin, taskEnd, [&](int64_t r0, int64_t r1, int64_t) {
        simd ? detail::rmsNormForwardAvx512(a, r0, r1) : detail::rmsNormForwardScalar(a, r0, r1);
    });
}

void rmsNormBackward(const RmsNormArgs& a, int64_t taskBegin, int64_t taskEnd)
{
    const bool simd = resolve(a.isa) == ElementwiseIsa::Avx512;
    forTaskRows(a.rows, a.dim, taskBegin, taskEnd, [&](int64_t r0, int64_t r1, int64_t t) {
        float* partial = a.weightGradPartials ? a.weightGradPartials + t * a.dim : nullptr;
        simd ? detail::rmsNormBackwardAvx512(a, r0, r1, partial) : detail::rmsNormBackwardScalar(a, r0, r1, partial);
    });
}

void rmsNormReduceWeightGrad(const float* partials, int64_t tasks, int64_t dim, float* out, int64_t colBegin,
                             int64_t colEnd)
{
    for (int64_t c = colBegin; c < colEnd; ++c)
        out[c] = 0.0f;
    // Task-major so each pass streams one partial row; per column the order is t = 0, 1, ...
    for (int64_t t = 0; t < tasks; ++t) {
        const float* p = partials + t * dim;
        for (int64_t c = colBegin; c < colEnd; ++c)
            out[c] += p[c];
    }
}

// ---- SwiGLU -------------------------------------------------------------------------------------

KernelStatus swiGluCheck(const SwiGluArgs& a, ElementwisePass pass)
{
    if (a.rows < 0 || a.cols < 0)
        return KernelStatus::BadSize;
    if (!isaOk(a.isa))
        return KernelStatus::IsaUnavailable;
    if (a.rows == 0 || a.cols == 0)
        return KernelStatus::Ok;
    if (!a.gate || !a.up)
        return KernelStatus::NullPointer;
    if (pass == ElementwisePass::Forward && !a.h)
        return KernelStatus::NullPointer;
    if (pass == ElementwisePass::Backward && (!a.dh || !a.dGate || !a.dUp))
        return KernelStatus::NullPointer;
    return KernelStatus::Ok;
}

int64_t swiGluTasks(const SwiGluArgs& a) { return a.cols == 0 ? 0 : elementwiseTasks(a.rows, a.cols); }

void swiGluForward(const SwiGluArgs& a, int64_t taskBegin, int64_t taskEnd)
{
    const bool simd = resolve(a.isa) == ElementwiseIsa::Avx512;
    forTaskRows(a.rows, a.cols, taskBegin, taskEnd, [&](int64_t r0, int64_t r1, int64_t) {
        simd ? detail::swiGluForwardAvx512(a, r0, r1) : detail::swiGluForwardScalar(a, r0, r1);
    });
}

void swiGluBackward(const SwiGluArgs& a, int64_t taskBegin, int64_t taskEnd)
{
    const bool simd = resolve(a.isa) == ElementwiseIsa::Avx512;
    forTaskRows(a.rows, a.cols, taskBegin, taskEnd, [&](int64_t r0, int64_t r1, int64_t) {
        simd ? detail::swiGluBackwardAvx512(a, r0, r1) : detail::swiGluBackwardScalar(a, r0, r1);
    });
}

// ---- Rotary -------------------------------------------------------------------------------------

KernelStatus rotaryCheck(const RotaryArgs& a)
{
    if (a.batch < 0 || a.seq < 0 || a.heads < 0 || a.headDim < 2 || a.headDim % 2 != 0)
        return KernelStatus::BadSize;
    if (!isaOk(a.isa))
        return KernelStatus::IsaUnavailable;
    if (a.batch == 0 || a.seq == 0 || a.heads == 0)
        return KernelStatus::Ok;
    if (!a.in || !a.out || !a.cos || !a.sin)
        return KernelStatus::NullPointer;
    return KernelStatus::Ok;
}

int64_t rotaryTasks(const RotaryArgs& a)
{
    return a.heads == 0 ? 0 : elementwiseTasks(a.batch * a.seq, a.heads * a.headDim);
}

namespace {

void rotaryRun(const RotaryArgs& a, int64_t taskBegin, int64_t taskEnd, bool backward)
{
    const bool simd = resolve(a.isa) == ElementwiseIsa::Avx512;
    forTaskRows(a.batch * a.seq, a.heads * a.headDim, taskBegin, taskEnd, [&](int64_t r0, int64_t r1, int64_t) {
        simd ? detail::rotaryAvx512(a, r0, r1, backward) : detail::rotaryScalar(a, r0, r1, backward);
    });
}

} // namespace

void rotaryForward(const RotaryArgs& a, int64_t taskBegin, int64_t taskEnd) { rotaryRun(a, taskBegin, taskEnd, false); }
void rotaryBackward(const RotaryArgs& a, int64_t taskBegin, int64_t taskEnd) { rotaryRun(a, taskBegin, taskEnd, true); }

} // namespace tbk
