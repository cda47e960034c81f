#include "model/FusedElementwise.h"

#include "cpu/ElementwiseKernels.h"

#include "core/ParallelTasks.h"
#include <torch/csrc/autograd/custom_function.h>

#include <cstring>
#include <stdexcept>
#include <string>

namespace tb {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// ---- the plain op sequences (what the engine computed before; the fallback) -------------------

at::Tensor rmsNormOps(const at::Tensor& x, const at::Tensor& weight, double eps)
{
    const at::Tensor xf = x.to(at::kFloat);
    const at::Tensor normed = xf * at::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps);
    return weight * normed.to(x.scalar_type());
}

at::Tensor swiGluOps(const at::Tensor& gate, const at::Tensor& up) { return at::silu(gate) * up; }

at::Tensor rotaryOps(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin)
{
    const int64_t half = x.size(-1) / 2;
    const at::Tensor rotated = at::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
    // [T, D] against [B, T, H, D]: broadcast over heads.
    const at::Tensor c = cos.dim() == 2 ? cos.unsqueeze(1) : cos, s = sin.dim() == 2 ? sin.unsqueeze(1) : sin;
    return x * c + rotated * s;
}

// ---- helpers ----------------------------------------------------------------------------------

bool kernelDtype(const at::Tensor& t)
{
    return t.device().is_cpu() && (t.scalar_type() == at::kBFloat16 || t.scalar_type() == at::kFloat);
}

tbk::ElementwiseDtype dtypeOf(const at::Tensor& t)
{
    return t.scalar_type() == at::kBFloat16 ? tbk::ElementwiseDtype::Bf16 : tbk::ElementwiseDtype::F32;
}

// The element stride between consecutive rows when t is a uniform grid of rows of its last
// dimension, that dimension contiguous; -1 when it is not (an expanded or permuted view).
int64_t uniformRowStride(const at::Tensor& t)
{
    if (t.dim() == 0)
        return -1;
    const int64_t last = t.size(-1);
    if (last > 1 && t.stride(-1) != 1)
        return -1;
    int64_t rowStride = 0, inner = 1;
    bool first = true;
    for (int64_t k = t.dim() - 2; k >= 0; --k) {
        if (t.size(k) == 1)
            continue;
        if (first) {
            rowStride = t.stride(k);
            first = false;
        } else if (t.stride(k) != rowStride * inner) {
            return -1;
        }
        inner *= t.size(k);
    }
    if (first)
        return last; // one row
    return rowStride >= 1 ? rowStride : -1;
}

// t itself when it is a uniform grid of rows, else a contiguous copy.
at::Tensor asRows(const at::Tensor& t) { return uniformRowStride(t) >= 0 ? t : t.contiguous(); }

void check(tbk::KernelStatus s, const char* what)
{
    if (s != tbk::KernelStatus::Ok)
        throw std::runtime_error(std::string(what) + ": " + tbk::kernelStatusName(s));
}

// The kernels' tasks are independent and of equal size; grain 1 gives each
// of LibTorch's threads a contiguous range of them.
template <typename Pass>
void runTasks(int64_t tasks, const Pass& pass)
{
    runParallelTasks(tasks, 1, [&](int64_t begin, int64_t end) { pass(begin, end); });
}

// ---- RMSNorm ----------------------------------------------------------------------------------

tbk::RmsNormArgs rmsArgs(const at::Tensor& x, const at::Tensor& weight, int lanes)
{
    tbk::RmsNormArgs a;
    a.dim = x.size(-1);
    a.rows = x.numel() / a.dim;
    a.dtype = dtypeOf(x);
    a.sumLanes = lanes;
    a.x = x.data_ptr();
    a.xRowStride = uniformRowStride(x);
    a.weight = weight.data_ptr();
    return a;
}

