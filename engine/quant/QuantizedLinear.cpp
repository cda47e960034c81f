#include "quant/QuantizedLinear.h"

#include "cpu/Nf4Codebook.h"
#include "cpu/Nf4Dequant.h"
#include "cpu/Nf4Quantizer.h"

#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>

#ifdef TUNEBENCH_HAVE_CUDA_KERNELS
#include "cuda/Nf4Cuda.h"
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#endif

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <unordered_set>
#include <vector>

namespace tb {

namespace {

// Everything dequantization needs, as plain values: the layer's buffers in forward, the copies
// kept in the autograd context in backward (references to the same storage, not new bytes).
struct QuantFields {
    at::Tensor weight, absmax, quantMap, nestedAbsmax, nestedQuantMap;
    at::Tensor bias; // frozen; travels here, not as an autograd input (undefined inputs are not allowed)
    double offset = 0.0;
    int64_t out = 0, in = 0, blockSize = 64;
    bool nf4 = true, nested = false;
};

void check(tbk::KernelStatus s, const char* what)
{
    if (s != tbk::KernelStatus::Ok)
        throw std::runtime_error(std::string(what) + " failed: " + tbk::kernelStatusName(s));
}

int dequantThreads(int64_t n)
{
    // The kernel's own split; below ~1M weights thread start-up costs more than it saves.
    return n >= (int64_t(1) << 20) ? std::max(1, at::get_num_threads()) : 1;
}

// fp32 absmax of every block: the plain buffer, or decoded from the nested form by the
// kernels' one decoder (fp32 multiply, then fp32 add).
at::Tensor plainAbsmaxCpu(const QuantFields& f)
{
    if (!f.nested)
        return f.absmax;
    const int64_t nb = f.absmax.numel();
    at::Tensor out = at::empty({nb}, at::kFloat);
    check(tbk::doubleDequantizeAbsmax(f.absmax.data_ptr<uint8_t>(), f.nestedAbsmax.data_ptr<float>(),
                                      static_cast<float>(f.offset), nb, out.data_ptr<float>(),
                                      f.nestedQuantMap.data_ptr<float>()),
          "double-dequantize absmax");
    return out;
}

at::Tensor dequantizeCpu(const QuantFields& f, at::ScalarType dtype)
{
    const int64_t n = f.out * f.in;
    const int bs = static_cast<int>(f.blockSize);
    if (f.nf4) {
        const tbk::Nf4Absmax scales = f.nested
            ? tbk::Nf4Absmax::nested(f.absmax.data_ptr<uint8_t>(), f.nestedAbsmax.data_ptr<float>(),
                                     static_cast<float>(f.offset), f.nestedQuantMap.data_ptr<float>())
            : tbk::Nf4Absmax::plain(f.absmax.data_ptr<float>());
        if (dtype == at::kBFloat16) {
            at::Tensor w = at::empty({f.out, f.in}, at::kBFloat16);
            check(tbk::dequantizeNf4Bf16(f.weight.data_ptr<uint8_t>(), scales, n, bs,
                                         reinterpret_cast<uint16_t*>(w.data_ptr()), tbk::Nf4Isa::Auto, dequantThreads(n)),
                  "NF4 dequantize");
            return w;
        }
        at::Tensor w = at::empty({f.out, f.in}, at::kFloat);
        check(tbk::dequantizeNf4F32(f.weight.data_ptr<uint8_t>(), scales, n, bs, w.data_ptr<float>(),
                                    tbk::Nf4Isa::Auto, dequantThreads(n)),
              "NF4 dequantize");
        return dtype == at::kFloat ? w : w.to(dtype);
    }
    const at::Tensor absmax = plainAbsmaxCpu(f);
    at::Tensor w = at::empty({f.out, f.in}, at::kFloat);
    check(tbk::dequantizeBlockwise8(f.weight.data_ptr<uint8_t>(), absmax.data_ptr<float>(), n, bs, w.data_ptr<float>(),
                                    f.quantMap.data_ptr<float>()),
          "8-bit dequantize");
    return dtype == at::kFloat ? w : w.to(dtype);
}

#ifdef TUNEBENCH_HAVE_CUDA_KERNELS
void checkCuda(cudaError_t e, const char* what)
{
    if (e != cudaSuccess)
        throw std::runtime_error(std::string(what) + " failed: " + cudaGetErrorString(e));
}

at::Tensor dequantizeCuda(const QuantFields& f, at::ScalarType dtype)
{
    const at::Device device = f.weight.device();
    // The kernels read these as raw device pointers: a buffer left on another device or in
    // another layout would be read as garbage, not refused, so refuse it here.
    for (const at::Tensor* t : {&f.weight, &f.absmax, &f.quantMap, &f.nestedAbsmax, &f.nestedQuantMap})
        if (t->defined() && (t->device() != device || !t->is_contiguous()))
            throw std::runtime_error("quantized layer: its buffers are not all contiguous on " + device.str());
    const c10::cuda::CUDAGuard guard(device);
    const cudaStream_t stream = c10::cuda::getCurrentCUDAStream(device.index()).stream();
    const int64_t n = f.out * f.in;
    const int bs = static_cast<int>(f.blockSize);
    const auto opts = at::TensorOptions().device(device);
    const bool bf16 = dtype == at::kBFloat16 && f.nf4;
    at::Tensor w = at::empty({f.out, f.in}, opts.dtype(bf16 ? at::kBFloat16 : at::kFloat));
    const uint8_t* codes = f.weight.data_ptr<uint8_t>();
    if (f.nf4 && f.nested) {
        const uint8_t* q = f.absmax.data_ptr<uint8_t>();
        const float* nested = f.nestedAbsmax.data_ptr<float>();
        const float* map = f.nestedQuantMap.data_ptr<float>();
        const float offset = static_cast<float>(f.offset);
        checkCuda(bf16 ? tbk::nf4DequantizeNestedBf16Cuda(codes, q, nested, map, offset, n, bs,
                                                          reinterpret_cast<uint16_t*>(w.data_ptr()), stream)
                       : tbk::nf4DequantizeNestedF32Cuda(codes, q, nested, map, offset, n, bs, w.data_ptr<float>(), stream),
                  "NF4 dequantize (CUDA)");
    } else if (f.nf4) {
        const float* a = f.absmax.data_ptr<float>();
        checkCuda(bf16 ? tbk::nf4DequantizeBf16Cuda(codes, a, n, bs, reinterpret_cast<uint16_t*>(w.data_ptr()), stream)
                       : tbk::nf4DequantizeF32Cuda(codes, a, n, bs, w.data_ptr<float>(), stream),
                  "NF4 dequantize (CUDA)");
    } else {
        at::Tensor absmax = f.absmax;
        if (f.nested) {
            // Same two fp32 roundings as nestedAbsmaxAt(), as separate torch kernels.
            const int64_t nb = f.absmax.numel();
            const at::Tensor scale = f.nestedAbsmax.repeat_interleave(tbk::kNestedBlocksize).slice(0, 0, nb);
            absmax = (f.nestedQuantMap.index_select(0, f.absmax.to(at::kLong)) * scale) + static_cast<float>(f.offset);
        }
        checkCuda(tbk::dequantizeBlockwise8Cuda(codes, absmax.contiguous().data_ptr<float>(), n, bs,
                                                f.quantMap.data_ptr<float>(), w.data_ptr<float>(), stream),
                  "8-bit dequantize (CUDA)");
    }
    return w.scalar_type() == dtype ? w : w.to(dtype);
}
#endif

at::Tensor dequantize(const QuantFields& f, at::ScalarType dtype)
{
    if (f.weight.device().is_cpu())
        return dequantizeCpu(f, dtype);
#ifdef TUNEBENCH_HAVE_CUDA_KERNELS
    if (f.weight.is_cuda())
        return dequantizeCuda(f, dtype);
#endif
    // A device without our kernels: decode on the CPU and copy (correct, slow).
    QuantFields host = f;
    for (at::Tensor* t : {&host.weight, &host.absmax, &host.quantMap, &host.nestedAbsmax, &host.nestedQuantMap})
        if (t->defined())
            *t = t->to(at::kCPU);
    return dequantizeCpu(host, dtype).to(f.weight.device());
}

// y = x W^T + b with W decoded in forward and again in backward; x is not saved either (the
// weight needs no gradient, and grad_x needs only W).
class QuantizedMatmul : public torch::autograd::Function<QuantizedMatmul> {
public:
    static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, const QuantFields& f)
    {
        auto& s = ctx->saved_data;
        s["weight"] = f.weight;
        s["absmax"] = f.absmax;
        s["quant_map"] = f.quantMap;
        if (f.nested) {
            s["nested_absmax"] = f.nestedAbsmax;
            s["nested_quant_map"] = f.nestedQuantMap;
        }
        s["offset"] = f.offset;
        s["out"] = f.out;
        s["in"] = f.in;
        s["block"] = f.blockSize;
        s["nf4"] = f.nf4;
        s["nested"] = f.nested;
        const at::Tensor w = dequantize(f, x.scalar_type());
        return at::linear(x, w, f.bias.defined() ? f.bias.to(x.scalar_type()) : f.bias);
    }

