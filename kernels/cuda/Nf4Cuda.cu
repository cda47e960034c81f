// CUDA kernels behind Nf4Cuda.h. Launch shapes:
//   quantize    one CUDA block per quantization block; min(blocksize/2, 256) threads for NF4
//               (one byte = two elements per thread and step), min(blocksize, 256) for 8-bit;
//               shared-memory max reduction from -FLT_MAX with fmaxf, then x * (1/absmax).
//   mean        one block of 1024 threads, double accumulators, fixed reduction order.
//   dequantize  grid-stride, one packed byte (two outputs) / one 8-bit code per thread.
// fp32 products and sums use __fmul_rn / __fadd_rn so nvcc cannot fuse them into FMAs: the
// results must equal the CPU kernels bit for bit.
#include "cuda/Nf4Cuda.h"

#include <cfloat>

#include "cpu/Bf16.h"
#include "cpu/KernelStatus.h"
#include "cpu/Nf4Codebook.h"
#include "cpu/Nf4Quantizer.h"

namespace tbk {

namespace {

__constant__ float kNf4CodeDevice[16] = {
    -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
    -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
    0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
    0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f};

constexpr int kMaxThreads = 256;

__device__ __forceinline__ float loadAsFloat(const float* x, int64_t i) { return x[i]; }
__device__ __forceinline__ float loadAsFloat(const uint16_t* x, int64_t i) { return bf16ToFloat(x[i]); }

__device__ __forceinline__ void storeValue(float* out, int64_t i, float v) { out[i] = v; }
__device__ __forceinline__ void storeValue(uint16_t* out, int64_t i, float v) { out[i] = floatToBf16(v); }

// Max over the block's threads; blockDim.x is a power of two <= kMaxThreads.
__device__ float blockMax(float v, float* scratch)
{
    scratch[threadIdx.x] = v;
    __syncthreads();
    for (unsigned stride = blockDim.x / 2; stride > 0; stride /= 2) {
        if (threadIdx.x < stride)
            scratch[threadIdx.x] = fmaxf(scratch[threadIdx.x], scratch[threadIdx.x + stride]);
        __syncthreads();
    }
    const float m = scratch[0];
    __syncthreads();
    return m;
}

// grid.x = number of quantization blocks. out byte p holds elements 2p (high) and 2p+1 (low);
// an odd n's padding element is quantized as 0.0.
template <typename T>
__global__ void kQuantizeNf4(const T* __restrict__ x, int64_t n, int blocksize, uint8_t* __restrict__ packed,
                             float* __restrict__ absmax)
{
    __shared__ float scratch[kMaxThreads];
    const int64_t begin = static_cast<int64_t>(blockIdx.x) * blocksize;
    const int64_t end = min(n, begin + blocksize);
    float m = -FLT_MAX;
    for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x)
        m = fmaxf(m, fabsf(loadAsFloat(x, i)));
    m = blockMax(m, scratch);
    if (threadIdx.x == 0)
        absmax[blockIdx.x] = m;
    const float recip = __fdiv_rn(1.0f, m); // IEEE division whatever -prec-div / fast-math say
    for (int64_t i = begin + 2 * threadIdx.x; i < end; i += 2 * blockDim.x) {
        const float hi = __fmul_rn(loadAsFloat(x, i), recip);
        const float lo = __fmul_rn(i + 1 < end ? loadAsFloat(x, i + 1) : 0.0f, recip);
        packed[i / 2] = static_cast<uint8_t>((nf4Nearest(hi) << 4) | nf4Nearest(lo));
    }
}

// grid.x = number of quantization blocks of x (or of x - *offset when offset is non-null).
__global__ void kQuantizeDynamic(const float* __restrict__ x, const float* __restrict__ offset, int64_t n,
                                 int blocksize, const float* __restrict__ code, uint8_t* __restrict__ q,
                                 float* __restrict__ absmax)
{
    __shared__ float scratch[kMaxThreads];
    __shared__ float smemCode[256];
    for (int c = threadIdx.x; c < 256; c += blockDim.x)
        smemCode[c] = code[c];
    const float shift = offset ? *offset : 0.0f;
    const int64_t begin = static_cast<int64_t>(blockIdx.x) * blocksize;
    const int64_t end = min(n, begin + blocksize);
    float m = -FLT_MAX;
    for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x)
        m = fmaxf(m, fabsf(__fsub_rn(x[i], shift)));
    m = blockMax(m, scratch); // also the barrier after loading smemCode
    if (threadIdx.x == 0)
        absmax[blockIdx.x] = m;
    const float recip = __fdiv_rn(1.0f, m); // IEEE division whatever -prec-div / fast-math say
    for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x)
        q[i] = dynamicNearest(smemCode, __fmul_rn(__fsub_rn(x[i], shift), recip));
}