class RmsNormFunction : public torch::autograd::Function<RmsNormFunction> {
public:
    static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight, double eps)
    {
        tbk::RmsNormArgs a = rmsArgs(x, weight, fusedRmsNormSumLanes());
        a.eps = static_cast<float>(eps); // as ATen's add of a Python scalar to an fp32 tensor
        at::Tensor y = at::empty(x.sizes(), x.options().memory_format(at::MemoryFormat::Contiguous));
        at::Tensor rstd = at::empty({a.rows}, x.options().dtype(at::kFloat));
        a.y = y.data_ptr();
        a.yRowStride = a.dim;
        a.rstd = rstd.data_ptr<float>();
        check(tbk::rmsNormCheck(a, tbk::ElementwisePass::Forward), "fused RMSNorm");
        runTasks(tbk::rmsNormTasks(a), [&](int64_t b, int64_t e) { tbk::rmsNormForward(a, b, e); });
        ctx->save_for_backward({x, weight, rstd});
        return y;
    }

    static variable_list backward(AutogradContext* ctx, variable_list grads)
    {
        const bool wantX = ctx->needs_input_grad(0), wantW = ctx->needs_input_grad(1);
        if (!grads[0].defined() || (!wantX && !wantW))
            return {at::Tensor(), at::Tensor(), at::Tensor()};
        const auto saved = ctx->get_saved_variables();
        const at::Tensor &x = saved[0], &weight = saved[1], &rstd = saved[2];
        const at::Tensor dy = asRows(grads[0].to(x.scalar_type()));
        tbk::RmsNormArgs a = rmsArgs(x, weight, fusedRmsNormSumLanes());
        a.rstd = rstd.data_ptr<float>(); // read only in backward
        a.dy = dy.data_ptr();
        a.dyRowStride = uniformRowStride(dy);
        // dx is computed with dweight in one pass even when only dweight is wanted.
        at::Tensor dx = at::empty(x.sizes(), x.options().memory_format(at::MemoryFormat::Contiguous));
        a.dx = dx.data_ptr();
        a.dxRowStride = a.dim;
        const int64_t tasks = tbk::rmsNormTasks(a);
        at::Tensor partials;
        if (wantW) {
            partials = at::empty({tasks, a.dim}, x.options().dtype(at::kFloat));
            a.weightGradPartials = partials.data_ptr<float>();
        }
        check(tbk::rmsNormCheck(a, tbk::ElementwisePass::Backward), "fused RMSNorm backward");
        runTasks(tasks, [&](int64_t b, int64_t e) { tbk::rmsNormBackward(a, b, e); });
        at::Tensor dw;
        if (wantW) {
            // Column ranges are independent; each column sums its task partials in task order.
            at::Tensor sum = at::empty({a.dim}, x.options().dtype(at::kFloat));
            const float* p = partials.data_ptr<float>();
            float* out = sum.data_ptr<float>();
            const int64_t dim = a.dim;
            runParallelTasks(dim, 256, [&](int64_t c0, int64_t c1) {
                tbk::rmsNormReduceWeightGrad(p, tasks, dim, out, c0, c1);
            });
            dw = sum.to(weight.scalar_type());
        }
        return {wantX ? dx : at::Tensor(), dw, at::Tensor()};
    }
};

int detectSumLanes()
{
    // Rows where the 8- and 16-lane cascades round differently (checked below): LibTorch's
    // rstd must match exactly one of them on all rows. Deterministic values, no RNG state used.
    constexpr int64_t rows = 16, dim = 127;
    const at::Tensor x = (at::arange(rows * dim, at::kFloat) * 0.7548776662f).sin().mul(3.0f).exp().view({rows, dim});
    const at::Tensor w = at::ones({dim}, at::kFloat);
    const double eps = 1e-5;
    const at::Tensor ref = at::rsqrt(x.pow(2).mean(-1, true) + eps).view({rows});
    at::Tensor got[2];
    int found = 0;
    for (int i = 0; i < 2; ++i) {
        const int lanes = i == 0 ? 8 : 16;
        tbk::RmsNormArgs a = rmsArgs(x, w, lanes);
        a.eps = static_cast<float>(eps);
        at::Tensor y = at::empty_like(x);
        got[i] = at::empty({rows}, at::kFloat);
        a.y = y.data_ptr();
        a.yRowStride = dim;
        a.rstd = got[i].data_ptr<float>();
        if (tbk::rmsNormCheck(a, tbk::ElementwisePass::Forward) != tbk::KernelStatus::Ok)
            return 0;
        tbk::rmsNormForward(a, 0, tbk::rmsNormTasks(a));
        if (std::memcmp(got[i].data_ptr(), ref.data_ptr(), sizeof(float) * rows) == 0)
            found = found ? -1 : lanes;
    }
    return found > 0 ? found : 0; // none, or both (the probe could not tell): unknown
}