    static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                   torch::autograd::variable_list grads)
    {
        auto& s = ctx->saved_data;
        QuantFields f;
        f.weight = s["weight"].toTensor();
        f.absmax = s["absmax"].toTensor();
        f.quantMap = s["quant_map"].toTensor();
        f.nested = s["nested"].toBool();
        if (f.nested) {
            f.nestedAbsmax = s["nested_absmax"].toTensor();
            f.nestedQuantMap = s["nested_quant_map"].toTensor();
        }
        f.offset = s["offset"].toDouble();
        f.out = s["out"].toInt();
        f.in = s["in"].toInt();
        f.blockSize = s["block"].toInt();
        f.nf4 = s["nf4"].toBool();
        const at::Tensor& gy = grads[0]; // [..., out]
        const at::Tensor w = dequantize(f, gy.scalar_type());
        return {at::matmul(gy, w), at::Tensor()}; // grad_x [..., in]; nothing for the frozen state
    }
};

at::Tensor tensorFrom(const float* data, int64_t n)
{
    at::Tensor t = at::empty({n}, at::kFloat);
    std::memcpy(t.data_ptr<float>(), data, sizeof(float) * static_cast<size_t>(n));
    return t;
}

void expect(const at::Tensor& t, const char* name, at::ScalarType dtype, std::vector<int64_t> shape)
{
    if (!t.defined())
        throw std::invalid_argument(std::string("quantized layer: ") + name + " is missing");
    if (t.scalar_type() != dtype || t.sizes() != at::IntArrayRef(shape))
        throw std::invalid_argument(std::string("quantized layer: ") + name + " is " + c10::toString(t.scalar_type())
                                    + " " + c10::str(t.sizes()) + ", expected " + c10::toString(dtype) + " "
                                    + c10::str(at::IntArrayRef(shape)));
}

} // namespace

