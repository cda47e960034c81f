#include "model/FusedAttention.h"

#include "cpu/CausalAttention.h"

#include "core/ParallelTasks.h"
#include <torch/csrc/autograd/custom_function.h>

#include <stdexcept>
#include <string>

namespace tb {

namespace {

// D must have stride 1; the other dimensions may have any stride.
at::Tensor withContiguousHeadDim(const at::Tensor& t)
{
    return t.size(3) <= 1 || t.stride(3) == 1 ? t : t.contiguous();
}

tbk::AttentionStrides stridesOf(const at::Tensor& t)
{
    return {t.stride(0), t.stride(1), t.stride(2)};
}

// The description shared by every pass; pointers to outputs and gradients are filled per pass.
tbk::AttentionArgs argsFor(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& keyValid,
                           int64_t window, double scale)
{
    tbk::AttentionArgs a;
    a.shape.batch = q.size(0);
    a.shape.queryLen = q.size(1);
    a.shape.heads = q.size(2);
    a.shape.headDim = q.size(3);
    a.shape.keyLen = k.size(1);
    a.shape.kvHeads = k.size(2);
    a.shape.window = window;
    a.dtype = q.scalar_type() == at::kBFloat16 ? tbk::AttentionDtype::Bf16 : tbk::AttentionDtype::F32;
    a.scale = static_cast<float>(scale);
    a.keyValid = keyValid.defined() ? keyValid.data_ptr<uint8_t>() : nullptr;
    a.q = q.data_ptr();
    a.qStride = stridesOf(q);
    a.k = k.data_ptr();
    a.kStride = stridesOf(k);
    a.v = v.data_ptr();
    a.vStride = stridesOf(v);
    return a;
}

void check(const tbk::AttentionArgs& args, tbk::AttentionPass pass)
{
    const tbk::KernelStatus s = tbk::causalAttentionCheck(args, pass);
    if (s != tbk::KernelStatus::Ok)
        throw std::runtime_error(std::string("fused attention: ") + tbk::kernelStatusName(s));
}

// The kernel's tasks are independent and balanced; grain 1 gives each of
// LibTorch's threads a contiguous range of them.
template <typename Pass>
void runTasks(int64_t tasks, const Pass& pass)
{
    runParallelTasks(tasks, 1, [&](int64_t begin, int64_t end) { pass(begin, end); });
}

// keyValid as the kernel indexes it, keyValid[b * Tk + j]: one row per batch entry.
at::Tensor perBatchKeyValid(const at::Tensor& keyValid, int64_t batch, int64_t keyLen)
{
    if (!keyValid.defined())
        return keyValid;
    if (keyValid.scalar_type() != at::kByte || keyValid.dim() != 2 || keyValid.size(1) != keyLen
        || (keyValid.size(0) != batch && keyValid.size(0) != 1))
        throw std::invalid_argument("fused attention: keyValid must be uint8 [B|1, Tk]");
    return keyValid.size(0) == batch ? keyValid.contiguous() : keyValid.expand({batch, keyLen}).contiguous();
}

struct MaskSettings {
    at::Tensor keyValid; // uint8 [B, Tk] contiguous or undefined
    int64_t window = 0;
    double scale = 1.0;
};

class FusedAttentionFunction : public torch::autograd::Function<FusedAttentionFunction> {
public:
    static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& q, const at::Tensor& k,
                              const at::Tensor& v, const MaskSettings& mask)
    {
        tbk::AttentionArgs args = argsFor(q, k, v, mask.keyValid, mask.window, mask.scale);
        at::Tensor o = at::empty(q.sizes(), q.options());
        at::Tensor lse = at::empty({q.size(0), q.size(2), q.size(1)}, q.options().dtype(at::kFloat));
        args.o = o.data_ptr();
        args.oStride = stridesOf(o);
        args.lse = lse.data_ptr<float>();
        check(args, tbk::AttentionPass::Forward);
        runTasks(tbk::causalAttentionForwardTasks(args.shape),
                 [&](int64_t b, int64_t e) { tbk::causalAttentionForward(args, b, e); });

        ctx->save_for_backward({q, k, v, o, lse});
        if (mask.keyValid.defined())
            ctx->saved_data["key_valid"] = mask.keyValid;
        ctx->saved_data["window"] = mask.window;
        ctx->saved_data["scale"] = mask.scale;
        return o;
    }

