#include "core/TorchCompat.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/cuda.h>

#ifdef TUNEBENCH_TORCH_HAS_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAGuard.h>
#include <cuda_runtime_api.h>
#endif

#include <cmath>

namespace tb::compat {

at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& mask)
{
#if TB_TORCH_AT_LEAST(2, 0)
    // The mask parameter is c10::optional in 2.0-2.3 and std::optional after: a Tensor or {}
    // converts to either. On CUDA the mask comes in q's dtype already (AttentionMask::additive): .to() is free.
    if (q.is_cuda())
        return mask.defined() ? at::scaled_dot_product_attention(q, k, v, mask.to(q.scalar_type()))
                              : at::scaled_dot_product_attention(q, k, v, {});
#endif
    const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
    at::Tensor scores = at::matmul(q, k.transpose(-2, -1)).to(at::kFloat).mul_(scale);
    if (mask.defined())
        scores.add_(mask);
    at::Tensor probs = at::softmax(scores, -1).to(q.scalar_type());
    return at::matmul(probs, v);
}

bool cudaAvailable()
{
    return torch::cuda::is_available();
}

int cudaDeviceCount()
{
    return static_cast<int>(torch::cuda::device_count());
}

void synchronize(const at::Device& device)
{
    if (device.is_cuda())
        torch::cuda::synchronize(device.index());
}

std::string torchVersion()
{
    return TORCH_VERSION;
}

CudaMemoryStats cudaMemoryStats(const at::Device& device)
{
    CudaMemoryStats s;
#ifdef TUNEBENCH_TORCH_HAS_CUDA
    if (device.is_cuda()) {
        const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.index());
        // Index 0 is StatType::AGGREGATE (both pools) in every version; the enum itself moved
        // from c10::cuda::CUDACachingAllocator to c10::CachingAllocator in LibTorch 2.x.
        constexpr size_t all = 0;
        s.allocated = stats.allocated_bytes[all].current;
        s.reserved = stats.reserved_bytes[all].current;
        s.peakAllocated = stats.allocated_bytes[all].peak;
        s.peakReserved = stats.reserved_bytes[all].peak;
    }
#else
    (void)device;
#endif
    return s;
}

void resetCudaPeak(const at::Device& device)
{
#ifdef TUNEBENCH_TORCH_HAS_CUDA
    if (device.is_cuda())
        c10::cuda::CUDACachingAllocator::resetPeakStats(device.index());
#else
    (void)device;
#endif
}

void emptyCudaCache()
{
#ifdef TUNEBENCH_TORCH_HAS_CUDA
    if (cudaAvailable())
        c10::cuda::CUDACachingAllocator::emptyCache();
#endif
}

namespace {

at::Generator defaultGenerator(const at::Device& device)
{
    return device.is_cpu() ? at::detail::getDefaultCPUGenerator() : at::globalContext().defaultGenerator(device);
}

} // namespace

at::Tensor rngState(const at::Device& device)
{
    auto generator = defaultGenerator(device);
    std::lock_guard<std::mutex> lock(generator.mutex());
    return generator.get_state();
}

void setRngState(const at::Device& device, const at::Tensor& state)
{
    auto generator = defaultGenerator(device);
    std::lock_guard<std::mutex> lock(generator.mutex());
    generator.set_state(state);
}

} // namespace tb::compat

namespace tb::compat {

CudaDeviceMemory cudaDeviceMemory(int index)
{
    CudaDeviceMemory info;
#ifdef TUNEBENCH_TORCH_HAS_CUDA
    if (index < 0 || index >= cudaDeviceCount())
        return info;
    c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(index));
    size_t freeBytes = 0, totalBytes = 0;
    if (cudaMemGetInfo(&freeBytes, &totalBytes) == cudaSuccess) {
        info.freeBytes = static_cast<int64_t>(freeBytes);
        info.totalBytes = static_cast<int64_t>(totalBytes);
    }
    cudaDeviceProp props{};
    if (cudaGetDeviceProperties(&props, index) == cudaSuccess)
        info.name = props.name;
#else
    (void)index;
#endif
    return info;
}

} // namespace tb::compat