std::shared_ptr<QuantizedLinear> QuantizedLinear::fromLinear(const Linear& linear, const QuantSettings& settings)
{
    const std::string problem = settings.validate();
    if (!problem.empty())
        throw std::invalid_argument(problem);
    at::NoGradGuard noGrad;
    const at::Device device = linear.weight.device();
    const at::Tensor w = linear.weight.detach().to(at::kCPU).contiguous();
    StoredState s;
    s.settings = settings;
    s.outFeatures = w.size(0);
    s.inFeatures = w.size(1);
    s.originalDtype = w.scalar_type();
    const int64_t n = w.numel();
    const int bs = static_cast<int>(settings.blockSize);
    const int64_t nb = tbk::blockCount(n, bs);
    at::Tensor absmax = at::empty({nb}, at::kFloat);
    if (settings.type == QuantSettings::Type::Nf4) {
        s.weight = at::empty({tbk::nf4PackedBytes(n), 1}, at::kByte);
        if (w.scalar_type() == at::kBFloat16) {
            check(tbk::quantizeNf4Bf16(reinterpret_cast<const uint16_t*>(w.data_ptr()), n, bs, s.weight.data_ptr<uint8_t>(),
                                       absmax.data_ptr<float>()),
                  "NF4 quantize");
        } else {
            const at::Tensor w32 = w.to(at::kFloat).contiguous();
            check(tbk::quantizeNf4(w32.data_ptr<float>(), n, bs, s.weight.data_ptr<uint8_t>(), absmax.data_ptr<float>()),
                  "NF4 quantize");
        }
        s.quantMap = tensorFrom(tbk::kNf4Code, 16);
    } else {
        s.weight = at::empty({s.outFeatures, s.inFeatures}, at::kByte);
        const at::Tensor w32 = w.to(at::kFloat).contiguous();
        check(tbk::quantizeBlockwise8(w32.data_ptr<float>(), n, bs, s.weight.data_ptr<uint8_t>(), absmax.data_ptr<float>()),
              "8-bit quantize");
        s.quantMap = tensorFrom(tbk::dynamicMapSigned(), 256);
    }
    if (settings.doubleQuant) {
        s.absmax = at::empty({nb}, at::kByte);
        s.nestedAbsmax = at::empty({tbk::blockCount(nb, tbk::kNestedBlocksize)}, at::kFloat);
        check(tbk::doubleQuantizeAbsmax(absmax.data_ptr<float>(), nb, s.absmax.data_ptr<uint8_t>(),
                                        s.nestedAbsmax.data_ptr<float>(), &s.nestedOffset),
              "double quantization");
        s.nestedQuantMap = tensorFrom(tbk::dynamicMapSigned(), 256);
    } else {
        s.absmax = absmax;
    }
    if (linear.bias.defined())
        s.bias = linear.bias.detach().to(at::kCPU).clone();
    auto layer = fromStored(std::move(s));
    if (!device.is_cpu())
        layer->to(device);
    return layer;
}

