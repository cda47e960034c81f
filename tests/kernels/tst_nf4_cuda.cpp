// kernels/cuda/Nf4Cuda against the same independent reference and known-answer vectors as
// tst_nf4 (Nf4Reference.h). Label gpu: QSKIPs only when no CUDA device is present (fails
// instead under TUNEBENCH_REQUIRE_GPU, as installer/gpu-check.sh runs it).
#include <QtTest/QtTest>

#include "GpuRequirement.h"

#include <cuda_runtime_api.h>

#include <random>

#include "Nf4Reference.h"
#include "cuda/Nf4Cuda.h"

using namespace tbk;

namespace {

// A device buffer holding a copy of a host vector (or n zeroed elements).
template <typename T>
struct DeviceBuffer {
    T* ptr = nullptr;
    size_t count = 0;
    explicit DeviceBuffer(size_t n) : count(n)
    {
        if (cudaMalloc(reinterpret_cast<void**>(&ptr), std::max<size_t>(1, n) * sizeof(T)) != cudaSuccess)
            ptr = nullptr;
        else
            cudaMemset(ptr, 0, std::max<size_t>(1, n) * sizeof(T));
    }
    // A failed copy leaves ptr null: the kernel under test then refuses it and the test fails.
    explicit DeviceBuffer(const std::vector<T>& host) : DeviceBuffer(host.size())
    {
        if (ptr && !host.empty()
            && cudaMemcpy(ptr, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice) != cudaSuccess) {
            cudaFree(ptr);
            ptr = nullptr;
        }
    }
    ~DeviceBuffer() { cudaFree(ptr); }
    DeviceBuffer(const DeviceBuffer&) = delete;
    DeviceBuffer& operator=(const DeviceBuffer&) = delete;
    // Empty when the copy fails (it also reports an earlier kernel's asynchronous error), so
    // the comparison that follows fails.
    std::vector<T> download() const
    {
        std::vector<T> host(count);
        if (count && cudaMemcpy(host.data(), ptr, count * sizeof(T), cudaMemcpyDeviceToHost) != cudaSuccess)
            host.clear();
        return host;
    }
};

std::vector<float> gaussian(size_t n, uint32_t seed)
{
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(0.0f, 0.02f);
    std::vector<float> x(n);
    for (float& v : x)
        v = dist(rng);
    return x;
}

std::vector<float> referenceMap()
{
    std::vector<float> map(256);
    for (int i = 0; i < 256; ++i)
        map[size_t(i)] = nf4ref::dynamicMap(i);
    return map;
}

} // namespace