    static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                   torch::autograd::variable_list grads)
    {
        const bool wantQ = ctx->needs_input_grad(0);
        const bool wantKv = ctx->needs_input_grad(1) || ctx->needs_input_grad(2);
        if (!grads[0].defined() || (!wantQ && !wantKv))
            return {at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
        const auto saved = ctx->get_saved_variables();
        const at::Tensor &q = saved[0], &k = saved[1], &v = saved[2], &o = saved[3], &lse = saved[4];
        const at::Tensor keyValid = ctx->saved_data.count("key_valid") ? ctx->saved_data["key_valid"].toTensor() : at::Tensor();
        tbk::AttentionArgs args = argsFor(q, k, v, keyValid, ctx->saved_data["window"].toInt(),
                                          ctx->saved_data["scale"].toDouble());
        // The kernel reads dO in o's dtype.
        const at::Tensor dO = withContiguousHeadDim(grads[0].to(o.scalar_type()));
        args.o = o.data_ptr();
        args.oStride = stridesOf(o);
        args.lse = lse.data_ptr<float>();
        args.dO = dO.data_ptr();
        args.dOStride = stridesOf(dO);

        at::Tensor dQ, dK, dV;
        if (wantKv) {
            dK = at::empty(k.sizes(), k.options());
            dV = at::empty(v.sizes(), v.options());
            args.dK = dK.data_ptr();
            args.dKStride = stridesOf(dK);
            args.dV = dV.data_ptr();
            args.dVStride = stridesOf(dV);
            check(args, tbk::AttentionPass::BackwardKv);
            runTasks(tbk::causalAttentionBackwardKvTasks(args.shape),
                     [&](int64_t b, int64_t e) { tbk::causalAttentionBackwardKv(args, b, e); });
        }
        if (wantQ) {
            dQ = at::empty(q.sizes(), q.options());
            args.dQ = dQ.data_ptr();
            args.dQStride = stridesOf(dQ);
            check(args, tbk::AttentionPass::BackwardQ);
            runTasks(tbk::causalAttentionBackwardQTasks(args.shape),
                     [&](int64_t b, int64_t e) { tbk::causalAttentionBackwardQ(args, b, e); });
        }
        return {dQ, dK, dV, at::Tensor()};
    }
};

} // namespace

bool fusedAttentionSupports(const at::Tensor& q)
{
    return q.device().is_cpu() && (q.scalar_type() == at::kBFloat16 || q.scalar_type() == at::kFloat);
}

at::Tensor fusedCausalAttention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                                const at::Tensor& keyValid, int64_t window, double scale)
{
    if (!fusedAttentionSupports(q) || k.scalar_type() != q.scalar_type() || v.scalar_type() != q.scalar_type()
        || !k.device().is_cpu() || !v.device().is_cpu())
        throw std::invalid_argument("fused attention: q, k and v must be CPU tensors of one dtype, bf16 or fp32");
    if (q.dim() != 4 || k.dim() != 4 || v.dim() != 4 || k.sizes() != v.sizes() || k.size(0) != q.size(0)
        || k.size(3) != q.size(3))
        throw std::invalid_argument("fused attention: expected q [B, T, H, D] and k, v [B, Tk, KV, D]");
    MaskSettings mask{perBatchKeyValid(keyValid, q.size(0), k.size(1)), window, scale};
    return FusedAttentionFunction::apply(withContiguousHeadDim(q), withContiguousHeadDim(k), withContiguousHeadDim(v), mask);
}

} // namespace tb
