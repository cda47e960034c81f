// GgmlQuant.h: the type table, argument checks, the thread split, and dispatch to the row
// converters in GgmlHalf.cpp, GgmlLegacyQuants.cpp and GgmlKQuants.cpp (which also holds the
// GgmlIsa functions).
#include "cpu/GgmlQuant.h"

#include <algorithm>
#include <cstring>
#include <thread>
#include <vector>

#include "cpu/GgmlBlocks.h"

namespace tbk {

namespace {

// Names, block sizes and block bytes as ggml.c's type_traits table has them.
const GgmlTypeInfo kGgmlTypes[] = {
    {GgmlType::F32, "f32", 1, 4},
    {GgmlType::F16, "f16", 1, 2},
    {GgmlType::Q4_0, "q4_0", kGgmlQK4_0, sizeof(GgmlBlockQ4_0)},
    {GgmlType::Q5_0, "q5_0", kGgmlQK5_0, sizeof(GgmlBlockQ5_0)},
    {GgmlType::Q5_1, "q5_1", kGgmlQK5_1, sizeof(GgmlBlockQ5_1)},
    {GgmlType::Q8_0, "q8_0", kGgmlQK8_0, sizeof(GgmlBlockQ8_0)},
    {GgmlType::Q4_K, "q4_K", kGgmlQK_K, sizeof(GgmlBlockQ4_K)},
    {GgmlType::Q5_K, "q5_K", kGgmlQK_K, sizeof(GgmlBlockQ5_K)},
    {GgmlType::Q6_K, "q6_K", kGgmlQK_K, sizeof(GgmlBlockQ6_K)},
    {GgmlType::BF16, "bf16", 1, 2},
};

// Converts k elements (whole blocks); src/dst point at the first block of the range.
void quantizeRange(GgmlType type, const float* src, void* dst, int64_t k, GgmlIsa isa)
{
    switch (type) {
    case GgmlType::F32: std::memcpy(dst, src, static_cast<size_t>(k) * sizeof(float)); break;
    case GgmlType::F16: ggmlFp32ToFp16Row(src, static_cast<uint16_t*>(dst), k); break;
    case GgmlType::BF16: ggmlFp32ToBf16Row(src, static_cast<uint16_t*>(dst), k); break;
    case GgmlType::Q4_0: ggmlQuantizeRowQ4_0(src, static_cast<GgmlBlockQ4_0*>(dst), k); break;
    case GgmlType::Q5_0: ggmlQuantizeRowQ5_0(src, static_cast<GgmlBlockQ5_0*>(dst), k); break;
    case GgmlType::Q5_1: ggmlQuantizeRowQ5_1(src, static_cast<GgmlBlockQ5_1*>(dst), k); break;
    case GgmlType::Q8_0: ggmlQuantizeRowQ8_0(src, static_cast<GgmlBlockQ8_0*>(dst), k); break;
    case GgmlType::Q4_K: ggmlQuantizeRowQ4_K(src, static_cast<GgmlBlockQ4_K*>(dst), k, isa); break;
    case GgmlType::Q5_K: ggmlQuantizeRowQ5_K(src, static_cast<GgmlBlockQ5_K*>(dst), k, isa); break;
    case GgmlType::Q6_K: ggmlQuantizeRowQ6_K(src, static_cast<GgmlBlockQ6_K*>(dst), k, isa); break;
    }
}

void dequantizeRange(GgmlType type, const void* src, float* dst, int64_t k)
{
    switch (type) {
    case GgmlType::F32: std::memcpy(dst, src, static_cast<size_t>(k) * sizeof(float)); break;
    case GgmlType::F16: ggmlFp16ToFp32Row(static_cast<const uint16_t*>(src), dst, k); break;
    case GgmlType::BF16: ggmlBf16ToFp32Row(static_cast<const uint16_t*>(src), dst, k); break;
    case GgmlType::Q4_0: ggmlDequantizeRowQ4_0(static_cast<const GgmlBlockQ4_0*>(src), dst, k); break;
    case GgmlType::Q5_0: ggmlDequantizeRowQ5_0(static_cast<const GgmlBlockQ5_0*>(src), dst, k); break;
    case GgmlType::Q5_1: ggmlDequantizeRowQ5_1(static_cast<const GgmlBlockQ5_1*>(src), dst, k); break;
    case GgmlType::Q8_0: ggmlDequantizeRowQ8_0(static_cast<const GgmlBlockQ8_0*>(src), dst, k); break;
    case GgmlType::Q4_K: ggmlDequantizeRowQ4_K(static_cast<const GgmlBlockQ4_K*>(src), dst, k); break;
    case GgmlType::Q5_K: ggmlDequantizeRowQ5_K(static_cast<const GgmlBlockQ5_K*>(src), dst, k); break;
    case GgmlType::Q6_K: ggmlDequantizeRowQ6_K(static_cast<const GgmlBlockQ6_K*>(src), dst, k); break;
    }
}

KernelStatus checkArgs(GgmlType type, const void* src, const void* dst, int64_t rows, int64_t rowElements)
{
    const GgmlTypeInfo* info = ggmlTypeInfo(type);
    if (!info)
        return KernelStatus::BadBlocksize;
    if (rows < 0 || ggmlRowBytes(type, rowElements) < 0)
        return KernelStatus::BadSize;
    if (rows > 0 && rowElements > 0 && (!src || !dst))
        return KernelStatus::NullPointer;
    return KernelStatus::Ok;
}

// Runs convert(firstBlock, blockCount) over [0, blocks) on up to `threads` threads, the
// calling thread taking the first range. Rows are contiguous runs of whole blocks and every
// block is converted on its own, so any split gives the same bytes; splitting blocks rather
// than rows keeps a single long row (an embedding, a bias) parallel too.
template <typename Convert>
void splitBlocks(int64_t blocks, int threads, Convert convert)
{
    const int64_t parts = std::max<int64_t>(1, std::min<int64_t>(threads, blocks));
    if (parts == 1) {
        convert(0, blocks);
        return;
    }
    std::vector<std::thread> workers;
    workers.reserve(static_cast<size_t>(parts - 1));
    for (int64_t p = 1; p < parts; ++p) {
        const int64_t b0 = blocks * p / parts, b1 = blocks * (p + 1) / parts;
        workers.emplace_back([=] { convert(b0, b1 - b0); });
    }
    convert(0, blocks / parts);
    for (std::thread& t : workers)
        t.join();
}

} // namespace

const GgmlTypeInfo* ggmlTypeInfo(uint32_t typeId)
{
    for (const GgmlTypeInfo& info : kGgmlTypes)
        if (static_cast<uint32_t>(info.type) == typeId)
            return &info;
    return nullptr;
}

const GgmlTypeInfo* ggmlTypeInfo(GgmlType type)
{
    return ggmlTypeInfo(static_cast<uint32_t>(type));
}

int64_t ggmlRowBytes(GgmlType type, int64_t elements)
{
    const GgmlTypeInfo* info = ggmlTypeInfo(type);
    if (!info || elements < 0 || elements % info->blockElements != 0)
        return -1;
    return elements / info->blockElements * info->blockBytes;
}

KernelStatus ggmlQuantizeRows(GgmlType type, const float* src, void* dst, int64_t rows, int64_t rowElements,
                              int threads, GgmlIsa isa)
{
    KernelStatus status = checkArgs(type, src, dst, rows, rowElements);
    if (status == KernelStatus::Ok && !ggmlIsaSupported(isa))
        status = KernelStatus::IsaUnavailable;
    if (status != KernelStatus::Ok || rows == 0 || rowElements == 0)
        return status;
    if (isa == GgmlIsa::Auto)
        isa = ggmlBestIsa();
    const GgmlTypeInfo& info = *ggmlTypeInfo(type);
    splitBlocks(rows * (rowElements / info.blockElements), threads, [&](int64_t first, int64_t count) {
        quantizeRange(type, src + first * info.blockElements, static_cast<uint8_t*>(dst) + first * info.blockBytes,
                      count * info.blockElements, isa);
    });
    return KernelStatus::Ok;
}

KernelStatus ggmlDequantizeRows(GgmlType type, const void* src, float* dst, int64_t rows, int64_t rowElements,
                                int threads)
{
    const KernelStatus status = checkArgs(type, src, dst, rows, rowElements);
    if (status != KernelStatus::Ok || rows == 0 || rowElements == 0)
        return status;
    const GgmlTypeInfo& info = *ggmlTypeInfo(type);
    splitBlocks(rows * (rowElements / info.blockElements), threads, [&](int64_t first, int64_t count) {
        dequantizeRange(type, static_cast<const uint8_t*>(src) + first * info.blockBytes,
                        dst + first * info.blockElements, count * info.blockElements);
    });
    return KernelStatus::Ok;
}

} // namespace tbk