class TestNf4Cuda : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void initTestCase()
    {
        int devices = 0;
        const cudaError_t e = cudaGetDeviceCount(&devices);
        if (e != cudaSuccess || devices == 0)
            TB_SKIP_WITHOUT_GPU(QString("no CUDA device (") + cudaGetErrorString(e) + ")");
    }

    void knownAnswer_data()
    {
        QTest::addColumn<int>("blocksize");
        for (int bs : {32, 64, 128})
            QTest::newRow(qPrintable(QString::number(bs))) << bs;
    }
    void knownAnswer()
    {
        QFETCH(int, blocksize);
        const std::vector<float> x = nf4ref::knownAnswerInput();
        const int64_t n = int64_t(x.size());
        const nf4ref::Nf4Quantized ref = nf4ref::quantizeNf4(x, size_t(blocksize));
        DeviceBuffer<float> dx(x);
        DeviceBuffer<uint8_t> packed(ref.packed.size());
        DeviceBuffer<float> absmax(ref.absmax.size());
        QCOMPARE(nf4QuantizeCuda(dx.ptr, n, blocksize, packed.ptr, absmax.ptr, nullptr), cudaSuccess);
        QCOMPARE(cudaDeviceSynchronize(), cudaSuccess);
        QCOMPARE(packed.download(), ref.packed);
        QCOMPARE(absmax.download(), ref.absmax);

        DeviceBuffer<float> out(x.size());
        DeviceBuffer<uint16_t> outBf16(x.size());
        QCOMPARE(nf4DequantizeF32Cuda(packed.ptr, absmax.ptr, n, blocksize, out.ptr, nullptr), cudaSuccess);
        QCOMPARE(nf4DequantizeBf16Cuda(packed.ptr, absmax.ptr, n, blocksize, outBf16.ptr, nullptr), cudaSuccess);
        const std::vector<float> f = out.download();
        const std::vector<uint16_t> b = outBf16.download();
        for (size_t i = 0; i < x.size(); ++i) {
            const float want = nf4ref::dequantNf4(ref, size_t(blocksize), i);
            QCOMPARE(nf4ref::bitsOf(f[i]), nf4ref::bitsOf(want));
            QCOMPARE(b[i], nf4ref::bf16(want));
        }
    }

    void bf16Input()
    {
        const std::vector<float> x = gaussian(1001, 7);
        std::vector<uint16_t> xb(x.size());
        std::vector<float> xr(x.size());
        for (size_t i = 0; i < x.size(); ++i) {
            xb[i] = nf4ref::bf16(x[i]);
            xr[i] = nf4ref::floatOf(uint32_t(xb[i]) << 16);
        }
        const nf4ref::Nf4Quantized ref = nf4ref::quantizeNf4(xr, 64);
        DeviceBuffer<uint16_t> dx(xb);
        DeviceBuffer<uint8_t> packed(ref.packed.size());
        DeviceBuffer<float> absmax(ref.absmax.size());
        QCOMPARE(nf4QuantizeBf16Cuda(dx.ptr, 1001, 64, packed.ptr, absmax.ptr, nullptr), cudaSuccess);
        QCOMPARE(packed.download(), ref.packed);
        QCOMPARE(absmax.download(), ref.absmax);
    }

    void doubleQuant()
    {
        const int64_t n = 64 * 256 * 5 + 77;
        const std::vector<float> x = gaussian(size_t(n), 3);
        const nf4ref::Nf4Quantized ref = nf4ref::quantizeNf4(x, 64);
        const nf4ref::DoubleQuant dref = nf4ref::doubleQuantize(ref.absmax);
        const int64_t nblocks = int64_t(ref.absmax.size());
        DeviceBuffer<float> absmax(ref.absmax), code(referenceMap()), offset(1);
        DeviceBuffer<uint8_t> qabsmax(ref.absmax.size()), packed(ref.packed);
        DeviceBuffer<float> nested(dref.nestedAbsmax.size());
        QCOMPARE(nf4DoubleQuantizeCuda(absmax.ptr, nblocks, code.ptr, qabsmax.ptr, nested.ptr, offset.ptr, nullptr),
                 cudaSuccess);
        const std::vector<float> gotOffset = offset.download();
        QCOMPARE(gotOffset.size(), size_t(1));
        QCOMPARE(nf4ref::bitsOf(gotOffset[0]), nf4ref::bitsOf(dref.offset));
        QCOMPARE(qabsmax.download(), dref.qabsmax);
        QCOMPARE(nested.download(), dref.nestedAbsmax);

        DeviceBuffer<uint16_t> out(static_cast<size_t>(n));
        QCOMPARE(nf4DequantizeNestedBf16Cuda(packed.ptr, qabsmax.ptr, nested.ptr, code.ptr, dref.offset, n, 64,
                                             out.ptr, nullptr),
                 cudaSuccess);
        DeviceBuffer<float> outF32(static_cast<size_t>(n));
        QCOMPARE(nf4DequantizeNestedF32Cuda(packed.ptr, qabsmax.ptr, nested.ptr, code.ptr, dref.offset, n, 64,
                                            outF32.ptr, nullptr),
                 cudaSuccess);
        const std::vector<uint16_t> b = out.download();
        const std::vector<float> f = outF32.download();
        QCOMPARE(b.size(), size_t(n));
        QCOMPARE(f.size(), size_t(n));
        for (size_t i = 0; i < size_t(n); ++i) {
            const int nibble = i % 2 == 0 ? ref.packed[i / 2] >> 4 : ref.packed[i / 2] & 0x0F;
            const float want = float(nf4ref::kNf4[nibble]) * nf4ref::doubleDequantize(dref, i / 64);
            QCOMPARE(b[i], nf4ref::bf16(want));
            QCOMPARE(nf4ref::bitsOf(f[i]), nf4ref::bitsOf(want));
        }
    }

    // Blocks larger than twice the kernels' 256 threads: each thread walks several pairs.
    void largeBlocks_data()
    {
        QTest::addColumn<int>("blocksize");
        for (int bs : {1024, 4096})
            QTest::newRow(qPrintable(QString::number(bs))) << bs;
    }
    void largeBlocks()
    {
        QFETCH(int, blocksize);
        const std::vector<float> x = gaussian(size_t(blocksize) * 3 + 101, 11);
        const int64_t n = int64_t(x.size());
        const nf4ref::Nf4Quantized ref = nf4ref::quantizeNf4(x, size_t(blocksize));
        DeviceBuffer<float> dx(x), absmax(ref.absmax.size()), out(x.size());
        DeviceBuffer<uint8_t> packed(ref.packed.size());
        QCOMPARE(nf4QuantizeCuda(dx.ptr, n, blocksize, packed.ptr, absmax.ptr, nullptr), cudaSuccess);
        QCOMPARE(packed.download(), ref.packed);
        QCOMPARE(absmax.download(), ref.absmax);
        QCOMPARE(nf4DequantizeF32Cuda(packed.ptr, absmax.ptr, n, blocksize, out.ptr, nullptr), cudaSuccess);
        const std::vector<float> f = out.download();
        QCOMPARE(f.size(), x.size());
        for (size_t i = 0; i < x.size(); ++i)
            QCOMPARE(nf4ref::bitsOf(f[i]), nf4ref::bitsOf(nf4ref::dequantNf4(ref, size_t(blocksize), i)));
    }

    void blockwise8()
    {
        const std::vector<float> x = gaussian(64 * 100 + 13, 5);
        const nf4ref::Blockwise8 ref = nf4ref::quantize8(x, 64);
        DeviceBuffer<float> dx(x), code(referenceMap()), absmax(ref.absmax.size()), out(x.size());
        DeviceBuffer<uint8_t> q(x.size());
        QCOMPARE(quantizeBlockwise8Cuda(dx.ptr, int64_t(x.size()), 64, code.ptr, q.ptr, absmax.ptr, nullptr),
                 cudaSuccess);
        QCOMPARE(q.download(), ref.q);
        QCOMPARE(absmax.download(), ref.absmax);
        QCOMPARE(dequantizeBlockwise8Cuda(q.ptr, absmax.ptr, int64_t(x.size()), 64, code.ptr, out.ptr, nullptr),
                 cudaSuccess);
        const std::vector<float> y = out.download();
        for (size_t i = 0; i < x.size(); ++i)
            QCOMPARE(y[i], nf4ref::dynamicMap(ref.q[i]) * ref.absmax[i / 64]);
    }

    void badArguments()
    {
        DeviceBuffer<float> x(64), absmax(2);
        DeviceBuffer<uint8_t> packed(32);
        QCOMPARE(nf4QuantizeCuda(x.ptr, 64, 48, packed.ptr, absmax.ptr, nullptr), cudaErrorInvalidValue);
        QCOMPARE(nf4QuantizeCuda(x.ptr, -1, 64, packed.ptr, absmax.ptr, nullptr), cudaErrorInvalidValue);
        QCOMPARE(quantizeBlockwise8Cuda(x.ptr, 64, 32, x.ptr, packed.ptr, absmax.ptr, nullptr), cudaErrorInvalidValue);
        QCOMPARE(nf4DequantizeBf16Cuda(packed.ptr, absmax.ptr, 64, 8192, nullptr, nullptr), cudaErrorInvalidValue);
    }
};

QTEST_APPLESS_MAIN(TestNf4Cuda)
#include "tst_nf4_cuda.moc"