// <<<1, 1024>>>: *mean = float(sum(x) / n), summed in double.
__global__ void kMean(const float* __restrict__ x, int64_t n, float* __restrict__ mean)
{
    __shared__ double partial[1024];
    double s = 0.0;
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x)
        s += static_cast<double>(x[i]);
    partial[threadIdx.x] = s;
    __syncthreads();
    for (unsigned stride = blockDim.x / 2; stride > 0; stride /= 2) {
        if (threadIdx.x < stride)
            partial[threadIdx.x] += partial[threadIdx.x + stride];
        __syncthreads();
    }
    if (threadIdx.x == 0)
        *mean = n > 0 ? static_cast<float>(partial[0] / static_cast<double>(n)) : 0.0f;
}

// One packed byte per thread (grid-stride). Nested when qabsmax is non-null.
template <typename Out>
__global__ void kDequantizeNf4(const uint8_t* __restrict__ packed, const float* __restrict__ absmax,
                               const uint8_t* __restrict__ qabsmax, const float* __restrict__ nestedAbsmax,
                               const float* __restrict__ code, float offset, int64_t n, int blocksize,
                               Out* __restrict__ out)
{
    const int64_t bytes = (n + 1) / 2;
    for (int64_t p = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; p < bytes;
         p += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        const int64_t block = 2 * p / blocksize;
        const float scale = qabsmax ? __fadd_rn(__fmul_rn(code[qabsmax[block]], nestedAbsmax[block / kNestedBlocksize]),
                                                offset)
                                    : absmax[block];
        const uint8_t byte = packed[p];
        storeValue(out, 2 * p, __fmul_rn(kNf4CodeDevice[byte >> 4], scale));
        if (2 * p + 1 < n)
            storeValue(out, 2 * p + 1, __fmul_rn(kNf4CodeDevice[byte & 0x0F], scale));
    }
}

__global__ void kDequantizeDynamic(const uint8_t* __restrict__ q, const float* __restrict__ absmax, int64_t n,
                                   int blocksize, const float* __restrict__ code, float* __restrict__ out)
{
    for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x)
        out[i] = __fmul_rn(code[q[i]], absmax[i / blocksize]);
}

int threadsFor(int perBlock) { return perBlock < kMaxThreads ? perBlock : kMaxThreads; }

unsigned gridStrideBlocks(int64_t items)
{
    const int64_t blocks = (items + 255) / 256;
    return static_cast<unsigned>(blocks < 65535 * 16 ? (blocks > 0 ? blocks : 1) : 65535 * 16);
}

bool quantArgsOk(int64_t n, int blocksize, int minBlocksize)
{
    // grid.x of the quantize kernels is the block count (limit 2^31 - 1).
    return isValidBlocksize(blocksize, minBlocksize) && n >= 0 && blockCount(n, blocksize) < (int64_t(1) << 31);
}

template <typename T>
cudaError_t quantizeNf4(const T* x, int64_t n, int blocksize, uint8_t* packed, float* absmax, cudaStream_t stream)
{
    if (!quantArgsOk(n, blocksize, 32) || (n > 0 && (!x || !packed || !absmax)))
        return cudaErrorInvalidValue;
    if (n == 0)
        return cudaSuccess;
    kQuantizeNf4<T><<<static_cast<unsigned>(blockCount(n, blocksize)), threadsFor(blocksize / 2), 0, stream>>>(
        x, n, blocksize, packed, absmax);
    return cudaGetLastError();
}

template <typename Out>
cudaError_t dequantizeNf4(const uint8_t* packed, const float* absmax, const uint8_t* qabsmax,
                          const float* nestedAbsmax, const float* code, float offset, int64_t n, int blocksize,
                          Out* out, cudaStream_t stream)
{
    if (!isValidBlocksize(blocksize, 32) || n < 0)
        return cudaErrorInvalidValue;
    if (n == 0)
        return cudaSuccess;
    if (!packed || !out || (!absmax && (!qabsmax || !nestedAbsmax || !code)))
        return cudaErrorInvalidValue;
    kDequantizeNf4<Out><<<gridStrideBlocks(nf4PackedBytes(n)), 256, 0, stream>>>(packed, absmax, qabsmax, nestedAbsmax,
                                                                                   code, offset, n, blocksize, out);
    return cudaGetLastError();
}

} // namespace