bool rmsNormCovered(const at::Tensor& x, const at::Tensor& weight)
{
    return kernelDtype(x) && weight.scalar_type() == x.scalar_type() && weight.device().is_cpu() && weight.dim() == 1
        && x.dim() >= 1 && x.size(-1) == weight.size(0) && x.numel() > 0 && uniformRowStride(x) >= 0
        && fusedRmsNormSumLanes() != 0;
}

// ---- SwiGLU -----------------------------------------------------------------------------------

tbk::SwiGluArgs swiArgs(const at::Tensor& gate, const at::Tensor& up)
{
    tbk::SwiGluArgs a;
    a.cols = gate.size(-1);
    a.rows = a.cols == 0 ? 0 : gate.numel() / a.cols;
    a.dtype = dtypeOf(gate);
    a.gate = gate.data_ptr();
    a.gateRowStride = uniformRowStride(gate);
    a.up = up.data_ptr();
    a.upRowStride = uniformRowStride(up);
    return a;
}

class SwiGluFunction : public torch::autograd::Function<SwiGluFunction> {
public:
    static at::Tensor forward(AutogradContext* ctx, const at::Tensor& gate, const at::Tensor& up)
    {
        tbk::SwiGluArgs a = swiArgs(gate, up);
        at::Tensor h = at::empty(gate.sizes(), gate.options().memory_format(at::MemoryFormat::Contiguous));
        a.h = h.data_ptr();
        a.hRowStride = a.cols;
        check(tbk::swiGluCheck(a, tbk::ElementwisePass::Forward), "fused SwiGLU");
        runTasks(tbk::swiGluTasks(a), [&](int64_t b, int64_t e) { tbk::swiGluForward(a, b, e); });
        ctx->save_for_backward({gate, up});
        return h;
    }

    static variable_list backward(AutogradContext* ctx, variable_list grads)
    {
        const bool wantG = ctx->needs_input_grad(0), wantU = ctx->needs_input_grad(1);
        if (!grads[0].defined() || (!wantG && !wantU))
            return {at::Tensor(), at::Tensor()};
        const auto saved = ctx->get_saved_variables();
        const at::Tensor &gate = saved[0], &up = saved[1];
        const at::Tensor dh = asRows(grads[0].to(gate.scalar_type()));
        tbk::SwiGluArgs a = swiArgs(gate, up);
        a.dh = dh.data_ptr();
        a.dhRowStride = uniformRowStride(dh);
        // Both gradients come out of one pass (they share exp(-g)).
        const auto opts = gate.options().memory_format(at::MemoryFormat::Contiguous);
        at::Tensor dg = at::empty(gate.sizes(), opts), du = at::empty(gate.sizes(), opts);
        a.dGate = dg.data_ptr();
        a.dGateRowStride = a.cols;
        a.dUp = du.data_ptr();
        a.dUpRowStride = a.cols;
        check(tbk::swiGluCheck(a, tbk::ElementwisePass::Backward), "fused SwiGLU backward");
        runTasks(tbk::swiGluTasks(a), [&](int64_t b, int64_t e) { tbk::swiGluBackward(a, b, e); });
        return {wantG ? dg : at::Tensor(), wantU ? du : at::Tensor()};
    }
};

bool swiGluCovered(const at::Tensor& gate, const at::Tensor& up)
{
    return kernelDtype(gate) && up.scalar_type() == gate.scalar_type() && up.device().is_cpu()
        && gate.sizes() == up.sizes() && gate.dim() >= 1 && gate.numel() > 0 && uniformRowStride(gate) >= 0
        && uniformRowStride(up) >= 0;
}