std::shared_ptr<QuantizedLinear> QuantizedLinear::fromStored(StoredState s)
{
    const std::string problem = s.settings.validate();
    if (!problem.empty())
        throw std::invalid_argument(problem);
    if (s.outFeatures <= 0 || s.inFeatures <= 0)
        throw std::invalid_argument("quantized layer: empty shape");
    const bool nf4 = s.settings.type == QuantSettings::Type::Nf4;
    const int64_t n = s.outFeatures * s.inFeatures;
    const int64_t nb = tbk::blockCount(n, s.settings.blockSize);
    expect(s.weight, "weight", at::kByte, nf4 ? std::vector<int64_t>{tbk::nf4PackedBytes(n), 1}
                                              : std::vector<int64_t>{s.outFeatures, s.inFeatures});
    expect(s.quantMap, "quant_map", at::kFloat, {nf4 ? 16 : 256});
    if (nf4 && std::memcmp(s.quantMap.contiguous().data_ptr<float>(), tbk::kNf4Code, sizeof(tbk::kNf4Code)) != 0)
        throw std::invalid_argument("quantized layer: quant_map is not the NF4 table");
    if (s.settings.doubleQuant) {
        expect(s.absmax, "absmax", at::kByte, {nb});
        expect(s.nestedAbsmax, "nested_absmax", at::kFloat, {tbk::blockCount(nb, tbk::kNestedBlocksize)});
        expect(s.nestedQuantMap, "nested_quant_map", at::kFloat, {256});
    } else {
        expect(s.absmax, "absmax", at::kFloat, {nb});
    }
    if (s.bias.defined() && s.bias.sizes() != at::IntArrayRef({s.outFeatures}))
        throw std::invalid_argument("quantized layer: bias shape " + c10::str(s.bias.sizes()));

    std::shared_ptr<QuantizedLinear> layer(new QuantizedLinear());
    layer->m_settings = s.settings;
    layer->m_out = s.outFeatures;
    layer->m_in = s.inFeatures;
    layer->m_originalDtype = s.originalDtype;
    layer->m_offset = s.nestedOffset;
    layer->weight = s.weight.contiguous();
    layer->absmax = s.absmax.contiguous();
    layer->quant_map = s.quantMap.contiguous();
    if (s.settings.doubleQuant) {
        layer->nested_absmax = s.nestedAbsmax.contiguous();
        layer->nested_quant_map = s.nestedQuantMap.contiguous();
        layer->nested_offset = at::full({}, s.nestedOffset, at::kFloat);
    }
    layer->bias = s.bias;
    layer->registerAll();
    return layer;
}

