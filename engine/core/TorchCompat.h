// Every difference between the LibTorch versions Tunebench builds against lives here:
// Debian 12's libtorch-dev 1.13 (CPU) and CUDA LibTorch 2.x. Engine code calls these wrappers
// instead of testing TORCH_VERSION_* itself.
#pragma once

#include <ATen/ATen.h>
#include <torch/version.h>

#include <cstdint>
#include <string>

#define TB_TORCH_AT_LEAST(major, minor) \
    (TORCH_VERSION_MAJOR > (major) || (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

namespace tb::compat {

// softmax(q k^T / sqrt(d) + mask) v with the softmax in fp32 (as transformers' eager attention).
// q: [B, H, Tq, D], k/v: [B, H, Tk, D] (already repeated for grouped-query attention).
// mask: additive, broadcastable to [B, H, Tq, Tk], or undefined for none.
// On LibTorch >= 2.0 this uses at::scaled_dot_product_attention, which picks fused kernels.
at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& mask);

// True when LibTorch was built with CUDA and a device is present.
bool cudaAvailable();
int cudaDeviceCount();

std::string torchVersion(); // "1.13.0"

struct CudaMemoryStats {
    int64_t allocated = -1; // -1 when not a CUDA device or LibTorch lacks CUDA
    int64_t reserved = -1;
    int64_t peakAllocated = -1;
    int64_t peakReserved = -1;
};
// The caching allocator's counters for `device`.
CudaMemoryStats cudaMemoryStats(const at::Device& device);
void resetCudaPeak(const at::Device& device);
// Returns the caching allocator's unused blocks to the driver (no-op without CUDA).
void emptyCudaCache();
// Waits for the work queued on a CUDA device (timing); nothing to wait for on the CPU.
void synchronize(const at::Device& device);

struct CudaDeviceMemory {
    std::string name;        // "NVIDIA H200"
    int64_t totalBytes = -1; // -1 when LibTorch lacks CUDA or the index is not a device
    int64_t freeBytes = -1;  // free according to the driver (other processes included)
};
// The driver's view of device `index` (cudaMemGetInfo, cudaGetDeviceProperties).
CudaDeviceMemory cudaDeviceMemory(int index);

// State of the default generator of `device` (the CPU's, or a CUDA device's: dropout on a
// tensor draws from its own device's generator), for gradient checkpointing and for
// checkpoints that resume bit-exactly. The state is a CPU byte tensor either way.
at::Tensor rngState(const at::Device& device);
void setRngState(const at::Device& device, const at::Tensor& state);

} // namespace tb::compat