// ---- Rotary -----------------------------------------------------------------------------------

tbk::RotaryArgs rotaryArgs(const at::Tensor& in, const at::Tensor& out, const at::Tensor& cos, const at::Tensor& sin)
{
    tbk::RotaryArgs a;
    a.batch = in.size(0);
    a.seq = in.size(1);
    a.heads = in.size(2);
    a.headDim = in.size(3);
    a.dtype = dtypeOf(in);
    a.in = in.data_ptr();
    a.inStride = {in.stride(0), in.stride(1), in.stride(2)};
    a.out = out.data_ptr();
    a.outStride = {out.stride(0), out.stride(1), out.stride(2)};
    a.cos = cos.data_ptr();
    a.cosRowStride = cos.stride(0);
    a.sin = sin.data_ptr();
    a.sinRowStride = sin.stride(0);
    return a;
}

class RotaryFunction : public torch::autograd::Function<RotaryFunction> {
public:
    static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin)
    {
        at::Tensor y = at::empty(x.sizes(), x.options().memory_format(at::MemoryFormat::Contiguous));
        const tbk::RotaryArgs a = rotaryArgs(x, y, cos, sin);
        check(tbk::rotaryCheck(a), "fused rotary");
        runTasks(tbk::rotaryTasks(a), [&](int64_t b, int64_t e) { tbk::rotaryForward(a, b, e); });
        ctx->save_for_backward({cos, sin});
        return y;
    }

    static variable_list backward(AutogradContext* ctx, variable_list grads)
    {
        if (!grads[0].defined() || !ctx->needs_input_grad(0))
            return {at::Tensor(), at::Tensor(), at::Tensor()};
        const auto saved = ctx->get_saved_variables();
        const at::Tensor &cos = saved[0], &sin = saved[1];
        at::Tensor dy = grads[0].to(cos.scalar_type());
        if (dy.size(3) > 1 && dy.stride(3) != 1)
            dy = dy.contiguous();
        at::Tensor dx = at::empty(dy.sizes(), dy.options().memory_format(at::MemoryFormat::Contiguous));
        const tbk::RotaryArgs a = rotaryArgs(dy, dx, cos, sin);
        check(tbk::rotaryCheck(a), "fused rotary backward");
        runTasks(tbk::rotaryTasks(a), [&](int64_t b, int64_t e) { tbk::rotaryBackward(a, b, e); });
        return {dx, at::Tensor(), at::Tensor()};
    }
};

bool rotaryCovered(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin)
{
    if (!kernelDtype(x) || x.dim() != 4 || x.numel() == 0 || (x.size(3) > 1 && x.stride(3) != 1) || x.size(3) % 2 != 0)
        return false;
    for (const at::Tensor* t : {&cos, &sin})
        if (t->scalar_type() != x.scalar_type() || !t->device().is_cpu() || t->dim() != 2 || t->size(0) != x.size(1)
            || t->size(1) != x.size(3) || t->stride(1) != 1 || t->requires_grad())
            return false;
    return true;
}

} // namespace

int fusedRmsNormSumLanes()
{
    static const int lanes = detectSumLanes();
    return lanes;
}

at::Tensor fusedRmsNorm(const at::Tensor& x, const at::Tensor& weight, double eps)
{
    if (!rmsNormCovered(x, weight))
        return rmsNormOps(x, weight, eps);
    return RmsNormFunction::apply(x, weight.is_contiguous() ? weight : weight.contiguous(), eps);
}

at::Tensor fusedSwiGlu(const at::Tensor& gate, const at::Tensor& up)
{
    if (!swiGluCovered(gate, up))
        return swiGluOps(gate, up);
    return SwiGluFunction::apply(gate, up);
}

at::Tensor fusedRotary(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin)
{
    if (!rotaryCovered(x, cos, sin))
        return rotaryOps(x, cos, sin);
    return RotaryFunction::apply(x, cos, sin);
}

} // namespace tb