void QuantizedLinear::registerAll()
{
    weight = register_buffer("weight", weight);
    absmax = register_buffer("absmax", absmax);
    quant_map = register_buffer("quant_map", quant_map);
    if (nested_absmax.defined()) {
        nested_absmax = register_buffer("nested_absmax", nested_absmax);
        nested_quant_map = register_buffer("nested_quant_map", nested_quant_map);
        nested_offset = register_buffer("nested_offset", nested_offset);
    }
    if (bias.defined())
        bias = register_buffer("bias", bias);
}

// What the dequantizer and the autograd function need of a layer, read from its buffers.
static QuantFields fieldsOf(const QuantizedLinear& layer)
{
    QuantFields f;
    f.weight = layer.weight;
    f.absmax = layer.absmax;
    f.quantMap = layer.quant_map;
    f.nestedAbsmax = layer.nested_absmax;
    f.nestedQuantMap = layer.nested_quant_map;
    f.offset = layer.nestedOffset();
    f.out = layer.outFeatures();
    f.in = layer.inFeatures();
    f.blockSize = layer.settings().blockSize;
    f.nf4 = layer.settings().type == QuantSettings::Type::Nf4;
    f.nested = layer.settings().doubleQuant;
    f.bias = layer.bias;
    return f;
}

at::Tensor QuantizedLinear::forward(const at::Tensor& x)
{
    return QuantizedMatmul::apply(x, fieldsOf(*this));
}

at::Tensor QuantizedLinear::dequantizedWeight(at::ScalarType dtype) const
{
    return dequantize(fieldsOf(*this), dtype);
}

int64_t QuantizedLinear::storageBytes() const
{
    int64_t bytes = 0;
    for (const at::Tensor& t : {weight, absmax, quant_map, nested_absmax, nested_quant_map, nested_offset, bias})
        if (t.defined())
            bytes += t.numel() * static_cast<int64_t>(t.element_size());
    return bytes;
}

void QuantizedLinear::to(torch::Device device, torch::Dtype dtype, bool nonBlocking)
{
    Module::to(device, nonBlocking);
    if (bias.defined())
        bias.set_data(bias.to(dtype));
}

void QuantizedLinear::to(torch::Dtype dtype, bool /*nonBlocking*/)
{
    if (bias.defined())
        bias.set_data(bias.to(dtype));
}

void QuantizedLinear::to(torch::Device device, bool nonBlocking)
{
    Module::to(device, nonBlocking);
}

int64_t QuantizedLinear::largestSavedTensorElements(const at::Tensor& output)
{
    using torch::autograd::Node;
    int64_t largest = -1;
    std::vector<Node*> stack;
    std::unordered_set<Node*> seen;
    if (output.grad_fn())
        stack.push_back(output.grad_fn().get());
    while (!stack.empty()) {
        Node* node = stack.back();
        stack.pop_back();
        if (!seen.insert(node).second)
            continue;
        if (auto* ours = dynamic_cast<torch::autograd::CppNode<QuantizedMatmul>*>(node)) {
            largest = std::max<int64_t>(largest, 0);
            for (const auto& item : ours->ctx_.saved_data)
                if (item.second.isTensor() && item.second.toTensor().defined())
                    largest = std::max(largest, item.second.toTensor().numel());
            for (const at::Tensor& t : ours->ctx_.get_saved_variables())
                if (t.defined())
                    largest = std::max(largest, t.numel());
        }
        for (const auto& edge : node->next_edges())
            if (edge.function)
                stack.push_back(edge.function.get());
    }
    return largest;
}

} // namespace tb