cudaError_t nf4QuantizeCuda(const float* x, int64_t n, int blocksize, uint8_t* packed, float* absmax,
                            cudaStream_t stream)
{
    return quantizeNf4(x, n, blocksize, packed, absmax, stream);
}

cudaError_t nf4QuantizeBf16Cuda(const uint16_t* x, int64_t n, int blocksize, uint8_t* packed, float* absmax,
                                cudaStream_t stream)
{
    return quantizeNf4(x, n, blocksize, packed, absmax, stream);
}

cudaError_t nf4DoubleQuantizeCuda(const float* absmax, int64_t nblocks, const float* code, uint8_t* qabsmax,
                                  float* nestedAbsmax, float* offset, cudaStream_t stream)
{
    if (!quantArgsOk(nblocks, kNestedBlocksize, 64) || !offset ||
        (nblocks > 0 && (!absmax || !code || !qabsmax || !nestedAbsmax)))
        return cudaErrorInvalidValue;
    kMean<<<1, 1024, 0, stream>>>(absmax, nblocks, offset);
    if (nblocks > 0)
        kQuantizeDynamic<<<static_cast<unsigned>(blockCount(nblocks, kNestedBlocksize)), kMaxThreads, 0, stream>>>(
            absmax, offset, nblocks, kNestedBlocksize, code, qabsmax, nestedAbsmax);
    return cudaGetLastError();
}

cudaError_t nf4DequantizeBf16Cuda(const uint8_t* packed, const float* absmax, int64_t n, int blocksize,
                                  uint16_t* out, cudaStream_t stream)
{
    if (!absmax && n > 0)
        return cudaErrorInvalidValue;
    return dequantizeNf4(packed, absmax, nullptr, nullptr, nullptr, 0.0f, n, blocksize, out, stream);
}

cudaError_t nf4DequantizeF32Cuda(const uint8_t* packed, const float* absmax, int64_t n, int blocksize, float* out,
                                 cudaStream_t stream)
{
    if (!absmax && n > 0)
        return cudaErrorInvalidValue;
    return dequantizeNf4(packed, absmax, nullptr, nullptr, nullptr, 0.0f, n, blocksize, out, stream);
}

cudaError_t nf4DequantizeNestedBf16Cuda(const uint8_t* packed, const uint8_t* qabsmax, const float* nestedAbsmax,
                                        const float* code, float offset, int64_t n, int blocksize, uint16_t* out,
                                        cudaStream_t stream)
{
    if (!qabsmax && n > 0)
        return cudaErrorInvalidValue;
    return dequantizeNf4(packed, nullptr, qabsmax, nestedAbsmax, code, offset, n, blocksize, out, stream);
}

cudaError_t nf4DequantizeNestedF32Cuda(const uint8_t* packed, const uint8_t* qabsmax, const float* nestedAbsmax,
                                       const float* code, float offset, int64_t n, int blocksize, float* out,
                                       cudaStream_t stream)
{
    if (!qabsmax && n > 0)
        return cudaErrorInvalidValue;
    return dequantizeNf4(packed, nullptr, qabsmax, nestedAbsmax, code, offset, n, blocksize, out, stream);
}

cudaError_t quantizeBlockwise8Cuda(const float* x, int64_t n, int blocksize, const float* code, uint8_t* q,
                                   float* absmax, cudaStream_t stream)
{
    if (!quantArgsOk(n, blocksize, 64) || (n > 0 && (!x || !code || !q || !absmax)))
        return cudaErrorInvalidValue;
    if (n == 0)
        return cudaSuccess;
    kQuantizeDynamic<<<static_cast<unsigned>(blockCount(n, blocksize)), threadsFor(blocksize), 0, stream>>>(
        x, nullptr, n, blocksize, code, q, absmax);
    return cudaGetLastError();
}

cudaError_t dequantizeBlockwise8Cuda(const uint8_t* q, const float* absmax, int64_t n, int blocksize,
                                     const float* code, float* out, cudaStream_t stream)
{
    if (!isValidBlocksize(blocksize, 64) || n < 0 || (n > 0 && (!q || !absmax || !code || !out)))
        return cudaErrorInvalidValue;
    if (n == 0)
        return cudaSuccess;
    kDequantizeDynamic<<<gridStrideBlocks(n), 256, 0, stream>>>(q, absmax, n, blocksize, code, out);
    return cudaGetLastError();
}

} // namespace tbk
